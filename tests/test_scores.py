"""Router core: statistics, scores, ranks, nearest clusters and routing, on cases worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from avengers_pro.errors import ConfigError, DataError
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.avengers import AvengersProEstimator
from avengers_pro.routing.geometry import nearest_clusters
from avengers_pro.routing.scores import (
    ClusterStats,
    Variant,
    aggregate,
    cluster_statistics,
    performance_efficiency,
    rank_positions,
    route,
)

PAPER = Variant("paper", "paper", "paper")
PAPER_WEIGHTED = Variant("paper-weighted", "paper", "paper", weighted=True)
OFFICIAL = Variant("official", "official", "official")


def stats_of(
    accuracy: list[list[float]], cost: list[list[float]], count: list[list[int]] | None = None
) -> ClusterStats:
    acc = np.array(accuracy, dtype=float)
    return ClusterStats(
        accuracy=acc,
        cost=np.array(cost, dtype=float),
        count=np.ones(acc.shape, dtype=np.int64) * 10 if count is None else np.array(count),
    )


def fitted_router(
    variant: Variant, centroids: np.ndarray, labels: np.ndarray, scores: np.ndarray, costs: np.ndarray, **settings: int
) -> AvengersProEstimator:
    """The Avengers-Pro estimator on given clusters, as the sweep fits it."""
    n = len(scores)
    matrix = RecordMatrix(
        query_ids=np.array([f"q{i}" for i in range(n)], dtype=object),
        datasets=np.array(["d"] * n, dtype=object),
        models=[f"m{m}" for m in range(scores.shape[1])],
        scores=scores,
        costs=costs,
    )
    return AvengersProEstimator.from_clusters(variant, centroids, labels, matrix, **settings)


# --------------------------------------------------------------------------- Variant


def test_variant_from_default_config() -> None:
    paper = Variant.from_config("paper", {"normalisation": "paper", "aggregation": "paper", "weighted": False})
    official = Variant.from_config("official", {"normalisation": "official", "aggregation": "official"})
    assert paper == PAPER
    assert official == OFFICIAL
    assert official.weighted is False


@pytest.mark.parametrize(
    "spec, key",
    [
        ({"normalisation": "minmax", "aggregation": "paper"}, "normalisation"),
        ({"normalisation": "paper", "aggregation": "sum"}, "aggregation"),
        ({"aggregation": "paper"}, "normalisation"),
        ({"normalisation": "paper", "aggregation": "paper", "beta": 3}, "beta"),
        ({"normalisation": "paper", "aggregation": "official", "weighted": True}, "weighted"),
        ({"normalisation": "paper", "aggregation": "paper", "weighted": "yes"}, "weighted"),
    ],
)
def test_variant_rejects_bad_specs_naming_the_key(spec: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        Variant.from_config("v", spec)


# --------------------------------------------------------------------------- cluster statistics


def test_cluster_statistics_by_hand_with_missing_records_and_an_empty_cluster() -> None:
    labels = np.array([0, 0, 1])
    scores = np.array([[1.0, 0.0], [0.0, np.nan], [1.0, 1.0]])
    costs = np.array([[1.0, 2.0], [3.0, np.nan], [2.0, 4.0]])
    stats = cluster_statistics(labels, scores, costs, n_clusters=3)
    np.testing.assert_array_equal(stats.count, [[2, 1], [1, 1], [0, 0]])
    np.testing.assert_allclose(stats.accuracy[:2], [[0.5, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(stats.cost[:2], [[2.0, 2.0], [2.0, 4.0]])
    assert np.isnan(stats.accuracy[2]).all() and np.isnan(stats.cost[2]).all()


def test_cluster_statistics_rejects_bad_labels_and_costs() -> None:
    scores = np.array([[1.0], [0.0]])
    costs = np.array([[1.0], [1.0]])
    with pytest.raises(DataError, match="row 1.*cluster"):
        cluster_statistics(np.array([0, 2]), scores, costs, n_clusters=2)
    with pytest.raises(DataError, match="cost"):
        cluster_statistics(np.array([0, 1]), scores, np.array([[1.0], [np.nan]]), n_clusters=2)
    with pytest.raises(DataError, match="cost"):
        cluster_statistics(np.array([0, 1]), scores, np.array([[1.0], [-0.5]]), n_clusters=2)


# --------------------------------------------------------------------------- performance-efficiency


def test_scores_by_hand_both_normalisations() -> None:
    # acc 0.8, 0.6, 0.4 -> acc_norm 1, 0.5, 0
    # paper cost 2, 4, 10 -> cost_norm 0, 0.25, 1 -> term 1, 0.75, 0
    # official cost / max 0.2, 0.4, 1 -> term 0.8, 0.6, 0
    stats = stats_of([[0.8, 0.6, 0.4]], [[2.0, 4.0, 10.0]])
    alphas = np.array([0.0, 0.5, 1.0])
    paper = performance_efficiency(stats, alphas, "paper")
    official = performance_efficiency(stats, alphas, "official")
    assert paper.shape == (3, 1, 3)
    np.testing.assert_allclose(paper[:, 0], [[1, 0.75, 0], [1, 0.625, 0], [1, 0.5, 0]])
    np.testing.assert_allclose(official[:, 0], [[0.8, 0.6, 0], [0.9, 0.55, 0], [1, 0.5, 0]])


def test_all_tied_accuracy_gives_every_model_acc_norm_one() -> None:
    stats = stats_of([[0.5, 0.5]], [[1.0, 2.0]])
    alphas = np.array([0.5, 1.0])
    # paper: acc_norm 1, cost term 1, 0; official: cost term 0.5, 0
    np.testing.assert_allclose(performance_efficiency(stats, alphas, "paper")[:, 0], [[1, 0.5], [1, 1]])
    np.testing.assert_allclose(performance_efficiency(stats, alphas, "official")[:, 0], [[0.75, 0.5], [1, 1]])


def test_zero_max_cost_gives_cost_term_one() -> None:
    stats = stats_of([[1.0, 0.0]], [[0.0, 0.0]])
    alphas = np.array([0.0, 0.5])
    for normalisation in ("paper", "official"):
        np.testing.assert_allclose(performance_efficiency(stats, alphas, normalisation)[:, 0], [[1, 1], [1, 0.5]])


def test_equal_nonzero_costs_differ_between_normalisations() -> None:
    stats = stats_of([[1.0, 0.0]], [[3.0, 3.0]])
    alphas = np.array([0.0])
    np.testing.assert_allclose(performance_efficiency(stats, alphas, "paper")[0, 0], [1, 1])
    np.testing.assert_allclose(performance_efficiency(stats, alphas, "official")[0, 0], [0, 0])


def test_one_model() -> None:
    stats = stats_of([[0.3]], [[2.0]])
    alphas = np.array([0.0, 0.4, 1.0])
    np.testing.assert_allclose(performance_efficiency(stats, alphas, "paper")[:, 0, 0], [1, 1, 1])
    np.testing.assert_allclose(performance_efficiency(stats, alphas, "official")[:, 0, 0], [0, 0.4, 1])


def test_model_without_records_is_left_out_of_min_max_and_scores_zero() -> None:
    stats = stats_of(
        [[0.8, np.nan, 0.4], [np.nan, np.nan, np.nan]],
        [[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]],
        count=[[5, 0, 5], [0, 0, 0]],
    )
    alphas = np.array([0.5])
    paper = performance_efficiency(stats, alphas, "paper")[0]
    official = performance_efficiency(stats, alphas, "official")[0]
    np.testing.assert_allclose(paper, [[1, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(official, [[0.5 + 0.5 * (1 - 1 / 3), 0, 0], [0, 0, 0]])
    assert np.isfinite(paper).all() and np.isfinite(official).all()


def test_alphas_outside_unit_interval_are_refused() -> None:
    # An algorithm argument, not a config key (the schema bounds sweep.alphas): ValueError naming it.
    with pytest.raises(ValueError, match=r"alphas: .*\[1\.5\]"):
        performance_efficiency(stats_of([[1.0]], [[1.0]]), np.array([1.5]), "paper")


# --------------------------------------------------------------------------- ranks and nearest clusters


def test_rank_positions_break_ties_by_model_index() -> None:
    x = np.array([[[0.5, 0.9, 0.5, 0.1], [0.0, 0.0, 0.0, 0.0]]])
    np.testing.assert_array_equal(rank_positions(x), [[[1, 0, 2, 3], [0, 1, 2, 3]]])


def test_nearest_clusters_use_unnormalised_centroids_and_softmax_over_top_k() -> None:
    # d = 1 - q.c = 0.5, 1.0, 0.4: the short centroid along q is NOT the nearest.
    centroids = np.array([[0.5, 0.0], [0.0, 1.0], [0.6, 0.8]])
    idx, weights = nearest_clusters(np.array([[1.0, 0.0]]), centroids, top_k=2, beta=9.0)
    np.testing.assert_array_equal(idx, [[2, 0]])
    expected = np.exp(-9 * np.array([0.4, 0.5]))
    np.testing.assert_allclose(weights, [expected / expected.sum()])
    # top_k is clipped to K; beta 0 gives uniform weights; ties keep cluster order.
    idx, weights = nearest_clusters(np.array([[0.0, 0.0]]), centroids, top_k=10, beta=0.0)
    np.testing.assert_array_equal(idx, [[0, 1, 2]])
    np.testing.assert_allclose(weights, [[1 / 3] * 3])


def test_euclidean_distance_is_kmeans_assignment_and_can_disagree_with_dot() -> None:
    # Same centroids as above: by Euclidean distance the short centroid along q IS the nearest.
    centroids = np.array([[0.5, 0.0], [0.0, 1.0], [0.6, 0.8]])
    query = np.array([[1.0, 0.0]])
    idx, weights = nearest_clusters(query, centroids, top_k=3, beta=9.0, distance="euclidean")
    half_squared = ((query - centroids) ** 2).sum(axis=1) / 2  # 0.125, 1.0, 0.4
    np.testing.assert_array_equal(idx, [np.argsort(half_squared)])
    expected = np.exp(-9 * np.sort(half_squared))
    np.testing.assert_allclose(weights, [expected / expected.sum()])
    dot_idx, _ = nearest_clusters(query, centroids, top_k=3, beta=9.0)
    assert dot_idx[0, 0] != idx[0, 0]
    # Random data: always KMeans' own nearest centroid; unit centroids give the dot distance exactly.
    rng = np.random.default_rng(4)
    embeddings = rng.normal(size=(200, 5))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    centroids = rng.normal(size=(9, 5)) * 0.4
    idx, _ = nearest_clusters(embeddings, centroids, top_k=1, beta=9.0, distance="euclidean")
    np.testing.assert_array_equal(idx[:, 0], ((embeddings[:, None] - centroids[None]) ** 2).sum(-1).argmin(1))
    unit = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    for a, b in zip(
        nearest_clusters(embeddings, unit, 3, 9.0, distance="euclidean"), nearest_clusters(embeddings, unit, 3, 9.0)
    ):
        np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match="distance"):
        nearest_clusters(embeddings, centroids, 3, 9.0, distance="cosine")


def test_variant_distance_defaults_to_dot_and_reaches_routing() -> None:
    assert Variant.from_config("v", {"normalisation": "paper", "aggregation": "paper"}).distance == "dot"
    with pytest.raises(ConfigError, match="avengers.variants.v.distance"):
        Variant.from_config("v", {"normalisation": "paper", "aggregation": "paper", "distance": "l1"})
    centroids = np.array([[0.5, 0.0], [0.0, 1.0], [0.6, 0.8]])
    labels = np.array([0, 1, 2])
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # cluster 0 prefers model 0, the others model 1
    costs = np.ones((3, 2))
    query = np.array([[1.0, 0.0]])
    picks = {}
    for distance in ("dot", "euclidean"):
        variant = Variant("v", "paper", "paper", distance=distance)
        router = fitted_router(variant, centroids, labels, scores, costs, top_k=1)
        picks[distance] = int(router.route(query, 1.0)[0, 0])
    assert picks == {"dot": 1, "euclidean": 0}


def test_nearest_clusters_in_chunks_equals_one_pass() -> None:
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(50, 8))
    centroids = rng.normal(size=(6, 8))
    one = nearest_clusters(embeddings, centroids, 3, 9.0)
    chunked = nearest_clusters(embeddings, centroids, 3, 9.0, chunk_size=7)
    np.testing.assert_array_equal(one[0], chunked[0])
    np.testing.assert_allclose(one[1], chunked[1])


# --------------------------------------------------------------------------- routing


# Two clusters, three models. Cluster 0 ranks m0 > m1 > m2, cluster 1 ranks m2 > m1 > m0.
X_TWO_CLUSTERS = np.array([[[0.9, 0.5, 0.1], [0.2, 0.3, 0.8]]])
BOTH = np.array([[0, 1]])


def test_official_aggregation_by_hand() -> None:
    # w = (0.6, 0.4): S = (0.6 + 0.4/3, 0.6/2 + 0.4/2, 0.6/3 + 0.4) = (0.733, 0.5, 0.6) -> m0, then m2
    choices = route(X_TWO_CLUSTERS, BOTH, np.array([[0.6, 0.4]]), OFFICIAL, max_router=2)
    np.testing.assert_array_equal(choices, [[[0, 2]]])
    # w = (0.3, 0.7): S = (0.533, 0.5, 0.8) -> m2
    choices = route(X_TWO_CLUSTERS, BOTH, np.array([[0.3, 0.7]]), OFFICIAL)
    np.testing.assert_array_equal(choices, [[[2]]])


def test_paper_aggregation_by_hand_plain_and_weighted() -> None:
    weights = np.array([[0.3, 0.7]])
    # plain sum: (1.1, 0.8, 0.9) -> m0, then m2 (the weights are ignored)
    np.testing.assert_array_equal(route(X_TWO_CLUSTERS, BOTH, weights, PAPER, max_router=2), [[[0, 2]]])
    # weighted: (0.27 + 0.14, 0.15 + 0.21, 0.03 + 0.56) = (0.41, 0.36, 0.59) -> m2, then m0
    np.testing.assert_array_equal(route(X_TWO_CLUSTERS, BOTH, weights, PAPER_WEIGHTED, max_router=2), [[[2, 0]]])


def test_paper_sum_keeps_magnitudes_official_rank_does_not() -> None:
    # Cluster 0: m0 wins by a hair; cluster 1: m1 wins by far. Equal weights.
    x = np.array([[[0.51, 0.50], [0.0, 1.0]]])
    weights = np.array([[0.5, 0.5]])
    assert route(x, BOTH, weights, PAPER)[0, 0, 0] == 1
    # official: both models get 1 + 1/2 -> tie -> the lower index
    assert route(x, BOTH, weights, OFFICIAL)[0, 0, 0] == 0


@pytest.mark.parametrize("variant", [PAPER, PAPER_WEIGHTED, OFFICIAL])
def test_ties_go_to_the_lower_model_index(variant: Variant) -> None:
    x = np.full((1, 2, 4), 0.5)
    choices = route(x, BOTH, np.array([[0.5, 0.5]]), variant, max_router=3)
    np.testing.assert_array_equal(choices, [[[0, 1, 2]]])
    np.testing.assert_array_equal(route(x, BOTH, np.array([[0.5, 0.5]]), variant), [[[0]]])


@pytest.mark.parametrize("variant", [PAPER, PAPER_WEIGHTED, OFFICIAL])
def test_unavailable_models_are_never_chosen(variant: Variant) -> None:
    idx = np.array([[0, 1]] * 3)
    weights = np.array([[0.6, 0.4]] * 3)
    available = np.array([[False, True, True], [False, False, True], [False, False, False]])
    choices = route(X_TWO_CLUSTERS, idx, weights, variant, available=available, max_router=2)
    assert choices.shape == (1, 3, 2)
    assert choices[0, 0, 0] in (1, 2) and choices[0, 0, 1] in (1, 2)
    np.testing.assert_array_equal(choices[0, 1], [2, -1])  # fewer available models than slots: -1
    np.testing.assert_array_equal(choices[0, 2], [-1, -1])
    # More slots than models: the extra slots are -1 too.
    np.testing.assert_array_equal(route(X_TWO_CLUSTERS, idx[:1], weights[:1], variant, max_router=4)[0, 0, 3], -1)


def test_route_in_chunks_equals_one_pass() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((5, 4, 6))
    idx = rng.integers(0, 4, size=(40, 2))
    weights = rng.dirichlet([1, 1], size=40)
    available = rng.random((40, 6)) > 0.2
    for variant in (PAPER, PAPER_WEIGHTED, OFFICIAL):
        one = route(x, idx, weights, variant, available=available, max_router=2)
        chunked = route(x, idx, weights, variant, available=available, max_router=2, chunk_size=3)
        np.testing.assert_array_equal(one, chunked)


def test_aggregate_by_hand() -> None:
    weights = np.array([[0.6, 0.4]])
    # The sums worked out above: official (0.733, 0.5, 0.6), paper (1.1, 0.8, 0.9).
    np.testing.assert_allclose(
        aggregate(X_TWO_CLUSTERS, BOTH, weights, OFFICIAL), [[[0.6 + 0.4 / 3, 0.6 / 2 + 0.4 / 2, 0.6 / 3 + 0.4]]]
    )
    np.testing.assert_allclose(aggregate(X_TWO_CLUSTERS, BOTH, weights, PAPER), [[[1.1, 0.8, 0.9]]])
    np.testing.assert_allclose(
        aggregate(X_TWO_CLUSTERS, BOTH, weights, PAPER_WEIGHTED), [[[0.54 + 0.08, 0.3 + 0.12, 0.06 + 0.32]]]
    )


def random_routing_problem(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scores x of 4 alphas x 9 clusters x 6 models (continuous: no ties in S), 3 nearest clusters per query."""
    rng = np.random.default_rng(seed)
    x = rng.random((4, 9, 6))
    idx = np.stack([rng.permutation(9)[:3] for _ in range(n)])
    weights = rng.dirichlet([1, 1, 1], size=n)
    accuracy = rng.random((9, 6))
    return x, idx, weights, accuracy


