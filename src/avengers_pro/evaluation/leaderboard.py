"""Router families on the pipeline's splits, and the ranked leaderboard of every router.

Two steps, each a pipeline job (``workflow/rules/families.smk``):

1. :func:`~avengers_pro.evaluation.family_runs.run_family` (module :mod:`avengers_pro.evaluation.family_runs`, its names
   not re-exported here): per seed, one family's hyperparameters chosen by K-fold cross-validation over
   train, then its test sweep, decisions and validation sweep.
2. :func:`build_leaderboard`: one row per router (each family, Avengers-Pro's variants, the dataset
   router, the oracle) from their per-seed test decisions and validation sweeps, ranked by the
   validation-hull AIQ (:mod:`avengers_pro.evaluation.intervals`: per seed, the test points of the alphas on the
   validation curve's upper hull; no test data choose an operating point), with RouterBench's
   test-hull AIQ beside it, both over one cost range shared by every row (the pipeline passes
   summary.csv's, :func:`avengers_pro.evaluation.metrics_json.aiq_cost_range`, the range of metrics.json);
   PerfGain and CostSave against the best single model; the intervals of the AIQ and CostSave
   differences to the dataset router and to Avengers-Pro official at a fixed cluster count from one
   paired bootstrap (one weight per query, shared by every seed and row), the per-seed differences,
   and the per-dataset accuracy at the alpha of the best accuracy.

Avengers-Pro's rows come from the pipeline's own sweeps (:func:`avengers_pro_entry`): per seed, the
cluster count chosen by K-fold cross-validation over train with the families' criterion and
one-standard-error rule (:func:`avengers_pro.evaluation.oof.cv_best_k`), or a fixed cluster count
(``plots.main``). The pipeline's rows:
:mod:`avengers_pro.evaluation.pipeline_rows`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.evaluation import intervals, metrics
from avengers_pro.evaluation.baselines import oracle_curve
from avengers_pro.evaluation.family_runs import hyperparameters_text
from avengers_pro.evaluation.selection import SELECTION_ALPHAS
from avengers_pro.io import RecordMatrix
from avengers_pro.outputs import (
    BASELINE,
    LEADERBOARD_COLUMNS,
    LEADERBOARD_TEXT_COLUMNS,
    ORACLE,
    ROUTER,
    require_columns,
    seed_delta_column,
)

__all__ = [
    "LEADERBOARD_COLUMNS",
    "SELECTION_ALPHAS",
    "Entry",
    "avengers_pro_entry",
    "baseline_entry",
    "build_leaderboard",
    "family_entry",
    "oracle_decisions",
]


# --------------------------------------------------------------------------- the rows


@dataclass
class Entry:
    """One router of the leaderboard: its per-seed test decisions.

    Attributes
    ----------
    name
        The row's ``router``.
    kind
        ``router`` (needs nothing but the query) or ``baseline`` (the dataset router, the oracle).
    family
        Its family: a router family, ``avengers-pro``, ``dataset-router`` or ``oracle``.
    decisions
        seed -> decisions frame, one row per (alpha, test query) (``outputs.DECISION_COLUMNS``).
    hyperparameters
        The validation-chosen hyperparameters as text ("" if none).
    validation
        seed -> the validation sweep of the router fitted without that seed's validation queries
        (one row per (alpha, dataset)): where its upper hull lies decides the alphas of the
        validation-hull AIQ. None for a curve with no alpha to choose: a point, or the oracle's
        curve, whose every point is kept (it is chosen with the test data by definition: a ceiling,
        not a router).
    """

    name: str
    kind: str
    family: str
    decisions: Mapping[int, pd.DataFrame]
    hyperparameters: str = ""
    validation: Mapping[int, pd.DataFrame] | None = None


def oracle_decisions(test: RecordMatrix, alphas: np.ndarray) -> pd.DataFrame:
    """The per-query oracle's decisions on one seed's test queries, one curve point per alpha
    (:func:`avengers_pro.evaluation.baselines.oracle_curve`).
    """
    _, decisions = oracle_curve(test, alphas, with_decisions=True)
    assert decisions is not None
    return decisions


def avengers_pro_entry(
    variant: str,
    decisions: Mapping[tuple[int, int], pd.DataFrame],
    chosen_k: Mapping[int, int],
    name: str,
    validation: Mapping[tuple[int, int], pd.DataFrame] | None = None,
) -> Entry:
    """Avengers-Pro's row for one variant from the pipeline's test decisions.

    Parameters
    ----------
    variant
        The variant's name.
    decisions
        (n_clusters, seed) -> ``results/decisions/{variant}/k{k}_seed{seed}.parquet`` frame.
    chosen_k
        seed -> the cluster count of that seed (:func:`avengers_pro.evaluation.oof.cv_best_k`, or one
        fixed count).
    name
        The row's name: :func:`avengers_pro.outputs.avengers_pro_row`, e.g. with ``k by CV``,
        or :func:`~avengers_pro.outputs.fixed_k_row`.
    validation
        (n_clusters, seed) -> ``results/sweep_validation/{variant}/k{k}_seed{seed}.parquet`` frame:
        the chosen count's validation sweep of each seed (:attr:`Entry.validation`).
    """
    picked, picked_validation = {}, {}
    for seed, k in sorted(chosen_k.items()):
        if (k, seed) not in decisions:
            raise DataError("decisions missing", file=f"results/decisions/{variant}/k{k}_seed{seed}.parquet")
        picked[seed] = decisions[(k, seed)]
        if validation is not None:
            if (k, seed) not in validation:
                raise DataError(
                    "validation sweep missing", file=f"results/sweep_validation/{variant}/k{k}_seed{seed}.parquet"
                )
            picked_validation[seed] = validation[(k, seed)]
    return Entry(
        name,
        ROUTER,
        "avengers-pro",
        picked,
        hyperparameters_text({seed: {"n_clusters": k} for seed, k in chosen_k.items()}),
        picked_validation if validation is not None else None,
    )


def family_entry(
    family: str,
    decisions: Mapping[int, pd.DataFrame],
    params: Mapping[int, Mapping[str, Any]],
    validation: Mapping[int, pd.DataFrame] | None = None,
) -> Entry:
    """A router family's row: its per-seed decisions, validation-chosen hyperparameters and validation
    sweeps.
    """
    return Entry(family, ROUTER, family, decisions, hyperparameters_text(params), validation)


def baseline_entry(
    name: str, decisions: Mapping[int, pd.DataFrame], validation: Mapping[int, pd.DataFrame] | None = None
) -> Entry:
    """A baseline's row (the dataset router, the oracle): no hyperparameters."""
    return Entry(name, BASELINE, name.split(" ")[0], decisions, validation=validation)


