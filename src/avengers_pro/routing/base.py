"""The one interface of every router family, and the one function that turns predictions into choices.

A router is an estimator in the scikit-learn style:

* ``fit(embeddings, matrix)`` on the training queries: ``embeddings`` (n, dim) L2-normalised and
  ``matrix`` a :class:`~avengers_pro.io.RecordMatrix` of the same queries (scores, costs, datasets);
* ``predict(embeddings) -> (expected_score, expected_cost)``, each (n, M) in the matrix's model order;
* ``choose(embeddings, alphas, available) -> (A, n)`` model indices, one row per alpha.

``choose`` is the same for every family that predicts expected scores and costs
(:func:`select_models`); the Avengers-Pro variants, whose reciprocal-rank aggregation is not a
function of one expected score and cost per model, override it and keep the official computation.

Normalisation of per-query predictions. Each query is treated exactly like one Avengers-Pro cluster
whose statistics are the query's predicted scores and costs: the predictions are min-max normalised
*across the models of that query* (accuracy), and the cost term is either ``1 - cost / max`` over the
query's models (``official``) or min-max (``paper``), by :func:`avengers_pro.routing.scores.performance_efficiency`
itself. So the dataset router is the special case "predictions = the dataset's means", and alpha has
the same meaning for every family. Models without a record for a query (``available`` False) are left
out of that query's min and max and are never chosen.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np

from avengers_pro.errors import DataError, TooFewQueries
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.geometry import Clustering, fit_clusters, l2_normalise
from avengers_pro.routing.scores import ClusterStats, Normalisation, performance_efficiency

# Size of one (alphas, queries, models) float64 block in select_models.
_BLOCK_BYTES = 4 << 20


def select_models(
    expected_score: np.ndarray,
    expected_cost: np.ndarray,
    alphas: np.ndarray,
    normalisation: Normalisation = "official",
    available: np.ndarray | None = None,
) -> np.ndarray:
    """The chosen model of every (alpha, query) from per-query predictions, all alphas at once.

    ``x = alpha * acc_norm + (1 - alpha) * cost_term`` per query, normalised across the query's models
    as :func:`avengers_pro.routing.scores.performance_efficiency` does within a cluster. The model with the
    highest ``x`` is chosen; equal ``x`` -> the higher predicted score, then the lower model index.

    Parameters
    ----------
    expected_score, expected_cost
        (n, M) predictions; a non-finite cell marks a model that cannot be chosen for that query.
    alphas
        (A,) weights of accuracy, each in [0, 1].
    normalisation
        ``"official"`` (cost / max) or ``"paper"`` (min-max cost).
    available
        Optional (n, M) bool: models with a record for each query; others are never chosen.

    Returns
    -------
    np.ndarray
        (A, n) int64 model indices; -1 where a query has no model to choose.
    """
    score = np.asarray(expected_score, dtype=np.float64)
    cost = np.asarray(expected_cost, dtype=np.float64)
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if score.ndim != 2 or cost.shape != score.shape:
        raise ValueError(f"expected score and cost of shape (n, M), got {score.shape} and {cost.shape}")
    valid = np.isfinite(score) & np.isfinite(cost)
    if available is not None:
        available = np.asarray(available, dtype=bool)
        if available.shape != score.shape:
            raise ValueError(f"available must have shape {score.shape}, got {available.shape}")
        valid &= available
    n, n_models = score.shape
    choices = np.empty((len(alphas), n), dtype=np.int64)
    block = max(1, _BLOCK_BYTES // (8 * max(1, len(alphas)) * max(1, n_models)))
    for start in range(0, n, block):
        stop = min(start + block, n)
        ok = valid[start:stop]
        stats = ClusterStats(
            accuracy=np.where(ok, score[start:stop], np.nan),
            cost=np.where(ok, cost[start:stop], np.nan),
            count=ok.astype(np.int64),
        )
        x = performance_efficiency(stats, alphas, normalisation)
        x = np.where(ok[None], x, -np.inf)
        best = x.max(axis=-1, keepdims=True)
        # Among the models of highest x, the highest predicted score; argmax then takes the first.
        tie_key = np.where(x == best, np.where(ok, score[start:stop], -np.inf)[None], -np.inf)
        pick = tie_key.argmax(axis=-1)
        choices[:, start:stop] = np.where(np.isneginf(best[..., 0]), -1, pick)
    return choices


def rank_models(
    expected_score: np.ndarray, expected_cost: np.ndarray, alpha: float, normalisation: Normalisation = "official"
) -> tuple[np.ndarray, np.ndarray]:
    """Every model of every query, best first, at one alpha: the order :func:`select_models` picks from.

    The same ``x`` and tie-break as :func:`select_models` (higher ``x``, then higher predicted score,
    then lower model index), so column 0 is its choice; models with a non-finite prediction come last.

    Returns
    -------
    order : np.ndarray
        (n, M) int64 model indices, best first.
    x : np.ndarray
        (n, M) each model's performance-efficiency score (-inf where it cannot be chosen).
    """
    score = np.asarray(expected_score, dtype=np.float64)
    cost = np.asarray(expected_cost, dtype=np.float64)
    ok = np.isfinite(score) & np.isfinite(cost)
    stats = ClusterStats(
        accuracy=np.where(ok, score, np.nan), cost=np.where(ok, cost, np.nan), count=ok.astype(np.int64)
    )
    x = np.where(ok, performance_efficiency(stats, np.array([float(alpha)]), normalisation)[0], -np.inf)
    tie = np.where(ok, score, -np.inf)
    index = np.broadcast_to(np.arange(score.shape[1]), score.shape)
    # lexsort: the last key is the primary one; every key sorts ascending, hence the negations.
    order = np.lexsort((index, -tie, -x), axis=-1)
    return order.astype(np.int64), x


class RouterEstimator:
    """Base class of the families that predict an expected score and cost per (query, model).

    Subclasses implement :meth:`fit` and :meth:`predict`; :meth:`choose` is shared.

    Parameters
    ----------
    normalisation
        How :func:`select_models` normalises each query's predictions across models.
    """

    family: str = "base"

    def __init__(self, normalisation: Normalisation = "official") -> None:
        self.normalisation = normalisation

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (hyperparameters), as scikit-learn's ``get_params``."""
        return {key: value for key, value in vars(self).items() if not key.endswith("_")}

    def fit(self, embeddings: np.ndarray, matrix: RecordMatrix) -> RouterEstimator:  # pragma: no cover
        """Learn from the training queries' embeddings and records (NaN = no record); return self."""
        raise NotImplementedError

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        """Expected score and expected cost of every model for every query, each (n, M)."""
        raise NotImplementedError

    def describe(self, embeddings: np.ndarray) -> list[dict[str, Any]]:
        """What each query's prediction rests on, JSON-ready, for an exported router's explanation.

        The base class has nothing to add (one empty dict per query); families override it.
        """
        return [{} for _ in range(len(embeddings))]

    def choose(self, embeddings: np.ndarray, alphas: np.ndarray, available: np.ndarray | None = None) -> np.ndarray:
        """(A, n) chosen model indices for every alpha: :meth:`predict`, then :func:`select_models`."""
        score, cost = self.predict(embeddings)
        return select_models(score, cost, alphas, self.normalisation, available)

    def _training_data(self, embeddings: np.ndarray, matrix: RecordMatrix) -> np.ndarray:
        """:func:`check_training`, remembering the embedding dimension (``n_features_in_``, as scikit-learn)."""
        data = check_training(embeddings, matrix)
        self.n_features_in_ = int(data.shape[1])
        return data

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit() first")


