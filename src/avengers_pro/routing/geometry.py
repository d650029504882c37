"""The geometry every router shares: query normalisation, KMeans and nearest centroids.

* :func:`unit_queries`, the one normalisation policy: every method of every estimator that takes
  query embeddings (``fit``, ``predict``, ``choose``, ``describe``), and so an exported router, scales
  each row to unit length first; a non-finite row is refused. Scaling a query changes nothing.
* :func:`fit_clusters` (KMeans on L2-normalised train embeddings, the official code's clustering) and
  :func:`cached_clusters` (the same, memoised);
* :func:`nearest_centroid` (KMeans' own Euclidean assignment rule), :func:`cluster_distances` and
  :func:`nearest_clusters` (a query's ``top_k`` nearest clusters under the two distances, the geometry
  routing and explanations share).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from avengers_pro.errors import ConfigError, DataError, TooFewQueries

#: How a query's nearest clusters are found (:func:`nearest_clusters`).
Distance = Literal["dot", "euclidean"]
DISTANCES: tuple[str, ...] = get_args(Distance)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); stateless, so it cannot leak test data."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def unit_queries(embeddings: np.ndarray, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """(n, dim) query embeddings as ``dtype``, each row scaled to unit length: the estimators' one policy.

    Rows already of unit length (as the pipeline's embeddings are) move by rounding only (on the
    default data's 10,181 embeddings, not one of 15.5 million Avengers-Pro sweep decisions changed);
    any other scale is undone, so ``3 * q`` is routed as ``q``.

    Raises
    ------
    DataError
        If ``embeddings`` is not 2-D, or a row is not finite or all zeros (no direction); the row is named.
    """
    array = np.asarray(embeddings)
    if array.ndim != 2:
        raise DataError(f"expected query embeddings of shape (n, dim), got {array.shape}", field="embedding")
    array = array.astype(dtype, copy=False)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        raise DataError("embedding is not finite", row=int(np.flatnonzero(~finite)[0]), field="embedding")
    zero = ~array.any(axis=1)
    if zero.any() and array.shape[1] > 0:
        raise DataError(
            "embedding is all zeros (it has no direction)", row=int(np.flatnonzero(zero)[0]), field="embedding"
        )
    return l2_normalise(array)


@dataclass(frozen=True)
class Clustering:
    """A KMeans fit on the training embeddings: each query's cluster and the centroids."""

    labels: np.ndarray  # (n_train,) cluster of each train query
    centroids: np.ndarray  # (k, dim) not re-normalised, as the official code


def fit_clusters(
    train_embeddings: np.ndarray,
    n_clusters: int,
    *,
    seed: int,
    n_init: int = 10,
    minibatch_above: int = 200_000,
) -> Clustering:
    """Fit ``KMeans(n_clusters, n_init, random_state=seed)`` on the L2-normalised train embeddings.

    Above ``minibatch_above`` train queries, ``MiniBatchKMeans`` (same seed and ``n_init``) keeps time
    and memory near linear in the number of queries.
    """
    # Imported here, not at the top: reading fitted clusterings (an export) then needs no scikit-learn,
    # whose import takes seconds.
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n_train = len(train_embeddings)
    if n_clusters > n_train:
        raise ConfigError(
            f"clustering.n_clusters: {n_clusters} clusters but only {n_train} training queries; "
            "lower the cluster count or add data"
        )
    data = l2_normalise(np.asarray(train_embeddings, dtype=np.float64))
    if n_train > minibatch_above:
        model: KMeans | MiniBatchKMeans = MiniBatchKMeans(
            n_clusters=n_clusters, n_init=n_init, random_state=seed, batch_size=4096
        )
    else:
        model = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed)
    labels = model.fit_predict(data)
    return Clustering(labels=labels.astype(np.int64), centroids=model.cluster_centers_.astype(np.float64))


_CLUSTER_CACHE: OrderedDict[tuple[str, int, int, int], Clustering] = OrderedDict()
_CLUSTER_CACHE_SIZE = 32


def cached_clusters(embeddings: np.ndarray, n_clusters: int, seed: int, n_init: int) -> Clustering:
    """:func:`fit_clusters`, memoised on the embeddings' bytes.

    Families that cluster (Avengers-Pro, shrinkage) and their hyperparameter searches fit the same
    (data, k, seed) many times; KMeans is deterministic given them, so the result is reused.

    Raises
    ------
    TooFewQueries
        More clusters than training queries (a candidate a search skips rather than a config error).
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


# --------------------------------------------------------------------------- nearest clusters of a query


def centroid_gaps(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(n, K) ``||mu||^2 / 2 - q . mu``: half the squared Euclidean distance less the query's own
    ``||q||^2 / 2``, so it orders centroids as KMeans assigns them; computed in the inputs' dtype
    (float32 for an inverted file's lists, float64 for clusters).
    """
    return (centroids**2).sum(axis=1)[None, :] / 2.0 - embeddings @ centroids.T


