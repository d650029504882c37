"""Router families: each estimator against a brute-force loop on tiny data, and honest selection."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from avengers_pro.errors import ConfigError, DataError
from avengers_pro.evaluation.baselines import dataset_router
from avengers_pro.evaluation.family_runs import run_family
from avengers_pro.evaluation.selection import select_on_validation
from avengers_pro.io import RecordMatrix
from avengers_pro.routing import (
    FAMILIES,
    AvengersProEstimator,
    KNNRouter,
    LogisticRouter,
    NeighbourIndex,
    ShrinkageRouter,
    TaskRouter,
    empirical_bayes_strength,
    expand_grid,
    make_estimator,
    select_models,
)
from avengers_pro.routing.geometry import fit_clusters, l2_normalise
from avengers_pro.routing.scores import Variant
from avengers_pro.testing.small_routers import tiny

ALPHAS = np.linspace(0.0, 1.0, 11)
OFFICIAL = Variant("official", "official", "official")
PAPER = Variant("paper", "paper", "paper", distance="euclidean")


# --------------------------------------------------------------------------- the shared selection


def brute_select(score: np.ndarray, cost: np.ndarray, alpha: float, normalisation: str, available: np.ndarray) -> int:
    """One query, one alpha, by the formulas; ties -> higher predicted score, then lower index."""
    models = [m for m in range(len(score)) if available[m] and np.isfinite(score[m]) and np.isfinite(cost[m])]
    if not models:
        return -1
    acc = {m: score[m] for m in models}
    lo, hi = min(acc.values()), max(acc.values())
    c_lo, c_hi = min(cost[m] for m in models), max(cost[m] for m in models)
    best, best_key = -1, None
    for m in models:
        a = 1.0 if hi == lo else (acc[m] - lo) / (hi - lo)
        if normalisation == "official":
            c = 1.0 if c_hi <= 0 else 1.0 - cost[m] / c_hi
        else:
            c = 1.0 if c_hi == c_lo else 1.0 - (cost[m] - c_lo) / (c_hi - c_lo)
        key = (alpha * a + (1 - alpha) * c, score[m])
        if best_key is None or key > best_key:
            best, best_key = m, key
    return best


@pytest.mark.parametrize("normalisation", ["official", "paper"])
def test_select_models_matches_brute_force(normalisation: str) -> None:
    rng = np.random.default_rng(1)
    n, n_models = 40, 5
    # Coarse values make ties in x (and in score) common, so the tie rules are exercised.
    score = rng.integers(0, 3, size=(n, n_models)) / 2.0
    cost = rng.integers(1, 4, size=(n, n_models)).astype(float)
    available = rng.random((n, n_models)) > 0.2
    available[0] = False  # a query with no model
    choices = select_models(score, cost, ALPHAS, normalisation, available)
    expected = [[brute_select(score[q], cost[q], a, normalisation, available[q]) for q in range(n)] for a in ALPHAS]
    np.testing.assert_array_equal(choices, np.array(expected))


def test_select_models_with_dataset_means_is_the_dataset_router() -> None:
    """Predictions = the query's own dataset means reproduce the dataset router (no cost ties here)."""
    _, matrix = tiny(missing=False)
    train_rows, test_rows = np.arange(40), np.arange(40, 60)
    train, test = matrix.subset(train_rows), matrix.subset(test_rows)
    for variant in (OFFICIAL, Variant("paper", "paper", "paper")):
        _, decisions = dataset_router(matrix, train.query_ids, test.query_ids, variant, ALPHAS)
        means = {
            d: (
                np.nanmean(train.scores[train.datasets == d], axis=0),
                np.nanmean(train.costs[train.datasets == d], axis=0),
            )
            for d in set(train.datasets)
        }
        score = np.array([means[d][0] for d in test.datasets])
        cost = np.array([means[d][1] for d in test.datasets])
        choices = select_models(score, cost, ALPHAS, variant.normalisation, test.available)
        routed = decisions["model"].to_numpy().reshape(len(ALPHAS), -1)
        np.testing.assert_array_equal(np.asarray(matrix.models, dtype=object)[choices], routed)


# --------------------------------------------------------------------------- each estimator vs a loop


