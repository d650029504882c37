"""One paired bootstrap for every difference of a run, and AIQ on operating points chosen without test data.

**The design.** The seeds' test sets overlap: each query is a test query of about 1.5 of the five
default seeds. Resampling each seed's test queries independently treats those seeds as independent
and gives intervals that are too narrow. Here one resample draws **one weight per query of the data
set** (:class:`Design`: the union of every seed's test queries; within each dataset ``n_g`` draws with
replacement among its ``n_g`` queries, i.e. multinomial counts, :func:`avengers_pro.evaluation.metrics.resample_counts`).
A query's weight is shared by every seed in which it is a test query and by every router, so every
difference of a run (metrics.json and the leaderboard, every router, both AIQs and CostSave) is
measured on the same resamples. Each seed's curve is then recomputed with those weights
(:func:`avengers_pro.evaluation.metrics.resampled_curve`: per-dataset weighted mean score, weighted total cost).

**The validation hull.** RouterBench's AIQ takes the upper convex hull of the test points, so the test
data choose which alphas make the curve; under resampling that choice inflates AIQ, the more so the
more distinct points a curve has. The AIQ that ranks the leaderboard instead uses, per seed, the
alphas of the vertices of the upper hull of that seed's **validation** curve
(:func:`validation_hull_rows`: the router fitted without the validation queries, evaluated on them),
and scores the test points of those alphas as they fall: the polyline through them in cost order, 0
below the cheapest, flat after the most expensive, no hull taken on test (:func:`polyline_aiq_rows`;
a mix of two neighbouring operating points realises every point of the segment between them). That
per-seed AIQ is averaged over seeds (equal-cost averaging; AIQ is linear in the curve). The test-hull
AIQ of the seed-averaged curve is kept beside it, labelled, to compare with published numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.evaluation import metrics
from avengers_pro.evaluation.summary import seed_curve
from avengers_pro.outputs import ALPHA_DECIMALS, require_columns


def decision_matrix(frame: pd.DataFrame, queries: pd.Index, file: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A decisions frame (validated by :func:`avengers_pro.outputs.read_decisions`) -> (alphas (A,),
    scores (A, Q), costs (A, Q)), columns in ``queries`` order.
    """
    row, alphas = pd.factorize(frame["alpha"].to_numpy(dtype=np.float64).round(ALPHA_DECIMALS), sort=True)
    # Look up each distinct id once (a decisions frame repeats every test query once per alpha).
    codes, distinct = pd.factorize(frame["query_id"])
    column = np.where(codes < 0, -1, queries.get_indexer(np.asarray(distinct, dtype=object))[codes])
    if (column < 0).any():
        bad = int(np.flatnonzero(column < 0)[0])
        raise DataError(
            f"query {frame['query_id'].iloc[bad]!r} is not a test query of this seed",
            file=file,
            row=bad,
            field="query_id",
        )
    size = alphas.size * len(queries)
    cell = row * len(queries) + column
    per_cell = np.bincount(cell, minlength=size)
    if (per_cell != 1).any():
        raise DataError(
            f"expected one row per (alpha, test query), {alphas.size} x {len(queries)}: "
            f"{int((per_cell == 0).sum())} missing, {int((per_cell > 1).sum())} duplicated",
            file=file,
            field="query_id",
        )
    scores = np.empty(size)
    costs = np.empty(size)
    scores[cell] = frame["score"].to_numpy(dtype=np.float64)
    costs[cell] = frame["cost"].to_numpy(dtype=np.float64)
    return np.asarray(alphas, dtype=np.float64), scores.reshape(alphas.size, -1), costs.reshape(alphas.size, -1)


