"""Avengers-Pro as one estimator: the sweep, the family runs and an exported folder all route with it.

:class:`AvengersProEstimator` is fitted one of three ways, and routes the same way whichever:

* ``fit(embeddings, matrix)``: KMeans on the training embeddings (seeded, memoised), then the
  per-cluster statistics: the family runs and cross-validation;
* :meth:`AvengersProEstimator.from_clusters`: on given centroids and labels (the pipeline's stored
  KMeans fits): the sweep and the export writer;
* :meth:`AvengersProEstimator.from_statistics`: on centroids and statistics, what an exported folder
  stores: :class:`avengers_pro.export.restore.ClusterRouter` holds one.

Its choice is not a function of one expected score and cost per (query, model): the official
variant ranks models within each cluster per alpha and sums softmax-weighted reciprocal ranks, and
the paper variant sums per-cluster normalised scores. So :meth:`~AvengersProEstimator.route` (and
:meth:`~AvengersProEstimator.choose`, its first choice) keeps the exact computation of
:mod:`avengers_pro.routing.scores`, while :meth:`~AvengersProEstimator.predict` gives the
softmax-weighted mean accuracy and cost of the query's nearest clusters, for inspection and for
anything that needs predictions. Queries are L2-normalised (in float64) like every estimator's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from avengers_pro.errors import ConfigError
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.base import RouterEstimator, check_int, model_means, weighted_means
from avengers_pro.routing.geometry import cached_clusters, cluster_distances, nearest_clusters
from avengers_pro.routing.scores import (
    ClusterStats,
    Normalisation,
    Variant,
    aggregate,
    cluster_statistics,
    performance_efficiency,
    rank_positions,
    route,
)


class AvengersProEstimator(RouterEstimator):
    """KMeans clusters + per-cluster statistics + the variant's aggregation, as the pipeline's sweep.

    Parameters
    ----------
    variant
        Normalisation, aggregation and distance.
    n_clusters
        KMeans clusters (``clustering.n_clusters``); set from the centroids by :meth:`from_clusters`.
    top_k, beta, max_router
        As ``avengers.top_k``, ``avengers.beta`` and ``sweep.max_router``: nearest clusters a query is
        routed by (the paper's p), the softmax temperature over their distances, models per query.
    seed, n_init
        KMeans seed and restarts (the pipeline uses the split's seed and 10).

    Attributes
    ----------
    centroids_ : np.ndarray
        (K, dim) centroids.
    stats_ : ClusterStats
        Per-cluster statistics of the training queries.
    models_ : list[str]
        Model names, in the statistics' column order.
    mean_score_, mean_cost_ : np.ndarray
        (M,) each model's mean over the training queries (:meth:`predict`'s fallback).
    """

    family = "avengers-pro"
    # Distances to the centroids are computed in float64, as the official code's.
    query_dtype = np.float64

    def __init__(
        self,
        variant: Variant,
        n_clusters: int = 25,
        top_k: int = 3,
        beta: float = 9.0,
        max_router: int = 1,
        seed: int = 0,
        n_init: int = 10,
    ) -> None:
        self.variant = variant
        self.n_clusters = n_clusters
        self.top_k = top_k
        self.beta = beta
        self.max_router = max_router
        self.seed = seed
        self.n_init = n_init

    @property
    def normalisation(self) -> Normalisation:  # type: ignore[override]
        """The variant's normalisation (what :func:`~avengers_pro.routing.base.select_models` would use)."""
        return self.variant.normalisation

    def check_params(self, where: str | None = None) -> None:
        """Refuse bad hyperparameters (a ``ConfigError`` naming ``where.param``)."""
        where = where or type(self).__name__
        if not isinstance(self.variant, Variant):
            raise ConfigError(f"{where}.variant: expected a Variant, got {self.variant!r}")
        check_int(self.n_clusters, f"{where}.n_clusters", 1)
        check_int(self.top_k, f"{where}.top_k", 1)
        check_int(self.max_router, f"{where}.max_router", 1)
        check_int(self.n_init, f"{where}.n_init", 1)
        beta: object = self.beta
        if isinstance(beta, bool) or not isinstance(beta, (int, float, np.number)) or not math.isfinite(beta):
            raise ConfigError(f"{where}.beta: must be a finite number, got {beta!r}")

    # ----------------------------------------------------------------------- fitting

    def fit(self, embeddings: np.ndarray, matrix: RecordMatrix) -> Self:
        """Fit KMeans (seeded) on the training embeddings, then the per-cluster statistics."""
        data = self._training_data(embeddings, matrix)
        clustering = cached_clusters(data, int(self.n_clusters), int(self.seed), int(self.n_init))
        return self._fit_clusters(clustering.centroids, clustering.labels, matrix)

    @classmethod
    def from_clusters(
        cls,
        variant: Variant,
        centroids: np.ndarray,
        labels: np.ndarray,
        matrix: RecordMatrix,
        *,
        top_k: int = 3,
        beta: float = 9.0,
        max_router: int = 1,
    ) -> AvengersProEstimator:
        """Fitted on given KMeans centroids (K, dim) and the (n,) labels of ``matrix``'s queries."""
        estimator = cls(variant, n_clusters=len(centroids), top_k=top_k, beta=beta, max_router=max_router)
        estimator.check_params()
        return estimator._fit_clusters(centroids, labels, matrix)

    @classmethod
    def from_statistics(
        cls,
        variant: Variant,
        centroids: np.ndarray,
        stats: ClusterStats,
        models: Sequence[str],
        *,
        top_k: int = 3,
        beta: float = 9.0,
        max_router: int = 1,
    ) -> AvengersProEstimator:
        """Fitted from what an exported folder stores: centroids (K, dim) and (K, M) statistics."""
        estimator = cls(variant, n_clusters=len(centroids), top_k=top_k, beta=beta, max_router=max_router)
        estimator.check_params()
        estimator._set_fitted(centroids, stats, models)
        count = stats.count.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = [(np.nan_to_num(value) * stats.count).sum(axis=0) / count for value in (stats.accuracy, stats.cost)]
        estimator.mean_score_, estimator.mean_cost_ = (np.where(count > 0, mean, np.nan) for mean in means)
        return estimator

    def _fit_clusters(self, centroids: np.ndarray, labels: np.ndarray, matrix: RecordMatrix) -> Self:
        centroids = np.asarray(centroids, dtype=np.float64)
        if centroids.ndim != 2:
            raise ValueError(f"centroids must be (K, dim), got shape {centroids.shape}")
        stats = cluster_statistics(labels, matrix.scores, matrix.costs, n_clusters=centroids.shape[0])
        self._set_fitted(centroids, stats, matrix.models)
        self.mean_score_, self.mean_cost_ = model_means(matrix)
        return self

    def _set_fitted(self, centroids: np.ndarray, stats: ClusterStats, models: Sequence[str]) -> None:
        self.centroids_ = np.ascontiguousarray(centroids, dtype=np.float64)
        self.stats_ = stats
        self.models_ = [str(model) for model in models]
        self.n_features_in_ = int(self.centroids_.shape[1])
        self._scores_memo: tuple[bytes, np.ndarray] | None = None

    # ----------------------------------------------------------------------- routing

    def cluster_scores(self, alphas: np.ndarray | Sequence[float]) -> np.ndarray:
        """Performance-efficiency scores x, (A, K, M), of the fitted clusters (the last alphas' kept)."""
        self._check_fitted()
        alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
        key = alphas.tobytes()
        memo = self._scores_memo
        if memo is None or memo[0] != key:
            # An exported router routes at one alpha call after call: its x is computed once.
            memo = (key, performance_efficiency(self.stats_, alphas, self.variant.normalisation))
            self._scores_memo = memo
        return memo[1]

    def nearest(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The normalised queries, their ``top_k`` nearest clusters (n, top_k) and softmax weights."""
        self._check_fitted()
        queries = self.queries(embeddings)
        idx, weights = nearest_clusters(
            queries, self.centroids_, int(self.top_k), float(self.beta), distance=self.variant.distance
        )
        return queries, idx, weights

    def route(
        self,
        embeddings: np.ndarray,
        alphas: np.ndarray | float,
        available: np.ndarray | None = None,
        max_router: int | None = None,
    ) -> np.ndarray:
        """Route queries for every alpha, by :func:`~avengers_pro.routing.scores.route`.

        Parameters
        ----------
        embeddings
            (n, dim) query embeddings.
        alphas
            An array of alphas, or one alpha.
        available
            Optional (n, M) mask of the models with a record for each query.
        max_router
            Models per query (default: the estimator's ``max_router``).

        Returns
        -------
        np.ndarray
            (A, n, max_router) model indices, or (n, max_router) for a scalar alpha; -1 pads slots
            for which no model is available.
        """
        scalar = np.ndim(alphas) == 0
        x = self.cluster_scores(np.atleast_1d(np.asarray(alphas, dtype=np.float64)))
        _, idx, weights = self.nearest(embeddings)
        choices = route(
            x,
            idx,
            weights,
            self.variant,
            available=available,
            max_router=int(self.max_router if max_router is None else max_router),
            tie_accuracy=self.stats_.accuracy,
        )
        return choices[0] if scalar else choices

    def choose(self, embeddings: np.ndarray, alphas: np.ndarray, available: np.ndarray | None = None) -> np.ndarray:
        """(A, n) choices by the variant's own aggregation: the first column of :meth:`route`."""
        return self.route(embeddings, np.atleast_1d(np.asarray(alphas, dtype=np.float64)), available)[..., 0]

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, M) softmax(-beta d)-weighted mean accuracy and cost of the ``top_k`` nearest clusters."""
        _, idx, weights = self.nearest(embeddings)
        stats = self.stats_
        recorded = stats.count[idx] > 0
        score, _ = weighted_means(weights, stats.accuracy[idx], recorded, self.mean_score_)
        cost, _ = weighted_means(weights, stats.cost[idx], recorded, self.mean_cost_)
        return score, cost

    # ----------------------------------------------------------------------- explanation

    def describe(self, embeddings: np.ndarray) -> list[dict[str, Any]]:
        """Per query, ``clusters``: the ``top_k`` nearest, nearest first, each with its ``cluster``,
        ``distance`` (the variant's d, :func:`~avengers_pro.routing.geometry.cluster_distances`),
        ``weight`` = softmax(-beta * d) over them and ``n_train_queries``.
        """
        queries, idx, weights = self.nearest(embeddings)
        distance = np.take_along_axis(cluster_distances(queries, self.centroids_, self.variant.distance), idx, axis=1)
        sizes = self.stats_.count.max(axis=1)  # every training query has a record for some model
        return [
            {
                "clusters": [
                    {
                        "cluster": int(c),
                        "distance": float(distance[q, j]),
                        "weight": float(weights[q, j]),
                        "n_train_queries": int(sizes[c]),
                    }
                    for j, c in enumerate(idx[q])
                ]
            }
            for q in range(len(queries))
        ]

    def explain(self, embeddings: np.ndarray, alpha: float, max_router: int | None = None) -> list[dict[str, Any]]:
        """The routing of each query at one alpha, step by step.

        Returns
        -------
        list[dict]
            Per query: ``model`` (the choice), ``models`` (the ``max_router`` choices, best first),
            ``clusters`` (as :meth:`describe`, each also with, per model, ``x``, its
            performance-efficiency score there, and ``rank``, 0 = best) and ``scores`` (each model's
            aggregated score S, :func:`~avengers_pro.routing.scores.aggregate`; the choice has the
            highest S; ties as in :func:`~avengers_pro.routing.scores.route`).
        """
        x_all = self.cluster_scores([alpha])
        choices = self.route(embeddings, float(alpha), max_router=max_router)
        _, idx, weights = self.nearest(embeddings)
        x, ranks = x_all[0], rank_positions(x_all)[0]
        totals = aggregate(x_all, idx, weights, self.variant)[0]  # the S that route() ranks
        models = self.models_
        explanations: list[dict[str, Any]] = []
        for q, described in enumerate(self.describe(embeddings)):
            for cluster in described["clusters"]:
                c = cluster["cluster"]
                cluster["x"] = {m: float(x[c, i]) for i, m in enumerate(models)}
                cluster["rank"] = {m: int(ranks[c, i]) for i, m in enumerate(models)}
            chosen = [models[i] for i in choices[q] if i >= 0]
            explanations.append(
                {
                    "model": chosen[0],
                    "models": chosen,
                    "clusters": described["clusters"],
                    "scores": {m: float(totals[q, i]) for i, m in enumerate(models)},
                }
            )
        return explanations