def brute_neighbours(train: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    sims = train.astype(np.float64) @ query.astype(np.float64)
    return np.argsort(-sims, kind="stable")[:k]


def test_knn_matches_brute_force() -> None:
    embeddings, matrix = tiny()
    train, queries = embeddings[:45], embeddings[45:]
    fitted = KNNRouter(n_neighbors=7).fit(train, matrix.subset(np.arange(45)))
    score, cost = fitted.predict(queries)
    sub = matrix.subset(np.arange(45))
    for q, query in enumerate(queries):
        near = brute_neighbours(train, query, 7)
        weights = np.maximum(train[near].astype(np.float64) @ query, 0.0) + 1e-6
        for m in range(len(matrix.models)):
            rec = ~np.isnan(sub.scores[near, m])
            want_s = (
                np.sum(weights[rec] * sub.scores[near[rec], m]) / weights[rec].sum()
                if rec.any()
                else np.nanmean(sub.scores[:, m])
            )
            want_c = (
                np.sum(weights[rec] * sub.costs[near[rec], m]) / weights[rec].sum()
                if rec.any()
                else np.nanmean(sub.costs[:, m])
            )
            assert score[q, m] == pytest.approx(want_s, rel=1e-5)
            assert cost[q, m] == pytest.approx(want_c, rel=1e-5)


def test_inverted_file_scanning_every_list_is_exact() -> None:
    rng = np.random.default_rng(3)
    data = l2_normalise(rng.normal(size=(500, 8))).astype(np.float32)
    queries = l2_normalise(rng.normal(size=(50, 8))).astype(np.float32)
    exact_s, exact_i = NeighbourIndex().fit(data).search(queries, 10)
    ivf = NeighbourIndex(n_lists=16, n_probe=16, seed=0).fit(data)
    ivf_s, ivf_i = ivf.search(queries, 10)
    np.testing.assert_allclose(ivf_s, exact_s, rtol=1e-5)
    np.testing.assert_array_equal(np.sort(ivf_i, axis=1), np.sort(exact_i, axis=1))
    # Fewer lists probed: a subset of the candidates, so never more similar than exact, and mostly equal.
    few_s, _ = NeighbourIndex(n_lists=16, n_probe=4, seed=0).fit(data).search(queries, 10)
    assert (few_s <= exact_s + 1e-6).all()


def test_logistic_matches_per_model_sklearn() -> None:
    from sklearn.linear_model import LogisticRegression

    embeddings, matrix = tiny()
    train, queries = embeddings[:45], embeddings[45:]
    sub = matrix.subset(np.arange(45))
    fitted = LogisticRouter(C=3.0, cost_neighbors=5).fit(train, sub)
    score, cost = fitted.predict(queries)
    for m in range(len(matrix.models)):
        rows = ~np.isnan(sub.scores[:, m])
        want = LogisticRegression(C=3.0, max_iter=1000).fit(train[rows], sub.scores[rows, m].astype(int))
        np.testing.assert_allclose(score[:, m], want.predict_proba(queries)[:, 1], rtol=1e-6)
    for q, query in enumerate(queries):
        near = brute_neighbours(train, query, 5)
        for m in range(len(matrix.models)):
            rec = ~np.isnan(sub.costs[near, m])
            want = sub.costs[near[rec], m].mean() if rec.any() else np.nanmean(sub.costs[:, m])
            assert cost[q, m] == pytest.approx(want, rel=1e-9)


def test_logistic_soft_labels_and_single_class() -> None:
    embeddings, matrix = tiny(missing=False)
    scores = matrix.scores.copy()
    scores[:, 1] = 0.25  # fractional, and a single value: predicted as the constant mean
    scores[:, 2] = np.where(scores[:, 2] > 0, 0.75, 0.0)  # fractional, two values
    soft = RecordMatrix(matrix.query_ids, matrix.datasets, matrix.models, scores, matrix.costs)
    score, _ = LogisticRouter(C=1.0, cost_neighbors=0).fit(embeddings, soft).predict(embeddings[:5])
    np.testing.assert_allclose(score[:, 1], 0.25)
    assert ((score[:, 2] > 0) & (score[:, 2] < 1)).all()


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_task_router_matches_brute_force(mode: str) -> None:
    from sklearn.linear_model import LogisticRegression

    embeddings, matrix = tiny()
    train, queries = embeddings[:45], embeddings[45:]
    sub = matrix.subset(np.arange(45))
    score, cost = TaskRouter(C=2.0, mode=mode).fit(train, sub).predict(queries)
    names = sorted(set(sub.datasets))
    proba = (
        LogisticRegression(C=2.0, max_iter=1000)
        .fit(train, [names.index(d) for d in sub.datasets])
        .predict_proba(queries)
    )
    if mode == "hard":
        proba = np.eye(len(names))[proba.argmax(axis=1)]
    for q in range(len(queries)):
        for m in range(len(matrix.models)):
            want_s = sum(proba[q, i] * np.nanmean(sub.scores[sub.datasets == d, m]) for i, d in enumerate(names))
            want_c = sum(proba[q, i] * np.nanmean(sub.costs[sub.datasets == d, m]) for i, d in enumerate(names))
            assert score[q, m] == pytest.approx(want_s, rel=1e-6)
            assert cost[q, m] == pytest.approx(want_c, rel=1e-6)


def test_hard_task_router_on_separable_data_is_the_dataset_router() -> None:
    embeddings, matrix = tiny(n=90, missing=False)
    train_rows, test_rows = np.arange(60), np.arange(60, 90)
    train = matrix.subset(train_rows)
    fitted = TaskRouter(C=100.0, mode="hard").fit(embeddings[train_rows], train)
    names = np.asarray(fitted.datasets_, dtype=object)
    assert (
        names[fitted.task_probabilities(embeddings[test_rows]).argmax(axis=1)] == matrix.datasets[test_rows]
    ).all()  # the clusters are far apart: a perfect classifier
    choices = fitted.choose(embeddings[test_rows], ALPHAS, matrix.available[test_rows])
    _, decisions = dataset_router(matrix, train.query_ids, matrix.query_ids[test_rows], OFFICIAL, ALPHAS)
    np.testing.assert_array_equal(
        np.asarray(matrix.models, dtype=object)[choices], decisions["model"].to_numpy().reshape(len(ALPHAS), -1)
    )


def test_shrinkage_matches_brute_force() -> None:
    embeddings, matrix = tiny(n=80)
    train, queries = embeddings[:60], embeddings[60:]
    sub = matrix.subset(np.arange(60))
    fitted = ShrinkageRouter(n_clusters=5, tau=4.0, task_C=2.0, seed=0).fit(train, sub)
    score, cost = fitted.predict(queries)
    clustering = fit_clusters(train, 5, seed=0, n_init=3)
    prior_s, prior_c = TaskRouter(C=2.0).fit(train, sub).predict(queries)
    for q, query in enumerate(queries):
        c = int(np.argmin(((clustering.centroids - query) ** 2).sum(axis=1)))
        members = clustering.labels == c
        for m in range(len(matrix.models)):
            rec = members & ~np.isnan(sub.scores[:, m])
            n = rec.sum()
            local_s = sub.scores[rec, m].mean() if n else 0.0
            local_c = sub.costs[rec, m].mean() if n else 0.0
            assert score[q, m] == pytest.approx((n * local_s + 4.0 * prior_s[q, m]) / (n + 4.0), rel=1e-6)
            assert cost[q, m] == pytest.approx((n * local_c + 4.0 * prior_c[q, m]) / (n + 4.0), rel=1e-6)


def test_shrinkage_neighbours_matches_brute_force() -> None:
    embeddings, matrix = tiny(n=80)
    train, queries = embeddings[:60], embeddings[60:]
    sub = matrix.subset(np.arange(60))
    score, _ = ShrinkageRouter(base="neighbors", n_neighbors=6, tau=3.0, task_C=2.0).fit(train, sub).predict(queries)
    prior_s, _ = TaskRouter(C=2.0).fit(train, sub).predict(queries)
    for q, query in enumerate(queries):
        near = brute_neighbours(train, query, 6)
        for m in range(len(matrix.models)):
            values = sub.scores[near, m]
            values = values[~np.isnan(values)]
            n = values.size
            local = values.mean() if n else 0.0
            assert score[q, m] == pytest.approx((n * local + 3.0 * prior_s[q, m]) / (n + 3.0), rel=1e-6)


def test_empirical_bayes_strength_matches_moments() -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 4, 200)
    values = rng.random((200, 2)) + labels[:, None] * 0.3
    recorded = rng.random((200, 2)) > 0.1
    prior = np.full((200, 2), 0.9)
    tau = empirical_bayes_strength(labels, np.where(recorded, values, np.nan), recorded, prior, 4)
    for m in range(2):
        groups = [values[(labels == c) & recorded[:, m], m] for c in range(4)]
        n = np.array([g.size for g in groups], dtype=float)
        within = sum(((g - g.mean()) ** 2).sum() for g in groups) / (n.sum() - 4)
        excess = np.array([(g.mean() - 0.9) ** 2 for g in groups]) - within / n
        between = max((n * excess).sum() / n.sum(), 1e-12)
        assert tau[m] == pytest.approx(within / between, rel=1e-9)