@pytest.mark.parametrize("variant", [PAPER, PAPER_WEIGHTED, OFFICIAL])
def test_aggregate_is_the_sum_over_the_nearest_clusters(variant: Variant) -> None:
    x, idx, weights, _ = random_routing_problem(2)
    contribution = 1.0 / (rank_positions(x) + 1.0) if variant.aggregation == "official" else x
    expected = np.zeros((x.shape[0], len(idx), x.shape[2]))
    for q in range(len(idx)):  # a plain loop, the definition of S
        for j, cluster in enumerate(idx[q]):
            expected[:, q] += contribution[:, cluster] * (weights[q, j] if variant.uses_weights else 1.0)
    np.testing.assert_allclose(aggregate(x, idx, weights, variant), expected, rtol=1e-12)
    np.testing.assert_array_equal(
        aggregate(x, idx, weights, variant, chunk_size=7), aggregate(x, idx, weights, variant)
    )


@pytest.mark.parametrize("variant", [PAPER, PAPER_WEIGHTED, OFFICIAL])
def test_route_orders_models_by_the_aggregated_score(variant: Variant) -> None:
    """route() ranks aggregate()'s S: its full order sorts S descending, its first choice is the argmax."""
    x, idx, weights, accuracy = random_routing_problem(5)
    scores = aggregate(x, idx, weights, variant)
    n_models = x.shape[2]
    order = route(x, idx, weights, variant, max_router=n_models, tie_accuracy=accuracy)
    ranked = np.take_along_axis(scores, order, axis=-1)
    assert (np.diff(ranked, axis=-1) <= 0).all()
    np.testing.assert_array_equal(np.sort(order, axis=-1), np.broadcast_to(np.arange(n_models), order.shape))
    if variant.aggregation == "official":
        # Reciprocal ranks tie often; the winner still holds the maximum S.
        assert (ranked[..., 0] == scores.max(axis=-1)).all()
    else:
        np.testing.assert_array_equal(order[..., 0], scores.argmax(axis=-1))
    np.testing.assert_array_equal(route(x, idx, weights, variant, tie_accuracy=accuracy)[..., 0], order[..., 0])


