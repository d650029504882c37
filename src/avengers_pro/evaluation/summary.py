"""Aggregation over seeds: ``results/summary.csv``.

Accuracy of a sweep point (or a baseline) on one seed is the unweighted mean over datasets of the
per-dataset accuracies (as the paper); its cost is the total test cost over all datasets. Both are
then averaged over seeds; the spreads are sample standard deviations over seeds (ddof = 1). The
rows: Avengers-Pro's sweeps, the router families' test sweeps (``results/families/{family}/...``),
the baselines and the single models. The file's columns and reader: :mod:`avengers_pro.outputs`;
the metrics: :mod:`avengers_pro.evaluation.metrics_json`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.outputs import (
    ALPHA_DECIMALS,
    DATASET_ROUTER,
    METHOD_ORDER,
    ROUTER,
    ROUTER_METHOD,
    SUMMARY_COLUMNS,
    SWEEPING_BASELINES,
    is_family,
)


def seed_curve(frame: pd.DataFrame) -> pd.DataFrame:
    """One seed's sweep -> per alpha: ``accuracy`` (unweighted mean over datasets) and ``cost`` (total).

    Parameters
    ----------
    frame
        A sweep (or validation sweep) frame, one row per (alpha, dataset), as
        :func:`avengers_pro.outputs.read_sweep` gives it (validated there).

    Returns
    -------
    pd.DataFrame
        Indexed by alpha (sorted, rounded to 9 decimals), columns ``accuracy`` and ``cost``.
    """
    alpha = frame["alpha"].to_numpy(dtype=np.float64).round(ALPHA_DECIMALS)
    grouped = pd.DataFrame(
        {
            "alpha": alpha,
            "accuracy": frame["accuracy"].to_numpy(dtype=np.float64),
            "cost": frame["cost"].to_numpy(dtype=np.float64),
        }
    ).groupby("alpha", sort=True)
    return pd.DataFrame({"accuracy": grouped["accuracy"].mean(), "cost": grouped["cost"].sum()})


def _sweep_rows(
    method: str, family: str, variant: str, n_clusters: int, seed: int, frame: pd.DataFrame
) -> pd.DataFrame:
    """The long rows of one seed's sweep (Avengers-Pro's or a router family's)."""
    return pd.DataFrame(
        {
            "method": method,
            "kind": ROUTER,
            "family": family,
            "variant": variant,
            "n_clusters": int(n_clusters),
            "alpha": frame["alpha"].to_numpy(dtype=np.float64).round(ALPHA_DECIMALS),
            "max_router": frame["max_router"].to_numpy(dtype=np.int64),
            "seed": int(seed),
            "dataset": frame["dataset"].astype(str).to_numpy(),
            "accuracy": frame["accuracy"].to_numpy(dtype=np.float64),
            "cost": frame["cost"].to_numpy(dtype=np.float64),
        }
    )


