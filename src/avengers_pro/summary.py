"""Aggregation over seeds: ``results/summary.csv`` and ``results/metrics.json``.

Accuracy of a sweep point (or a baseline) on one seed is the unweighted mean over datasets of the
per-dataset accuracies (as the paper); its cost is the total test cost over all datasets. Both are
then averaged over seeds; the spreads are sample standard deviations over seeds (ddof = 1).

AIQ cost range: every AIQ in ``metrics.json`` is computed over the same range ``[0, C]``, where ``C``
is the largest mean test cost of any row of ``summary.csv`` (every method, variant, cluster count and
alpha), so that all AIQs of one run can be compared. It is reported as ``aiq_cost_range``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import metrics
from .errors import DataError
from .io import write_text

ROUTER_METHOD = "avengers-pro"
DATASET_ROUTER = "dataset-router"
# Baselines that are not single models; every other method name in a baselines frame is a model.
NON_MODEL_BASELINES = ("dataset-router", "oracle", "dataset-oracle", "random")
METHOD_ORDER = (ROUTER_METHOD, DATASET_ROUTER, "oracle", "dataset-oracle", "random")

SWEEP_COLUMNS = ("alpha", "dataset", "accuracy", "cost", "n_queries", "max_router")
BASELINE_COLUMNS = ("method", "variant", "alpha", "dataset", "accuracy", "cost", "n_queries")
DECISION_COLUMNS = ("alpha", "query_id", "dataset", "score", "cost")
OUTCOME_COLUMNS = ("query_id", "dataset", "model", "score", "cost")
SUMMARY_COLUMNS = (
    "method", "variant", "n_clusters", "alpha", "max_router",
    "accuracy", "accuracy_sd", "cost", "cost_sd", "n_seeds",
)

# Alphas of one grid compared across files: rounding hides float noise from different writers.
ALPHA_DECIMALS = 9


def sweep_path(variant: str, n_clusters: int, seed: int, validation: bool = False) -> str:
    """The conventional path of a sweep file, used to name the file in error messages."""
    folder = "sweep_validation" if validation else "sweep"
    return f"results/{folder}/{variant}/k{n_clusters}_seed{seed}.parquet"


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], file: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", file=file, field=missing[0])


def _require_finite(frame: pd.DataFrame, columns: tuple[str, ...], file: str) -> None:
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"not a finite number: {frame[column].iloc[row]!r}", file=file, row=row, field=column)


def _check_sweep(frame: pd.DataFrame, file: str) -> None:
    _require_columns(frame, SWEEP_COLUMNS, file)
    _require_finite(frame, ("alpha", "accuracy", "cost", "max_router"), file)
    _check_grid(frame, file)


def _check_grid(frame: pd.DataFrame, file: str) -> None:
    """One row per (alpha, dataset), and every alpha has every dataset."""
    keys = pd.DataFrame({"alpha": frame["alpha"].to_numpy(dtype=np.float64).round(ALPHA_DECIMALS),
                         "dataset": frame["dataset"].astype(str).to_numpy()})
    duplicated = keys.duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise DataError(f"(alpha, dataset) = ({keys['alpha'].iloc[row]}, {keys['dataset'].iloc[row]!r}) "
                        "appears twice", file=file, row=row, field="dataset")
    n_alphas, n_datasets = keys["alpha"].nunique(), keys["dataset"].nunique()
    if len(keys) != n_alphas * n_datasets:
        raise DataError(f"{len(keys)} rows for {n_alphas} alphas x {n_datasets} datasets: some (alpha, dataset) "
                        "rows are missing", file=file, field="dataset")


def seed_curve(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """One seed's sweep -> per alpha: ``accuracy`` (unweighted mean over datasets) and ``cost`` (total).

    Parameters
    ----------
    frame
        A sweep (or validation sweep) frame, one row per (alpha, dataset).
    file
        Name of the file, for error messages.

    Returns
    -------
    pd.DataFrame
        Indexed by alpha (sorted, rounded to 9 decimals), columns ``accuracy`` and ``cost``.
    """
    _require_columns(frame, ("alpha", "dataset", "accuracy", "cost"), file)
    _require_finite(frame, ("alpha", "accuracy", "cost"), file)
    _check_grid(frame, file)
    alpha = frame["alpha"].to_numpy(dtype=np.float64).round(ALPHA_DECIMALS)
    grouped = pd.DataFrame({"alpha": alpha, "accuracy": frame["accuracy"].to_numpy(dtype=np.float64),
                            "cost": frame["cost"].to_numpy(dtype=np.float64)}).groupby("alpha", sort=True)
    return pd.DataFrame({"accuracy": grouped["accuracy"].mean(), "cost": grouped["cost"].sum()})


def _long_rows(
    sweeps: list[tuple[str, int, int, pd.DataFrame]], baselines: list[tuple[int, pd.DataFrame]]
) -> pd.DataFrame:
    """Every input row as (method, variant, n_clusters, alpha, max_router, seed, dataset, accuracy, cost).

    Empty keys are placeholders here ("" for variant, -1 for n_clusters, NaN for alpha) and become
    missing values only in the final table.
    """
    parts: list[pd.DataFrame] = []
    for variant, n_clusters, seed, frame in sweeps:
        file = sweep_path(variant, n_clusters, seed)
        _check_sweep(frame, file)
        parts.append(pd.DataFrame({
            "method": ROUTER_METHOD, "variant": str(variant), "n_clusters": int(n_clusters),
            "alpha": frame["alpha"].to_numpy(dtype=np.float64).round(ALPHA_DECIMALS),
            "max_router": frame["max_router"].to_numpy(dtype=np.int64), "seed": int(seed),
            "dataset": frame["dataset"].astype(str).to_numpy(),
            "accuracy": frame["accuracy"].to_numpy(dtype=np.float64),
            "cost": frame["cost"].to_numpy(dtype=np.float64),
        }))
    router_max = {int(m) for p in parts for m in np.unique(p["max_router"])}
    if len(router_max) > 1:
        raise DataError(f"the sweeps disagree on max_router ({sorted(router_max)})", field="max_router")
    # The baselines file has no max_router column: single models, random and the oracles make one
    # call per query; the dataset router runs with the router's max_router.
    dataset_router_max = router_max.pop() if router_max else 1
    for seed, frame in baselines:
        file = f"results/baselines/seed{seed}.parquet"
        _require_columns(frame, BASELINE_COLUMNS, file)
        _require_finite(frame, ("accuracy", "cost"), file)
        method = frame["method"].astype(str).to_numpy()
        variant = frame["variant"].fillna("").astype(str).to_numpy()
        alpha = pd.to_numeric(frame["alpha"], errors="coerce").to_numpy(dtype=np.float64).round(ALPHA_DECIMALS)
        is_router = method == DATASET_ROUTER
        bad = np.flatnonzero(is_router & ((variant == "") | ~np.isfinite(alpha)))
        if bad.size:
            raise DataError("a dataset-router row needs a variant and a finite alpha", file=file, row=int(bad[0]),
                            field="variant" if variant[bad[0]] == "" else "alpha")
        # Only the dataset router sweeps; any variant/alpha on other baselines is meaningless.
        variant = np.where(is_router, variant, "")
        alpha = np.where(is_router, alpha, np.nan)
        if "max_router" in frame.columns:
            max_router = frame["max_router"].to_numpy(dtype=np.int64)
        else:
            max_router = np.where(is_router, dataset_router_max, 1)
        parts.append(pd.DataFrame({
            "method": method, "variant": variant, "n_clusters": -1, "alpha": alpha,
            "max_router": max_router, "seed": int(seed), "dataset": frame["dataset"].astype(str).to_numpy(),
            "accuracy": frame["accuracy"].to_numpy(dtype=np.float64),
            "cost": frame["cost"].to_numpy(dtype=np.float64),
        }))
    if not parts:
        raise DataError("nothing to summarise: no sweeps and no baselines")
    return pd.concat(parts, ignore_index=True)


def _method_rank(method: pd.Series) -> np.ndarray:
    """Sort rank of methods: the router, the dataset router, the oracles, random, then single models."""
    rank = {name: i for i, name in enumerate(METHOD_ORDER)}
    return method.map(lambda m: rank.get(m, len(METHOD_ORDER))).to_numpy()


def summarize(
    sweeps: list[tuple[str, int, int, pd.DataFrame]], baselines: list[tuple[int, pd.DataFrame]]
) -> pd.DataFrame:
    """Aggregate the per-seed sweeps and baselines into the ``results/summary.csv`` table.

    Parameters
    ----------
    sweeps
        ``(variant, n_clusters, seed, frame)`` with the ``results/sweep/{variant}/k{k}_seed{seed}``
        frames (test split).
    baselines
        ``(seed, frame)`` with the ``results/baselines/seed{seed}`` frames.

    Returns
    -------
    pd.DataFrame
        One row per (method, variant, n_clusters, alpha): ``method``, ``variant`` (NA except for
        ``avengers-pro`` and ``dataset-router``), ``n_clusters`` (Int64, NA except for
        ``avengers-pro``), ``alpha`` (NaN for baselines other than ``dataset-router``),
        ``max_router``, ``accuracy`` (per seed the unweighted mean over datasets, then the mean over
        seeds), ``accuracy_sd`` (sd over seeds, ddof = 1; NaN with one seed), ``cost`` (mean over
        seeds of the total test cost), ``cost_sd``, ``n_seeds`` and ``accuracy_<dataset>`` (mean over
        seeds) per dataset, datasets sorted. Rows: ``avengers-pro`` by (variant, n_clusters, alpha),
        ``dataset-router`` by (variant, alpha), ``oracle``, ``dataset-oracle``, ``random``, then the
        single models by name.

    Raises
    ------
    DataError
        On missing columns, non-finite values, duplicated or missing (alpha, dataset) rows, a seed
        that appears twice for one method, or a method whose datasets differ from the others'.
    """
    rows = _long_rows(sweeps, baselines)
    keys = ["method", "variant", "n_clusters", "alpha"]
    rows["alpha_key"] = rows["alpha"].fillna(-1.0)
    group_keys = ["method", "variant", "n_clusters", "alpha_key"]

    # Per (key, seed): the same dataset set everywhere, else the unweighted means are not comparable.
    datasets = sorted(rows["dataset"].unique())
    seen = rows.groupby([*group_keys, "seed"], sort=False)["dataset"].agg(["nunique", "size"])
    if (seen["size"] != seen["nunique"]).any():
        where = seen.index[(seen["size"] != seen["nunique"]).to_numpy()][0]
        raise DataError(f"method {where[0]!r} (variant {where[1]!r}, k {where[2]}, alpha {where[3]}) has a dataset "
                        f"twice for seed {where[4]} (the same seed given twice?)", field="dataset")
    incomplete = seen["nunique"] != len(datasets)
    if incomplete.any():
        where = seen.index[incomplete.to_numpy()][0]
        raise DataError(f"method {where[0]!r} (variant {where[1]!r}, k {where[2]}) covers "
                        f"{seen['nunique'][incomplete].iloc[0]} of the {len(datasets)} datasets for seed {where[4]}",
                        field="dataset")

    by_seed = rows.groupby([*group_keys, "seed"], sort=True)
    per_dataset = rows.set_index([*group_keys, "seed", "dataset"])["accuracy"].unstack("dataset")
    per_dataset.columns = [f"accuracy_{d}" for d in per_dataset.columns]
    per_seed = pd.DataFrame({
        "accuracy": by_seed["accuracy"].mean(),  # unweighted mean over datasets
        "cost": by_seed["cost"].sum(),  # total test cost
    }).join(per_dataset).reset_index()
    max_router = rows.groupby(group_keys, sort=False)["max_router"].max()

    grouped = per_seed.groupby(group_keys, sort=False)
    dataset_columns = [f"accuracy_{d}" for d in datasets]
    summary = pd.DataFrame({
        "accuracy": grouped["accuracy"].mean(),
        "accuracy_sd": grouped["accuracy"].std(ddof=1),
        "cost": grouped["cost"].mean(),
        "cost_sd": grouped["cost"].std(ddof=1),
        "n_seeds": grouped["seed"].nunique().astype(np.int64),
    }).join(grouped[dataset_columns].mean())
    summary["max_router"] = max_router.reindex(summary.index).astype(np.int64)
    summary = summary.reset_index()

    summary["rank"] = _method_rank(summary["method"])
    summary = summary.sort_values(["rank", "method", "variant", "n_clusters", "alpha_key"], kind="stable")
    summary["variant"] = summary["variant"].replace("", pd.NA)
    summary["n_clusters"] = summary["n_clusters"].astype("Int64").mask(summary["n_clusters"] < 0)
    summary["alpha"] = summary["alpha_key"].where(summary["method"].isin([ROUTER_METHOD, DATASET_ROUTER]))
    return summary[[*keys, *SUMMARY_COLUMNS[4:], *dataset_columns]].reset_index(drop=True)


def write_summary(summary: pd.DataFrame, path: str) -> None:
    """Write ``summary.csv`` atomically (empty cells for missing values)."""
    write_text(summary.to_csv(index=False), path)


def read_summary(path: str) -> pd.DataFrame:
    """Read ``summary.csv`` back with the dtypes of :func:`summarize` (variant str/NA, n_clusters Int64)."""
    frame = pd.read_csv(path, dtype={"method": str, "variant": str})
    _require_columns(frame, SUMMARY_COLUMNS, str(path))
    frame["n_clusters"] = frame["n_clusters"].astype("Int64")
    return frame


# --------------------------------------------------------------------------- metrics.json


def single_model_outcomes(
    records: pd.DataFrame, split: pd.DataFrame, part: Literal["test", "validation"]
) -> pd.DataFrame:
    """Every model's per-query outcome on one part of one seed's split (a long frame).

    Parameters
    ----------
    records
        ``results/records.parquet`` (``query_id``, ``dataset``, ``model``, ``score``, ``cost``, ...).
    split
        ``results/splits/seed{seed}.parquet``.
    part
        ``"test"`` (``split == "test"``) or ``"validation"`` (train queries with ``validation``).

    Returns
    -------
    pd.DataFrame
        ``query_id``, ``dataset``, ``model``, ``score``, ``cost`` of the queries of that part: the
        ``single_outcomes`` / ``validation_singles`` inputs of :func:`compute_metrics`.
    """
    _require_columns(records, OUTCOME_COLUMNS, "results/records.parquet")
    _require_columns(split, ("query_id", "split", "validation"), "results/splits")
    if part == "test":
        chosen = split["split"] == "test"
    elif part == "validation":
        chosen = (split["split"] == "train") & split["validation"].astype(bool)
    else:
        raise ValueError(f"part must be 'test' or 'validation', got {part!r}")
    ids = split.loc[chosen, "query_id"]
    kept = records[records["query_id"].isin(ids)]
    return kept[list(OUTCOME_COLUMNS)].reset_index(drop=True)


def _json_number(value: Any) -> float | None:
    """A float for JSON, None for missing or non-finite values."""
    if value is None or value is pd.NA:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    array = np.asarray(values, dtype=np.float64)
    mean = _json_number(array.mean()) if array.size else None
    sd = _json_number(array.std(ddof=1)) if array.size > 1 else None
    return mean, sd


def _normalised_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with "" for missing variants, -1 for missing n_clusters (read back from CSV or not)."""
    _require_columns(summary, SUMMARY_COLUMNS, "results/summary.csv")
    frame = summary.copy()
    frame["method"] = frame["method"].astype(str)
    frame["variant"] = frame["variant"].astype(object).where(frame["variant"].notna(), "").astype(str)
    frame["n_clusters"] = pd.to_numeric(frame["n_clusters"]).fillna(-1).astype(np.int64)
    frame["alpha"] = pd.to_numeric(frame["alpha"]).astype(np.float64)
    return frame


