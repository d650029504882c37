"""The vectorised sweep against a plain per-alpha, per-query reference; evaluation; the leak test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from avengers_pro.errors import DataError
from avengers_pro.evaluation.sweep import evaluate_choices, run_sweep
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.scores import Variant
from avengers_pro.testing.reference_sweep import reference_sweep

PAPER = Variant("paper", "paper", "paper")
PAPER_WEIGHTED = Variant("paper-weighted", "paper", "paper", weighted=True)
OFFICIAL = Variant("official", "official", "official")
MIXED = Variant("mixed", "paper", "official")


# --------------------------------------------------------------------------- random data


def random_problem(
    seed: int, n: int = 90, n_models: int = 5, n_clusters: int = 4, dim: int = 6, mask: bool = True
) -> tuple[RecordMatrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random records (with masked cells, a free model and its twin), splits, labels and embeddings."""
    rng = np.random.default_rng(seed)
    scores = (rng.random((n, n_models)) < rng.random(n_models)).astype(float)
    scores[:, 1] = rng.choice([0.0, 0.5, 1.0], size=n)  # one model with fractional scores
    costs = rng.random((n, n_models)) * rng.random(n_models) * 0.01
    costs[:, 2] = 0.0  # a free model
    scores[:, 4], costs[:, 4] = scores[:, 2], costs[:, 2]  # a free twin: exact ties exercise the tie-break
    if mask:
        hole = rng.random((n, n_models)) < 0.1
        hole[:, 0] = False  # every query keeps at least one record
        scores[hole] = np.nan
        costs[hole] = np.nan
    matrix = RecordMatrix(
        query_ids=np.array([f"q{i:03d}" for i in range(n)], dtype=object),
        datasets=rng.choice(np.array(["alpha-set", "beta-set", "gamma-set"], dtype=object), size=n),
        models=[f"model-{m}" for m in range(n_models)],
        scores=scores,
        costs=costs,
    )
    embeddings = rng.normal(size=(n, dim))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    centroids = rng.normal(size=(n_clusters, dim)) * 0.4
    is_train = rng.random(n) < 0.6
    train_rows = np.flatnonzero(is_train)
    eval_rows = np.flatnonzero(~is_train)
    labels = rng.integers(0, n_clusters, size=len(train_rows))
    return matrix, train_rows, labels, centroids, eval_rows, embeddings[eval_rows]


@pytest.mark.parametrize("variant", [PAPER, PAPER_WEIGHTED, OFFICIAL, MIXED])
@pytest.mark.parametrize("max_router", [1, 2])
@pytest.mark.parametrize("seed", [0, 1])
def test_vectorised_sweep_equals_plain_reference(variant: Variant, max_router: int, seed: int) -> None:
    matrix, train_rows, labels, centroids, eval_rows, embeddings = random_problem(seed)
    alphas = np.linspace(0.0, 1.0, 11)
    top_k, beta = 3, 9.0
    sweep, decisions = run_sweep(
        matrix,
        matrix.query_ids[train_rows],
        labels,
        centroids,
        matrix.query_ids[eval_rows],
        embeddings,
        variant,
        alphas,
        top_k,
        beta,
        max_router,
    )
    expected, first = reference_sweep(
        matrix, train_rows, labels, centroids, eval_rows, embeddings, variant, alphas, top_k, beta, max_router
    )
    assert (sweep["max_router"] == max_router).all()
    pd.testing.assert_frame_equal(sweep.drop(columns="max_router"), expected, check_dtype=False)
    np.testing.assert_array_equal(decisions["model"].to_numpy(), np.asarray(matrix.models, dtype=object)[first.ravel()])
    np.testing.assert_array_equal(decisions["query_id"].to_numpy(), np.tile(matrix.query_ids[eval_rows], len(alphas)))


def test_sweep_choices_change_with_alpha_on_random_data() -> None:
    # Guards the reference test against a degenerate problem where every alpha routes the same way.
    matrix, train_rows, labels, centroids, eval_rows, embeddings = random_problem(0)
    _, decisions = run_sweep(
        matrix,
        matrix.query_ids[train_rows],
        labels,
        centroids,
        matrix.query_ids[eval_rows],
        embeddings,
        OFFICIAL,
        np.array([0.0, 1.0]),
        3,
        9.0,
    )
    by_alpha = decisions.groupby("alpha")["model"].apply(tuple)
    assert by_alpha.loc[0.0] != by_alpha.loc[1.0]


# --------------------------------------------------------------------------- evaluate_choices by hand


def small_matrix() -> RecordMatrix:
    return RecordMatrix(
        query_ids=np.array(["a", "b", "c"], dtype=object),
        datasets=np.array(["d1", "d1", "d2"], dtype=object),
        models=["m0", "m1", "m2"],
        scores=np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.5, np.nan]]),
        costs=np.array([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0], [1.0, 2.0, np.nan]]),
    )