def _long_rows(
    sweeps: Sequence[tuple[str, int, int, pd.DataFrame]],
    baselines: Sequence[tuple[int, pd.DataFrame]],
    family_sweeps: Sequence[tuple[str, int, pd.DataFrame]],
) -> pd.DataFrame:
    """Every input row as (method, kind, family, variant, n_clusters, alpha, max_router, seed,
    dataset, accuracy, cost).

    Empty keys are placeholders here ("" for family and variant, -1 for n_clusters, NaN for alpha)
    and become missing values only in the final table.
    """
    parts = [
        _sweep_rows(ROUTER_METHOD, ROUTER_METHOD, str(variant), n_clusters, seed, frame)
        for variant, n_clusters, seed, frame in sweeps
    ]
    # Avengers-Pro's max_router only: it is also the dataset router's (below). A family routes to one
    # model per query whatever sweep.max_router says.
    router_max = {int(m) for p in parts for m in np.unique(p["max_router"])}
    if len(router_max) > 1:
        raise DataError(f"the sweeps disagree on max_router ({sorted(router_max)})", field="max_router")
    parts += [_sweep_rows(str(family), str(family), "", -1, seed, frame) for family, seed, frame in family_sweeps]
    # The baselines file has no max_router column: single models, random and the oracles make one
    # call per query; the dataset router runs with the router's max_router.
    dataset_router_max = router_max.pop() if router_max else 1
    for seed, frame in baselines:
        file = f"results/baselines/seed{seed}.parquet"
        method = frame["method"].astype(str).to_numpy()
        variants = frame["variant"].fillna("").astype(str).to_numpy()
        alpha = pd.to_numeric(frame["alpha"], errors="coerce").to_numpy(dtype=np.float64).round(ALPHA_DECIMALS)
        is_router = method == DATASET_ROUTER
        sweeps_alpha = np.isin(method, SWEEPING_BASELINES)
        bad = np.flatnonzero(is_router & ((variants == "") | ~np.isfinite(alpha)))
        if bad.size:
            raise DataError(
                "a dataset-router row needs a variant and a finite alpha",
                file=file,
                row=int(bad[0]),
                field="variant" if variants[bad[0]] == "" else "alpha",
            )
        bad = np.flatnonzero(sweeps_alpha & ~np.isfinite(alpha))
        if bad.size:
            raise DataError(f"a {method[bad[0]]} row needs a finite alpha", file=file, row=int(bad[0]), field="alpha")
        # Only the dataset router has a variant, and only it and the oracle sweep; any variant/alpha on
        # other baselines is meaningless.
        variants = np.where(is_router, variants, "")
        alpha = np.where(sweeps_alpha, alpha, np.nan)
        if "max_router" in frame.columns:
            max_router = frame["max_router"].to_numpy(dtype=np.int64)
        else:
            max_router = np.where(is_router, dataset_router_max, 1)
        parts.append(
            pd.DataFrame(
                {
                    "method": method,
                    "kind": frame["kind"].astype(str).to_numpy(),
                    "family": "",
                    "variant": variants,
                    "n_clusters": -1,
                    "alpha": alpha,
                    "max_router": max_router,
                    "seed": int(seed),
                    "dataset": frame["dataset"].astype(str).to_numpy(),
                    "accuracy": frame["accuracy"].to_numpy(dtype=np.float64),
                    "cost": frame["cost"].to_numpy(dtype=np.float64),
                }
            )
        )
    if not parts:
        raise DataError("nothing to summarise: no sweeps and no baselines")
    rows = pd.concat(parts, ignore_index=True)
    # A family named like another method would merge into that method's rows.
    family = is_family(rows["family"])
    clash = sorted(set(rows.loc[family, "method"]) & set(rows.loc[~family, "method"]))
    if clash:
        raise DataError(f"the router family {clash[0]!r} has the name of another method", field="method")
    return rows


def _method_rank(method: pd.Series, family: pd.Series) -> np.ndarray:
    """Sort rank of methods: Avengers-Pro, the router families, the dataset router, the oracles,
    random, then the single models (:data:`avengers_pro.outputs.METHOD_ORDER`).
    """
    # Even ranks for METHOD_ORDER leave the odd rank after avengers-pro's to the families.
    rank = {name: 2 * i for i, name in enumerate(METHOD_ORDER)}
    ranks = method.map(lambda m: rank.get(m, 2 * len(METHOD_ORDER))).to_numpy()
    return np.where(is_family(family).to_numpy(), rank[ROUTER_METHOD] + 1, ranks)


