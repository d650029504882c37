"""Router families on the pipeline's splits, and the ranked leaderboard of every router.

Two steps, each a pipeline job (``workflow/rules/routers.smk``):

1. :func:`run_family`: for every seed's split, one family's hyperparameters are chosen on the
   validation part of train only (:func:`select_family`, the ``router_family_select`` job), then
   (:func:`route_family`, the ``router_family`` job) the chosen estimator is refitted on all of
   train and routes the seed's test queries once, over every alpha. The
   outcome per seed is a sweep frame in the format of the Avengers-Pro sweep files
   (``outputs.SWEEP_COLUMNS`` and ``routed[<model>]``) and the per-query decisions.
2. :func:`build_leaderboard`: one row per router (each family, Avengers-Pro's variants, the dataset
   router, the oracle) from their per-seed test decisions and validation sweeps, ranked by the
   validation-hull AIQ (:mod:`avengers_pro.intervals`: per seed, the test points of the alphas on the
   validation curve's upper hull; no test data choose an operating point), with RouterBench's
   test-hull AIQ beside it, both over one cost range shared by every row (the pipeline passes
   summary.csv's, :func:`avengers_pro.metrics_json.aiq_cost_range`, the range of metrics.json);
   PerfGain and CostSave against the best single model; the intervals of the AIQ and CostSave
   differences to the dataset router and to Avengers-Pro official at a fixed cluster count from one
   paired bootstrap (one weight per query, shared by every seed and row), the per-seed differences,
   and the per-dataset accuracy at the alpha of the best accuracy.

Avengers-Pro's rows come from the pipeline's own sweeps (:func:`avengers_pro_entry`): per seed, the
cluster count of the best validation AIQ, by the criterion :func:`~avengers_pro.routers.select_on_validation`
uses for the families, or a fixed cluster count (``plots.main``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import intervals, metrics
from .baselines import dataset_router, oracle_choice
from .errors import DataError
from .evaluate import evaluate_choices
from .io import PathLike, RecordMatrix
from .metrics_json import decision_matrix
from .outputs import (
    BASELINE,
    LEADERBOARD_COLUMNS,
    LEADERBOARD_TEXT_COLUMNS,
    ROUTER,
    avengers_pro_row,
    dataset_router_row,
    fixed_k_row,
    require_columns,
    seed_delta_column,
)
from .router import Variant
from .routers import Grid
from .routers.cv import DEFAULT_CV_FOLDS, cv_folds, select_cv
from .routers.selection import (
    SELECTION_ALPHAS,
    Selection,
    make_estimator,
    validation_cost_range,
)
from .summary import seed_curve

# --------------------------------------------------------------------------- step 1: one family


@dataclass
class FamilyRun:
    """One family on one seed: what was chosen on validation and what it did on test.

    Attributes
    ----------
    family, seed
        The family (a key of :data:`avengers_pro.routers.FAMILIES`) and the split's seed.
    params
        The hyperparameters chosen on validation.
    validation
        Every candidate's ``params`` and validation ``aiq``.
    sweep
        One row per (alpha, test dataset): ``outputs.SWEEP_COLUMNS`` and ``routed[<model>]``.
    decisions
        One row per (alpha, test query): ``alpha``, ``query_id``, ``dataset``, ``model``, ``score``,
        ``cost``.
    validation_sweep
        The sweep of the chosen hyperparameters fitted on train minus the validation carve-out and
        evaluated on the carve-out (the columns of ``sweep``; no test query read): where its upper
        hull lies decides the alphas of the leaderboard's validation-hull AIQ.
    """

    family: str
    seed: int
    params: dict[str, Any]
    validation: list[dict[str, Any]]
    sweep: pd.DataFrame
    decisions: pd.DataFrame
    validation_sweep: pd.DataFrame


def aligned_embeddings(
    query_ids: np.ndarray, vectors: np.ndarray, matrix: RecordMatrix, file: str = "results/embeddings"
) -> np.ndarray:
    """The rows of ``vectors`` in ``matrix``'s query order.

    Raises
    ------
    DataError
        If a query of the records has no embedding.
    """
    rows = pd.Index(np.asarray(query_ids, dtype=object)).get_indexer(np.asarray(matrix.query_ids, dtype=object))
    if (rows < 0).any():
        missing = str(matrix.query_ids[int(np.flatnonzero(rows < 0)[0])])
        raise DataError(f"query {missing!r} of the records has no embedding", file=file, field="query_id")
    return np.asarray(vectors)[rows]


def split_flags(split: pd.DataFrame, matrix: RecordMatrix, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(is_test, is_validation)`` of one split file, aligned with ``matrix``'s queries.

    Raises
    ------
    DataError
        If the split lacks a column or a query of the records.
    """
    file = f"results/splits/seed{seed}.parquet"
    require_columns(split, ("query_id", "split", "validation"), file)
    frame = split.set_index("query_id")
    rows = frame.index.get_indexer(np.asarray(matrix.query_ids, dtype=object))
    if (rows < 0).any():
        missing = str(matrix.query_ids[int(np.flatnonzero(rows < 0)[0])])
        raise DataError(f"query {missing!r} of the records is not in the split", file=file, field="query_id")
    is_test = frame["split"].to_numpy(dtype=object)[rows] == "test"
    is_validation = frame["validation"].to_numpy(dtype=bool)[rows] & ~is_test
    return is_test, is_validation


