"""Baselines on a hand-made score/cost matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from avengers_pro.errors import DataError
from avengers_pro.evaluation.baselines import (
    baseline_columns,
    best_score_oracle,
    dataset_oracle,
    dataset_router,
    random_router,
    run_baselines,
    single_models,
)
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.scores import Variant

PAPER = Variant("paper", "paper", "paper")
OFFICIAL = Variant("official", "official", "official")
MODELS = ["A", "B", "C"]


def hand_matrix() -> RecordMatrix:
    """Two datasets of two queries; A costs 3, B 1, C 0.5 per query.

    q1: A, B right; q2: none right; q3: A, C right; q4: A right.
    """
    return RecordMatrix(
        query_ids=np.array(["q1", "q2", "q3", "q4"], dtype=object),
        datasets=np.array(["d1", "d1", "d2", "d2"], dtype=object),
        models=MODELS,
        scores=np.array([[1, 1, 0], [0, 0, 0], [1, 0, 1], [1, 0, 0]], dtype=float),
        costs=np.tile([3.0, 1.0, 0.5], (4, 1)),
    )


def row(frame: pd.DataFrame, method: str, dataset: str) -> pd.Series:
    match = frame[(frame["method"] == method) & (frame["dataset"] == dataset)]
    assert len(match) == 1, (method, dataset, match)
    return match.iloc[0]


def test_single_models_by_hand() -> None:
    frame = single_models(hand_matrix())
    assert list(frame.columns) == baseline_columns(MODELS)
    assert frame["method"].tolist() == ["A", "A", "B", "B", "C", "C"]
    np.testing.assert_allclose(frame["accuracy"], [0.5, 1.0, 0.5, 0.0, 0.0, 0.5])
    np.testing.assert_allclose(frame["cost"], [6.0, 6.0, 2.0, 2.0, 1.0, 1.0])
    assert frame["n_queries"].tolist() == [2] * 6
    assert frame["routed[B]"].tolist() == [0, 0, 2, 2, 0, 0]
    assert (frame["variant"] == "").all() and frame["alpha"].isna().all()


def test_single_model_without_records_on_a_dataset() -> None:
    matrix = hand_matrix()
    scores, costs = matrix.scores.copy(), matrix.costs.copy()
    scores[2:, 2] = np.nan
    costs[2:, 2] = np.nan
    scores[0, 2] = np.nan
    costs[0, 2] = np.nan
    frame = single_models(RecordMatrix(matrix.query_ids, matrix.datasets, MODELS, scores, costs))
    c_d1, c_d2 = row(frame, "C", "d1"), row(frame, "C", "d2")
    assert (c_d1["accuracy"], c_d1["cost"], c_d1["n_queries"]) == (0.0, 0.5, 1)  # over its one recorded query
    assert np.isnan(c_d2["accuracy"]) and c_d2["cost"] == 0 and c_d2["n_queries"] == 0


def test_best_score_oracle_by_hand() -> None:
    frame = best_score_oracle(hand_matrix())
    # d1: q1 -> B (cheapest right), q2 -> C (nobody right: cheapest); d2: q3 -> C, q4 -> A
    d1, d2 = row(frame, "best-score-oracle", "d1"), row(frame, "best-score-oracle", "d2")
    assert (d1["accuracy"], d1["cost"]) == (0.5, 1.5)
    assert (d2["accuracy"], d2["cost"]) == (1.0, 3.5)
    assert [d1["routed[A]"], d1["routed[B]"], d1["routed[C]"]] == [0, 1, 1]
    assert [d2["routed[A]"], d2["routed[B]"], d2["routed[C]"]] == [1, 0, 1]


def test_best_score_oracle_with_fractional_scores_and_missing_records() -> None:
    matrix = RecordMatrix(
        query_ids=np.array(["q1", "q2"], dtype=object),
        datasets=np.array(["d", "d"], dtype=object),
        models=MODELS,
        # q1: max 0.8 reached by B (3.0) and C (2.0) -> C; q2: A has no record, B=C=0.4 -> equal cost -> B
        scores=np.array([[0.5, 0.8, 0.8], [np.nan, 0.4, 0.4]]),
        costs=np.array([[1.0, 3.0, 2.0], [np.nan, 1.0, 1.0]]),
    )
    result = row(best_score_oracle(matrix), "best-score-oracle", "d")
    assert result["accuracy"] == pytest.approx(0.6)
    assert result["cost"] == pytest.approx(3.0)
    assert [result["routed[A]"], result["routed[B]"], result["routed[C]"]] == [0, 1, 1]


def test_dataset_oracle_prefers_the_cheaper_of_equally_accurate_models() -> None:
    frame = dataset_oracle(hand_matrix())
    d1, d2 = row(frame, "dataset-oracle", "d1"), row(frame, "dataset-oracle", "d2")
    # d1: A and B both 0.5 -> B (cost 2); d2: A 1.0 (cost 6)
    assert (d1["accuracy"], d1["cost"], d1["routed[B]"]) == (0.5, 2.0, 2)
    assert (d2["accuracy"], d2["cost"], d2["routed[A]"]) == (1.0, 6.0, 2)
    assert (frame["variant"] == "").all() and frame["alpha"].isna().all()


def test_random_router_is_seeded_uniform_and_respects_availability() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    available = rng.random((n, 3)) < 0.7
    available[:, 0] |= ~available.any(axis=1)
    scores = np.where(available, 1.0, np.nan)
    matrix = RecordMatrix(
        np.array([f"q{i}" for i in range(n)], dtype=object),
        np.full(n, "d", dtype=object),
        MODELS,
        scores,
        np.where(available, 1.0, np.nan),
    )
    first = random_router(matrix, seed=5)
    pd.testing.assert_frame_equal(first, random_router(matrix, seed=5))
    assert not first.equals(random_router(matrix, seed=6))
    assert first["accuracy"].iloc[0] == 1.0  # a NaN (unavailable) pick would make this NaN
    counts = first[["routed[A]", "routed[B]", "routed[C]"]].to_numpy()[0]
    expected = (available / available.sum(axis=1, keepdims=True)).sum(axis=0)
    np.testing.assert_allclose(counts, expected, rtol=0.1)


def split_frame(train: list[str], test: list[str], matrix: RecordMatrix) -> pd.DataFrame:
    dataset = dict(zip(matrix.query_ids, matrix.datasets))
    ids = [*train, *test]
    return pd.DataFrame(
        {
            "query_id": ids,
            "dataset": [dataset[q] for q in ids],
            "split": ["train"] * len(train) + ["test"] * len(test),
            "validation": False,
        }
    )


def router_matrix() -> RecordMatrix:
    """Dataset d1: A most accurate, C cheapest; dataset d2: B most accurate. Train q1-q6, test t1-t4."""
    ids = ["q1", "q2", "q3", "q4", "q5", "q6", "t1", "t2", "t3", "t4"]
    datasets = ["d1", "d1", "d1", "d2", "d2", "d2", "d1", "d1", "d2", "d2"]
    scores = np.array(
        [
            [1, 0, 1],
            [1, 1, 0],
            [1, 0, 0],  # d1: A 1, B 1/3, C 1/3
            [0, 1, 0],
            [1, 1, 0],
            [0, 1, 1],  # d2: A 1/3, B 1, C 1/3
            [0, 1, 1],
            [1, 1, 1],
            [1, 0, 1],
            [0, 0, 0],
        ],
        dtype=float,
    )
    return RecordMatrix(
        np.array(ids, dtype=object), np.array(datasets, dtype=object), MODELS, scores, np.tile([3.0, 1.0, 0.5], (10, 1))
    )


@pytest.mark.parametrize("variant", [PAPER, OFFICIAL])
def test_dataset_router_alpha_one_most_accurate_alpha_zero_cheapest(variant: Variant) -> None:
    matrix = router_matrix()
    frame, decisions = dataset_router(matrix, matrix.query_ids[:6], matrix.query_ids[6:], variant, np.array([0.0, 1.0]))
    assert list(frame.columns) == baseline_columns(MODELS)
    assert (frame["method"] == "dataset-router").all() and (frame["variant"] == variant.name).all()
    picks = decisions.set_index(["alpha", "query_id"])["model"]
    assert [picks[(1.0, q)] for q in ["t1", "t2", "t3", "t4"]] == ["A", "A", "B", "B"]
    assert [picks[(0.0, q)] for q in ["t1", "t2", "t3", "t4"]] == ["C", "C", "C", "C"]
    at_one = frame[frame["alpha"] == 1.0].set_index("dataset")
    np.testing.assert_allclose(at_one.loc[["d1", "d2"], "accuracy"], [0.5, 0.0])
    np.testing.assert_allclose(at_one.loc[["d1", "d2"], "cost"], [6.0, 2.0])


def test_dataset_router_ignores_test_scores() -> None:
    matrix = router_matrix()
    changed_scores = matrix.scores.copy()
    changed_scores[6:] = 1 - changed_scores[6:]
    changed = RecordMatrix(matrix.query_ids, matrix.datasets, MODELS, changed_scores, matrix.costs)
    alphas = np.linspace(0, 1, 11)
    _, before = dataset_router(matrix, matrix.query_ids[:6], matrix.query_ids[6:], OFFICIAL, alphas)
    _, after = dataset_router(changed, matrix.query_ids[:6], matrix.query_ids[6:], OFFICIAL, alphas)
    pd.testing.assert_series_equal(before["model"], after["model"])


def test_dataset_router_routes_an_unseen_dataset_by_all_training_queries() -> None:
    matrix = router_matrix()
    datasets = matrix.datasets.copy()
    datasets[9] = "d3"  # t4 belongs to a dataset with no training query
    unseen = RecordMatrix(matrix.query_ids, datasets, MODELS, matrix.scores, matrix.costs)
    _, decisions = dataset_router(unseen, matrix.query_ids[:6], matrix.query_ids[6:], PAPER, np.array([1.0]))
    # pooled training accuracy: A 4/6, B 4/6, C 2/6 -> A (tie with B, lower index)
    assert decisions.set_index("query_id").loc["t4", "model"] == "A"


def test_run_baselines_frame_and_decisions() -> None:
    matrix = router_matrix()
    split = split_frame(list(matrix.query_ids[:6]), list(matrix.query_ids[6:]), matrix)
    alphas = np.linspace(0, 1, 5)
    frame, decisions = run_baselines(matrix, split, [PAPER, OFFICIAL], alphas, seed=0)
    assert list(frame.columns) == baseline_columns(MODELS)
    counts = frame["method"].value_counts()
    assert counts["A"] == counts["random"] == counts["best-score-oracle"] == counts["dataset-oracle"] == 2
    assert counts["dataset-router"] == 2 * len(alphas) * 2
    assert counts["oracle"] == 2 * len(alphas)
    np.testing.assert_allclose(np.sort(frame.loc[frame["method"] == "oracle", "alpha"].unique()), alphas)
    assert set(decisions) == {"paper", "official"}
    assert len(decisions["paper"]) == len(alphas) * 4
    assert (frame.groupby(["method", "variant", "alpha"], dropna=False)["n_queries"].sum() == 4).all()
    # Baselines see the test queries only: the oracle on t1..t4 gets d1 right twice, d2 once.
    np.testing.assert_allclose(frame[frame["method"] == "best-score-oracle"]["accuracy"], [1.0, 0.5])
    at_one = frame[(frame["method"] == "oracle") & (frame["alpha"] == 1.0)]
    np.testing.assert_allclose(at_one["accuracy"], [1.0, 0.5])


def test_run_baselines_rejects_a_bad_split() -> None:
    matrix = router_matrix()
    split = split_frame(list(matrix.query_ids[:6]), list(matrix.query_ids[6:]), matrix)
    bad = split.copy()
    bad.loc[3, "split"] = "holdout"
    with pytest.raises(DataError, match="row 3.*split"):
        run_baselines(matrix, bad, [PAPER], np.array([0.5]), seed=0)
    with pytest.raises(DataError, match="validation"):
        run_baselines(matrix, split.drop(columns="validation"), [PAPER], np.array([0.5]), seed=0)
    unknown = split.copy()
    unknown.loc[7, "query_id"] = "zz"
    with pytest.raises(DataError, match="not in the records"):
        run_baselines(matrix, unknown, [PAPER], np.array([0.5]), seed=0)