# --------------------------------------------------------------------------- step 2: the leaderboard


@dataclass
class _Curves:
    """Every entry's per-seed (A, Q) outcomes on one shared query order per seed."""

    ids: dict[int, np.ndarray] = field(default_factory=dict)
    groups: dict[int, np.ndarray] = field(default_factory=dict)
    alphas: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    scores: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    costs: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


#: The key of the best single model's outcomes in :class:`_Curves` (not a row).
_SINGLE = "\0best single"


def _outcomes(entries: Sequence[Entry], reference: Entry, single: Mapping[int, pd.DataFrame] | None = None) -> _Curves:
    seeds = sorted(reference.decisions)
    curves = _Curves()
    for entry in entries:
        if sorted(entry.decisions) != seeds:
            raise DataError(
                f"router {entry.name!r} has seeds {sorted(entry.decisions)}, the dataset router {seeds}", field="seed"
            )
    sources = [(entry.name, entry.decisions) for entry in entries]
    if single is not None:
        sources.append((_SINGLE, single))
    for seed in seeds:
        frame = reference.decisions[seed]
        require_columns(frame, ("query_id", "dataset"), f"{reference.name} decisions of seed {seed}")
        queries = pd.DataFrame(
            {"query_id": frame["query_id"].to_numpy(dtype=object), "dataset": frame["dataset"].to_numpy(dtype=object)}
        )
        queries = queries.drop_duplicates("query_id").sort_values(["dataset", "query_id"], kind="stable")
        index = pd.Index(queries["query_id"].to_numpy(dtype=object))
        curves.ids[seed] = queries["query_id"].to_numpy(dtype=object)
        curves.groups[seed] = queries["dataset"].to_numpy()
        curves.alphas[seed], curves.scores[seed], curves.costs[seed] = {}, {}, {}
        for name, decisions in sources:
            if seed not in decisions:
                raise DataError(f"{name.strip(chr(0))!r} has no decisions for seed {seed}", field="seed")
            alphas, scores, costs = intervals.decision_matrix(
                decisions[seed], index, f"{name.strip(chr(0))} decisions of seed {seed}"
            )
            curves.alphas[seed][name] = alphas
            curves.scores[seed][name], curves.costs[seed][name] = scores, costs
    return curves