# --------------------------------------------------------------------------- the estimator


@pytest.mark.parametrize("variant", [PAPER, OFFICIAL])
def test_alpha_one_picks_most_accurate_and_alpha_zero_the_cheapest(variant: Variant) -> None:
    # One cluster; model accuracies 0.6, 0.8, 0.6 and costs 0.5, 3, 1 over five training queries.
    scores = np.array([[1, 1, 1], [1, 1, 0], [0, 1, 1], [1, 1, 1], [0, 0, 0]], dtype=float)
    costs = np.tile([0.5, 3.0, 1.0], (5, 1))
    router = fitted_router(variant, np.array([[1.0, 0.0]]), np.zeros(5, int), scores, costs, top_k=3, beta=9.0)
    np.testing.assert_allclose(router.stats_.accuracy, [[0.6, 0.8, 0.6]])
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    choices = router.route(queries, np.array([0.0, 1.0]))
    assert choices.shape == (2, 2, 1)
    np.testing.assert_array_equal(choices[0, :, 0], [0, 0])  # alpha 0: the cheapest
    np.testing.assert_array_equal(choices[1, :, 0], [1, 1])  # alpha 1: the most accurate
    assert router.route(queries, 1.0).shape == (2, 1)
    assert router.cluster_scores(np.array([0.2, 0.3])).shape == (2, 1, 3)