def check_training(embeddings: np.ndarray, matrix: RecordMatrix) -> np.ndarray:
    """L2-normalised float32 training embeddings, checked against the matrix's rows.

    Raises
    ------
    DataError
        If the row counts differ, there is no training query, or an embedding is not finite.
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or len(embeddings) != len(matrix.query_ids):
        raise DataError(
            f"{len(matrix.query_ids)} training queries but embeddings of shape {embeddings.shape}", field="embedding"
        )
    if len(embeddings) == 0:
        raise DataError("a router needs at least one training query", field="split")
    if not np.isfinite(embeddings).all():
        row = int(np.flatnonzero(~np.isfinite(embeddings).all(axis=1))[0])
        raise DataError("embedding is not finite", row=row, field="embedding")
    return l2_normalise(embeddings.astype(np.float32))


def model_means(matrix: RecordMatrix) -> tuple[np.ndarray, np.ndarray]:
    """(M,) mean score and mean cost of each model over the queries it has a record for (NaN if none)."""
    recorded = matrix.available
    count = recorded.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(recorded, matrix.scores, 0.0).sum(axis=0) / count
        cost = np.where(recorded, matrix.costs, 0.0).sum(axis=0) / count
    return np.where(count > 0, score, np.nan), np.where(count > 0, cost, np.nan)


def weighted_means(
    weights: np.ndarray, values: np.ndarray, recorded: np.ndarray, fallback: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted means over each query's neighbours, cells without a record left out.

    Parameters
    ----------
    weights
        (n, k) weight of each neighbour.
    values
        (n, k, M) the neighbours' values (anything where not recorded).
    recorded
        (n, k, M) bool.
    fallback
        (M,) value where no neighbour has a record (or all weights are 0).

    Returns
    -------
    mean, weight_sum : np.ndarray
        (n, M) each.
    """
    w = weights[:, :, None] * recorded
    total = w.sum(axis=1)
    num = (w * np.where(recorded, values, 0.0)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = num / total
    return np.where(total > 0, mean, fallback[None, :]), total


_CLUSTER_CACHE: OrderedDict[tuple[str, int, int, int], Clustering] = OrderedDict()
_CLUSTER_CACHE_SIZE = 32


def cached_clusters(embeddings: np.ndarray, n_clusters: int, seed: int, n_init: int) -> Clustering:
    """:func:`avengers_pro.routing.geometry.fit_clusters`, memoised on the embeddings' bytes.

    Families that cluster (Avengers-Pro, shrinkage) and their hyperparameter searches fit the same
    (data, k, seed) many times; KMeans is deterministic given them, so the result is reused.
    """
    data = np.ascontiguousarray(embeddings, dtype=np.float32)
    digest = hashlib.blake2b(data.tobytes(), digest_size=16).hexdigest() + str(data.shape)
    key = (digest, int(n_clusters), int(seed), int(n_init))
    if key in _CLUSTER_CACHE:
        _CLUSTER_CACHE.move_to_end(key)
        return _CLUSTER_CACHE[key]
    if n_clusters > len(data):
        raise TooFewQueries(f"{n_clusters} clusters but only {len(data)} training queries", field="n_clusters")
    clustering = fit_clusters(data, n_clusters, seed=seed, n_init=n_init)
    _CLUSTER_CACHE[key] = clustering
    while len(_CLUSTER_CACHE) > _CLUSTER_CACHE_SIZE:
        _CLUSTER_CACHE.popitem(last=False)
    return clustering


def nearest_centroid(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(n,) index of each query's nearest centroid in Euclidean distance (KMeans' own rule)."""
    d = (centroids.astype(np.float64) ** 2).sum(axis=1)[None, :] / 2.0 - embeddings.astype(np.float64) @ centroids.T
    return d.argmin(axis=1)
