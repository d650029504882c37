"""Avengers-Pro's variants behind the same estimator interface.

Their choice is not a function of one expected score and cost per (query, model): the official
variant ranks models within each cluster per alpha and sums softmax-weighted reciprocal ranks, and
the paper variant sums per-cluster normalised scores. So :meth:`AvengersProEstimator.choose` keeps the
exact computation of :mod:`avengers_pro.routing.scores` (the one the sweep runs), while :meth:`predict` gives
the softmax-weighted mean accuracy and cost of the query's nearest clusters, for inspection and for
anything that needs predictions.
"""

from __future__ import annotations

import numpy as np

from avengers_pro.io import RecordMatrix
from avengers_pro.routing.base import (
    RouterEstimator,
    cached_clusters,
    model_means,
    weighted_means,
)
from avengers_pro.routing.geometry import l2_normalise, nearest_clusters
from avengers_pro.routing.scores import Variant, cluster_statistics, performance_efficiency, route


class AvengersProEstimator(RouterEstimator):
    """KMeans clusters + per-cluster statistics + the variant's aggregation, as the pipeline's sweep.

    Parameters
    ----------
    variant
        Normalisation, aggregation and distance.
    n_clusters, top_k, beta
        As ``clustering.n_clusters``, ``avengers.top_k`` and ``avengers.beta``.
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


class AvengersProRouter:
    """A small scikit-learn-style estimator around the functions of this module.

    Parameters
    ----------
    variant
        Normalisation and aggregation.
    top_k
        Nearest clusters a query is routed by (the paper's p).
    beta
        Softmax temperature over the distances.
    max_router
        Models returned per query.

    Attributes
    ----------
    centroids_ : np.ndarray
        (K, dim) centroids given to :meth:`fit`.
    stats_ : ClusterStats
        Per-cluster statistics of the training queries.
    """

    def __init__(self, variant: Variant, top_k: int = 3, beta: float = 9.0, max_router: int = 1) -> None:
        self.variant = variant
        self.top_k = top_k
        self.beta = beta
        self.max_router = max_router

    def fit(
        self, centroids: np.ndarray, labels: np.ndarray, scores: np.ndarray, costs: np.ndarray
    ) -> AvengersProRouter:
        """Store the centroids and compute per-cluster statistics of the training queries.

        Parameters
        ----------
        centroids
            (K, dim) KMeans centroids.
        labels
            (n,) cluster label of each training query.
        scores, costs
            (n, M) training scores and costs, NaN where a model has no record.

        Returns
        -------
        AvengersProRouter
            ``self``.
        """
        centroids = np.asarray(centroids, dtype=np.float64)
        if centroids.ndim != 2:
            raise ValueError(f"centroids must be (K, dim), got shape {centroids.shape}")
        self.centroids_ = centroids
        self.stats_ = cluster_statistics(labels, scores, costs, n_clusters=centroids.shape[0])
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "stats_"):
            raise RuntimeError("AvengersProRouter is not fitted yet: call fit() first")

    def scores(self, alphas: np.ndarray) -> np.ndarray:
        """Performance-efficiency scores x, (A, K, M), of the fitted clusters."""
        self._check_fitted()
        return performance_efficiency(
            self.stats_, np.atleast_1d(np.asarray(alphas, dtype=np.float64)), self.variant.normalisation
        )

    def predict(
        self, embeddings: np.ndarray, alphas: np.ndarray | float, available: np.ndarray | None = None
    ) -> np.ndarray:
        """Route queries for every alpha.

        Parameters
        ----------
        embeddings
            (n, dim) L2-normalised query embeddings.
        alphas
            An array of alphas, or one alpha.
        available
            Optional (n, M) mask of the models with a record for each query.

        Returns
        -------
        np.ndarray
            (A, n, max_router) model indices, or (n, max_router) for a scalar alpha; -1 pads slots
            for which no model is available.
        """
        self._check_fitted()
        scalar = np.ndim(alphas) == 0
        x = self.scores(np.atleast_1d(np.asarray(alphas, dtype=np.float64)))
        idx, weights = nearest_clusters(
            embeddings, self.centroids_, self.top_k, self.beta, distance=self.variant.distance
        )
        choices = route(
            x,
            idx,
            weights,
            self.variant,
            available=available,
            max_router=self.max_router,
            tie_accuracy=self.stats_.accuracy,
        )
        return choices[0] if scalar else choices