class Design:
    """Every seed's test queries placed in one set of queries, the unit of resampling.

    Parameters
    ----------
    queries
        seed -> ``(query ids, datasets)`` of that seed's test queries, in the column order of that
        seed's outcome matrices.

    Raises
    ------
    DataError
        If a query has two datasets.
    """

    def __init__(self, queries: Mapping[int, tuple[np.ndarray, np.ndarray]]) -> None:
        if not queries:
            raise ValueError("the design needs the test queries of at least one seed")
        frames = [
            pd.DataFrame({"query_id": np.asarray(ids, dtype=object), "dataset": np.asarray(groups, dtype=object)})
            for ids, groups in queries.values()
        ]
        union = pd.concat(frames, ignore_index=True).drop_duplicates().sort_values(["dataset", "query_id"])
        twice = union["query_id"].duplicated()
        if twice.any():
            raise DataError(
                f"query {union['query_id'][twice].iloc[0]!r} has two datasets in the test splits", field="dataset"
            )
        self.query_ids = union["query_id"].to_numpy(dtype=object)
        self.groups = union["dataset"].to_numpy(dtype=object)
        index = pd.Index(self.query_ids)
        self.seeds = sorted(int(seed) for seed in queries)
        self.positions = {int(s): index.get_indexer(np.asarray(ids, dtype=object)) for s, (ids, _) in queries.items()}
        self.seed_groups = {int(s): np.asarray(groups, dtype=object) for s, (_, groups) in queries.items()}

    def counts(self, n_resamples: int, seed: int) -> dict[int, np.ndarray]:
        """Seed -> (n_resamples, Q_s) weights of that seed's test queries, one draw over every query.

        The same ``(n_resamples, seed)`` gives the same draws in every job of a run (the set of
        queries is the union of the test splits, sorted by dataset and id).
        """
        weights = metrics.resample_counts(self.groups, n_resamples, np.random.default_rng(seed))
        return {s: weights[:, positions] for s, positions in self.positions.items()}


@dataclass
class RouterCurve:
    """One router's per-seed test outcomes, and the alphas chosen for it on validation.

    Attributes
    ----------
    alphas
        (A,) the alpha of each curve point.
    scores, costs
        seed -> (A, Q_s) per-point, per-query outcomes, columns in the :class:`Design`'s order of that
        seed (NaN: no record, left out).
    hull_rows
        seed -> the rows (points) on that seed's validation hull (:func:`validation_hull_rows`). None:
        every point (for a curve with no alpha to choose, such as one point).
    """

    alphas: np.ndarray
    scores: Mapping[int, np.ndarray]
    costs: Mapping[int, np.ndarray]
    hull_rows: Mapping[int, np.ndarray] | None = None


@dataclass
class Values:
    """A curve under the original data (one row) or under every resample (one row each).

    Attributes
    ----------
    accuracy, cost
        (rows, A) the seed-averaged curve.
    test_hull
        (rows,) RouterBench's AIQ of the seed-averaged curve (upper hull on test).
    validation_hull
        (rows,) the mean over seeds of the AIQ of each seed's validation-hull points on test.
    per_seed
        seed -> (rows,) that seed's validation-hull AIQ.
    """

    accuracy: np.ndarray
    cost: np.ndarray
    test_hull: np.ndarray
    validation_hull: np.ndarray
    per_seed: dict[int, np.ndarray]


