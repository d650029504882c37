"""Metrics of accuracy-cost curves: Pareto front, AIQ, PerfGain, CostSave, Gap@O, dominance, resampling.

The paired bootstrap that uses the resampling here is :mod:`avengers_pro.evaluation.intervals`.

A *curve* is a set of (cost, accuracy) points, one per configuration (here: one per alpha of the
sweep). Every function here is pure and works on NumPy arrays; aggregation over seeds and the file
formats live in :mod:`avengers_pro.evaluation.summary`.

Definitions (RouterBench / LLMRouterBench; their use here: ``docs/method.md``, Evaluation):

* **AIQ** (RouterBench ``evaluation/AIQ.py``): the area under the non-decreasing upper convex hull
  of a curve's (cost, accuracy) points, divided by the width of the cost range. Below the cheapest
  point the hull counts as 0 (RouterBench integrates from its first hull point only); after the last
  hull point it stays flat up to the end of the range. The range defaults to ``[0, max cost of the
  curve]``, exactly RouterBench's rule for one curve; curves that are compared must share one range.
* **PerfGain** = (best accuracy - reference accuracy) / reference accuracy.
* **CostSave** = the largest relative cost cut (ref_cost - c) / ref_cost among curve points whose
  accuracy is >= the reference accuracy, where the points where the piecewise-linear curve (in alpha
  order) crosses the reference accuracy count too.
* **Gap@O** = (oracle accuracy - accuracy) / oracle accuracy.
"""

from __future__ import annotations

import numpy as np

# Accuracies that are means of the same scores summed in a different order can differ in the last
# bits; a curve point that equals the reference up to this tolerance counts as reaching it.
ACCURACY_TOLERANCE = 1e-12