def _router_curve(entry: Entry | None, curves: _Curves) -> intervals.RouterCurve:
    """One entry's outcomes (``None``: the best single model's) with its validation-hull rows per seed.

    A curve of one point, or the oracle's (a ceiling), needs no choice (every seed uses every
    point); a longer curve without validation sweeps has no validation hull (its validation-hull AIQ is NaN).
    """
    name = _SINGLE if entry is None else entry.name
    outcomes = {s: (curves.alphas[s][name], curves.scores[s][name], curves.costs[s][name]) for s in curves.groups}
    validation = None if entry is None else entry.validation
    every_point = entry is not None and entry.family == ORACLE
    return intervals.router_curve(name.strip(chr(0)), outcomes, validation, every_point)


def _dataset_accuracies(curves: _Curves, name: str) -> dict[str, np.ndarray]:
    """Dataset -> one entry's (A,) accuracy per alpha on that dataset's test queries (recorded ones),
    averaged over seeds; datasets sorted.
    """
    per_dataset: dict[str, list[np.ndarray]] = {}
    for seed in sorted(curves.groups):
        scores, groups = curves.scores[seed][name], curves.groups[seed]
        for dataset in np.unique(groups):
            columns = scores[:, groups == dataset]
            recorded = np.isfinite(columns)
            with np.errstate(invalid="ignore", divide="ignore"):
                accuracy = np.where(recorded, columns, 0.0).sum(axis=1) / recorded.sum(axis=1)
            per_dataset.setdefault(str(dataset), []).append(accuracy)
    return {dataset: np.mean(values, axis=0) for dataset, values in sorted(per_dataset.items())}