def _best_single(frame: pd.DataFrame) -> dict[str, Any]:
    """The single model of best mean test accuracy (ties: cheaper, then first by name)."""
    singles = frame[~frame["method"].isin([ROUTER_METHOD, *NON_MODEL_BASELINES])]
    if singles.empty:
        raise DataError("no single-model rows: the baselines are missing", file="results/summary.csv",
                        field="method")
    best = singles.sort_values(["accuracy", "cost", "method"], ascending=[False, True, True], kind="stable").iloc[0]
    return {"model": str(best["method"]), "accuracy": float(best["accuracy"]), "cost": float(best["cost"])}


def _point_metrics(
    curve: pd.DataFrame, best_single: dict[str, Any], singles: pd.DataFrame, oracle: float | None,
    cost_range: tuple[float, float],
) -> dict[str, Any]:
    """Metrics of one seed-averaged curve (rows = alphas) against the best single model and the oracle."""
    alphas = curve["alpha"].to_numpy(dtype=np.float64)
    accs = curve["accuracy"].to_numpy(dtype=np.float64)
    costs = curve["cost"].to_numpy(dtype=np.float64)
    at_one = np.flatnonzero(np.isclose(alphas, 1.0))
    # Best accuracy; ties go to the cheaper, then the smaller alpha.
    best = np.lexsort((alphas, costs, -accs))[0]
    ref_acc, ref_cost = best_single["accuracy"], best_single["cost"]
    saved, saved_alpha = metrics.cost_save(alphas, accs, costs, ref_acc, ref_cost) if ref_cost > 0 else (None, None)
    max_router = int(curve["max_router"].max())
    return {
        "max_router": max_router,
        "upper_bound": max_router > 1,
        "n_seeds": int(curve["n_seeds"].min()),
        "best_single": best_single,
        "accuracy_at_alpha1": _json_number(accs[at_one[0]]) if at_one.size else None,
        "cost_at_alpha1": _json_number(costs[at_one[0]]) if at_one.size else None,
        "best_accuracy": float(accs[best]),
        "best_accuracy_alpha": float(alphas[best]),
        "best_accuracy_cost": float(costs[best]),
        "perf_gain": metrics.perf_gain(float(accs[best]), ref_acc) if ref_acc > 0 else None,
        "cost_save": _json_number(saved),
        "cost_save_alpha": _json_number(saved_alpha),
        "cost_at_90pct_best_single": _json_number(metrics.cost_at_accuracy(alphas, accs, costs, 0.9 * ref_acc)),
        "oracle_accuracy": oracle,
        "gap_to_oracle": metrics.gap_to_oracle(float(accs[best]), oracle) if oracle else None,
        # Every cost 0 (an accuracy-only pool): no cost axis, so no area under the curve.
        "aiq": metrics.aiq(costs, accs, cost_range) if cost_range[1] > cost_range[0] else None,
        "aiq_cost_range": [float(cost_range[0]), float(cost_range[1])],
        "dominates_all_singles": metrics.dominates_all(
            costs, accs, singles["cost"].to_numpy(dtype=np.float64), singles["accuracy"].to_numpy(dtype=np.float64)
        ),
    }


