"""Avengers-Pro by K-fold CV over train (avengers_pro.evaluation.oof): fold fits, out-of-fold sweeps,
the k chosen by the one-standard-error rule, and the alpha chosen on the pooled out-of-fold curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_families import tiny
from test_leaderboard import splits_of

from avengers_pro.errors import DataError
from avengers_pro.evaluation import oof
from avengers_pro.evaluation.alpha_choice import choose_alpha, validation_best_single
from avengers_pro.evaluation.cv import cv_folds
from avengers_pro.evaluation.family_runs import split_flags
from avengers_pro.evaluation.summary import seed_curve
from avengers_pro.evaluation.sweep import run_sweep
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.geometry import fit_clusters
from avengers_pro.routing.scores import Variant

ALPHAS = np.linspace(0.0, 1.0, 11)
OFFICIAL = Variant("official", "official", "official")


@pytest.fixture(scope="module")
def problem():
    embeddings, matrix = tiny(n=150)
    return embeddings, matrix, splits_of(matrix, seeds=(0,))[0]


def fold_run(embeddings, matrix, split, k=3, n_folds=3):
    folds = oof.split_folds(split, n_folds, 0)
    rows = matrix.positions(folds.index.to_numpy(dtype=object))
    fits = oof.fit_fold_clusterings(embeddings[rows], folds.to_numpy(), k, seed=0, n_init=2, minibatch_above=10**6)
    return folds, rows, fits


def test_split_folds_are_the_families_folds(problem) -> None:
    _, matrix, split = problem
    is_test, _ = split_flags(split, matrix, 0)
    folds = oof.split_folds(split, 3, 0)
    np.testing.assert_array_equal(folds.index.to_numpy(dtype=object), matrix.query_ids[~is_test])
    np.testing.assert_array_equal(folds.to_numpy(), cv_folds(matrix.datasets[~is_test], 3, 0))


def test_fold_fits_see_neither_the_held_out_fold_nor_test_rows(problem, monkeypatch) -> None:
    embeddings, matrix, split = problem
    seen = []

    def spy(data, n_clusters, **kwargs):
        seen.append(np.asarray(data).copy())
        return fit_clusters(data, n_clusters, **kwargs)

    monkeypatch.setattr(oof, "fit_clusters", spy)
    folds, rows, _ = fold_run(embeddings, matrix, split)
    is_test, _ = split_flags(split, matrix, 0)
    test_vectors = {tuple(v) for v in embeddings[is_test]}
    assert len(seen) == 3
    for fold, data in enumerate(seen):
        expected = embeddings[rows[folds.to_numpy() != fold]]
        np.testing.assert_array_equal(data, expected)  # exactly train minus the fold, in order
        assert not test_vectors & {tuple(v) for v in data}


def test_fold_clusterings_round_trip_and_a_bad_file_is_named(problem, tmp_path) -> None:
    embeddings, matrix, split = problem
    folds, _, fits = fold_run(embeddings, matrix, split)
    path = tmp_path / "k3_seed0.npz"
    oof.write_fold_clusterings(folds.index.to_numpy(), folds.to_numpy(), fits, path)
    ids, read_folds, read_fits = oof.read_fold_clusterings(path)
    np.testing.assert_array_equal(ids, folds.index.to_numpy(dtype=object))
    np.testing.assert_array_equal(read_folds, folds.to_numpy())
    for fold, fit in enumerate(fits):
        np.testing.assert_array_equal(read_fits[fold].centroids, fit.centroids)
        np.testing.assert_array_equal(read_fits[fold].labels, fit.labels)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(DataError, match="bad.npz"):
        oof.read_fold_clusterings(tmp_path / "bad.npz")


def test_out_of_fold_sweep_is_each_fold_routed_by_the_others_and_ignores_test_records(problem) -> None:
    embeddings, matrix, split = problem
    folds, rows, fits = fold_run(embeddings, matrix, split)
    ids, fold = folds.index.to_numpy(dtype=object), folds.to_numpy()
    pooled, aiqs = oof.out_of_fold_sweeps(
        matrix, ids, fold, dict(enumerate(fits)), embeddings[rows], OFFICIAL, ALPHAS, 3, 9.0
    )
    # By hand: fold 0's sweep from run_sweep, and the pooled accuracy is the n-weighted mean.
    parts = [
        run_sweep(
            matrix,
            ids[fold != f],
            fits[f].labels,
            fits[f].centroids,
            ids[fold == f],
            embeddings[rows[fold == f]],
            OFFICIAL,
            ALPHAS,
            3,
            9.0,
            with_decisions=False,
        )[0]
        for f in range(3)
    ]
    stacked = pd.concat(parts)
    for (alpha, dataset), group in stacked.groupby(["alpha", "dataset"]):
        row = pooled[(pooled["alpha"] == alpha) & (pooled["dataset"] == dataset)].iloc[0]
        assert row["n_queries"] == group["n_queries"].sum()
        assert row["cost"] == pytest.approx(group["cost"].sum())
        assert row["accuracy"] == pytest.approx(
            (group["accuracy"] * group["n_queries"]).sum() / group["n_queries"].sum()
        )
    assert pooled.groupby("alpha")["n_queries"].sum().eq(len(ids)).all()  # every training query once
    assert list(pooled.columns) == list(parts[0].columns)
    # Randomising every test score and cost changes no fold AIQ, no pooled sweep, no chosen k.
    is_test, _ = split_flags(split, matrix, 0)
    rng = np.random.default_rng(3)
    scores, costs = matrix.scores.copy(), matrix.costs.copy()
    recorded = matrix.available & is_test[:, None]
    scores[recorded], costs[recorded] = rng.random(recorded.sum()), rng.random(recorded.sum()) * 50
    shuffled = RecordMatrix(matrix.query_ids, matrix.datasets, matrix.models, scores, costs)
    again, again_aiqs = oof.out_of_fold_sweeps(
        shuffled, ids, fold, dict(enumerate(fits)), embeddings[rows], OFFICIAL, ALPHAS, 3, 9.0
    )
    pd.testing.assert_frame_equal(again, pooled)
    assert again_aiqs == aiqs


def fold_table(values: dict[int, list[float]], seed: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        [(k, seed, f, v) for k, vs in values.items() for f, v in enumerate(vs)], columns=list(oof.CV_AIQ_COLUMNS)
    )


def test_cv_best_k_prefers_fewer_clusters_within_one_standard_error() -> None:
    # Equal means: the smaller k.
    assert oof.cv_best_k(fold_table({16: [0.7, 0.8, 0.9], 8: [0.7, 0.8, 0.9]}), 0)[0] == 8
    # k = 16 better by 0.01, its standard error 0.1 / sqrt(3) = 0.058: k = 8 is within it.
    k, table = oof.cv_best_k(fold_table({8: [0.69, 0.79, 0.89], 16: [0.7, 0.8, 0.9]}), 0)
    assert k == 8
    assert table[1]["aiq"] == pytest.approx(0.8) and table[1]["aiq_se"] == pytest.approx(0.1 / np.sqrt(3))
    # Better by more than the best's standard error: the larger k.
    assert oof.cv_best_k(fold_table({8: [0.5, 0.5, 0.5], 16: [0.7, 0.71, 0.72]}), 0)[0] == 16
    with pytest.raises(DataError, match="no fold AIQ of seed 1"):
        oof.cv_best_k(fold_table({8: [0.5, 0.5]}), 1)


def test_the_alpha_chosen_on_pooled_out_of_fold_sweeps_by_hand() -> None:
    """Two folds of one dataset, alphas 0 and 1: pooled accuracy is the n-weighted mean, and
    match-best-single takes the cheapest alpha reaching the best single model on all the queries."""

    def sweep(acc0, acc1, cost0, cost1, n):
        return pd.DataFrame(
            {
                "alpha": [0.0, 1.0],
                "dataset": "arc",
                "accuracy": [acc0, acc1],
                "cost": [cost0, cost1],
                "n_queries": [n, n],
                "max_router": 1,
                "routed[a]": [n, 0],
                "routed[b]": [0, n],
            }
        )

    # Fold 0 (2 queries): alpha 0 gets 1 right, alpha 1 both. Fold 1 (4 queries): 3 and 3.
    pooled = oof.pool_sweeps([sweep(0.5, 1.0, 1.0, 4.0, 2), sweep(0.75, 0.75, 2.0, 8.0, 4)])
    curve = seed_curve(pooled)
    assert curve.loc[0.0, "accuracy"] == pytest.approx(4 / 6) and curve.loc[1.0, "accuracy"] == pytest.approx(5 / 6)
    assert curve.loc[0.0, "cost"] == 3.0 and curve.loc[1.0, "cost"] == 12.0
    assert pooled["routed[a]"].tolist() == [6, 0]
    # The best single model on the same six queries: a 4/6 right, b 5/6: b is the reference.
    singles = pd.DataFrame(
        {
            "query_id": [f"q{i}" for i in range(6)] * 2,
            "dataset": "arc",
            "model": ["a"] * 6 + ["b"] * 6,
            "score": [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0],
            "cost": 1.0,
        }
    )
    model, target = validation_best_single(singles, 0)
    assert (model, target) == ("b", pytest.approx(5 / 6))
    assert choose_alpha(curve, target) == (1.0, True)
    assert choose_alpha(curve, 4 / 6) == (0.0, True)  # alpha 0 reaches it and is cheaper
