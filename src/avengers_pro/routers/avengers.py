"""Avengers-Pro's variants behind the same estimator interface.

Their choice is not a function of one expected score and cost per (query, model): the official
variant ranks models within each cluster per alpha and sums softmax-weighted reciprocal ranks, and
the paper variant sums per-cluster normalised scores. So :meth:`AvengersProEstimator.choose` keeps the
exact computation of :mod:`avengers_pro.router` (the one the sweep runs), while :meth:`predict` gives
the softmax-weighted mean accuracy and cost of the query's nearest clusters, for inspection and for
anything that needs predictions.
"""

from __future__ import annotations

import numpy as np

from ..cluster import l2_normalise, nearest_clusters
from ..io import RecordMatrix
from ..router import AvengersProRouter, Variant
from .base import (
    RouterEstimator,
    cached_clusters,
    model_means,
    weighted_means,
)


class AvengersProEstimator(RouterEstimator):
    """KMeans clusters + per-cluster statistics + the variant's aggregation, as the pipeline's sweep.

    Parameters
    ----------
    variant
        Normalisation, aggregation and distance.
    n_clusters, top_k, beta
        As ``clustering.n_clusters``, ``router.top_k`` and ``router.beta``.
    seed, n_init
        KMeans seed and restarts (the pipeline uses the split's seed and 10).
    """

    family = "avengers-pro"

    def __init__(
        self, variant: Variant, n_clusters: int = 25, top_k: int = 3, beta: float = 9.0, seed: int = 0, n_init: int = 10
    ) -> None:
        super().__init__(variant.normalisation)
        self.variant = variant
        self.n_clusters = int(n_clusters)
        self.top_k = int(top_k)
        self.beta = float(beta)
        self.seed = int(seed)
        self.n_init = int(n_init)

    def get_params(self) -> dict[str, object]:
        """The hyperparameters, the variant by its name."""
        params = super().get_params()
        params["variant"] = self.variant.name
        return params

    def fit(self, embeddings: np.ndarray, matrix: RecordMatrix) -> AvengersProEstimator:
        """Fit KMeans (seeded) and the per-cluster statistics."""
        data = self._training_data(embeddings, matrix)
        clustering = cached_clusters(data, self.n_clusters, self.seed, self.n_init)
        self.router_ = AvengersProRouter(self.variant, top_k=self.top_k, beta=self.beta)
        self.router_.fit(clustering.centroids, clustering.labels, matrix.scores, matrix.costs)
        self.mean_score_, self.mean_cost_ = model_means(matrix)
        self.models_ = list(matrix.models)
        return self

    def choose(self, embeddings: np.ndarray, alphas: np.ndarray, available: np.ndarray | None = None) -> np.ndarray:
        """(A, n) choices by the variant's own aggregation (exactly :meth:`AvengersProRouter.predict`)."""
        self._check_fitted()
        alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
        return self.router_.predict(np.asarray(embeddings), alphas, available=available)[..., 0]

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, M) softmax(-beta d)-weighted mean accuracy and cost of the ``top_k`` nearest clusters."""
        self._check_fitted()
        queries = l2_normalise(np.asarray(embeddings, dtype=np.float64))
        idx, weights = nearest_clusters(
            queries, self.router_.centroids_, self.top_k, self.beta, distance=self.variant.distance
        )
        stats = self.router_.stats_
        recorded = stats.count[idx] > 0
        score, _ = weighted_means(weights, stats.accuracy[idx], recorded, self.mean_score_)
        cost, _ = weighted_means(weights, stats.cost[idx], recorded, self.mean_cost_)
        return score, cost