def validation_best_single(outcomes: pd.DataFrame, seed: int) -> tuple[str, float]:
    """The model of best validation accuracy (unweighted mean over datasets; ties: first by name)."""
    file = f"validation single-model outcomes of seed {seed}"
    _require_columns(outcomes, OUTCOME_COLUMNS, file)
    _require_finite(outcomes, ("score",), file)
    if outcomes.empty:
        raise DataError("no validation queries", file=file, field="query_id")
    per_dataset = outcomes.groupby(["model", "dataset"], sort=True)["score"].mean().unstack("dataset")
    # A model without any record on a dataset has no comparable mean: it cannot be the reference.
    overall = per_dataset.mean(axis=1, skipna=False).dropna()
    if overall.empty:
        raise DataError("no model has validation records on every dataset", file=file, field="model")
    best = overall.sort_index(kind="stable").idxmax()
    return str(best), float(overall[best])


def choose_alpha(curve: pd.DataFrame, target: float | None) -> tuple[float, bool]:
    """An alpha of a per-seed validation curve (index alpha; accuracy, cost).

    With ``target``: the cheapest alpha whose accuracy reaches it (ties: smaller alpha); if none
    does, the max-accuracy alpha and ``reached = False``. Without: the max-accuracy alpha (ties:
    cheaper, then smaller alpha).
    """
    alphas = curve.index.to_numpy(dtype=np.float64)
    accs = curve["accuracy"].to_numpy(dtype=np.float64)
    costs = curve["cost"].to_numpy(dtype=np.float64)
    if target is not None:
        reaches = np.flatnonzero(accs >= target - metrics.ACCURACY_TOLERANCE)
        if reaches.size:
            best = reaches[np.lexsort((alphas[reaches], costs[reaches]))[0]]
            return float(alphas[best]), True
    best = np.lexsort((alphas, costs, -accs))[0]
    return float(alphas[best]), target is None