def _as_points(costs: np.ndarray, accuracies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One checked curve, flattened to (n,) each (the checks of :func:`_as_rows`)."""
    costs = np.asarray(costs, dtype=np.float64).ravel()
    accuracies = np.asarray(accuracies, dtype=np.float64).ravel()
    if costs.shape != accuracies.shape:
        raise ValueError(f"{costs.size} costs but {accuracies.size} accuracies")
    costs, accuracies = _as_rows(costs, accuracies)
    return costs[0], accuracies[0]


def pareto_front(costs: np.ndarray, accuracies: np.ndarray) -> np.ndarray:
    """Mask of the non-dominated (cost, accuracy) points.

    A point is dominated when another point has cost <= and accuracy >= its own, one of them
    strictly. Of several identical points only the first (lowest index) is kept.

    Parameters
    ----------
    costs, accuracies
        (n,) finite values.

    Returns
    -------
    np.ndarray
        (n,) bool, True for the points on the front.
    """
    costs, accuracies = _as_points(costs, accuracies)
    return _pareto_mask(costs, accuracies)


def _pareto_mask(costs: np.ndarray, accuracies: np.ndarray) -> np.ndarray:
    """:func:`pareto_front` without the input checks."""
    order, _, on_front = _sorted_fronts(costs[None, :], accuracies[None, :])
    mask = np.zeros(costs.size, dtype=bool)
    mask[order[0]] = on_front[0]
    return mask


def _as_rows(costs: np.ndarray, accuracies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    costs = np.atleast_2d(np.asarray(costs, dtype=np.float64))
    accuracies = np.atleast_2d(np.asarray(accuracies, dtype=np.float64))
    if costs.ndim != 2 or costs.shape != accuracies.shape:
        raise ValueError(
            f"costs {costs.shape} and accuracies {accuracies.shape} must be two equal (rows, points) arrays"
        )
    if costs.shape[1] == 0:
        raise ValueError("a curve needs at least one point")
    if not (np.isfinite(costs).all() and np.isfinite(accuracies).all()):
        raise ValueError("costs and accuracies must be finite")
    return costs, accuracies


def _sorted_fronts(costs: np.ndarray, accuracies: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the point order (cheapest first; at equal cost the most accurate, then the lowest
    index), the accuracies in that order, and which of them are on the Pareto front.

    In that order a point is on the front iff it beats the accuracy of every point before it, so
    front points have strictly increasing cost and accuracy.
    """
    n_rows, n_points = costs.shape
    index = np.broadcast_to(np.arange(n_points), (n_rows, n_points))
    order = np.lexsort((index, -accuracies, costs), axis=-1)
    sorted_acc = np.take_along_axis(accuracies, order, axis=1)
    before = np.concatenate((np.full((n_rows, 1), -np.inf), sorted_acc[:, :-1]), axis=1)
    return order, sorted_acc, sorted_acc > np.maximum.accumulate(before, axis=1)


def _hull_rows(costs: np.ndarray, accuracies: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-decreasing upper convex hull of every row, all rows at once (no input checks).

    Returns
    -------
    hull_costs, hull_accuracies : np.ndarray
        (rows, points): each row's vertices sorted by cost, padded on the right with its last vertex.
    n_vertices : np.ndarray
        (rows,) the number of vertices of each row.
    """
    n_rows, n_points = costs.shape
    order, ys, on_front = _sorted_fronts(costs, accuracies)
    xs = np.take_along_axis(costs, order, axis=1)
    # Monotone chain over the front points (dominated points can never be vertices of a
    # non-decreasing hull), run for every row at once: `stack` holds each row's vertex positions.
    stack = np.zeros((n_rows, n_points), dtype=np.intp)
    size = np.zeros(n_rows, dtype=np.intp)
    for j in range(n_points):
        rows = np.flatnonzero(on_front[:, j])
        if rows.size == 0:
            continue
        xj, yj = xs[rows, j], ys[rows, j]
        while True:
            # b (the top of the stack) is dropped while it lies on or below the segment from the
            # vertex before it (a) to point j.
            has_two = size[rows] >= 2
            r = rows[has_two]
            if r.size == 0:
                break
            a, b = stack[r, size[r] - 2], stack[r, size[r] - 1]
            xa, ya, xb, yb = xs[r, a], ys[r, a], xs[r, b], ys[r, b]
            drop = (xb - xa) * (yj[has_two] - ya) - (yb - ya) * (xj[has_two] - xa) >= 0
            if not drop.any():
                break
            size[r[drop]] -= 1
        stack[rows, size[rows]] = j
        size[rows] += 1
    padded = np.take_along_axis(stack, np.minimum(np.arange(n_points), size[:, None] - 1), axis=1)
    return np.take_along_axis(xs, padded, axis=1), np.take_along_axis(ys, padded, axis=1), size


def upper_hull(costs: np.ndarray, accuracies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-decreasing upper convex hull of a curve, as its vertices.

    Parameters
    ----------
    costs, accuracies
        (n,) finite values.

    Returns
    -------
    hull_costs, hull_accuracies : np.ndarray
        Vertices sorted by cost; both coordinates strictly increasing. The hull is the smallest
        concave, non-decreasing function on [min cost, max cost] that lies on or above every point.
    """
    costs, accuracies = _as_points(costs, accuracies)
    hull_costs, hull_accs, size = _hull_rows(costs[None, :], accuracies[None, :])
    return hull_costs[0, : size[0]], hull_accs[0, : size[0]]


def aiq(costs: np.ndarray, accuracies: np.ndarray, cost_range: tuple[float, float] | None = None) -> float:
    """RouterBench's AIQ: mean height of the curve's non-decreasing upper hull over a cost range.

    ``AIQ = (1 / (hi - lo)) * integral from lo to hi of h(c) dc`` where ``h`` is 0 below the cheapest
    point, the non-decreasing upper convex hull of the points (:func:`upper_hull`) between the
    cheapest point and the last hull vertex, and flat (the last vertex's accuracy) after it.

    Parameters
    ----------
    costs, accuracies
        (n,) the curve's points.
    cost_range
        ``(lo, hi)``; default ``(0, max(costs))``, RouterBench's rule for a single curve. Give the
        same range to every curve that is compared.

    Returns
    -------
    float
        The AIQ, in accuracy units (between 0 and the curve's best accuracy).

    Raises
    ------
    ValueError
        If the range is empty (``hi <= lo``, e.g. all costs 0 with the default range).
    """
    costs, accuracies = _as_points(costs, accuracies)
    return float(aiq_rows(costs[None, :], accuracies[None, :], cost_range)[0])


def aiq_rows(costs: np.ndarray, accuracies: np.ndarray, cost_range: tuple[float, float] | None = None) -> np.ndarray:
    """:func:`aiq` of many curves at once (e.g. every bootstrap resample of one curve).

    Parameters
    ----------
    costs, accuracies
        (rows, n): one curve per row.
    cost_range
        ``(lo, hi)`` shared by every row; default ``(0, max cost of each row)``.

    Returns
    -------
    np.ndarray
        (rows,) the AIQ of each row.

    Raises
    ------
    ValueError
        If a row's range is empty (``hi <= lo``).
    """
    costs, accuracies = _as_rows(costs, accuracies)
    n_rows = costs.shape[0]
    if cost_range is None:
        lo, hi = np.zeros(n_rows), costs.max(axis=1)
    else:
        lo, hi = np.full(n_rows, float(cost_range[0])), np.full(n_rows, float(cost_range[1]))
    if not (hi > lo).all():
        bad = int(np.flatnonzero(~(hi > lo))[0])
        raise ValueError(f"AIQ needs a cost range with hi > lo, got [{lo[bad]}, {hi[bad]}]")
    hull_costs, hull_accs, size = _hull_rows(costs, accuracies)
    start = np.maximum(lo, hull_costs[:, 0])[:, None]
    end = hi[:, None]
    # Each hull segment clipped to [start, hi]: a trapezoid under the straight line (the padding
    # repeats the last vertex, so its segments have zero width).
    x0, x1, y0, y1 = hull_costs[:, :-1], hull_costs[:, 1:], hull_accs[:, :-1], hull_accs[:, 1:]
    left, right = np.clip(x0, start, end), np.clip(x1, start, end)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(x1 > x0, (y1 - y0) / (x1 - x0), 0.0)
    height = (y0 + slope * (left - x0) + y0 + slope * (right - x0)) / 2
    area = ((right - left) * height).sum(axis=1)
    # Flat after the last vertex, up to hi.
    rows = np.arange(n_rows)
    last_cost, last_acc = hull_costs[rows, size - 1], hull_accs[rows, size - 1]
    area += (hi - np.clip(last_cost, start[:, 0], hi)) * last_acc
    return np.where(start[:, 0] >= hi, 0.0, area / (hi - lo))


def best_accuracy_point(alphas: np.ndarray, accuracies: np.ndarray, costs: np.ndarray) -> int:
    """Index of a curve's best accuracy; ties go to the cheaper point, then to the smaller alpha.

    Values equal up to float noise tie (relative 1e-9): the same curve averaged in another order (the
    summary's sums, the leaderboard's matrix products) then gives the same point.
    """
    alphas, accuracies, costs = (np.asarray(a, dtype=np.float64) for a in (alphas, accuracies, costs))
    tied = np.isclose(accuracies, accuracies.max(), rtol=1e-9, atol=1e-12)
    tied &= np.isclose(costs, costs[tied].min(), rtol=1e-9, atol=1e-12)
    candidates = np.flatnonzero(tied)
    return int(candidates[np.argmin(alphas[candidates])])


def perf_gain(best_accuracy: float, reference_accuracy: float) -> float:
    """PerfGain = (best - reference) / reference.

    Raises
    ------
    ValueError
        If the reference accuracy is not positive.
    """
    if not reference_accuracy > 0:
        raise ValueError(f"PerfGain needs a positive reference accuracy, got {reference_accuracy}")
    return float((best_accuracy - reference_accuracy) / reference_accuracy)


def gap_to_oracle(accuracy: float, oracle_accuracy: float) -> float:
    """Gap@O = (oracle - accuracy) / oracle.

    Raises
    ------
    ValueError
        If the oracle accuracy is not positive.
    """
    if not oracle_accuracy > 0:
        raise ValueError(f"Gap@O needs a positive oracle accuracy, got {oracle_accuracy}")
    return float((oracle_accuracy - accuracy) / oracle_accuracy)


def _cheapest_reaching(
    alphas: np.ndarray, accuracies: np.ndarray, costs: np.ndarray, targets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the cheapest ``(cost, alpha)`` on the alpha-ordered piecewise-linear curve whose
    accuracy is >= that row's target (no input checks).

    Candidates are the grid points that reach the target and, between neighbouring alphas where one
    side is below the target and the other reaches it, the linearly interpolated crossing point.
    Ties in cost go to the smaller alpha. Rows without a candidate get NaN.

    ``alphas`` is (n,), shared by every row; ``accuracies`` and ``costs`` are (rows, n); ``targets``
    is (rows,).
    """
    order = np.argsort(alphas, kind="stable")
    alphas, accuracies, costs = alphas[order], accuracies[:, order], costs[:, order]
    targets = targets[:, None]
    reaches = accuracies >= targets - ACCURACY_TOLERANCE

    left, right = slice(None, -1), slice(1, None)
    crossing = reaches[:, left] != reaches[:, right]
    step = accuracies[:, right] - accuracies[:, left]
    # Only crossing segments are used; elsewhere the fraction is irrelevant (avoid 0/0).
    safe_step = np.where(crossing, step, 1.0)
    fraction = np.clip((targets - accuracies[:, left]) / safe_step, 0.0, 1.0)
    cross_cost = costs[:, left] + fraction * (costs[:, right] - costs[:, left])
    cross_alpha = alphas[left] + fraction * (alphas[right] - alphas[left])

    cand_cost = np.concatenate((np.where(reaches, costs, np.inf), np.where(crossing, cross_cost, np.inf)), axis=1)
    cand_alpha = np.concatenate((np.broadcast_to(alphas, reaches.shape), cross_alpha), axis=1)
    best_cost = cand_cost.min(axis=1)
    best_alpha = np.where(cand_cost == best_cost[:, None], cand_alpha, np.inf).min(axis=1)
    found = np.isfinite(best_cost)
    return np.where(found, best_cost, np.nan), np.where(found, best_alpha, np.nan)


def _sweep_rows(
    alphas: np.ndarray, accuracies: np.ndarray, costs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked ``(alphas (n,), accuracies (rows, n), costs (rows, n))`` of sweeps on one alpha grid."""
    costs, accuracies = _as_rows(costs, accuracies)
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    if alphas.size != costs.shape[1]:
        raise ValueError(f"{alphas.size} alphas but {costs.shape[1]} points")
    return alphas, accuracies, costs


def cost_save(
    alphas: np.ndarray,
    accuracies: np.ndarray,
    costs: np.ndarray,
    reference_accuracy: float,
    reference_cost: float,
) -> tuple[float | None, float | None]:
    """CostSave: the largest relative cost cut at an accuracy >= the reference's.

    Parameters
    ----------
    alphas, accuracies, costs
        (n,) the sweep, one point per alpha (any order; interpolation follows alpha order).
    reference_accuracy, reference_cost
        The reference (the best single model).

    Returns
    -------
    (cost_save, alpha) : tuple
        ``(ref_cost - c) / ref_cost`` for the cheapest point ``c`` reaching the reference accuracy
        (grid points or interpolated crossings), and the (interpolated) alpha there;
        ``(None, None)`` if the curve never reaches the reference accuracy. Negative when reaching
        the reference costs more than the reference.

    Raises
    ------
    ValueError
        If the reference cost is not positive.
    """
    saved, alpha = cost_save_rows(
        alphas, np.ravel(accuracies), np.ravel(costs), np.array([reference_accuracy]), np.array([reference_cost])
    )
    if np.isnan(saved[0]):
        return None, None
    return float(saved[0]), float(alpha[0])


def cost_save_rows(
    alphas: np.ndarray,
    accuracies: np.ndarray,
    costs: np.ndarray,
    reference_accuracies: np.ndarray,
    reference_costs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cost_save` of many sweeps on the same alpha grid at once, each against its own reference.

    Parameters
    ----------
    alphas
        (n,) the alpha grid.
    accuracies, costs
        (rows, n) one sweep per row.
    reference_accuracies, reference_costs
        (rows,) the reference of each row.

    Returns
    -------
    (cost_save, alpha) : tuple of np.ndarray
        (rows,) each; NaN where the row never reaches its reference accuracy.

    Raises
    ------
    ValueError
        If a reference cost is not positive.
    """
    alphas, accuracies, costs = _sweep_rows(alphas, accuracies, costs)
    reference_accuracies = np.asarray(reference_accuracies, dtype=np.float64).ravel()
    reference_costs = np.asarray(reference_costs, dtype=np.float64).ravel()
    if not reference_accuracies.size == reference_costs.size == accuracies.shape[0]:
        raise ValueError(
            f"{accuracies.shape[0]} sweeps but {reference_accuracies.size} reference accuracies and "
            f"{reference_costs.size} reference costs"
        )
    if not (reference_costs > 0).all():
        raise ValueError(f"CostSave needs a positive reference cost, got {reference_costs[~(reference_costs > 0)][0]}")
    cost, alpha = _cheapest_reaching(alphas, accuracies, costs, reference_accuracies)
    return (reference_costs - cost) / reference_costs, alpha


def cost_at_accuracy(
    alphas: np.ndarray, accuracies: np.ndarray, costs: np.ndarray, target_accuracy: float
) -> float | None:
    """The cheapest (interpolated) cost at which the alpha-ordered curve reaches ``target_accuracy``.

    Same candidates as :func:`cost_save`; None if the curve never reaches the target.
    """
    alphas, accuracies, costs = _sweep_rows(alphas, np.ravel(accuracies), np.ravel(costs))
    cost, _ = _cheapest_reaching(alphas, accuracies, costs, np.array([float(target_accuracy)]))
    return None if np.isnan(cost[0]) else float(cost[0])


def dominates_all(
    curve_costs: np.ndarray, curve_accs: np.ndarray, single_costs: np.ndarray, single_accs: np.ndarray
) -> bool:
    """Whether every single model has a curve point with accuracy >= and cost <= its own.

    Only grid points count (no interpolation). Equality is judged up to a relative tolerance of
    1e-12, so a sweep point that routes everything to a model matches that model despite rounding.
    """
    curve_costs, curve_accs = _as_points(curve_costs, curve_accs)
    single_costs = np.asarray(single_costs, dtype=np.float64).ravel()
    single_accs = np.asarray(single_accs, dtype=np.float64).ravel()
    if single_costs.shape != single_accs.shape:
        raise ValueError(f"{single_costs.size} single costs but {single_accs.size} single accuracies")
    acc_ok = curve_accs[:, None] >= single_accs[None, :] - ACCURACY_TOLERANCE
    cost_ok = curve_costs[:, None] <= single_costs[None, :] * (1 + 1e-12) + 1e-15
    return bool((acc_ok & cost_ok).any(axis=0).all())


# --------------------------------------------------------------------------- paired bootstrap


def resample_counts(groups: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """How often each query is drawn in each resample, drawing n_g with replacement within each group.

    Parameters
    ----------
    groups
        (Q,) group label of each query.
    n_resamples
        Number of resamples B.
    rng
        The random generator.

    Returns
    -------
    np.ndarray
        (B, Q) float64 counts; every row sums to n_g within each group.
    """
    codes, _ = _group_codes(groups)
    n_queries = codes.size
    # Per group, draw n_g positions among its own queries; then count every (resample, query) pair
    # in one bincount. Same distribution as a per-group multinomial, without a loop over resamples.
    drawn = np.empty((n_resamples, n_queries), dtype=np.int64)
    filled = 0
    for group in range(int(codes.max()) + 1 if n_queries else 0):
        columns = np.flatnonzero(codes == group)
        picks = rng.integers(0, columns.size, size=(n_resamples, columns.size))
        drawn[:, filled : filled + columns.size] = columns[picks]
        filled += columns.size
    flat = (np.arange(n_resamples)[:, None] * n_queries + drawn).ravel()
    return np.bincount(flat, minlength=n_resamples * n_queries).reshape(n_resamples, n_queries).astype(np.float64)


def _group_codes(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, codes = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    return codes.ravel(), labels


def resampled_curve(
    scores: np.ndarray, costs: np.ndarray, groups: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and cost of every curve point under every resample, as matrix products.

    Parameters
    ----------
    scores, costs
        (P, Q) per-point, per-query outcomes (NaN = no record, left out).
    groups
        (Q,) dataset of each query.
    counts
        (B, Q) resample counts from :func:`resample_counts` (a row of ones = the original data).

    Returns
    -------
    accuracy, cost : np.ndarray
        (B, P): the unweighted mean over datasets of each dataset's (count-weighted) mean score,
        and the total (count-weighted) cost.
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    costs = np.atleast_2d(np.asarray(costs, dtype=np.float64))
    recorded = np.isfinite(scores)
    scores = np.where(recorded, scores, 0.0)
    costs = np.where(recorded, costs, 0.0)
    total_cost = counts @ costs.T
    codes, labels = _group_codes(groups)
    accuracy_sum = np.zeros_like(total_cost)
    complete = bool(recorded.all())
    for group in range(labels.size):
        columns = codes == group
        drawn = counts[:, columns]
        # Without missing records every point's denominator is the resample's group size.
        denominator = drawn.sum(axis=1, keepdims=True) if complete else drawn @ recorded[:, columns].T
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy_sum += (drawn @ scores[:, columns].T) / denominator
    return accuracy_sum / labels.size, total_cost