def test_evaluate_choices_by_hand() -> None:
    matrix = small_matrix()
    choices = np.array([[[0], [0], [1]], [[1], [1], [0]]])
    sweep, decisions = evaluate_choices(choices, matrix, np.array([0.0, 1.0]))
    assert list(sweep.columns) == [
        "alpha",
        "dataset",
        "accuracy",
        "cost",
        "n_queries",
        "max_router",
        "routed[m0]",
        "routed[m1]",
        "routed[m2]",
    ]
    np.testing.assert_allclose(sweep["alpha"], [0, 0, 1, 1])
    assert sweep["dataset"].tolist() == ["d1", "d2", "d1", "d2"]
    np.testing.assert_allclose(sweep["accuracy"], [0.5, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(sweep["cost"], [2.0, 2.0, 4.0, 1.0])
    assert sweep["n_queries"].tolist() == [2, 1, 2, 1]
    assert sweep["routed[m0]"].tolist() == [2, 0, 0, 1]
    assert sweep["routed[m1]"].tolist() == [0, 1, 2, 0]
    assert list(decisions.columns) == ["alpha", "query_id", "dataset", "model", "score", "cost"]
    assert decisions["model"].tolist() == ["m0", "m0", "m1", "m1", "m1", "m0"]
    np.testing.assert_allclose(decisions["score"], [1, 0, 0.5, 0, 1, 0])
    # Without decisions (validation sweeps): the same sweep table, no per-query table.
    sweep_only, none = evaluate_choices(choices, matrix, np.array([0.0, 1.0]), with_decisions=False)
    assert none is None
    pd.testing.assert_frame_equal(sweep_only, sweep)


def test_evaluate_choices_with_two_models_takes_the_max_score_and_the_sum_of_costs() -> None:
    matrix = small_matrix()
    choices = np.array([[[1, 2], [0, 2], [1, -1]]])  # query c has only two recorded models
    sweep, decisions = evaluate_choices(choices, matrix, np.array([0.5]))
    np.testing.assert_allclose(decisions["score"], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(decisions["cost"], [6.0, 5.0, 2.0])
    assert decisions["model"].tolist() == ["m1", "m0", "m1"]  # the first choice
    assert sweep["max_router"].tolist() == [2, 2]
    assert sweep["routed[m1]"].tolist() == [1, 1]  # first choices only
    np.testing.assert_allclose(sweep["cost"], [11.0, 2.0])


def test_evaluate_choices_refuses_a_model_without_a_record() -> None:
    with pytest.raises(DataError, match="'c'.*'m2'"):
        evaluate_choices(np.array([[[0], [0], [2]]]), small_matrix(), np.array([0.0]))
    with pytest.raises(DataError, match="'b'"):
        evaluate_choices(np.array([[[0], [-1], [0]]]), small_matrix(), np.array([0.0]))


# --------------------------------------------------------------------------- leaks and bad input


@pytest.mark.parametrize("variant", [PAPER, OFFICIAL])
def test_changing_every_test_score_leaves_routing_unchanged(variant: Variant) -> None:
    matrix, train_rows, labels, centroids, eval_rows, embeddings = random_problem(3)
    alphas = np.linspace(0, 1, 21)
    args = (
        matrix.query_ids[train_rows],
        labels,
        centroids,
        matrix.query_ids[eval_rows],
        embeddings,
        variant,
        alphas,
        3,
        9.0,
    )
    _, before = run_sweep(matrix, *args)
    scores, costs = matrix.scores.copy(), matrix.costs.copy()
    scores[eval_rows] = 1.0 - scores[eval_rows]  # NaN stays NaN: availability is part of the query, not its score
    costs[eval_rows] = costs[eval_rows] * 100 + 1
    changed = RecordMatrix(matrix.query_ids, matrix.datasets, matrix.models, scores, costs)
    _, after = run_sweep(changed, *args)
    pd.testing.assert_series_equal(before["model"], after["model"])
    assert not np.allclose(before["score"], after["score"])


def test_run_sweep_refuses_overlapping_or_unknown_ids() -> None:
    matrix, train_rows, labels, centroids, eval_rows, embeddings = random_problem(0)
    train_ids = matrix.query_ids[train_rows]
    with pytest.raises(DataError, match="also training"):
        run_sweep(
            matrix,
            train_ids,
            labels,
            centroids,
            train_ids[: len(eval_rows)],
            embeddings,
            OFFICIAL,
            np.array([0.5]),
            3,
            9.0,
        )
    with pytest.raises(DataError, match="not in the records"):
        run_sweep(
            matrix,
            train_ids,
            labels,
            centroids,
            np.array(["nope"] * len(eval_rows), dtype=object),
            embeddings,
            OFFICIAL,
            np.array([0.5]),
            3,
            9.0,
        )
    with pytest.raises(DataError, match="labels"):
        run_sweep(
            matrix,
            train_ids,
            labels[:-1],
            centroids,
            matrix.query_ids[eval_rows],
            embeddings,
            OFFICIAL,
            np.array([0.5]),
            3,
            9.0,
        )