def _validation_choice(
    variant: str, n_clusters: int, seeds: list[int],
    validation_sweeps: Mapping[tuple[str, int, int], pd.DataFrame],
    test_sweeps: Mapping[tuple[str, int, int], pd.DataFrame],
    validation_singles: Mapping[int, pd.DataFrame],
) -> dict[str, Any] | None:
    """The honest alpha: chosen per seed on validation only, reported with its test numbers."""
    present = [s for s in seeds if (variant, n_clusters, s) in validation_sweeps]
    if not present:
        return None
    if len(present) != len(seeds):
        missing = sorted(set(seeds) - set(present))[0]
        raise DataError("validation sweep missing (other seeds have one)",
                        file=sweep_path(variant, n_clusters, missing, validation=True))
    choices: dict[str, dict[str, list[Any]]] = {
        "match_best_single": {"alpha": [], "reached": [], "reference_model": [], "reference_accuracy": [],
                              "test_accuracy": [], "test_cost": []},
        "max_accuracy": {"alpha": [], "test_accuracy": [], "test_cost": []},
    }
    for seed in seeds:
        if seed not in validation_singles:
            raise DataError(f"validation single-model outcomes missing for seed {seed}", field="validation")
        model, reference = validation_best_single(validation_singles[seed], seed)
        validation = seed_curve(validation_sweeps[(variant, n_clusters, seed)],
                                sweep_path(variant, n_clusters, seed, validation=True))
        test_file = sweep_path(variant, n_clusters, seed)
        test = seed_curve(test_sweeps[(variant, n_clusters, seed)], test_file)
        for name, target in (("match_best_single", reference), ("max_accuracy", None)):
            alpha, reached = choose_alpha(validation, target)
            if alpha not in test.index:
                raise DataError(f"alpha {alpha} chosen on validation is not in the test sweep", file=test_file,
                                field="alpha")
            entry = choices[name]
            entry["alpha"].append(alpha)
            entry["test_accuracy"].append(float(test.loc[alpha, "accuracy"]))
            entry["test_cost"].append(float(test.loc[alpha, "cost"]))
            if name == "match_best_single":
                entry["reached"].append(bool(reached))
                entry["reference_model"].append(model)
                entry["reference_accuracy"].append(reference)
    result: dict[str, Any] = {"seeds": [int(s) for s in seeds]}
    for name, entry in choices.items():
        accuracy, accuracy_sd = _mean_sd(entry["test_accuracy"])
        cost, cost_sd = _mean_sd(entry["test_cost"])
        result[name] = {
            **entry,
            "test_accuracy_mean": accuracy, "test_accuracy_sd": accuracy_sd,
            "test_cost_mean": cost, "test_cost_sd": cost_sd,
        }
    return result


