"""The per-query oracle's curve: hand-worked choices, optimality against every routing, and a ceiling
in AIQ over the routers on judged (fractional) scores."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from test_baselines import MODELS, hand_matrix

from avengers_pro.evaluation import metrics
from avengers_pro.evaluation.baselines import (
    best_score_oracle,
    dataset_router,
    oracle_choices,
    oracle_curve,
    single_models,
)
from avengers_pro.evaluation.summary import seed_curve
from avengers_pro.evaluation.sweep import run_sweep
from avengers_pro.io import RecordMatrix, record_matrix
from avengers_pro.routing.geometry import fit_clusters
from avengers_pro.routing.scores import Variant
from avengers_pro.testing.synthetic import synthetic_records

ALPHAS = np.linspace(0.0, 1.0, 101)
VARIANTS = (Variant("paper", "paper", "paper"), Variant("official", "official", "official"))


def point(frame: pd.DataFrame) -> pd.DataFrame:
    """Per alpha: accuracy (unweighted mean over datasets) and total cost, as summary.csv computes them."""
    return seed_curve(frame)


def test_oracle_choices_by_hand() -> None:
    """hand_matrix: A, B, C cost 3, 1, 0.5; the singles' accuracies span 0.25..0.75, their total costs
    2..12, and each query weighs 1/4 in the accuracy: x = alpha * s / 2 - (1 - alpha) * c / 10.

    q1 (A, B right) goes to B once alpha / 2 > (1 - alpha) * 0.05, alpha > 1/11; q4 (A right) to A once
    alpha / 2 > (1 - alpha) * 0.25, alpha > 1/3; q2 (nobody right) and q3 (C right) stay on C.
    """
    choices = oracle_choices(hand_matrix(), np.array([0.0, 0.05, 0.2, 0.5, 1.0]))
    a, b, c = range(3)
    assert choices.tolist() == [[c, c, c, c], [c, c, c, c], [b, c, c, c], [b, c, c, a], [b, c, c, a]]


def test_oracle_ties_go_to_the_higher_score_then_the_cheaper_model_then_model_order() -> None:
    matrix = RecordMatrix(
        query_ids=np.array(["q1", "q2", "q3"], dtype=object),
        datasets=np.array(["d", "d", "d"], dtype=object),
        models=MODELS,
        # q1: equal costs -> alpha 0 ties all three -> the higher score (B, C), then model order: B;
        # q2: A has no record; B and C equal in everything -> B; q3: C's best score is the cheapest's at 1.
        scores=np.array([[0.2, 0.9, 0.9], [np.nan, 0.4, 0.4], [0.1, 0.7, 0.7]]),
        costs=np.array([[1.0, 1.0, 1.0], [np.nan, 2.0, 2.0], [1.0, 3.0, 2.0]]),
    )
    choices = oracle_choices(matrix, np.array([0.0, 1.0]))
    assert choices[:, 0].tolist() == [1, 1] and choices[:, 1].tolist() == [1, 1]
    assert choices[:, 2].tolist() == [0, 2]


def brute_force_points(matrix: RecordMatrix) -> np.ndarray:
    """(accuracy, cost) of every way of routing the queries (models with a record only)."""
    codes, _ = pd.factorize(pd.Series(matrix.datasets, dtype=object), sort=True)
    share = 1.0 / (codes.max() + 1) / np.bincount(codes)[codes]
    options = [np.flatnonzero(matrix.available[q]) for q in range(len(matrix.query_ids))]
    rows = np.arange(len(options))
    points = []
    for assignment in itertools.product(*options):
        chosen = np.asarray(assignment)
        points.append((float((share * matrix.scores[rows, chosen]).sum()), float(matrix.costs[rows, chosen].sum())))
    return np.asarray(points)


@pytest.mark.parametrize("seed", range(4))
def test_every_oracle_point_is_the_most_accurate_routing_of_its_cost(seed: int) -> None:
    """Against all 3^7 routings of a small fractional matrix (one missing record): nothing costs at most
    as much as an oracle point and scores more; the curve climbs in cost and accuracy with alpha."""
    rng = np.random.default_rng(seed)
    scores = rng.random((7, 3)).round(2)
    costs = rng.random((7, 3)).round(2) + 0.01
    scores[2, 0] = costs[2, 0] = np.nan
    matrix = RecordMatrix(
        np.array([f"q{i}" for i in range(7)], dtype=object),
        np.array(["d1"] * 3 + ["d2"] * 4, dtype=object),
        MODELS,
        scores,
        costs,
    )
    curve = point(oracle_curve(matrix, ALPHAS)[0])
    every = brute_force_points(matrix)
    for accuracy, cost in curve[["accuracy", "cost"]].itertuples(index=False):
        cheaper_or_equal = every[:, 1] <= cost + 1e-12
        assert every[cheaper_or_equal, 0].max() <= accuracy + 1e-12
    assert (np.diff(curve["cost"].to_numpy()) >= -1e-12).all()
    assert (np.diff(curve["accuracy"].to_numpy()) >= -1e-12).all()
    assert curve["cost"].iloc[0] == pytest.approx(every[:, 1].min())
    assert curve["accuracy"].iloc[-1] == pytest.approx(every[:, 0].max())


def test_alpha_one_is_the_best_score_oracle_point_on_binary_scores() -> None:
    """0/1 scores: the alpha = 1 end of the curve is the best-score point, accuracy and cost."""
    data = synthetic_records(400, 5, n_topics=4, n_datasets=3, dim=8, seed=3)
    matrix = record_matrix(data.records)
    curve, _ = oracle_curve(matrix, ALPHAS)
    at_one = curve[curve["alpha"] == 1.0].reset_index(drop=True)
    best = best_score_oracle(matrix)
    np.testing.assert_allclose(at_one["accuracy"], best["accuracy"])
    np.testing.assert_allclose(at_one["cost"], best["cost"])
    # ... which is right wherever any model is right.
    any_right = pd.Series(matrix.scores.max(axis=1)).groupby(matrix.datasets).mean()
    np.testing.assert_allclose(at_one["accuracy"], any_right.sort_index().to_numpy())


@pytest.fixture(scope="module")
def judged():
    """Judged scores in (0, 1) and a reference model of constant score 0.5, as in a pairwise-judge
    benchmark; 6 models, 4 datasets."""
    data = synthetic_records(900, 6, n_topics=8, n_datasets=4, dim=16, noise=0.6, seed=11, judged=True, reference=2)
    matrix = record_matrix(data.records)
    embeddings = data.embeddings.astype(np.float64)
    return matrix, embeddings


@pytest.mark.parametrize("seed", range(3))
def test_the_oracle_curve_is_a_ceiling_in_aiq_on_judged_scores(judged, seed: int) -> None:
    """Per seed: the oracle's AIQ is at least every router's (both variants, two cluster counts), the
    dataset router's and every single model's, over one cost range; the best-score point alone is not."""
    matrix, embeddings = judged
    assert np.all(matrix.scores[:, 2] == 0.5) and np.mean(matrix.scores % 1 != 0) > 0.9
    rng = np.random.default_rng(seed)
    is_test = rng.random(len(matrix.query_ids)) < 0.3
    train_ids, test_ids = matrix.query_ids[~is_test], matrix.query_ids[is_test]
    test = matrix.subset(is_test)
    curves: dict[str, pd.DataFrame] = {}
    for variant in VARIANTS:
        for k in (4, 12):
            clustering = fit_clusters(embeddings[~is_test], k, seed=seed)
            sweep, _ = run_sweep(
                matrix,
                train_ids,
                clustering.labels,
                clustering.centroids,
                test_ids,
                embeddings[is_test],
                variant,
                ALPHAS,
                top_k=3,
                beta=9.0,
                with_decisions=False,
            )
            curves[f"{variant.name} k={k}"] = point(sweep)
        frame, _ = dataset_router(matrix, train_ids, test_ids, variant, ALPHAS)
        curves[f"dataset-router {variant.name}"] = point(frame)
    singles = single_models(test)
    for model, rows in singles.groupby("method"):
        curves[str(model)] = pd.DataFrame({"accuracy": [rows["accuracy"].mean()], "cost": [rows["cost"].sum()]})
    oracle = point(oracle_curve(test, ALPHAS)[0])
    best = best_score_oracle(test)
    best_point = pd.DataFrame({"accuracy": [best["accuracy"].mean()], "cost": [best["cost"].sum()]})
    cost_range = (0.0, max(float(c["cost"].max()) for c in [*curves.values(), oracle, best_point]))

    def aiq(curve: pd.DataFrame) -> float:
        return metrics.aiq(curve["cost"].to_numpy(), curve["accuracy"].to_numpy(), cost_range)

    ceiling = aiq(oracle)
    for name, curve in curves.items():
        assert aiq(curve) <= ceiling, name
    # The one-point oracle of before would rank below the routers here: its AIQ misses the cheap end.
    assert aiq(best_point) < max(aiq(curve) for name, curve in curves.items() if " k=" in name)