def test_shrinkage_rejects_eb_for_neighbours() -> None:
    with pytest.raises(ConfigError, match="families.shrinkage.tau"):
        make_estimator("shrinkage", {"base": "neighbors", "tau": "eb"})
    embeddings, matrix = tiny()
    with pytest.raises(ConfigError, match="ShrinkageRouter.tau: 'eb' needs base 'clusters'"):
        ShrinkageRouter(base="neighbors", tau="eb").fit(embeddings, matrix)


@pytest.mark.parametrize("variant", [OFFICIAL, PAPER])
def test_avengers_pro_estimator_keeps_the_router_exactly(variant: Variant) -> None:
    embeddings, matrix = tiny(n=80)
    train, queries = embeddings[:60], embeddings[60:]
    sub = matrix.subset(np.arange(60))
    fitted = AvengersProEstimator(variant, n_clusters=6, top_k=3, seed=2).fit(train, sub)
    clustering = fit_clusters(train, 6, seed=2, n_init=10)
    reference = AvengersProEstimator.from_clusters(variant, clustering.centroids, clustering.labels, sub, top_k=3)
    available = matrix.available[60:]
    np.testing.assert_array_equal(
        fitted.choose(queries, ALPHAS, available), reference.route(queries, ALPHAS, available=available)[..., 0]
    )
    # predict: the softmax-weighted mean of the nearest clusters' statistics.
    score, _ = fitted.predict(queries)
    stats = reference.stats_
    d_all = (
        (clustering.centroids**2).sum(axis=1) / 2 + 0.5 - queries.astype(np.float64) @ clustering.centroids.T
        if variant.distance == "euclidean"
        else 1.0 - queries.astype(np.float64) @ clustering.centroids.T
    )
    for q in range(len(queries)):
        near = np.argsort(d_all[q], kind="stable")[:3]
        w = np.exp(-9.0 * (d_all[q, near] - d_all[q, near].min()))
        w /= w.sum()
        for m in range(len(matrix.models)):
            ok = stats.count[near, m] > 0
            assert score[q, m] == pytest.approx(np.sum(w[ok] * stats.accuracy[near[ok], m]) / w[ok].sum(), rel=1e-6)