def select_family(
    family: str,
    grid: Grid,
    embeddings: np.ndarray,
    matrix: RecordMatrix,
    splits: Mapping[int, pd.DataFrame],
    n_folds: int = DEFAULT_CV_FOLDS,
) -> dict[int, Selection]:
    """One family's hyperparameters per seed, chosen by K-fold cross-validation over train only.

    Each seed's training rows alone go to :func:`avengers_pro.routers.cv.select_cv` (folds stratified
    by dataset, seeded by the split's seed), scored by the mean held-out AIQ over
    :data:`SELECTION_ALPHAS`, with the one-standard-error rule toward the simplest candidate.

    Parameters
    ----------
    family, grid
        A key of :data:`avengers_pro.routers.FAMILIES` and its hyperparameter grid.
    embeddings
        (n, dim) L2-normalised embeddings, rows aligned with ``matrix`` (:func:`aligned_embeddings`).
    matrix
        Every query's records.
    splits
        seed -> the ``results/splits/seed{seed}.parquet`` frame (``query_id``, ``split``, ``validation``).
    n_folds
        K (``routers.cv_folds``).

    Returns
    -------
    dict[int, Selection]
        seed -> the choice (``params`` and every candidate's fold AIQs, mean and standard error; no
        refitted estimator: :func:`route_family` fits it).
    """
    chosen = {}
    for seed in sorted(splits):
        is_test, _ = split_flags(splits[seed], matrix, seed)
        train = ~is_test
        folds = cv_folds(matrix.datasets[train], n_folds, int(seed))
        chosen[int(seed)] = select_cv(
            family, grid, embeddings[train], matrix.subset(train), folds, SELECTION_ALPHAS, seed=int(seed)
        )
    return chosen


