"""One paired bootstrap over the design, and AIQ on validation-chosen alphas (avengers_pro.evaluation.intervals)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from avengers_pro.errors import DataError
from avengers_pro.evaluation import intervals, metrics
from avengers_pro.evaluation.intervals import (
    Design,
    RouterCurve,
    aiq_differences,
    curve_values,
    evaluate,
    interval,
    polyline_aiq_rows,
    validation_hull_rows,
)


def sweep(points: dict[float, tuple[float, float]]) -> pd.DataFrame:
    """A validation sweep of one dataset: alpha -> (accuracy, cost)."""
    return pd.DataFrame(
        {
            "alpha": list(points),
            "dataset": "d",
            "accuracy": [a for a, _ in points.values()],
            "cost": [c for _, c in points.values()],
        }
    )


def test_polyline_aiq_by_hand_and_equal_to_the_hull_aiq_on_a_concave_curve() -> None:
    # Points (2, .4), (6, .8) over [0, 10]: 0 up to 2, the chord to 6, flat .8 to 10.
    value = polyline_aiq_rows(np.array([[6.0, 2.0]]), np.array([[0.8, 0.4]]), (0.0, 10.0))
    assert value[0] == pytest.approx((4 * 0.6 + 4 * 0.8) / 10)
    concave = np.array([[1.0, 3.0, 7.0]]), np.array([[0.3, 0.6, 0.7]])
    assert polyline_aiq_rows(*concave, (0.0, 8.0))[0] == pytest.approx(
        metrics.aiq(concave[0][0], concave[1][0], (0, 8))
    )
    # A point below the hull pulls the polyline down; the hull of the test points does not see it.
    dipped = np.array([[1.0, 3.0, 7.0]]), np.array([[0.3, 0.2, 0.7]])
    assert polyline_aiq_rows(*dipped, (0.0, 8.0))[0] < metrics.aiq(dipped[0][0], dipped[1][0], (0, 8))
    assert np.isnan(polyline_aiq_rows(np.array([[1.0, np.nan]]), np.array([[0.5, 0.5]]), (0.0, 2.0))[0])


def test_validation_hull_rows_are_the_hull_vertices_with_the_smallest_alpha_of_a_repeated_point() -> None:
    alphas = np.linspace(0.0, 1.0, 5)
    # (cost, accuracy): alpha 0 and .25 reach the same point; .5 lies under the chord; .75 and 1 on the hull.
    validation = sweep({0.0: (0.2, 1.0), 0.25: (0.2, 1.0), 0.5: (0.3, 3.0), 0.75: (0.6, 4.0), 1.0: (0.7, 8.0)})
    np.testing.assert_array_equal(validation_hull_rows(alphas, validation), [0, 3, 4])
    with pytest.raises(DataError, match="alpha 0.75 of the validation hull is not on the test grid"):
        validation_hull_rows(np.array([0.0, 0.5, 1.0]), validation, "v.parquet")


def test_design_draws_one_weight_per_query_shared_by_every_seed_it_is_a_test_query_of() -> None:
    queries = {
        0: (np.array(["a1", "a2", "b1"], dtype=object), np.array(["a", "a", "b"], dtype=object)),
        1: (np.array(["b2", "a2", "b1"], dtype=object), np.array(["b", "a", "b"], dtype=object)),
    }
    design = Design(queries)
    assert list(design.query_ids) == ["a1", "a2", "b1", "b2"]
    counts = design.counts(500, seed=3)
    np.testing.assert_array_equal(counts[0][:, 1], counts[1][:, 1])  # a2 in both seeds
    np.testing.assert_array_equal(counts[0][:, 2], counts[1][:, 2])  # b1 in both seeds
    # Within each dataset of the whole set, n_g draws: a1 + a2 == 2 and b1 + b2 == 2 in every resample.
    np.testing.assert_array_equal(counts[0][:, 0] + counts[0][:, 1], 2.0)
    np.testing.assert_array_equal(counts[0][:, 2] + counts[1][:, 0], 2.0)
    assert not np.array_equal(counts[0][:, 0], counts[0][:, 1])
    again = design.counts(500, seed=3)
    np.testing.assert_array_equal(again[1], counts[1])
    with pytest.raises(DataError, match="'a2' has two datasets"):
        Design({0: queries[0], 1: (np.array(["a2"], dtype=object), np.array(["b"], dtype=object))})


def random_curve(rng: np.random.Generator, design: Design, n_alphas: int, hull: dict | None) -> RouterCurve:
    scores = {s: rng.integers(0, 2, (n_alphas, g.size)).astype(float) for s, g in design.seed_groups.items()}
    costs = {s: np.sort(rng.random((n_alphas, g.size)), axis=0) for s, g in design.seed_groups.items()}
    return RouterCurve(np.linspace(0, 1, n_alphas), scores, costs, hull)


def small_design(rng: np.random.Generator) -> Design:
    ids = np.array([f"q{i:02d}" for i in range(40)], dtype=object)
    groups = np.where(np.arange(40) < 20, "a", "b").astype(object)
    return Design({s: (ids[rows], groups[rows]) for s, rows in ((0, slice(0, 30)), (1, slice(10, 40)))})


def test_curve_values_validation_hull_aiq_is_the_mean_of_the_per_seed_polylines() -> None:
    rng = np.random.default_rng(0)
    design = small_design(rng)
    hull = {0: np.array([0, 2, 4]), 1: np.array([1, 4])}
    curve = random_curve(rng, design, 5, hull)
    values = curve_values(curve, design, (0.0, 20.0))
    per_seed = []
    for seed, rows in hull.items():
        acc, cost = metrics.resampled_curve(
            curve.scores[seed], curve.costs[seed], design.seed_groups[seed], np.ones((1, 30))
        )
        per_seed.append(polyline_aiq_rows(cost[:, rows], acc[:, rows], (0.0, 20.0))[0])
        assert values.per_seed[seed][0] == pytest.approx(per_seed[-1])
    assert values.validation_hull[0] == pytest.approx(np.mean(per_seed))
    # The test hull sees every point of the seed-averaged curve: never below the validation hull's AIQ here.
    assert values.test_hull[0] >= values.validation_hull[0] - 1e-12
    assert values.test_hull[0] == pytest.approx(metrics.aiq(values.cost[0], values.accuracy[0], (0.0, 20.0)))


def test_differences_share_resamples_so_a_router_against_itself_is_exactly_zero() -> None:
    rng = np.random.default_rng(1)
    design = small_design(rng)
    curve = random_curve(rng, design, 6, {0: np.array([0, 5]), 1: np.array([0, 3, 5])})
    other = random_curve(rng, design, 6, {0: np.array([1, 5]), 1: np.array([5])})
    counts = design.counts(300, seed=0)
    one, two = evaluate(curve, design, (0.0, 20.0), counts), evaluate(other, design, (0.0, 20.0), counts)
    same = aiq_differences(one, evaluate(curve, design, (0.0, 20.0), counts), 0.95)
    assert same["aiq_difference"]["lo"] == same["aiq_difference"]["hi"] == 0.0
    found = aiq_differences(one, two, 0.95)
    assert found["aiq_difference"]["n_resamples"] == 300 and found["aiq_difference"]["n_undefined"] == 0
    assert found["aiq_difference"]["lo"] <= found["aiq_difference"]["estimate"] <= found["aiq_difference"]["hi"]
    seeds = found["aiq_difference_per_seed"]
    assert np.mean(list(seeds.values())) == pytest.approx(found["aiq_difference"]["estimate"])
    assert interval(0.5, None, 0.95) == {"estimate": 0.5, "lo": None, "hi": None, "n_resamples": 0, "n_undefined": 0}
    assert interval(0.5, np.array([np.nan, 1.0, 2.0]), 0.5)["n_undefined"] == 1


def test_a_router_curve_needs_one_alpha_grid_for_every_seed():
    """The leaderboard and metrics.json build their curves with intervals.router_curve: the seeds'
    curves are averaged point by point, so a seed with another grid is refused, naming it."""
    outcome = (np.array([0.0, 1.0]), np.zeros((2, 3)), np.ones((2, 3)))
    curve = intervals.router_curve("knn", {0: outcome, 1: outcome}, None, every_point=True)
    assert curve.alphas.tolist() == [0.0, 1.0] and curve.hull_rows is None and sorted(curve.scores) == [0, 1]
    other = (np.array([0.0, 0.5]), *outcome[1:])
    with pytest.raises(DataError, match="knn: seed 1 has another alpha grid than seed 0"):
        intervals.router_curve("knn", {0: outcome, 1: other}, None)