def polyline_aiq_rows(costs: np.ndarray, accuracies: np.ndarray, cost_range: tuple[float, float]) -> np.ndarray:
    """AIQ of the polyline through each row's points, without taking a hull.

    Each row's points are joined in cost order (equal costs: by accuracy); the curve is 0 below the
    cheapest point and flat at the most expensive point's accuracy after it. Its mean height over
    ``cost_range`` is returned. On a row whose points are already its upper hull this is
    :func:`avengers_pro.evaluation.metrics.aiq_rows`; otherwise it is lower (a point below the hull pulls it down).

    Parameters
    ----------
    costs, accuracies
        (rows, n) finite points, n >= 1.
    cost_range
        ``(lo, hi)`` with ``hi > lo``.

    Returns
    -------
    np.ndarray
        (rows,) values, NaN in a row with a non-finite point.
    """
    costs = np.atleast_2d(np.asarray(costs, dtype=np.float64))
    accuracies = np.atleast_2d(np.asarray(accuracies, dtype=np.float64))
    lo, hi = float(cost_range[0]), float(cost_range[1])
    if not hi > lo:
        raise ValueError(f"AIQ needs a cost range with hi > lo, got [{lo}, {hi}]")
    finite = np.isfinite(costs).all(axis=1) & np.isfinite(accuracies).all(axis=1)
    xs_raw, ys_raw = np.where(finite[:, None], costs, 0.0), np.where(finite[:, None], accuracies, 0.0)
    order = np.lexsort((ys_raw, xs_raw), axis=1)
    xs, ys = np.take_along_axis(xs_raw, order, axis=1), np.take_along_axis(ys_raw, order, axis=1)
    x0, x1, y0, y1 = xs[:, :-1], xs[:, 1:], ys[:, :-1], ys[:, 1:]
    left, right = np.clip(x0, lo, hi), np.clip(x1, lo, hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(x1 > x0, (y1 - y0) / (x1 - x0), 0.0)
    height = (y0 + slope * (left - x0) + y0 + slope * (right - x0)) / 2
    area = ((right - left) * height).sum(axis=1)
    area += (hi - np.clip(xs[:, -1], lo, hi)) * ys[:, -1]
    return np.where(finite, area / (hi - lo), np.nan)


def validation_hull_rows(
    alphas: np.ndarray, validation_sweep: pd.DataFrame, file: str = "validation sweep"
) -> np.ndarray:
    """The rows of ``alphas`` whose points are vertices of the upper hull of a validation curve.

    Parameters
    ----------
    alphas
        (A,) the test curve's alpha grid.
    validation_sweep
        One seed's validation sweep, one row per (alpha, dataset) (``results/sweep_validation/...``
        or ``results/families/{family}/validation_seed{seed}.parquet``): the router fitted without
        the validation queries, evaluated on them.
    file
        Named in errors.

    Returns
    -------
    np.ndarray
        Sorted row positions into ``alphas``. A hull vertex that several alphas reach takes the
        smallest of them (the cheapest setting of that point).

    Raises
    ------
    DataError
        If a hull vertex's alpha is not on the test grid.
    """
    require_columns(validation_sweep, ("alpha", "dataset", "accuracy", "cost"), file)
    curve = seed_curve(validation_sweep)  # indexed by alpha, sorted
    grid = curve.index.to_numpy(dtype=np.float64)
    acc, cost = curve["accuracy"].to_numpy(dtype=np.float64), curve["cost"].to_numpy(dtype=np.float64)
    hull_cost, hull_acc = metrics.upper_hull(cost, acc)
    chosen = [float(grid[np.flatnonzero((cost == c) & (acc == a))[0]]) for c, a in zip(hull_cost, hull_acc)]
    test_grid = pd.Index(np.round(np.asarray(alphas, dtype=np.float64), ALPHA_DECIMALS))
    rows = test_grid.get_indexer(np.round(chosen, ALPHA_DECIMALS))
    if (rows < 0).any():
        raise DataError(
            f"alpha {chosen[int(np.flatnonzero(rows < 0)[0])]} of the validation hull is not on the test grid",
            file=file,
            field="alpha",
        )
    return np.unique(rows)


def operating_rows(
    alphas: np.ndarray,
    seeds: list[int],
    validation: Mapping[int, pd.DataFrame] | None,
    name: str,
    every_point: bool = False,
) -> dict[int, np.ndarray] | None:
    """Each seed's rows of a curve that its validation-hull AIQ scores (:attr:`RouterCurve.hull_rows`).

    With validation sweeps (``validation``: seed -> that seed's validation sweep), the rows on each seed's validation hull
    (:func:`validation_hull_rows`). Without them, None (every point) for a curve of one point or a
    ceiling whose every point is kept (``every_point``: the oracle); else no row, so its
    validation-hull AIQ is NaN: a curve without validation has no honest choice of alphas.
    """
    if validation is not None:
        return {s: validation_hull_rows(alphas, validation[s], f"{name} validation sweep of seed {s}") for s in seeds}
    if np.asarray(alphas).size > 1 and not every_point:
        return {s: np.array([], dtype=np.intp) for s in seeds}
    return None


def router_curve(
    name: str,
    outcomes: Mapping[int, tuple[np.ndarray, np.ndarray, np.ndarray]],
    validation: Mapping[int, pd.DataFrame] | None,
    every_point: bool = False,
) -> RouterCurve:
    """One router's :class:`RouterCurve` from its per-seed ``(alphas, scores, costs)`` (as
    :func:`decision_matrix` gives them), with its :func:`operating_rows`.

    Raises
    ------
    DataError
        A seed whose alpha grid is not the other seeds' (the seeds' curves are averaged point by point).
    """
    seeds = sorted(outcomes)
    grid = outcomes[seeds[0]][0]
    for seed in seeds[1:]:
        if not np.array_equal(grid, outcomes[seed][0]):
            raise DataError(f"{name}: seed {seed} has another alpha grid than seed {seeds[0]}", field="alpha")
    return RouterCurve(
        grid,
        {s: outcomes[s][1] for s in seeds},
        {s: outcomes[s][2] for s in seeds},
        operating_rows(grid, seeds, validation, name, every_point),
    )


def curve_values(
    curve: RouterCurve,
    design: Design,
    cost_range: tuple[float, float],
    counts: Mapping[int, np.ndarray] | None = None,
) -> Values:
    """Both AIQs and the seed-averaged curve of ``curve``, on the original data or on every resample.

    Parameters
    ----------
    curve
        The router's outcomes.
    design
        The test queries of every seed.
    cost_range
        The AIQ cost range; an empty one (no recorded cost) gives NaN AIQs.
    counts
        :meth:`Design.counts`; None: the original data (one row of ones per seed).
    """
    accuracy_sum: np.ndarray | float = 0.0
    cost_sum: np.ndarray | float = 0.0
    per_seed: dict[int, np.ndarray] = {}
    has_costs = cost_range[1] > cost_range[0]
    for seed in design.seeds:
        groups = design.seed_groups[seed]
        weights = counts[seed] if counts is not None else np.ones((1, groups.size))
        acc, cost = metrics.resampled_curve(curve.scores[seed], curve.costs[seed], groups, weights)
        rows = curve.hull_rows[seed] if curve.hull_rows is not None else np.arange(acc.shape[1])
        per_seed[seed] = (
            polyline_aiq_rows(cost[:, rows], acc[:, rows], cost_range)
            if has_costs and len(rows)
            else np.full(acc.shape[0], np.nan)
        )
        accuracy_sum, cost_sum = accuracy_sum + acc, cost_sum + cost
    n = len(design.seeds)
    mean_acc, mean_cost = np.asarray(accuracy_sum) / n, np.asarray(cost_sum) / n
    with np.errstate(invalid="ignore"):
        test_hull = (
            metrics.aiq_rows(np.nan_to_num(mean_cost), np.nan_to_num(mean_acc), cost_range)
            if has_costs
            else np.full(mean_acc.shape[0], np.nan)
        )
    test_hull = np.where(np.isfinite(mean_acc).all(axis=1), test_hull, np.nan)
    return Values(mean_acc, mean_cost, test_hull, np.mean(list(per_seed.values()), axis=0), per_seed)


@dataclass
class Evaluated:
    """A curve's :class:`Values` on the original data (``estimate``) and on every resample (``draws``,
    None without resamples), with its alpha grid.
    """

    alphas: np.ndarray
    estimate: Values
    draws: Values | None


def evaluate(
    curve: RouterCurve,
    design: Design,
    cost_range: tuple[float, float],
    counts: Mapping[int, np.ndarray] | None,
) -> Evaluated:
    """:func:`curve_values` on the original data and, when ``counts`` is given, on every resample."""
    draws = curve_values(curve, design, cost_range, counts) if counts is not None else None
    return Evaluated(np.asarray(curve.alphas, dtype=np.float64), curve_values(curve, design, cost_range), draws)


def interval(estimate: float, draws: np.ndarray | None, confidence: float) -> dict[str, Any]:
    """``{estimate, lo, hi, n_resamples, n_undefined}``: the percentile interval of ``draws`` over the
    resamples where they are defined (finite); lo and hi None without any.
    """
    estimate_out = float(estimate) if np.isfinite(estimate) else None
    if draws is None:
        return {"estimate": estimate_out, "lo": None, "hi": None, "n_resamples": 0, "n_undefined": 0}
    defined = draws[np.isfinite(draws)]
    tail = (1.0 - confidence) / 2.0
    lo, hi = (None, None) if defined.size == 0 else np.quantile(defined, [tail, 1.0 - tail]).tolist()
    return {
        "estimate": estimate_out,
        "lo": lo,
        "hi": hi,
        "n_resamples": int(draws.size),
        "n_undefined": int(draws.size - defined.size),
    }


def aiq_differences(router: Evaluated, versus: Evaluated, confidence: float) -> dict[str, Any]:
    """``router`` minus ``versus`` on the same resamples: ``aiq_difference`` (validation hull, the
    ranking AIQ), ``aiq_difference_test_hull`` (RouterBench's) and ``aiq_difference_per_seed``
    (seed -> the validation-hull difference of that seed alone, no interval).
    """

    def draws(get: str) -> np.ndarray | None:
        if router.draws is None or versus.draws is None:
            return None
        return np.asarray(getattr(router.draws, get) - getattr(versus.draws, get))

    est, ref = router.estimate, versus.estimate
    return {
        "aiq_difference": interval(
            float(est.validation_hull[0] - ref.validation_hull[0]), draws("validation_hull"), confidence
        ),
        "aiq_difference_test_hull": interval(
            float(est.test_hull[0] - ref.test_hull[0]), draws("test_hull"), confidence
        ),
        "aiq_difference_per_seed": {
            str(seed): _finite(est.per_seed[seed][0] - ref.per_seed[seed][0]) for seed in sorted(est.per_seed)
        },
    }


def cost_save_difference(router: Evaluated, versus: Evaluated, single: Evaluated, confidence: float) -> dict[str, Any]:
    """CostSave of ``router`` minus that of ``versus`` against the best single model ``single`` (one
    point, resampled with them), with its interval; undefined (NaN) where either curve never reaches
    the single model's accuracy or the single model costs nothing.
    """

    def values(which: str) -> np.ndarray | None:
        parts = [getattr(e, which) for e in (router, versus, single)]
        if any(part is None for part in parts):
            return None
        curve_r, curve_v, ref = parts
        ref_acc, ref_cost = ref.accuracy[:, 0], ref.cost[:, 0]
        defined = np.isfinite(ref_acc) & (ref_cost > 0)
        ref_acc, ref_cost = np.where(defined, ref_acc, 0.0), np.where(defined, ref_cost, 1.0)
        saved = metrics.cost_save_rows(router.alphas, curve_r.accuracy, curve_r.cost, ref_acc, ref_cost)[0]
        reference = metrics.cost_save_rows(versus.alphas, curve_v.accuracy, curve_v.cost, ref_acc, ref_cost)[0]
        return np.where(defined, saved - reference, np.nan)

    estimate = values("estimate")
    assert estimate is not None
    return interval(float(estimate[0]), values("draws"), confidence)


def perf_gain_at_points(
    router: RouterCurve,
    points: Mapping[int, int],
    single: RouterCurve,
    design: Design,
    counts: Mapping[int, np.ndarray] | None,
    confidence: float,
) -> dict[str, Any]:
    """PerfGain at operating points chosen without test data, with its interval.

    The router's seed-averaged accuracy at one point per seed (``points``: seed -> row of the curve,
    e.g. the alpha of best validation accuracy) over the best single model's seed-averaged accuracy
    (``single``, one point), minus 1: on the original data and on every resample of the design (the
    same weights as every other difference). Unlike the ``perf_gain`` of the seed-averaged test curve,
    which takes its best point on test, no test data choose the point, so the estimate is not biased
    upward.
    """

    def gain(weights_of: Any) -> np.ndarray:
        router_sum: np.ndarray | float = 0.0
        single_sum: np.ndarray | float = 0.0
        for seed in design.seeds:
            groups = design.seed_groups[seed]
            weights = weights_of(seed, groups)
            row = int(points[seed])
            acc, _ = metrics.resampled_curve(
                router.scores[seed][row : row + 1], router.costs[seed][row : row + 1], groups, weights
            )
            ref, _ = metrics.resampled_curve(single.scores[seed], single.costs[seed], groups, weights)
            router_sum, single_sum = router_sum + acc[:, 0], single_sum + ref[:, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(router_sum) / np.asarray(single_sum) - 1.0

    estimate = gain(lambda seed, groups: np.ones((1, groups.size)))
    draws = gain(lambda seed, groups: counts[seed]) if counts is not None else None
    return interval(float(estimate[0]), draws, confidence)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