def route_family(
    family: str,
    chosen: Mapping[int, Mapping[str, Any]],
    embeddings: np.ndarray,
    matrix: RecordMatrix,
    splits: Mapping[int, pd.DataFrame],
    alphas: np.ndarray,
    validation: Mapping[int, list[dict[str, Any]]] | None = None,
) -> list[FamilyRun]:
    """Route each seed's test queries once with the hyperparameters chosen for that seed.

    The estimator is fitted on all of that seed's training queries; of the test records only which
    models have one (``available``) is read. A second fit without the validation carve-out routes the
    carve-out over the same alphas (:attr:`FamilyRun.validation_sweep`).

    Parameters
    ----------
    family
        A key of :data:`avengers_pro.routers.FAMILIES`.
    chosen
        seed -> the chosen hyperparameters (:func:`select_family`, or ``selection.json``).
    embeddings, matrix, splits
        As :func:`select_family`.
    alphas
        (A,) the alpha grid of the test sweep.
    validation
        seed -> every candidate's validation AIQ, carried into the runs (optional).

    Returns
    -------
    list[FamilyRun]
        One per seed, in seed order.
    """
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    runs = []
    for seed in sorted(splits):
        is_test, is_validation = split_flags(splits[seed], matrix, seed)
        train = ~is_test
        params = dict(chosen[int(seed)])
        estimator = make_estimator(family, params, int(seed)).fit(embeddings[train], matrix.subset(train))
        choices = estimator.choose(embeddings[is_test], alphas, matrix.available[is_test])
        sweep, decisions = evaluate_choices(choices[..., None], matrix.subset(is_test), alphas)
        assert decisions is not None  # with_decisions defaults to True
        fit = train & ~is_validation
        held_out = make_estimator(family, params, int(seed)).fit(embeddings[fit], matrix.subset(fit))
        validation_choices = held_out.choose(embeddings[is_validation], alphas, matrix.available[is_validation])
        validation_sweep, _ = evaluate_choices(
            validation_choices[..., None], matrix.subset(is_validation), alphas, with_decisions=False
        )
        runs.append(
            FamilyRun(
                family,
                int(seed),
                params,
                list((validation or {}).get(int(seed), [])),
                sweep,
                decisions,
                validation_sweep,
            )
        )
    return runs


def run_family(
    family: str,
    grid: Grid,
    embeddings: np.ndarray,
    matrix: RecordMatrix,
    splits: Mapping[int, pd.DataFrame],
    alphas: np.ndarray,
    n_folds: int = DEFAULT_CV_FOLDS,
) -> list[FamilyRun]:
    """One family on every seed: :func:`select_family`, then :func:`route_family` on ``alphas``.

    Parameters
    ----------
    family, grid, embeddings, matrix, splits, n_folds
        As :func:`select_family`.
    alphas
        (A,) the alpha grid of the test sweep.

    Returns
    -------
    list[FamilyRun]
        One per seed, in seed order.
    """
    selected = select_family(family, grid, embeddings, matrix, splits, n_folds)
    return route_family(
        family,
        {seed: selection.params for seed, selection in selected.items()},
        embeddings,
        matrix,
        splits,
        alphas,
        validation={seed: selection.validation for seed, selection in selected.items()},
    )


def selection_json(family: str, selected: Mapping[int, Selection], n_folds: int = DEFAULT_CV_FOLDS) -> dict[str, Any]:
    """The JSON object of a family's choices (``results/routers/{family}/selection.json``): per seed
    the chosen ``params`` and every candidate's fold AIQs (:func:`select_family`).
    """
    return {
        "family": family,
        "selection_alphas": len(SELECTION_ALPHAS),
        "cv_folds": n_folds,
        "seeds": {
            str(seed): {"params": selection.params, "validation": selection.validation}
            for seed, selection in sorted(selected.items())
        },
    }


