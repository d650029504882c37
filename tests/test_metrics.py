"""Metrics on hand-made curves: Pareto front, AIQ, CostSave, interpolation, dominance, bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from avengers_pro.evaluation import metrics

# --------------------------------------------------------------------------- Pareto front


def test_pareto_front_of_a_hand_made_set() -> None:
    #            A    B    C    D    E    F    G
    costs = [1.0, 2.0, 2.0, 3.0, 0.5, 1.0, 4.0]
    accs = [0.5, 0.8, 0.7, 0.8, 0.3, 0.5, 0.95]
    # C: same cost as B, less accurate -> dominated. D: costlier than B, same accuracy -> dominated.
    # F: identical to A -> only the first (A) is kept. E (cheapest) and G (most accurate) stay.
    mask = metrics.pareto_front(np.array(costs), np.array(accs))
    assert mask.tolist() == [True, True, False, False, True, False, True]


def test_pareto_front_keeps_first_of_identical_points() -> None:
    mask = metrics.pareto_front(np.array([1.0, 1.0, 1.0]), np.array([0.5, 0.5, 0.5]))
    assert mask.tolist() == [True, False, False]


def test_pareto_front_rejects_nan() -> None:
    with pytest.raises(ValueError, match="finite"):
        metrics.pareto_front(np.array([1.0, np.nan]), np.array([0.5, 0.6]))


# --------------------------------------------------------------------------- AIQ


def test_upper_hull_drops_points_under_a_chord_and_dominated_points() -> None:
    # (1, 0.3) lies under the chord (0, 0.2)-(2, 0.9) (0.55 at cost 1); (3, 0.5) is dominated.
    xs, ys = metrics.upper_hull(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.2, 0.3, 0.9, 0.5]))
    assert xs.tolist() == [0.0, 2.0]
    assert ys.tolist() == [0.2, 0.9]


def test_aiq_by_hand_default_range() -> None:
    costs = np.array([1.0, 2.0, 3.0, 4.0])
    accs = np.array([0.5, 0.8, 0.7, 0.9])
    # Hull: (1, .5) -> (2, .8) -> (4, .9) (slopes .3 then .05: concave; (3, .7) is dominated).
    # Range [0, 4]: 0 on [0, 1]; (.5 + .8) / 2 * 1 = .65 on [1, 2]; (.8 + .9) / 2 * 2 = 1.7 on [2, 4].
    # AIQ = (.65 + 1.7) / 4 = 0.5875.
    assert metrics.aiq(costs, accs) == pytest.approx(0.5875)


def test_aiq_flat_extension_and_shared_range() -> None:
    costs = np.array([1.0, 2.0, 3.0, 4.0])
    accs = np.array([0.5, 0.8, 0.7, 0.9])
    # Range [0, 5]: as above (2.35) plus the flat 0.9 on [4, 5] -> 3.25 / 5 = 0.65.
    assert metrics.aiq(costs, accs, (0.0, 5.0)) == pytest.approx(0.65)
    # Range [2, 4]: only the segment (2, .8) -> (4, .9): 1.7 / 2 = 0.85.
    assert metrics.aiq(costs, accs, (2.0, 4.0)) == pytest.approx(0.85)
    # Range starting inside a segment [1.5, 4]: h(1.5) = .65; (.65 + .8) / 2 * .5 + 1.7 = 2.0625 / 2.5.
    assert metrics.aiq(costs, accs, (1.5, 4.0)) == pytest.approx(2.0625 / 2.5)


def test_aiq_convex_dip_uses_the_hull() -> None:
    # (1, 0.3) is under the hull; area = (.2 + .9) / 2 * 2 = 1.1, over [0, 2] -> 0.55.
    assert metrics.aiq(np.array([0.0, 1.0, 2.0]), np.array([0.2, 0.3, 0.9])) == pytest.approx(0.55)


def test_aiq_single_point_and_empty_range() -> None:
    # One point at (2, 0.8), range [0, 4]: 0 until 2, then flat 0.8 -> 1.6 / 4 = 0.4.
    assert metrics.aiq(np.array([2.0]), np.array([0.8]), (0.0, 4.0)) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="hi > lo"):
        metrics.aiq(np.array([0.0, 0.0]), np.array([0.5, 0.6]))


def test_aiq_better_curve_scores_higher() -> None:
    costs = np.array([1.0, 2.0, 4.0])
    assert metrics.aiq(costs, np.array([0.6, 0.8, 0.9]), (0, 4)) > metrics.aiq(costs, np.array([0.5, 0.8, 0.9]), (0, 4))


def _envelope_by_brute_force(costs: np.ndarray, accs: np.ndarray, x: float) -> float:
    """The smallest concave, non-decreasing function above the points, at cost x >= min cost: the best
    of every chord between two points that straddle x, and of every point at or left of x (flat)."""
    values = [a for c, a in zip(costs, accs) if c <= x]
    for ci, ai in zip(costs, accs):
        for cj, aj in zip(costs, accs):
            if ci < cj and ci <= x <= cj:
                values.append(ai + (aj - ai) * (x - ci) / (cj - ci))
    return max(values)


def _aiq_by_brute_force(costs: np.ndarray, accs: np.ndarray, lo: float, hi: float) -> float:
    start = max(lo, costs.min())
    if start >= hi:
        return 0.0
    # The envelope is linear between neighbouring point costs: the trapezoid rule on them is exact.
    xs = np.unique(np.concatenate(([start, hi], costs[(costs > start) & (costs < hi)])))
    ys = [_envelope_by_brute_force(costs, accs, x) for x in xs]
    return float(np.trapezoid(ys, xs) / (hi - lo))


def test_aiq_rows_equals_a_brute_force_envelope_on_random_curves() -> None:
    rng = np.random.default_rng(7)
    # Rounded values: ties in cost and accuracy, duplicated points and collinear triples happen.
    costs = rng.integers(0, 8, size=(300, 9)) / 4
    accs = rng.integers(0, 10, size=(300, 9)) / 10
    for cost_range in [(0.0, 2.5), (0.5, 1.25), (1.0, 3.0)]:
        got = metrics.aiq_rows(costs, accs, cost_range)
        expected = [_aiq_by_brute_force(c, a, *cost_range) for c, a in zip(costs, accs)]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # Default range: (0, the row's own max cost); rows whose costs are all 0 are left out (empty range).
    nonzero = costs.max(axis=1) > 0
    got = metrics.aiq_rows(costs[nonzero], accs[nonzero])
    expected = [_aiq_by_brute_force(c, a, 0.0, c.max()) for c, a in zip(costs[nonzero], accs[nonzero])]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # One row at a time gives the same as all rows at once.
    assert [metrics.aiq(c, a, (0.0, 2.5)) for c, a in zip(costs, accs)] == metrics.aiq_rows(
        costs, accs, (0.0, 2.5)
    ).tolist()


def test_upper_hull_vertices_lie_on_the_brute_force_envelope() -> None:
    rng = np.random.default_rng(8)
    for _ in range(100):
        costs, accs = rng.integers(0, 6, size=8) / 2, rng.integers(0, 6, size=8) / 5
        xs, ys = metrics.upper_hull(costs, accs)
        assert np.all(np.diff(xs) > 0) and np.all(np.diff(ys) > 0)
        assert xs[0] == costs.min() and ys[-1] == accs.max()
        for x, y in zip(xs, ys):
            assert y == pytest.approx(_envelope_by_brute_force(costs, accs, x))
        # Strictly concave: no vertex lies on the chord of its neighbours.
        slopes = np.diff(ys) / np.diff(xs)
        assert np.all(np.diff(slopes) < 0)


def test_aiq_rows_rejects_an_empty_range_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="hi > lo"):
        metrics.aiq_rows(np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[0.5, 0.6], [0.5, 0.6]]))
    with pytest.raises(ValueError, match="equal"):
        metrics.aiq_rows(np.ones((2, 3)), np.ones((2, 4)))


# --------------------------------------------------------------------------- PerfGain, Gap@O


def test_perf_gain_and_gap_to_oracle() -> None:
    assert metrics.perf_gain(0.88, 0.8) == pytest.approx(0.1)
    assert metrics.perf_gain(0.72, 0.8) == pytest.approx(-0.1)
    assert metrics.gap_to_oracle(0.8, 0.95) == pytest.approx(0.15 / 0.95)
    with pytest.raises(ValueError):
        metrics.perf_gain(0.5, 0.0)


# --------------------------------------------------------------------------- CostSave, cost at accuracy


def test_cost_save_interpolates_the_crossing() -> None:
    alphas = np.array([0.0, 0.5, 1.0])
    accs = np.array([0.6, 0.7, 0.9])
    costs = np.array([1.0, 2.0, 4.0])
    # Reference 0.8 at cost 5: alpha 1 reaches it at cost 4; the crossing between alpha .5 (.7, 2) and
    # 1 (.9, 4) is halfway: cost 3, alpha .75. CostSave = (5 - 3) / 5 = 0.4.
    saved, alpha = metrics.cost_save(alphas, accs, costs, 0.8, 5.0)
    assert saved == pytest.approx(0.4)
    assert alpha == pytest.approx(0.75)
    # Never reached.
    assert metrics.cost_save(alphas, accs, costs, 0.95, 5.0) == (None, None)


def test_cost_save_order_independent_and_negative_when_dearer() -> None:
    alphas = np.array([1.0, 0.0, 0.5])
    accs = np.array([0.9, 0.6, 0.7])
    costs = np.array([4.0, 1.0, 2.0])
    # Same curve shuffled; reference 0.8 at cost 2 -> cheapest reaching is 3: (2 - 3) / 2 = -0.5.
    saved, alpha = metrics.cost_save(alphas, accs, costs, 0.8, 2.0)
    assert saved == pytest.approx(-0.5)
    assert alpha == pytest.approx(0.75)


def test_cost_save_grid_point_exactly_at_reference() -> None:
    # alpha .5 reaches .7 exactly at cost 2: no interpolation needed; CostSave = (4 - 2) / 4.
    saved, alpha = metrics.cost_save(
        np.array([0.0, 0.5, 1.0]), np.array([0.6, 0.7, 0.9]), np.array([1.0, 2.0, 4.0]), 0.7, 4.0
    )
    assert saved == pytest.approx(0.5)
    assert alpha == pytest.approx(0.5)


def test_cost_at_accuracy_non_monotone_curve() -> None:
    alphas = np.array([0.0, 1 / 3, 2 / 3, 1.0])
    accs = np.array([0.6, 0.85, 0.7, 0.9])
    costs = np.array([1.0, 2.0, 3.0, 4.0])
    # Target .8. Candidates: grid alpha 1/3 (cost 2), alpha 1 (cost 4); crossings:
    #   0 -> 1/3: (.8 - .6) / .25 = .8 -> cost 1.8;  1/3 -> 2/3: (.8 - .85) / -.15 = 1/3 -> cost 2.333;
    #   2/3 -> 1: (.8 - .7) / .2 = .5 -> cost 3.5. Cheapest: 1.8.
    assert metrics.cost_at_accuracy(alphas, accs, costs, 0.8) == pytest.approx(1.8)
    saved, alpha = metrics.cost_save(alphas, accs, costs, 0.8, 2.0)
    assert saved == pytest.approx(0.1)
    assert alpha == pytest.approx(0.8 / 3)
    assert metrics.cost_at_accuracy(alphas, accs, costs, 0.91) is None
    # Target below every point: the cheapest grid point.
    assert metrics.cost_at_accuracy(alphas, accs, costs, 0.1) == pytest.approx(1.0)


def _cheapest_reaching_by_loop(alphas, accs, costs, target):
    """Cheapest (cost, alpha) reaching the target, walking the alpha-ordered curve point by point."""
    order = np.argsort(alphas, kind="stable")
    points = [(float(alphas[i]), float(accs[i]), float(costs[i])) for i in order]
    candidates = [(c, a) for a, acc, c in points if acc >= target - metrics.ACCURACY_TOLERANCE]
    for (a0, acc0, c0), (a1, acc1, c1) in zip(points, points[1:]):
        reach0 = acc0 >= target - metrics.ACCURACY_TOLERANCE
        reach1 = acc1 >= target - metrics.ACCURACY_TOLERANCE
        if reach0 != reach1:
            t = min(max((target - acc0) / (acc1 - acc0), 0.0), 1.0)
            candidates.append((c0 + t * (c1 - c0), a0 + t * (a1 - a0)))
    return min(candidates) if candidates else None


def test_cost_save_rows_equals_a_point_by_point_walk() -> None:
    rng = np.random.default_rng(9)
    alphas = rng.permutation(np.linspace(0, 1, 7))
    accs = rng.integers(0, 10, size=(400, 7)) / 10
    costs = rng.integers(1, 9, size=(400, 7)) / 2
    ref_acc = rng.integers(0, 11, size=400) / 10
    ref_cost = rng.integers(1, 9, size=400) / 2
    saved, at_alpha = metrics.cost_save_rows(alphas, accs, costs, ref_acc, ref_cost)
    for row in range(400):
        expected = _cheapest_reaching_by_loop(alphas, accs[row], costs[row], ref_acc[row])
        if expected is None:
            assert np.isnan(saved[row]) and np.isnan(at_alpha[row])
            assert metrics.cost_save(alphas, accs[row], costs[row], ref_acc[row], ref_cost[row]) == (None, None)
        else:
            cost, alpha = expected
            assert saved[row] == pytest.approx((ref_cost[row] - cost) / ref_cost[row], abs=1e-12)
            assert at_alpha[row] == pytest.approx(alpha, abs=1e-12)
    assert np.isnan(saved).any() and np.isfinite(saved).any()
    with pytest.raises(ValueError, match="positive reference cost"):
        metrics.cost_save_rows(alphas, accs[:2], costs[:2], ref_acc[:2], np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="2 sweeps but 1 reference"):
        metrics.cost_save_rows(alphas, accs[:2], costs[:2], ref_acc[:1], ref_cost[:1])


# --------------------------------------------------------------------------- dominance


def test_dominates_all() -> None:
    curve_costs = np.array([1.0, 2.0, 4.0])
    curve_accs = np.array([0.6, 0.8, 0.9])
    # Single (2, .8) is matched exactly by a curve point; (3, .85) by (4, .9)? No: cost 4 > 3, and
    # (2, .8) has accuracy < .85, so that single is not dominated.
    assert metrics.dominates_all(curve_costs, curve_accs, np.array([2.0, 5.0]), np.array([0.8, 0.9]))
    assert not metrics.dominates_all(curve_costs, curve_accs, np.array([2.0, 3.0]), np.array([0.8, 0.85]))
    # Float noise on an exact match still counts as matched.
    assert metrics.dominates_all(curve_costs, curve_accs, np.array([4.0]), np.array([0.9 + 1e-15]))


# --------------------------------------------------------------------------- bootstrap


def test_resample_counts_stay_within_each_dataset() -> None:
    groups = np.array(["a", "b", "a", "b", "b"])
    counts = metrics.resample_counts(groups, 50, np.random.default_rng(0))
    assert counts.shape == (50, 5)
    assert (counts[:, groups == "a"].sum(axis=1) == 2).all()
    assert (counts[:, groups == "b"].sum(axis=1) == 3).all()


def test_resampled_curve_identity_and_by_hand() -> None:
    groups = np.array(["a", "a", "b"])
    scores = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    costs = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])
    counts = np.array([[1.0, 1.0, 1.0], [2.0, 0.0, 1.0]])
    acc, cost = metrics.resampled_curve(scores, costs, groups, counts)
    # Original: point 0: a = .5, b = 1 -> .75; cost 6. Resample (2, 0, 1): a = 1, b = 1 -> 1; cost 5.
    np.testing.assert_allclose(acc, [[0.75, 0.5], [1.0, 0.5]])
    np.testing.assert_allclose(cost, [[6.0, 1.5], [5.0, 1.5]])


def test_resampled_curve_leaves_out_missing_records() -> None:
    groups = np.array(["a", "a", "b"])
    scores = np.array([[1.0, np.nan, 0.0]])
    costs = np.array([[1.0, np.nan, 3.0]])
    # a: only the first query is recorded (1.0); b: 0.0 -> accuracy .5; cost 1 + 3.
    acc, cost = metrics.resampled_curve(scores, costs, groups, np.ones((1, 3)))
    np.testing.assert_allclose(acc, [[0.5]])
    np.testing.assert_allclose(cost, [[4.0]])


def test_best_accuracy_point_breaks_ties_by_cost_then_alpha_and_ignores_float_noise() -> None:
    alphas = np.array([0.0, 0.5, 0.8, 1.0])
    assert metrics.best_accuracy_point(alphas, np.array([0.5, 0.9, 0.7, 0.8]), np.ones(4)) == 1
    # Equal accuracy: the cheaper point; equal accuracy and cost: the smaller alpha.
    assert metrics.best_accuracy_point(alphas, np.array([0.5, 0.9, 0.9, 0.9]), np.array([1.0, 3.0, 2.0, 2.0])) == 2
    # The same tie with noise of the last bits, as another summation order leaves it.
    noisy_acc = np.array([0.5, 0.9, 0.9 + 1e-16, 0.9 - 1e-16])
    noisy_cost = np.array([1.0, 2.0 + 4e-16, 2.0, 2.0 - 4e-16])
    assert metrics.best_accuracy_point(alphas, noisy_acc, noisy_cost) == 1