def build_leaderboard(
    entries: Sequence[Entry],
    reference: str,
    best_single: Mapping[str, Any],
    cost_range: tuple[float, float],
    n_resamples: int,
    confidence: float = 0.95,
    seed: int = 0,
    *,
    avengers_pro: str | None = None,
    single: Mapping[int, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Rank every router by its validation-hull AIQ, with intervals from one paired bootstrap.

    Parameters
    ----------
    entries
        One :class:`Entry` per row; every entry has the same seeds and the same test queries per seed.
        An entry without ``validation`` sweeps and with more than one alpha has no validation-hull
        AIQ (NaN).
    reference
        The ``name`` of the dataset router's entry: the reference of ``aiq_delta_vs_dataset_router``
        and the other ``*_delta*`` columns.
    best_single
        ``{accuracy, cost}`` of the best single model
        (:func:`avengers_pro.evaluation.metrics_json.best_single_model` of summary.csv): the reference of
        PerfGain and CostSave.
    cost_range
        ``(lo, hi)``: the AIQ cost range of every row (:func:`avengers_pro.evaluation.metrics_json.aiq_cost_range`).
    n_resamples
        Resamples of the one paired bootstrap (:class:`avengers_pro.evaluation.intervals.Design`: one weight per
        query, shared by every seed and every row); 0 leaves the intervals empty.
    confidence, seed
        Coverage and seed of the bootstrap.
    avengers_pro
        The ``name`` of the Avengers-Pro entry that is the reference of ``aiq_delta_vs_avengers_pro*``
        (the pipeline's: Avengers-Pro official at ``plots.main``'s fixed cluster count); None leaves
        those columns empty.
    single
        seed -> the best single model's test decisions (one point, alpha 1): the resampled reference
        of the CostSave difference. None leaves ``cost_save_delta*`` empty.

    Returns
    -------
    pd.DataFrame
        :data:`~avengers_pro.outputs.LEADERBOARD_COLUMNS`, then ``aiq_delta_seed<seed>`` (seeds sorted)
        and ``accuracy_<dataset>`` (datasets sorted), one row per entry, by decreasing ``aiq`` (the
        validation-hull AIQ; ``rank`` 1 first). ``aiq_test_hull`` is RouterBench's AIQ of the
        seed-averaged test curve. Each ``*_delta*`` column is the row minus its reference on the
        original test queries, with its percentile interval (``_low`` / ``_high``) and the resamples
        where it was undefined (``_n_undefined``); ``aiq_delta_seed<seed>`` is the validation-hull
        difference to the dataset router on one seed alone. ``best_accuracy`` is the curve's highest
        accuracy and ``best_accuracy_alpha`` its alpha (ties: the cheaper point, then the smaller
        alpha), where the ``accuracy_<dataset>`` columns are read; ``perf_gain`` the gain of
        ``best_accuracy`` over the best single model; ``cost_save`` (None when never reached) and its
        interpolated ``cost_save_alpha``. NaN where undefined (no recorded cost, no resamples).
    """
    by_name = {entry.name: entry for entry in entries}
    if len(by_name) != len(entries):
        raise DataError("two leaderboard rows have the same name", field="router")
    for name in (reference, avengers_pro):
        if name is not None and name not in by_name:
            raise DataError(f"no row named {name!r} to compare with", field="router")
    curves = _outcomes(entries, by_name[reference], single)
    seeds = sorted(curves.groups)
    has_costs = cost_range[1] > cost_range[0]
    ref_acc, ref_cost = float(best_single["accuracy"]), float(best_single["cost"])

    design = intervals.Design({s: (curves.ids[s], curves.groups[s]) for s in seeds})
    counts = design.counts(n_resamples, seed) if n_resamples > 0 else None
    evaluated = {
        entry.name: intervals.evaluate(_router_curve(entry, curves), design, cost_range, counts) for entry in entries
    }
    single_values = (
        intervals.evaluate(_router_curve(None, curves), design, cost_range, counts) if single is not None else None
    )

    def delta(name: str, versus: str | None) -> dict[str, Any]:
        """The differences of ``name`` minus ``versus``; 0 against itself, without an interval."""
        if versus is None:
            return {}
        found = intervals.aiq_differences(evaluated[name], evaluated[versus], confidence)
        if single_values is not None and has_costs and ref_cost > 0:
            found["cost_save_difference"] = intervals.cost_save_difference(
                evaluated[name], evaluated[versus], single_values, confidence
            )
        if name == versus:
            for value in found.values():
                if "lo" in value:
                    value.update(lo=None, hi=None)
        return found

    rows = []
    for entry in entries:
        point = evaluated[entry.name].estimate
        acc, cost = point.accuracy[0], point.cost[0]
        alphas = evaluated[entry.name].alphas
        best = metrics.best_accuracy_point(alphas, acc, cost)
        saved, saved_alpha = (None, None)
        if has_costs and ref_cost > 0:
            saved, saved_alpha = metrics.cost_save(alphas, acc, cost, ref_acc, ref_cost)
        vs_router, vs_avengers = delta(entry.name, reference), delta(entry.name, avengers_pro)
        rows.append(
            {
                "router": entry.name,
                "kind": entry.kind,
                "family": entry.family,
                "hyperparameters": entry.hyperparameters,
                "aiq": point.validation_hull[0],
                "aiq_test_hull": point.test_hull[0],
                **_interval_columns("aiq_delta", "aiq_delta_vs_dataset_router", vs_router.get("aiq_difference")),
                **_interval_columns(
                    "aiq_test_hull_delta",
                    "aiq_test_hull_delta_vs_dataset_router",
                    vs_router.get("aiq_difference_test_hull"),
                ),
                **_interval_columns(
                    "aiq_delta_vs_avengers_pro", "aiq_delta_vs_avengers_pro", vs_avengers.get("aiq_difference")
                ),
                **_interval_columns(
                    "cost_save_delta", "cost_save_delta_vs_dataset_router", vs_router.get("cost_save_difference")
                ),
                "n_resamples": n_resamples if counts is not None else 0,
                "best_accuracy": float(acc[best]),
                "best_accuracy_alpha": float(alphas[best]),
                "perf_gain": metrics.perf_gain(float(acc[best]), ref_acc) if ref_acc > 0 else None,
                "cost_save": saved,
                "cost_save_alpha": saved_alpha,
                "n_seeds": len(seeds),
                **{
                    seed_delta_column(int(s)): value
                    for s, value in vs_router.get("aiq_difference_per_seed", {}).items()
                },
                **{
                    f"accuracy_{dataset}": float(values[best])
                    for dataset, values in _dataset_accuracies(curves, entry.name).items()
                },
            }
        )
    table = pd.DataFrame(rows)
    for column in [c for c in table.columns if c not in LEADERBOARD_TEXT_COLUMNS]:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(np.float64)
    for column in ("n_seeds", "n_resamples"):
        table[column] = table[column].astype(np.int64)
    table = table.sort_values("aiq", ascending=False, kind="stable", na_position="last").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    per_seed = [seed_delta_column(s) for s in seeds]
    for column in per_seed:
        if column not in table:
            table[column] = np.nan
    datasets = sorted(c for c in table.columns if c.startswith("accuracy_"))
    return table[[*LEADERBOARD_COLUMNS, *per_seed, *datasets]]


def _interval_columns(prefix: str, estimate: str, found: Mapping[str, Any] | None) -> dict[str, Any]:
    """The leaderboard columns of one difference: estimate, ``_low``, ``_high``, ``_n_undefined``."""
    found = found or {}
    return {
        estimate: found.get("estimate"),
        f"{prefix}_low": found.get("lo"),
        f"{prefix}_high": found.get("hi"),
        f"{prefix}_n_undefined": found.get("n_undefined"),
    }
