"""KMeans on L2-normalised train embeddings (the official code's clustering), and a query's nearest
clusters under the two distances (the geometry routing and explanations share).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from avengers_pro.errors import ConfigError

#: How a query's nearest clusters are found (:func:`nearest_clusters`).
Distance = Literal["dot", "euclidean"]
DISTANCES: tuple[str, ...] = get_args(Distance)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); stateless, so it cannot leak test data."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


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


# --------------------------------------------------------------------------- nearest clusters of a query


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