def chosen_params(record: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """The chosen hyperparameters of each seed (``{seed: params}``), from a ``selection.json`` object."""
    return {int(seed): dict(entry["params"]) for seed, entry in record["seeds"].items()}


def read_selection(path: PathLike) -> tuple[str, dict[int, dict[str, Any]]]:
    """``(family, {seed: chosen hyperparameters})`` of a ``results/routers/{family}/selection.json``.

    Raises
    ------
    DataError
        If the file is not JSON or lacks ``family`` or a seed's ``params``.
    """
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read the selection: {err}", file=path) from None
    if not isinstance(record, dict) or not isinstance(record.get("family"), str):
        raise DataError("expected an object with the family's name", file=path, field="family")
    seeds = record.get("seeds")
    if not isinstance(seeds, dict) or not all(
        isinstance(entry, dict) and isinstance(entry.get("params"), dict) for entry in seeds.values()
    ):
        raise DataError("expected {seed: {params: {...}}} for every seed", file=path, field="seeds")
    return record["family"], chosen_params(record)


# --------------------------------------------------------------------------- hyperparameters as text


def params_text(params: Mapping[str, Any]) -> str:
    """``key=value`` pairs of one choice; a mapping value (Avengers-Pro's variant) shows its name."""
    parts = []
    for key, value in params.items():
        if isinstance(value, Mapping):
            value = value.get("name", dict(value))
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def hyperparameters_text(by_seed: Mapping[int, Mapping[str, Any]]) -> str:
    """Each distinct choice once, with the seeds that chose it, e.g. ``n_neighbors=200 (seeds 0, 3)``."""
    seeds_of: dict[str, list[int]] = {}
    for seed in sorted(by_seed):
        seeds_of.setdefault(params_text(by_seed[seed]), []).append(int(seed))
    parts = []
    for text, seeds in seeds_of.items():
        label = "seed" if len(seeds) == 1 else "seeds"
        parts.append(f"{text} ({label} {', '.join(map(str, seeds))})")
    return "; ".join(parts)


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
        validation-hull AIQ. None for a baseline of one point (the oracle).
    """

    name: str
    kind: str
    family: str
    decisions: Mapping[int, pd.DataFrame]
    hyperparameters: str = ""
    validation: Mapping[int, pd.DataFrame] | None = None


def oracle_decisions(test: RecordMatrix) -> pd.DataFrame:
    """The per-query oracle's decisions on one seed's test queries, as one curve point (alpha 1)."""
    chosen = oracle_choice(test)
    _, decisions = evaluate_choices(chosen[None, :, None], test, np.array([1.0]))
    assert decisions is not None
    return decisions


def validation_best_k(validation_sweeps: Mapping[int, pd.DataFrame], validation: RecordMatrix) -> int:
    """The cluster count of the best validation AIQ (equal AIQs: the smaller count).

    The criterion is :func:`avengers_pro.routers.select_on_validation`'s: the AIQ of the validation
    sweep over ``[0, most expensive single model's validation cost]``.

    Parameters
    ----------
    validation_sweeps
        n_clusters -> one seed's ``results/sweep_validation/{variant}/k{k}_seed{seed}.parquet`` frame.
    validation
        That seed's validation queries' records.
    """
    if not validation_sweeps:
        raise DataError("no validation sweep to choose a cluster count from", field="n_clusters")
    cost_range = validation_cost_range(validation)
    best_k, best_aiq = -1, -np.inf
    for k in sorted(validation_sweeps):
        curve = seed_curve(validation_sweeps[k])
        value = metrics.aiq(curve["cost"].to_numpy(), curve["accuracy"].to_numpy(), cost_range)
        if value > best_aiq:
            best_k, best_aiq = int(k), value
    return best_k


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
        seed -> the cluster count of that seed (:func:`validation_best_k`, or one fixed count).
    name
        The row's name: :func:`avengers_pro.outputs.avengers_pro_row`, e.g. with ``k on validation``,
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
    alphas: dict[str, np.ndarray] = field(default_factory=dict)
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
        curves.scores[seed], curves.costs[seed] = {}, {}
        for name, decisions in sources:
            if seed not in decisions:
                raise DataError(f"{name.strip(chr(0))!r} has no decisions for seed {seed}", field="seed")
            alphas, scores, costs = decision_matrix(
                decisions[seed], index, f"{name.strip(chr(0))} decisions of seed {seed}"
            )
            if name in curves.alphas and not np.array_equal(curves.alphas[name], alphas):
                raise DataError(
                    f"router {name!r}: seed {seed} has another alpha grid than the other seeds", field="alpha"
                )
            curves.alphas[name] = alphas
            curves.scores[seed][name], curves.costs[seed][name] = scores, costs
    return curves


def _router_curve(entry: Entry | None, curves: _Curves) -> intervals.RouterCurve:
    """One entry's outcomes (``None``: the best single model's) with its validation-hull rows per seed.

    A curve of one point needs no choice (every seed uses it); a longer curve without validation sweeps
    has no validation hull (its validation-hull AIQ is NaN).
    """
    name = _SINGLE if entry is None else entry.name
    seeds = sorted(curves.groups)
    alphas = curves.alphas[name]
    validation = None if entry is None else entry.validation
    hull_rows: dict[int, np.ndarray] | None = None
    if validation is not None:
        hull_rows = {
            s: intervals.validation_hull_rows(alphas, validation[s], f"{name} validation sweep of seed {s}")
            for s in seeds
        }
    elif alphas.size > 1:
        hull_rows = {s: np.array([], dtype=np.intp) for s in seeds}
    return intervals.RouterCurve(
        alphas,
        {s: curves.scores[s][name] for s in seeds},
        {s: curves.costs[s][name] for s in seeds},
        hull_rows,
    )


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
        (:func:`avengers_pro.metrics_json.best_single_model` of summary.csv): the reference of
        PerfGain and CostSave.
    cost_range
        ``(lo, hi)``: the AIQ cost range of every row (:func:`avengers_pro.metrics_json.aiq_cost_range`).
    n_resamples
        Resamples of the one paired bootstrap (:class:`avengers_pro.intervals.Design`: one weight per
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
        alphas = curves.alphas[entry.name]
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


def leaderboard_markdown(
    table: pd.DataFrame,
    cost_range: tuple[float, float],
    best_single: Mapping[str, Any],
    confidence: float,
    *,
    reference: str = "the dataset router",
    avengers_pro: str | None = None,
) -> str:
    """The leaderboard as Markdown: the ranked table with a line saying what the numbers are, then the
    per-dataset accuracy of each row at its best-accuracy alpha.

    ``reference`` and ``avengers_pro`` name the rows the two ΔAIQ columns are measured against; without
    ``avengers_pro`` that column is left out.
    """

    def number(value: Any, fmt: str) -> str:
        # Rounded first, so that float noise around 0 does not print as -0.00%.
        return "" if value is None or not np.isfinite(value) else format(round(float(value), 12) + 0.0, fmt)

    def with_interval(estimate: float, lo: float, hi: float) -> str:
        text = number(estimate, "+.4f")
        if text and np.isfinite(lo) and np.isfinite(hi):
            text += f" [{number(lo, '+.4f')}, {number(hi, '+.4f')}]"
        return text

    level = f"{confidence:.0%}"
    versus = f" ΔAIQ vs Avengers-Pro: router minus {avengers_pro}, the same resamples." if avengers_pro else ""
    header = f"| rank | router | kind | AIQ | ΔAIQ vs dataset router [{level}] |"
    rule = "|---:|---|---|---:|---|"
    if avengers_pro:
        header += f" ΔAIQ vs Avengers-Pro [{level}] |"
        rule += "---|"
    header += f" AIQ (test hull) | ΔAIQ (test hull) vs dataset router [{level}] |"
    rule += "---:|---|"
    lines = [
        f"Ranked by AIQ over the test cost range [{cost_range[0]:g}, {cost_range[1]:.4g}]: per seed, the test points "
        "of the alphas on the upper hull of the validation curve (chosen without test data), averaged over seeds. "
        "AIQ (test hull): RouterBench's, the upper hull of the seed-averaged test curve, for comparison with "
        f"published numbers. ΔAIQ vs dataset router: router minus {reference}; one paired bootstrap {level} "
        f"interval for every difference (one weight per query, shared by every seed and router).{versus} "
        f"PerfGain and CostSave: against the best single model, {best_single.get('model', '')} (accuracy "
        f"{float(best_single['accuracy']):.4f}, cost {float(best_single['cost']):.4g}); CostSave is empty when the "
        "curve never reaches its accuracy.",
        "",
        header + " PerfGain | CostSave | hyperparameters |",
        rule + "---:|---:|---|",
    ]
    for row in table.itertuples(index=False):
        cells = [
            str(row.rank),
            str(row.router),
            str(row.kind),
            number(row.aiq, ".4f"),
            with_interval(row.aiq_delta_vs_dataset_router, row.aiq_delta_low, row.aiq_delta_high),
        ]
        if avengers_pro:
            cells.append(
                with_interval(
                    row.aiq_delta_vs_avengers_pro, row.aiq_delta_vs_avengers_pro_low, row.aiq_delta_vs_avengers_pro_high
                )
            )
        cells += [
            number(row.aiq_test_hull, ".4f"),
            with_interval(
                row.aiq_test_hull_delta_vs_dataset_router, row.aiq_test_hull_delta_low, row.aiq_test_hull_delta_high
            ),
            number(row.perf_gain, "+.2%"),
            number(row.cost_save, "+.1%"),
            str(row.hyperparameters).replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    datasets = [c for c in table.columns if c.startswith("accuracy_")]
    if datasets:
        lines += [
            "",
            "Per-dataset accuracy at each router's best-accuracy alpha (seed-averaged; the mean over datasets is "
            "its best accuracy).",
            "",
            "| rank | router | alpha | " + " | ".join(c.removeprefix("accuracy_") for c in datasets) + " | mean |",
            "|---:|---|---:|" + "---:|" * (len(datasets) + 1),
        ]
        for _, row in table.iterrows():
            values = [number(row[c], ".4f") for c in [*datasets, "best_accuracy"]]
            lines.append(
                f"| {row['rank']} | {row['router']} | {number(row['best_accuracy_alpha'], 'g')} | "
                + " | ".join(values)
                + " |"
            )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the pipeline's rows


def pipeline_entries(
    matrix: RecordMatrix,
    splits: Mapping[int, pd.DataFrame],
    family_decisions: Mapping[tuple[str, int], pd.DataFrame],
    family_params: Mapping[str, Mapping[int, Mapping[str, Any]]],
    router_decisions: Mapping[tuple[str, int, int], pd.DataFrame],
    router_validation: Mapping[tuple[str, int, int], pd.DataFrame],
    dataset_router_decisions: Mapping[tuple[str, int], pd.DataFrame],
    main: Mapping[str, Any],
    *,
    family_validation: Mapping[tuple[str, int], pd.DataFrame] | None = None,
    dataset_router_validation: Mapping[tuple[str, int], pd.DataFrame] | None = None,
) -> tuple[list[Entry], str, str]:
    """Every leaderboard row of a pipeline run, and the names of its two reference rows.

    Parameters
    ----------
    matrix, splits
        The records and seed -> split frame (for each seed's validation and test queries).
    family_decisions, family_params
        (family, seed) -> test decisions; family -> seed -> chosen hyperparameters.
    router_decisions, router_validation
        (variant, n_clusters, seed) -> Avengers-Pro's test decisions and validation sweep.
    dataset_router_decisions
        (variant, seed) -> the dataset router's test decisions.
    main
        ``plots.main``: ``{variant, n_clusters}``; its variant's dataset router is the reference, and
        its (variant, n_clusters) gets a row of its own beside the validation-chosen ones, the
        reference of ``aiq_delta_vs_avengers_pro``.
    family_validation, dataset_router_validation
        (family, seed) -> ``results/routers/{family}/validation_seed{seed}.parquet``; (variant, seed)
        -> the dataset router's validation sweep (:func:`dataset_router_validation_sweeps`). The
        validation sweeps of the rows' validation-hull AIQ; without them those rows have none.

    Returns
    -------
    entries, reference, avengers_pro : list[Entry], str, str
        The rows; the names of the dataset router's row and of the fixed-k Avengers-Pro row
        (:func:`avengers_pro.outputs.dataset_router_row`, :func:`~avengers_pro.outputs.fixed_k_row`).
    """
    seeds = sorted(splits)
    entries: list[Entry] = []
    for family in sorted({f for f, _ in family_decisions}):
        entries.append(
            family_entry(
                family,
                {s: family_decisions[(family, s)] for s in seeds},
                family_params[family],
                None if family_validation is None else {s: family_validation[(family, s)] for s in seeds},
            )
        )
    validation = {}
    test = {}
    for seed in seeds:
        is_test, is_validation = split_flags(splits[seed], matrix, seed)
        validation[seed], test[seed] = matrix.subset(is_validation), matrix.subset(is_test)
    variants = sorted({v for v, _, _ in router_decisions})
    for variant in variants:
        decisions = {(k, s): frame for (v, k, s), frame in router_decisions.items() if v == variant}
        sweeps = {(k, s): frame for (v, k, s), frame in router_validation.items() if v == variant}
        chosen = {
            s: validation_best_k({k: f for (k, s2), f in sweeps.items() if s2 == s}, validation[s]) for s in seeds
        }
        entries.append(
            avengers_pro_entry(variant, decisions, chosen, avengers_pro_row(variant, "k on validation"), sweeps)
        )
    main_variant = str(main["variant"])
    entries.append(
        avengers_pro_entry(
            main_variant,
            {(k, s): f for (v, k, s), f in router_decisions.items() if v == main_variant},
            dict.fromkeys(seeds, int(main["n_clusters"])),
            fixed_k_row(main),
            {(k, s): f for (v, k, s), f in router_validation.items() if v == main_variant},
        )
    )
    for variant in sorted({v for v, _ in dataset_router_decisions}):
        entries.append(
            baseline_entry(
                dataset_router_row(variant),
                {s: dataset_router_decisions[(variant, s)] for s in seeds},
                None
                if dataset_router_validation is None
                else {s: dataset_router_validation[(variant, s)] for s in seeds},
            )
        )
    entries.append(baseline_entry("oracle", {s: oracle_decisions(test[s]) for s in seeds}))
    return entries, dataset_router_row(main_variant), fixed_k_row(main)


def dataset_router_validation_sweeps(
    matrix: RecordMatrix,
    splits: Mapping[int, pd.DataFrame],
    variants: Mapping[str, Mapping[str, Any]],
    alphas: np.ndarray,
) -> dict[tuple[str, int], pd.DataFrame]:
    """(variant, seed) -> the dataset router's validation sweep: its statistics from the training
    queries outside the validation carve-out, routing the validation queries (no test query is read).

    Parameters
    ----------
    matrix, splits
        The records and seed -> split frame.
    variants
        ``router.variants`` (name -> settings).
    alphas
        (A,) the alpha grid of the test sweeps.
    """
    sweeps = {}
    for seed in sorted(splits):
        is_test, is_validation = split_flags(splits[seed], matrix, seed)
        fit_ids, validation_ids = matrix.query_ids[~is_test & ~is_validation], matrix.query_ids[is_validation]
        for name, spec in variants.items():
            sweep, _ = dataset_router(matrix, fit_ids, validation_ids, Variant.from_config(name, dict(spec)), alphas)
            sweeps[(name, int(seed))] = sweep
    return sweeps


def single_model_decisions(
    matrix: RecordMatrix, splits: Mapping[int, pd.DataFrame], model: str
) -> dict[int, pd.DataFrame]:
    """Seed -> one model's test decisions as a curve of one point (alpha 1): the best single model,
    the reference of the leaderboard's CostSave difference.
    """
    if model not in matrix.models:
        raise DataError(f"the best single model {model!r} has no records", field="model")
    column = matrix.models.index(model)
    decisions = {}
    for seed in sorted(splits):
        is_test, _ = split_flags(splits[seed], matrix, seed)
        test = matrix.subset(is_test)
        chosen = np.full((1, len(test.query_ids), 1), column)
        _, frame = evaluate_choices(chosen, test, np.array([1.0]))
        assert frame is not None
        decisions[int(seed)] = frame
    return decisions
