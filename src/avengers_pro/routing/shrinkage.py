"""Shrinkage: cluster (or neighbour) means pulled toward the predicted-task mean by how many queries back them.

For a query q in k-means cluster c (nearest centroid in Euclidean distance), and each model m:

``expected[q, m] = (n_cm * mean_cm + tau_m * prior_qm) / (n_cm + tau_m)``

where ``mean_cm`` is the model's mean over the ``n_cm`` training queries of c with a record, and
``prior_qm`` the :class:`~avengers_pro.routing.supervised.TaskRouter` prediction for q (the
probability-weighted dataset means). Score and cost are shrunk alike, each with its own ``tau``.
A cluster backed by few queries falls back toward the task mean; a large cluster keeps its own mean.

``tau = "eb"`` estimates ``tau_m`` by empirical Bayes (method of moments, per model): with ``v_m`` the
pooled within-cluster variance and ``s2_m`` the between-cluster variance of the true cluster means
around their prior, ``s2_m = max(sum_c n_c ((mean_c - prior_c)^2 - v_m / n_c) / sum_c n_c, eps)`` and
``tau_m = v_m / s2_m`` (the normal-normal posterior mean's weight); ``prior_c`` is the mean prior of
the cluster's own training queries. A number fixes ``tau`` for every model; 0 = plain cluster means.

With ``base = "neighbors"`` the local mean is the plain mean over the query's ``n_neighbors`` nearest
training queries (``n_cm`` = those with a record) instead of its cluster's; ``tau`` must then be a
number (neighbourhoods overlap, so the moment estimator above does not apply).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avengers_pro.errors import ConfigError
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.base import RouterEstimator, check_int, check_positive
from avengers_pro.routing.geometry import cached_clusters, nearest_centroid
from avengers_pro.routing.knn import NeighbourMeans
from avengers_pro.routing.scores import Normalisation, cluster_statistics, group_sums
from avengers_pro.routing.supervised import TaskRouter

_MIN_BETWEEN_VARIANCE = 1e-12


def empirical_bayes_strength(
    labels: np.ndarray, values: np.ndarray, recorded: np.ndarray, prior: np.ndarray, n_clusters: int
) -> np.ndarray:
    """(M,) method-of-moments prior strength ``tau = v / s2`` per model (see the module docstring).

    Parameters
    ----------
    labels
        (n,) cluster of each training query.
    values, recorded
        (n, M) values (scores or costs) and which cells have a record.
    prior
        (n, M) each training query's prior (the task-classifier prediction).
    n_clusters
        Number of clusters.
    """
    v0 = np.where(recorded, values, 0.0)

    def per_cluster(x: np.ndarray) -> np.ndarray:
        return group_sums(labels, x, n_clusters)

    count = per_cluster(recorded.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = per_cluster(v0) / count
        prior_mean = per_cluster(np.where(recorded, prior, 0.0)) / count
    within = per_cluster(np.where(recorded, v0**2, 0.0)) - count * np.nan_to_num(mean) ** 2
    n_used = (count > 0).sum(axis=0)
    v = within.sum(axis=0) / np.maximum(count.sum(axis=0) - n_used, 1.0)
    excess = np.where(
        count > 0, (np.nan_to_num(mean) - np.nan_to_num(prior_mean)) ** 2 - v[None, :] / np.maximum(count, 1.0), 0.0
    )
    between = np.maximum((count * excess).sum(axis=0) / np.maximum(count.sum(axis=0), 1.0), _MIN_BETWEEN_VARIANCE)
    return np.maximum(v, 0.0) / between


class ShrinkageRouter(NeighbourMeans, RouterEstimator):
    """Cluster means shrunk toward the predicted-task mean (empirical Bayes or a fixed strength).

    Parameters
    ----------
    n_clusters
        k-means clusters of the training embeddings (``base = "clusters"``).
    base
        ``"clusters"`` or ``"neighbors"``: what the local mean is taken over.
    n_neighbors
        Neighbours of the local mean (``base = "neighbors"``).
    tau
        ``"eb"`` (empirical Bayes, per model) or a fixed prior strength >= 0 in training queries.
    task_C
        ``C`` of the task classifier that gives the prior.
    seed, n_init
        k-means seed and restarts.
    normalisation
        See :func:`avengers_pro.routing.base.select_models`.
    """

    family = "shrinkage"

    def __init__(
        self,
        n_clusters: int = 64,
        tau: float | str = "eb",
        task_C: float = 10.0,
        seed: int = 0,
        n_init: int = 3,
        base: str = "clusters",
        n_neighbors: int = 50,
        normalisation: Normalisation = "official",
    ) -> None:
        self.n_clusters = n_clusters
        self.tau = tau
        self.task_C = task_C
        self.seed = seed
        self.n_init = n_init
        self.base = base
        self.n_neighbors = n_neighbors
        self.normalisation = normalisation

    def check_params(self, where: str | None = None) -> None:
        """Refuse bad hyperparameters (a ``ConfigError`` naming ``where.param``)."""
        where = where or type(self).__name__
        super().check_params(where)
        tau = self.tau
        if tau != "eb" and not (isinstance(tau, (int, float)) and not isinstance(tau, bool) and tau >= 0):
            raise ConfigError(f"{where}.tau: expected 'eb' or a number >= 0, got {tau!r}")
        if self.base not in ("clusters", "neighbors"):
            raise ConfigError(f"{where}.base: expected 'clusters' or 'neighbors', got {self.base!r}")
        if self.base == "neighbors" and tau == "eb":
            raise ConfigError(f"{where}.tau: 'eb' needs base 'clusters'; give a number for 'neighbors'")
        check_int(self.n_clusters, f"{where}.n_clusters", 1)
        check_int(self.n_neighbors, f"{where}.n_neighbors", 1)
        check_int(self.n_init, f"{where}.n_init", 1)
        check_positive(self.task_C, f"{where}.task_C")

    def fit(self, embeddings: np.ndarray, matrix: RecordMatrix) -> ShrinkageRouter:
        """Cluster, fit the task prior, and estimate the shrinkage strengths."""
        data = self._training_data(embeddings, matrix)
        self.task_ = TaskRouter(C=float(self.task_C), mode="soft").fit(data, matrix)
        self.models_ = list(matrix.models)
        n_clusters = int(self.n_clusters)
        if self.base == "neighbors":
            self._keep_neighbours(data, matrix)
            self.tau_score_ = self.tau_cost_ = np.full(len(matrix.models), float(self.tau))
            return self
        clustering = cached_clusters(data, n_clusters, int(self.seed), int(self.n_init))
        self.centroids_ = clustering.centroids
        stats = cluster_statistics(clustering.labels, matrix.scores, matrix.costs, n_clusters)
        self.count_ = stats.count.astype(np.float64)
        self.cluster_score_ = np.nan_to_num(stats.accuracy)
        self.cluster_cost_ = np.nan_to_num(stats.cost)
        n_models = len(matrix.models)
        if self.tau == "eb":
            prior_score, prior_cost = self.task_.predict(data)
            recorded = matrix.available
            self.tau_score_ = empirical_bayes_strength(
                clustering.labels, matrix.scores, recorded, prior_score, n_clusters
            )
            self.tau_cost_ = empirical_bayes_strength(clustering.labels, matrix.costs, recorded, prior_cost, n_clusters)
        else:
            self.tau_score_ = self.tau_cost_ = np.full(n_models, float(self.tau))
        return self

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, M) shrunk expected score and cost of each query's cluster."""
        self._check_fitted()
        queries = self.queries(embeddings)
        prior_score, prior_cost = self.task_.predict(queries)
        if self.base == "neighbors":
            _, index = self.index_.search(queries, int(self.n_neighbors))
            ones, zeros = np.ones(index.shape), np.zeros(len(self.models_))
            local_score, n = self._neighbour_mean(self.scores_, index, ones, zeros)
            local_cost, _ = self._neighbour_mean(self.costs_, index, ones, zeros)
        else:
            cluster = nearest_centroid(queries.astype(np.float64), self.centroids_)
            n = self.count_[cluster]
            local_score, local_cost = self.cluster_score_[cluster], self.cluster_cost_[cluster]

        def shrink(local: np.ndarray, prior: np.ndarray, tau: np.ndarray) -> np.ndarray:
            total = n + tau[None, :]
            with np.errstate(invalid="ignore", divide="ignore"):
                shrunk = (n * local + tau[None, :] * prior) / total
            return np.where(total > 0, shrunk, prior)  # no record and tau 0: the prior alone

        return shrink(local_score, prior_score, self.tau_score_), shrink(local_cost, prior_cost, self.tau_cost_)

    def describe(self, embeddings: np.ndarray) -> list[dict[str, Any]]:
        """Per query: the task prior's ``datasets``, the local mean's base (``cluster`` and its training
        queries, or ``neighbors``) and the prior strengths ``tau_score`` per model.
        """
        self._check_fitted()
        queries = self.queries(embeddings)
        described = self.task_.describe(queries)
        tau = {m: float(t) for m, t in zip(self.models_, self.tau_score_, strict=True)}
        if self.base == "neighbors":
            local: list[dict[str, Any]] = [{"neighbors": int(self.n_neighbors)} for _ in range(len(queries))]
        else:
            cluster = nearest_centroid(queries.astype(np.float64), self.centroids_)
            local = [{"cluster": int(c), "n_train_queries": int(self.count_[c].max())} for c in cluster]
        return [{**d, **loc, "tau_score": tau} for d, loc in zip(described, local, strict=True)]