def nearest_centroid(embeddings: np.ndarray, centroids: np.ndarray, chunk_size: int = 65536) -> np.ndarray:
    """(n,) index of each query's nearest centroid in Euclidean distance (KMeans' own rule; ties: the lower index)."""
    out = np.empty(len(embeddings), dtype=np.int64)
    for start in range(0, len(embeddings), chunk_size):
        out[start : start + chunk_size] = centroid_gaps(embeddings[start : start + chunk_size], centroids).argmin(
            axis=1
        )
    return out


def cluster_distances(embeddings: np.ndarray, centroids: np.ndarray, distance: Distance) -> np.ndarray:
    """(n, K) distance of every query to every centroid: ``dot``, ``1 - q . mu``; ``euclidean``,
    ``|q - mu|^2 / 2`` (for unit queries; halved so both agree for unit centroids and beta keeps its
    scale).
    """
    centroids = np.asarray(centroids, dtype=np.float64)
    # The query's own norm is the same for every centroid, so only the centroid's term is added.
    offset = 1.0 if distance == "dot" else (1.0 + (centroids**2).sum(axis=1)) / 2.0
    return offset - np.asarray(embeddings).astype(np.float64) @ centroids.T


def nearest_clusters(
    embeddings: np.ndarray,
    centroids: np.ndarray,
    top_k: int,
    beta: float,
    chunk_size: int = 65536,
    distance: Distance = "dot",
) -> tuple[np.ndarray, np.ndarray]:
    """The ``top_k`` nearest clusters of each query and their softmax weights.

    Embeddings are expected L2-normalised already; the centroids are NOT re-normalised (KMeans
    centroids are means of unit vectors, so their norms differ), which is why the two distances can
    order clusters differently:

    * ``"dot"``: ``d = 1 - q . centroid``, the official code's;
    * ``"euclidean"``: ``d = ||q - centroid||^2 / 2 = (1 + ||centroid||^2) / 2 - q . centroid``,
      KMeans' own assignment rule. Halved so that it equals the dot distance for unit centroids,
      which keeps beta on the same scale.

    Parameters
    ----------
    embeddings
        (n, dim) query embeddings.
    centroids
        (K, dim) KMeans centroids.
    top_k
        Number of nearest clusters kept; clipped to K.
    beta
        Softmax temperature: weights are ``softmax(-beta * d)`` over the kept clusters only.
    chunk_size
        Queries processed at once (bounds the memory of the (n, K) distance matrix).
    distance
        ``"dot"`` or ``"euclidean"``, as above.

    Returns
    -------
    idx : np.ndarray
        (n, top_k) int64 cluster indices, nearest first; equal distances keep cluster order.
    weights : np.ndarray
        (n, top_k) float64 softmax weights, each row summing to 1.
    """
    embeddings = np.asarray(embeddings)
    centroids = np.asarray(centroids, dtype=np.float64)
    if embeddings.ndim != 2 or centroids.ndim != 2 or embeddings.shape[1] != centroids.shape[1]:
        raise ValueError(
            f"embeddings (n, dim) and centroids (K, dim) must agree in dim; got {embeddings.shape}, {centroids.shape}"
        )
    if top_k < 1:
        raise ValueError(f"top_k: must be >= 1, got {top_k}")
    if distance not in DISTANCES:
        raise ValueError(f"distance: expected one of {list(DISTANCES)}, got {distance!r}")
    top_k = min(int(top_k), centroids.shape[0])
    n = embeddings.shape[0]
    idx = np.empty((n, top_k), dtype=np.int64)
    weights = np.empty((n, top_k), dtype=np.float64)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        d = cluster_distances(embeddings[start:stop], centroids, distance)
        nearest = np.argsort(d, axis=1, kind="stable")[:, :top_k]
        logits = -beta * np.take_along_axis(d, nearest, axis=1)
        logits -= logits.max(axis=1, keepdims=True)  # for numerical stability only
        expd = np.exp(logits)
        idx[start:stop] = nearest
        weights[start:stop] = expd / expd.sum(axis=1, keepdims=True)
    return idx, weights