def summarize(
    sweeps: Sequence[tuple[str, int, int, pd.DataFrame]],
    baselines: Sequence[tuple[int, pd.DataFrame]],
    family_sweeps: Sequence[tuple[str, int, pd.DataFrame]] = (),
    hyperparameters: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Aggregate the per-seed sweeps and baselines into the ``results/summary.csv`` table.

    Parameters
    ----------
    sweeps
        ``(variant, n_clusters, seed, frame)`` with the ``results/sweep/{variant}/k{k}_seed{seed}``
        frames (test split).
    baselines
        ``(seed, frame)`` with the ``results/baselines/seed{seed}`` frames.
    family_sweeps
        ``(family, seed, frame)`` with the router families' ``results/families/{family}/seed{seed}``
        test sweeps (same columns as Avengers-Pro's).
    hyperparameters
        family -> its validation-chosen hyperparameters as text
        (:func:`avengers_pro.evaluation.leaderboard.hyperparameters_text` of its ``selection.json``); a family
        left out gets none.

    Returns
    -------
    pd.DataFrame
        One row per (method, variant, n_clusters, alpha): ``method``, ``kind``, ``family``
        (``avengers-pro`` for Avengers-Pro, the family's name for a router family, NA otherwise),
        ``variant`` (NA except for ``avengers-pro`` and ``dataset-router``), ``n_clusters`` (Int64,
        NA except for ``avengers-pro``), ``alpha`` (NaN for baselines other than
        ``dataset-router`` and ``oracle``), ``max_router``, ``accuracy`` (per seed the unweighted mean over
        datasets, then the mean over seeds), ``accuracy_sd`` (sd over seeds, ddof = 1; NaN with one
        seed), ``cost`` (mean over seeds of the total test cost), ``cost_sd``, ``n_seeds``,
        ``hyperparameters`` (NA except for the families) and ``accuracy_<dataset>`` (mean over
        seeds) per dataset, datasets sorted. Rows: ``avengers-pro`` by (variant, n_clusters, alpha),
        the families by (name, alpha), ``dataset-router`` by (variant, alpha), ``oracle`` by alpha,
        ``best-score-oracle``, ``dataset-oracle``, ``random``, then the single models by name.

    Raises
    ------
    DataError
        On missing columns, non-finite values, duplicated or missing (alpha, dataset) rows, a seed
        that appears twice for one method, a method whose datasets differ from the others', or a
        family named like another method.
    """
    rows = _long_rows(sweeps, baselines, family_sweeps)
    rows["alpha_key"] = rows["alpha"].fillna(-1.0)
    group_keys = ["method", "variant", "n_clusters", "alpha_key"]

    # Per (key, seed): the same dataset set everywhere, else the unweighted means are not comparable.
    datasets = sorted(rows["dataset"].unique())
    seen = rows.groupby([*group_keys, "seed"], sort=False)["dataset"].agg(["nunique", "size"])
    if (seen["size"] != seen["nunique"]).any():
        where = seen.index[(seen["size"] != seen["nunique"]).to_numpy()][0]
        raise DataError(
            f"method {where[0]!r} (variant {where[1]!r}, k {where[2]}, alpha {where[3]}) has a dataset "
            f"twice for seed {where[4]} (the same seed given twice?)",
            field="dataset",
        )
    incomplete = seen["nunique"] != len(datasets)
    if incomplete.any():
        where = seen.index[incomplete.to_numpy()][0]
        raise DataError(
            f"method {where[0]!r} (variant {where[1]!r}, k {where[2]}) covers "
            f"{seen['nunique'][incomplete].iloc[0]} of the {len(datasets)} datasets for seed {where[4]}",
            field="dataset",
        )

    by_seed = rows.groupby([*group_keys, "seed"], sort=True)
    per_dataset = rows.set_index([*group_keys, "seed", "dataset"])["accuracy"].unstack("dataset")
    per_dataset.columns = [f"accuracy_{d}" for d in per_dataset.columns]
    per_seed = (
        pd.DataFrame(
            {
                "accuracy": by_seed["accuracy"].mean(),  # unweighted mean over datasets
                "cost": by_seed["cost"].sum(),  # total test cost
            }
        )
        .join(per_dataset)
        .reset_index()
    )
    max_router = rows.groupby(group_keys, sort=False)["max_router"].max()
    labels = rows.groupby(group_keys, sort=False)[["kind", "family"]].first()

    grouped = per_seed.groupby(group_keys, sort=False)
    dataset_columns = [f"accuracy_{d}" for d in datasets]
    summary = pd.DataFrame(
        {
            "accuracy": grouped["accuracy"].mean(),
            "accuracy_sd": grouped["accuracy"].std(ddof=1),
            "cost": grouped["cost"].mean(),
            "cost_sd": grouped["cost"].std(ddof=1),
            "n_seeds": grouped["seed"].nunique().astype(np.int64),
        }
    ).join(grouped[dataset_columns].mean())
    summary["max_router"] = max_router.reindex(summary.index).astype(np.int64)
    summary[["kind", "family"]] = labels.reindex(summary.index)
    summary = summary.reset_index()

    summary["rank"] = _method_rank(summary["method"], summary["family"])
    summary = summary.sort_values(["rank", "method", "variant", "n_clusters", "alpha_key"], kind="stable")
    family = is_family(summary["family"])
    texts = dict(hyperparameters or {})
    summary["hyperparameters"] = summary["method"].map(texts).where(family)
    summary["hyperparameters"] = summary["hyperparameters"].replace("", pd.NA)
    summary["family"] = summary["family"].replace("", pd.NA)
    summary["variant"] = summary["variant"].replace("", pd.NA)
    summary["n_clusters"] = summary["n_clusters"].astype("Int64").mask(summary["n_clusters"] < 0)
    has_alpha = family | summary["method"].isin([ROUTER_METHOD, *SWEEPING_BASELINES])
    summary["alpha"] = summary["alpha_key"].where(has_alpha)
    return summary[[*SUMMARY_COLUMNS, *dataset_columns]].reset_index(drop=True)
