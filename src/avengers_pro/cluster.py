"""KMeans on L2-normalised train embeddings (the official code's clustering)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError


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