def test_predict_before_fit_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="fit"):
        AvengersProEstimator(OFFICIAL).route(np.zeros((1, 2)), 0.5)


# --------------------------------------------------------------------------- ties on data without costs


def test_paper_ties_go_to_the_more_accurate_model_official_ties_to_model_order() -> None:
    # Two clusters; every cost 0, so at alpha = 0 every model scores 1 everywhere (a full tie).
    accuracy = np.array([[0.2, 0.9, 0.5], [0.3, 0.6, 0.8]])
    stats = stats_of(accuracy.tolist(), [[0.0] * 3] * 2)
    x = performance_efficiency(stats, np.array([0.0]), "paper")
    assert (x == 1.0).all()
    weights = np.array([[0.7, 0.3]])
    # Summed accuracy over both clusters: 0.5, 1.5, 1.3 -> model 1 (not model 0, first by name).
    assert route(x, BOTH, weights, PAPER, tie_accuracy=accuracy)[0, 0, 0] == 1
    # Weighted: 0.23, 0.81, 0.59 -> model 1 again; with weights the other way round: 0.27, 0.69, 0.71 -> 2.
    assert route(x, BOTH, weights, PAPER_WEIGHTED, tie_accuracy=accuracy)[0, 0, 0] == 1
    assert route(x, BOTH, np.array([[0.3, 0.7]]), PAPER_WEIGHTED, tie_accuracy=accuracy)[0, 0, 0] == 2
    # max_router: the ranking continues by accuracy among the tied.
    np.testing.assert_array_equal(route(x, BOTH, weights, PAPER, tie_accuracy=accuracy, max_router=3)[0, 0], [1, 2, 0])
    # The official variant keeps the official code's model-order tie-break.
    x_official = performance_efficiency(stats, np.array([0.0]), "official")
    assert route(x_official, BOTH, weights, OFFICIAL, tie_accuracy=accuracy)[0, 0, 0] == 0
    # An untied score is never overruled by accuracy.
    x_untied = x.copy()
    x_untied[0, :, 0] += 0.01
    assert route(x_untied, BOTH, weights, PAPER, tie_accuracy=accuracy)[0, 0, 0] == 0


def test_the_fitted_router_breaks_zero_cost_ties_by_accuracy() -> None:
    scores = np.array([[0, 1, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=float)
    router = fitted_router(PAPER, np.array([[1.0, 0.0]]), np.zeros(4, int), scores, np.zeros((4, 3)), top_k=1)
    assert router.route(np.array([[1.0, 0.0]]), 0.0)[0, 0] == 1  # accuracy 0.75, the best; not model 0