# --------------------------------------------------------------------------- honest selection

GRIDS = {
    "knn": {"n_neighbors": [3, 10]},
    "logistic": {"C": [0.5, 5.0]},
    "task": {"C": [1.0], "mode": ["soft", "hard"]},
    "shrinkage": [
        {"n_clusters": 4, "tau": "eb"},
        {"n_clusters": 4, "tau": 0.0},
        {"base": "neighbors", "n_neighbors": 5, "tau": 5.0},
    ],
    "avengers-pro": {
        "variant": [{"name": "official", "normalisation": "official", "aggregation": "official"}],
        "n_clusters": [3, 5],
    },
}


def split_flags(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    is_test = rng.random(n) < 0.3
    is_validation = ~is_test & (rng.random(n) < 0.3)
    return is_test, is_validation


@pytest.mark.parametrize("family", sorted(GRIDS))
def test_randomising_test_scores_and_costs_changes_no_decision(family: str) -> None:
    """The pipeline's path (run_family: select on validation, refit on train, route test once)."""
    embeddings, matrix = tiny(n=120)
    is_test, is_validation = split_flags(120)
    split = pd.DataFrame(
        {"query_id": matrix.query_ids, "split": np.where(is_test, "test", "train"), "validation": is_validation}
    )
    (run,) = run_family(family, GRIDS[family], embeddings, matrix, {0: split}, ALPHAS)
    rng = np.random.default_rng(9)
    scores, costs = matrix.scores.copy(), matrix.costs.copy()
    recorded = matrix.available & is_test[:, None]
    scores[recorded] = rng.random(recorded.sum())
    costs[recorded] = rng.random(recorded.sum()) * 100
    shuffled = RecordMatrix(matrix.query_ids, matrix.datasets, matrix.models, scores, costs)
    (again,) = run_family(family, GRIDS[family], embeddings, shuffled, {0: split}, ALPHAS)
    assert again.params == run.params
    assert [e["aiq"] for e in again.validation] == [e["aiq"] for e in run.validation]
    np.testing.assert_array_equal(again.decisions["model"].to_numpy(), run.decisions["model"].to_numpy())


@pytest.mark.parametrize("family", sorted(GRIDS))
def test_selection_never_reads_test_rows(family: str) -> None:
    """Test rows replaced by anything (even NaN embeddings and records) leave the selection unchanged."""
    embeddings, matrix = tiny(n=120)
    is_test, is_validation = split_flags(120)
    train = ~is_test
    reference = select_on_validation(
        family, GRIDS[family], embeddings[train], matrix.subset(train), is_validation[train], ALPHAS
    )
    poisoned_emb = embeddings.copy()
    poisoned_emb[is_test] = np.nan
    scores, costs = matrix.scores.copy(), matrix.costs.copy()
    scores[is_test], costs[is_test] = np.nan, np.nan
    poisoned = RecordMatrix(matrix.query_ids, matrix.datasets, matrix.models, scores, costs)
    # Selection must read train rows alone; routing the test rows is not part of this check.
    selection = select_on_validation(
        family, GRIDS[family], poisoned_emb[train], poisoned.subset(train), is_validation[train], ALPHAS
    )
    assert selection.params == reference.params
    assert [e["aiq"] for e in selection.validation] == [e["aiq"] for e in reference.validation]
    # The poison is detectable: the same call with the poisoned rows among the training rows fails.
    with pytest.raises(DataError, match="embedding is not finite"):
        select_on_validation(family, GRIDS[family], poisoned_emb, poisoned, is_validation, ALPHAS)


def test_selection_picks_the_best_validation_aiq_and_refits_on_all_train() -> None:
    embeddings, matrix = tiny(n=120)
    is_validation = np.random.default_rng(0).random(120) < 0.3
    selection = select_on_validation("knn", {"n_neighbors": [1, 5, 30]}, embeddings, matrix, is_validation, ALPHAS)
    aiqs = [entry["aiq"] for entry in selection.validation]
    assert selection.params == selection.validation[int(np.argmax(aiqs))]["params"]
    assert len(selection.estimator.scores_) == 120  # refitted on every training query


def test_a_candidate_too_large_for_the_data_is_skipped_not_fatal() -> None:
    """The default grids are sized for real benchmarks; on small data a 1,000-cluster candidate is
    skipped (and said so), the others compete as usual."""
    embeddings, matrix = tiny(n=120)
    is_validation = np.random.default_rng(0).random(120) < 0.3
    grid = [{"n_clusters": 4, "tau": 0.0}, {"n_clusters": 1000, "tau": 0.0}]
    selection = select_on_validation("shrinkage", grid, embeddings, matrix, is_validation, ALPHAS)
    assert selection.params == {"n_clusters": 4, "tau": 0.0}
    skipped = selection.validation[1]
    assert skipped["aiq"] is None and "1000 clusters but only" in skipped["skipped"]
    with pytest.raises(DataError, match=r"no candidate of the shrinkage grid fits .* families\.shrinkage"):
        select_on_validation("shrinkage", grid[1:], embeddings, matrix, is_validation, ALPHAS)


def test_expand_grid_and_bad_grids() -> None:
    assert expand_grid({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    with pytest.raises(ConfigError, match="families grid: a"):
        expand_grid({"a": []})
    with pytest.raises(ConfigError, match="unknown family"):
        make_estimator("nope", {})
    with pytest.raises(ConfigError, match="families.avengers-pro.variant"):
        make_estimator("avengers-pro", {"n_clusters": 3})
    with pytest.raises(ConfigError, match="families.knn"):
        make_estimator("knn", {"n_neighbours": 3})  # misspelt parameter


# --------------------------------------------------------------------------- scikit-learn's contract

#: Arguments every family needs (Avengers-Pro: its variant) and small values that fit tiny data.
SMALL: dict[str, dict[str, Any]] = {
    "knn": {"n_neighbors": 5},
    "logistic": {"C": 1.0, "cost_neighbors": 5},
    "task": {"C": 10.0, "mode": "hard"},
    "shrinkage": {"n_clusters": 4, "tau": 10.0, "n_init": 2},
    "avengers-pro": {"variant": PAPER, "n_clusters": 4, "top_k": 2, "n_init": 2},
}
#: One bad value per family: ``__init__`` stores it, ``fit`` refuses it naming the parameter.
BAD: dict[str, tuple[str, Any]] = {
    "knn": ("n_neighbors", 0),
    "logistic": ("C", -1.0),
    "task": ("mode", "soft-ish"),
    "shrinkage": ("tau", -3.0),
    "avengers-pro": ("top_k", 0),
}


def test_every_family_has_small_settings_and_a_bad_value() -> None:
    assert set(SMALL) == set(BAD) == set(FAMILIES)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_get_params_set_params_and_clone_round_trip(family: str) -> None:
    estimator = FAMILIES[family](**SMALL[family])
    params = estimator.get_params(deep=True)
    # Every argument of __init__ is a parameter, stored under its own name and value.
    assert {key: params[key] for key in SMALL[family]} == SMALL[family]
    again = type(estimator)(**estimator.get_params(deep=False))
    assert again.get_params() == params and again is not estimator
    cloned = clone(estimator)
    assert type(cloned) is type(estimator) and cloned.get_params() == params
    # A clone is unfitted and independent: fitting the clone leaves the original unfitted.
    embeddings, matrix = tiny(n=60)
    cloned.fit(embeddings, matrix)
    assert hasattr(cloned, "models_") and not hasattr(estimator, "models_")
    assert clone(cloned).get_params() == params and not hasattr(clone(cloned), "models_")
    name = sorted(SMALL[family])[0]
    assert estimator.set_params(**{name: BAD[family][1]}) is estimator
    assert estimator.get_params()[name] == BAD[family][1]
    with pytest.raises(ValueError, match="unknown parameter 'nope'"):
        estimator.set_params(nope=1)


def test_neighbour_index_follows_the_contract_and_nested_params_reach_it() -> None:
    index = NeighbourIndex(n_lists=4, n_probe=2)
    assert (
        clone(index).get_params()
        == index.get_params()
        == {
            "block": 1024,
            "n_jobs": 1,
            "n_lists": 4,
            "n_probe": 2,
            "seed": 0,
        }
    )
    index = NeighbourIndex(n_probe=0)  # stored; refused when fitted
    with pytest.raises(ConfigError, match="NeighbourIndex.n_probe"):
        index.fit(np.eye(3, dtype=np.float32))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_init_stores_a_bad_value_and_fit_refuses_it(family: str) -> None:
    name, value = BAD[family]
    estimator = FAMILIES[family](**{**SMALL[family], name: value})  # no error here
    assert getattr(estimator, name) == value
    embeddings, matrix = tiny(n=60)
    with pytest.raises(ConfigError, match=rf"^{type(estimator).__name__}\.{name}: "):
        estimator.fit(embeddings, matrix)
    # Built from the config, the same value is refused at once, naming the config key.
    params = {**SMALL[family], name: value}
    if family == "avengers-pro":
        params["variant"] = {"name": "paper", "normalisation": "paper", "aggregation": "paper"}
    with pytest.raises(ConfigError, match=rf"^families\.{family}\.{name}: "):
        make_estimator(family, params)


# --------------------------------------------------------------------------- the normalisation policy


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_scaling_queries_changes_no_decision(family: str) -> None:
    """Every method that takes embeddings L2-normalises them (geometry.unit_queries): a query scaled
    by 3 (or trained on at another scale) is routed as the query itself."""
    embeddings, matrix = tiny(n=200, seed=4)
    train, queries = embeddings[:140], embeddings[140:]
    sub = matrix.subset(np.arange(140))
    fitted = FAMILIES[family](**SMALL[family]).fit(train, sub)
    available = matrix.available[140:]
    choices = fitted.choose(queries, ALPHAS, available)
    assert (choices[0] != choices[-1]).any()  # alpha matters here, so equal choices are no accident
    np.testing.assert_array_equal(fitted.choose(3.0 * queries, ALPHAS, available), choices)
    np.testing.assert_allclose(fitted.predict(3.0 * queries), fitted.predict(queries), rtol=1e-5)
    assert len(fitted.describe(3.0 * queries[:3])) == 3
    scaled_train = FAMILIES[family](**SMALL[family]).fit(train * 3.0, sub)
    np.testing.assert_array_equal(scaled_train.choose(queries, ALPHAS, available), choices)


def test_a_query_without_direction_is_refused() -> None:
    embeddings, matrix = tiny(n=60)
    fitted = KNNRouter(n_neighbors=3).fit(embeddings, matrix)
    broken = embeddings[:3].copy()
    broken[1] = 0.0
    with pytest.raises(DataError, match="row 1.*zeros"):
        fitted.choose(broken, ALPHAS)
    broken[1, 0] = np.inf
    with pytest.raises(DataError, match="row 1.*not finite"):
        fitted.predict(broken)