def _decision_matrix(
    frame: pd.DataFrame, queries: pd.Index, file: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A decisions frame -> (alphas (A,), scores (A, Q), costs (A, Q)), columns in ``queries`` order."""
    _require_columns(frame, DECISION_COLUMNS, file)
    _require_finite(frame, ("alpha", "score", "cost"), file)
    row, alphas = pd.factorize(frame["alpha"].to_numpy(dtype=np.float64).round(ALPHA_DECIMALS), sort=True)
    # Look up each distinct id once (a decisions frame repeats every test query once per alpha).
    codes, distinct = pd.factorize(frame["query_id"])
    column = np.where(codes < 0, -1, queries.get_indexer(np.asarray(distinct, dtype=object))[codes])
    if (column < 0).any():
        bad = int(np.flatnonzero(column < 0)[0])
        raise DataError(f"query {frame['query_id'].iloc[bad]!r} is not a test query of this seed", file=file,
                        row=bad, field="query_id")
    size = alphas.size * len(queries)
    cell = row * len(queries) + column
    per_cell = np.bincount(cell, minlength=size)
    if (per_cell != 1).any():
        raise DataError(f"expected one row per (alpha, test query), {alphas.size} x {len(queries)}: "
                        f"{int((per_cell == 0).sum())} missing, {int((per_cell > 1).sum())} duplicated",
                        file=file, field="query_id")
    scores = np.empty(size)
    costs = np.empty(size)
    scores[cell] = frame["score"].to_numpy(dtype=np.float64)
    costs[cell] = frame["cost"].to_numpy(dtype=np.float64)
    return np.asarray(alphas, dtype=np.float64), scores.reshape(alphas.size, -1), costs.reshape(alphas.size, -1)


class _BootstrapInputs:
    """Per-seed test queries, best-single outcomes and decision matrices, each built once and shared
    by every (variant, n_clusters) entry (the dataset router's matrices serve all cluster counts)."""

    def __init__(
        self, best_model: str, single_outcomes: Mapping[int, pd.DataFrame],
        decisions: Mapping[tuple[str, int, int], pd.DataFrame],
        router_decisions: Mapping[tuple[str, int], pd.DataFrame],
    ) -> None:
        self.best_model = best_model
        self.single_outcomes = single_outcomes
        self.decisions = decisions
        self.router_decisions = router_decisions
        self._queries: dict[int, tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._matrices: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._counts: dict[tuple[int, int, int], np.ndarray] = {}

    def counts(self, seeds: list[int], n_resamples: int, bootstrap_seed: int) -> dict[int, np.ndarray]:
        """The resamples of each seed's test queries (the same for every entry)."""
        for seed in seeds:
            key = (seed, n_resamples, bootstrap_seed)
            if key not in self._counts:
                rng = np.random.default_rng([bootstrap_seed, seed])
                self._counts[key] = metrics.resample_counts(self.queries(seed)[1], n_resamples, rng)
        return {seed: self._counts[(seed, n_resamples, bootstrap_seed)] for seed in seeds}

    def queries(self, seed: int) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]:
        """(query ids sorted by dataset then id, their datasets, best single's (1, Q) scores and costs)."""
        if seed not in self._queries:
            if seed not in self.single_outcomes:
                raise DataError(f"test single-model outcomes missing for seed {seed}", field="model")
            singles = self.single_outcomes[seed]
            file = f"test single-model outcomes of seed {seed}"
            _require_columns(singles, OUTCOME_COLUMNS, file)
            frame = pd.DataFrame({"query_id": singles["query_id"].to_numpy(dtype=object),
                                  "dataset": singles["dataset"].to_numpy(dtype=object)})
            frame = frame.drop_duplicates("query_id").sort_values(["dataset", "query_id"], kind="stable")
            queries = pd.Index(frame["query_id"].to_numpy(dtype=object))
            best = singles[singles["model"].to_numpy(dtype=object) == self.best_model]
            if best.empty:
                raise DataError(f"no test outcomes of the best single model {self.best_model!r}", file=file,
                                field="model")
            # Queries the best single has no record for stay NaN: left out of its accuracy and cost.
            scores = np.full((1, len(queries)), np.nan)
            costs = np.full((1, len(queries)), np.nan)
            where = queries.get_indexer(best["query_id"].to_numpy(dtype=object))
            scores[0, where] = best["score"].to_numpy(dtype=np.float64)
            costs[0, where] = best["cost"].to_numpy(dtype=np.float64)
            self._queries[seed] = (queries, frame["dataset"].to_numpy(), scores, costs)
        return self._queries[seed]

    def router(self, variant: str, n_clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._matrix(self.decisions, (variant, n_clusters, seed), seed,
                            f"results/decisions/{variant}/k{n_clusters}_seed{seed}.parquet")

    def dataset_router(self, variant: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._matrix(self.router_decisions, (variant, seed), seed,
                            f"results/decisions/{DATASET_ROUTER}/{variant}_seed{seed}.parquet")

    def _matrix(self, source: Mapping[Any, pd.DataFrame], key: tuple[Any, ...], seed: int,
                file: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cache_key = (id(source), *key)
        if cache_key not in self._matrices:
            if key not in source:
                raise DataError("decisions missing", file=file)
            self._matrices[cache_key] = _decision_matrix(source[key], self.queries(seed)[0], file)
        return self._matrices[cache_key]


def _bootstrap(
    variant: str, cluster_counts: list[int], seeds: list[int], inputs: _BootstrapInputs,
    cost_range: tuple[float, float], n_resamples: int, confidence: float, seed: int,
) -> dict[int, dict[str, Any]]:
    """Paired bootstrap of (router minus dataset router) in AIQ and in CostSave vs the best single
    model, for every cluster count of one variant at once (the best single's and the dataset
    router's resampled curves are computed once and shared by every cluster count)."""
    outcomes: list[metrics.SeedOutcomes] = []
    grids: dict[str, np.ndarray] = {}
    router_names = {k: f"router k={k}" for k in cluster_counts}
    for split_seed in seeds:
        _, groups, single_scores, single_costs = inputs.queries(split_seed)
        curves = {"single": (single_scores, single_costs)}
        decisions = [(name, inputs.router(variant, k, split_seed)) for k, name in router_names.items()]
        for name, (alphas, scores, costs) in [*decisions, ("dataset router", inputs.dataset_router(variant, split_seed))]:
            if name in grids and not np.array_equal(grids[name], alphas):
                raise DataError(f"the {name} decisions of seed {split_seed} have another alpha grid than the other "
                                "seeds'", field="alpha")
            grids[name] = alphas
            curves[name] = (scores, costs)
        outcomes.append(metrics.SeedOutcomes(
            seed=int(split_seed), groups=groups,
            scores={name: value[0] for name, value in curves.items()},
            costs={name: value[1] for name, value in curves.items()},
        ))

    # Every statistic sees all resamples at once: (B, n_alphas) curves -> (B,) values.
    def aiq_difference(router: str) -> Callable[[Mapping[str, metrics.Curve]], np.ndarray]:
        def statistic(curves: Mapping[str, metrics.Curve]) -> np.ndarray:
            (acc_r, cost_r), (acc_d, cost_d) = curves[router], curves["dataset router"]
            if not cost_range[1] > cost_range[0]:  # every cost 0: AIQ is undefined
                return np.full(len(acc_r), np.nan)
            return metrics.aiq_rows(cost_r, acc_r, cost_range) - metrics.aiq_rows(cost_d, acc_d, cost_range)
        return statistic

    def cost_save_difference(router: str) -> Callable[[Mapping[str, metrics.Curve]], np.ndarray]:
        def statistic(curves: Mapping[str, metrics.Curve]) -> np.ndarray:
            ref_acc, ref_cost = curves["single"][0][:, 0], curves["single"][1][:, 0]
            # Undefined (NaN) where the reference is, or where either curve never reaches it.
            defined = np.isfinite(ref_acc) & (ref_cost > 0)
            ref_acc, ref_cost = np.where(defined, ref_acc, 0.0), np.where(defined, ref_cost, 1.0)
            saved, reference_saved = (metrics.cost_save_rows(grids[name], *curves[name], ref_acc, ref_cost)[0]
                                      for name in (router, "dataset router"))
            return np.where(defined, saved - reference_saved, np.nan)
        return statistic

    statistics = {}
    for name in router_names.values():
        statistics[f"aiq_difference, {name}"] = aiq_difference(name)
        statistics[f"cost_save_difference, {name}"] = cost_save_difference(name)
    intervals = metrics.paired_bootstrap(
        outcomes, statistics, n_resamples=n_resamples, confidence=confidence, seed=seed,
        counts=inputs.counts(seeds, n_resamples, seed),
    )
    return {
        k: {"reference": f"{DATASET_ROUTER} ({variant})", "confidence": confidence,
            "aiq_difference": intervals[f"aiq_difference, {name}"],
            "cost_save_difference": intervals[f"cost_save_difference, {name}"]}
        for k, name in router_names.items()
    }


def compute_metrics(
    summary: pd.DataFrame,
    validation_sweeps: Mapping[tuple[str, int, int], pd.DataFrame] | list[tuple[str, int, int, pd.DataFrame]],
    test_sweeps: Mapping[tuple[str, int, int], pd.DataFrame] | list[tuple[str, int, int, pd.DataFrame]],
    decisions: Mapping[tuple[str, int, int], pd.DataFrame],
    router_decisions: Mapping[tuple[str, int], pd.DataFrame],
    single_outcomes: Mapping[int, pd.DataFrame],
    n_resamples: int,
    confidence: float,
    seed: int = 0,
    *,
    validation_singles: Mapping[int, pd.DataFrame],
) -> list[dict[str, Any]]:
    """The ``results/metrics.json`` list: one object per (variant, n_clusters), then per dataset router.

    Parameters
    ----------
    summary
        The :func:`summarize` table (or ``summary.csv`` read back).
    validation_sweeps, test_sweeps
        ``(variant, n_clusters, seed) -> frame`` (or a list of ``(variant, n_clusters, seed, frame)``)
        of ``results/sweep_validation/...`` and ``results/sweep/...``.
    decisions
        ``(variant, n_clusters, seed) -> results/decisions/{variant}/k{k}_seed{seed}`` frame.
    router_decisions
        ``(variant, seed) -> results/decisions/dataset-router/{variant}_seed{seed}`` frame.
    single_outcomes, validation_singles
        ``seed -> long frame`` (``query_id``, ``dataset``, ``model``, ``score``, ``cost``) of every
        model on that seed's test queries, resp. validation queries; see
        :func:`single_model_outcomes`.
    n_resamples
        Bootstrap resamples; 0 skips the bootstrap (``"bootstrap": null``).
    confidence
        Coverage of the bootstrap intervals.
    seed
        Seed of the bootstrap resamples.

    Returns
    -------
    list[dict]
        JSON-ready objects (no NaN: missing values are None), the router's per (variant,
        n_clusters) first, then one per dataset router (variant). Keys:

        * ``method`` (``avengers-pro`` / ``dataset-router``), ``variant``, ``n_clusters`` (None for
          the dataset router), ``max_router``, ``upper_bound`` (``max_router > 1``), ``n_seeds``;
        * ``best_single`` ``{model, accuracy, cost}`` (best mean test accuracy; ties: cheaper);
        * ``accuracy_at_alpha1``, ``cost_at_alpha1``; ``best_accuracy``, ``best_accuracy_alpha``,
          ``best_accuracy_cost`` (ties: cheaper, then smaller alpha); ``perf_gain``;
        * ``cost_save``, ``cost_save_alpha`` (interpolated; None if never reached);
          ``cost_at_90pct_best_single``;
        * ``oracle_accuracy``, ``gap_to_oracle`` (of ``best_accuracy``);
        * ``aiq``, ``aiq_cost_range`` ``[0, largest mean cost in the summary]``;
          ``dominates_all_singles``;
        * ``validation``: ``seeds`` and, for ``match_best_single`` (cheapest alpha whose validation
          accuracy >= the validation-best single model's; else the max-accuracy alpha with
          ``reached`` False) and ``max_accuracy`` (ties: cheaper, then smaller alpha), the per-seed
          ``alpha``, ``test_accuracy``, ``test_cost`` and their ``*_mean`` / ``*_sd`` over seeds.
          None for the dataset router or without validation sweeps;
        * ``bootstrap``: ``reference``, ``confidence``, and ``aiq_difference`` /
          ``cost_save_difference`` (router minus dataset router of the same variant) each with
          ``estimate``, ``lo``, ``hi``, ``n_resamples``, ``n_undefined``. None for the dataset
          router or with ``n_resamples == 0``.
    """
    frame = _normalised_summary(summary)
    validation_sweeps = _as_mapping(validation_sweeps)
    test_sweeps = _as_mapping(test_sweeps)
    best_single = _best_single(frame)
    singles = frame[~frame["method"].isin([ROUTER_METHOD, *NON_MODEL_BASELINES])]
    oracle_rows = frame[frame["method"] == "oracle"]
    oracle = float(oracle_rows["accuracy"].iloc[0]) if len(oracle_rows) else None
    cost_range = (0.0, float(frame["cost"].max()))

    bootstrap_inputs = _BootstrapInputs(best_single["model"], single_outcomes, decisions, router_decisions)
    entries: list[dict[str, Any]] = []
    router_rows = frame[frame["method"] == ROUTER_METHOD]
    seeds_of: dict[tuple[str, int], list[int]] = {}
    for (variant, n_clusters), curve in router_rows.groupby(["variant", "n_clusters"], sort=True):
        seeds = sorted(s for (v, k, s) in test_sweeps if v == variant and k == n_clusters)
        if not seeds:
            raise DataError("the summary has this sweep but no seed's sweep frame was given",
                            file=sweep_path(variant, int(n_clusters), 0).replace("seed0", "seed*"))
        seeds_of[(variant, int(n_clusters))] = seeds
        entry: dict[str, Any] = {"method": ROUTER_METHOD, "variant": variant, "n_clusters": int(n_clusters)}
        entry.update(_point_metrics(curve.sort_values("alpha"), best_single, singles, oracle, cost_range))
        entry["validation"] = _validation_choice(variant, int(n_clusters), seeds, validation_sweeps, test_sweeps,
                                                 validation_singles)
        entry["bootstrap"] = None
        entries.append(entry)
    if n_resamples > 0:
        # One bootstrap per (variant, seeds): every cluster count of a variant shares its resamples.
        groups: dict[tuple[str, tuple[int, ...]], list[int]] = {}
        for (variant, n_clusters), seeds in seeds_of.items():
            groups.setdefault((variant, tuple(seeds)), []).append(n_clusters)
        intervals: dict[tuple[str, int], dict[str, Any]] = {}
        for (variant, seeds), cluster_counts in groups.items():
            by_k = _bootstrap(variant, cluster_counts, list(seeds), bootstrap_inputs, cost_range, n_resamples,
                              confidence, seed)
            intervals.update({(variant, k): value for k, value in by_k.items()})
        for entry in entries:
            entry["bootstrap"] = intervals[(entry["variant"], entry["n_clusters"])]
    for variant, curve in frame[frame["method"] == DATASET_ROUTER].groupby("variant", sort=True):
        entry = {"method": DATASET_ROUTER, "variant": variant, "n_clusters": None}
        entry.update(_point_metrics(curve.sort_values("alpha"), best_single, singles, oracle, cost_range))
        entry["validation"] = None
        entry["bootstrap"] = None
        entries.append(entry)
    return [_json_ready(entry) for entry in entries]


def _as_mapping(
    sweeps: Mapping[tuple[str, int, int], pd.DataFrame] | list[tuple[str, int, int, pd.DataFrame]],
) -> dict[tuple[str, int, int], pd.DataFrame]:
    if isinstance(sweeps, Mapping):
        return {(str(v), int(k), int(s)): f for (v, k, s), f in sweeps.items()}
    return {(str(v), int(k), int(s)): f for v, k, s, f in sweeps}


def _json_ready(value: Any) -> Any:
    """Recursively turn numpy scalars into Python ones and NaN/inf into None."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _json_number(value)
    return value
