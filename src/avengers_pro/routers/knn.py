"""kNN routing: the similarity-weighted mean score and cost of the n nearest training queries.

``expected_score[q, m] = sum_i w_qi * score[i, m] / sum_i w_qi`` over the ``n_neighbors`` training
queries ``i`` most similar to ``q`` (cosine similarity of L2-normalised embeddings), with
``w_qi = max(sim(q, i), 0) + 1e-6`` (so an all-dissimilar neighbourhood becomes a plain mean), and the
same for cost. Training cells without a record are left out; a model no neighbour has a record for
gets its training mean.

Search is exact (one matrix product per block of queries) or, with ``n_lists > 0``, an inverted-file
index: the training embeddings are cut into ``n_lists`` k-means lists and each query scans only its
``n_probe`` nearest lists, which makes 100k training queries routable at tens of thousands of queries
per second on two cores (``bench/bench_knn.py``).
"""

from __future__ import annotations

import numpy as np

from ..cluster import l2_normalise
from ..errors import ConfigError
from ..io import RecordMatrix
from ..router import Normalisation
from .base import RouterEstimator, check_training, model_means, weighted_means

# Weight floor, so that a neighbourhood of non-positive similarities still averages.
_WEIGHT_FLOOR = 1e-6


class NeighbourIndex:
    """Top-k cosine neighbours among fixed training embeddings, exact or by an inverted file.

    Parameters
    ----------
    n_lists
        0: exact search. Otherwise the number of k-means lists of the inverted file.
    n_probe
        Lists scanned per query (inverted file only).
    seed
        Seed of the k-means that builds the lists.
    block
        Queries searched at once (bounds the (block, n_train) similarity matrix of exact search).
    """

    def __init__(self, n_lists: int = 0, n_probe: int = 8, seed: int = 0, block: int = 1024) -> None:
        if n_lists < 0 or n_probe < 1:
            raise ConfigError(f"n_lists must be >= 0 and n_probe >= 1, got {n_lists} and {n_probe}")
        self.n_lists = int(n_lists)
        self.n_probe = int(n_probe)
        self.seed = int(seed)
        self.block = int(block)

    def fit(self, embeddings: np.ndarray) -> NeighbourIndex:
        """Index (n, dim) L2-normalised embeddings (kept as float32)."""
        data = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.n_train_ = len(data)
        if self.n_lists == 0 or self.n_lists >= len(data):
            self.data_ = data
            self.centroids_: np.ndarray | None = None
            return self
        from sklearn.cluster import MiniBatchKMeans

        kmeans = MiniBatchKMeans(n_clusters=self.n_lists, n_init=1, random_state=self.seed,
                                 batch_size=4096).fit(data)
        self.centroids_ = kmeans.cluster_centers_.astype(np.float32)
        lists = self._assign(data)
        order = np.argsort(lists, kind="stable")
        # Members of list l are data_[offsets_[l]:offsets_[l + 1]]; ids_ maps back to training rows.
        self.data_ = np.ascontiguousarray(data[order])
        self.ids_ = order.astype(np.int64)
        self.offsets_ = np.concatenate(([0], np.cumsum(np.bincount(lists, minlength=self.n_lists))))
        return self

    def _assign(self, data: np.ndarray) -> np.ndarray:
        centroids = self.centroids_
        assert centroids is not None
        half_norms = (centroids ** 2).sum(axis=1) / 2.0
        out = np.empty(len(data), dtype=np.int64)
        for start in range(0, len(data), 65536):
            out[start:start + 65536] = (half_norms - data[start:start + 65536] @ centroids.T).argmin(axis=1)
        return out

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar training rows of each query.

        Returns
        -------
        similarity, index : np.ndarray
            (n, k) float32 cosine similarities (most similar first) and int64 training rows; with an
            inverted file, slots beyond the candidates found hold similarity -inf and row 0.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(int(k), self.n_train_)
        if self.centroids_ is None:
            return self._exact(queries, k)
        return self._inverted(queries, k)

    def _exact(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(queries)
        sims = np.empty((n, k), dtype=np.float32)
        index = np.empty((n, k), dtype=np.int64)
        for start in range(0, n, self.block):
            s = queries[start:start + self.block] @ self.data_.T
            top = np.argpartition(-s, k - 1, axis=1)[:, :k] if k < s.shape[1] else np.broadcast_to(
                np.arange(s.shape[1]), s.shape).copy()
            top_s = np.take_along_axis(s, top, axis=1)
            order = np.argsort(-top_s, axis=1, kind="stable")
            sims[start:start + len(s)] = np.take_along_axis(top_s, order, axis=1)
            index[start:start + len(s)] = np.take_along_axis(top, order, axis=1)
        return sims, index

    def _inverted(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(queries)
        n_probe = min(self.n_probe, self.n_lists)
        centroids = self.centroids_
        assert centroids is not None
        half_norms = (centroids ** 2).sum(axis=1) / 2.0
        probes = np.argpartition(half_norms - queries @ centroids.T, n_probe - 1, axis=1)[:, :n_probe]
        # Candidates: the best k of each probed list, in slot j * k .. (j + 1) * k for probe j.
        cand_s = np.full((n, n_probe * k), -np.inf, dtype=np.float32)
        cand_i = np.zeros((n, n_probe * k), dtype=np.int64)
        flat_lists = probes.ravel()
        by_list = np.argsort(flat_lists, kind="stable")
        bounds = np.searchsorted(flat_lists[by_list], np.arange(self.n_lists + 1))
        for lst in range(self.n_lists):
            entries = by_list[bounds[lst]:bounds[lst + 1]]
            lo, hi = self.offsets_[lst], self.offsets_[lst + 1]
            if entries.size == 0 or hi == lo:
                continue
            rows, probe_slot = entries // n_probe, entries % n_probe
            s = queries[rows] @ self.data_[lo:hi].T
            kk = min(k, hi - lo)
            top = np.argpartition(-s, kk - 1, axis=1)[:, :kk] if kk < s.shape[1] else np.broadcast_to(
                np.arange(s.shape[1]), s.shape)
            cols = probe_slot[:, None] * k + np.arange(kk)[None, :]
            cand_s[rows[:, None], cols] = np.take_along_axis(s, top, axis=1)
            cand_i[rows[:, None], cols] = self.ids_[lo + top]
        top = np.argpartition(-cand_s, k - 1, axis=1)[:, :k] if k < cand_s.shape[1] else np.broadcast_to(
            np.arange(cand_s.shape[1]), cand_s.shape)
        top_s = np.take_along_axis(cand_s, top, axis=1)
        order = np.argsort(-top_s, axis=1, kind="stable")
        return np.take_along_axis(top_s, order, axis=1), np.take_along_axis(np.take_along_axis(cand_i, top, axis=1),
                                                                              order, axis=1)


class KNNRouter(RouterEstimator):
    """Similarity-weighted mean score and cost of the ``n_neighbors`` nearest training queries.

    Parameters
    ----------
    n_neighbors
        Neighbours averaged per query.
    normalisation
        See :func:`avengers_pro.routers.base.select_models`.
    n_lists, n_probe, seed
        Inverted-file search (``n_lists = 0``: exact); see :class:`NeighbourIndex`.
    """

    family = "knn"

    def __init__(self, n_neighbors: int = 20, normalisation: Normalisation = "official",
                 n_lists: int = 0, n_probe: int = 8, seed: int = 0) -> None:
        super().__init__(normalisation)
        if n_neighbors < 1:
            raise ConfigError(f"routers.knn.n_neighbors: must be >= 1, got {n_neighbors}")
        self.n_neighbors = int(n_neighbors)
        self.n_lists = int(n_lists)
        self.n_probe = int(n_probe)
        self.seed = int(seed)

    def fit(self, embeddings: np.ndarray, matrix: RecordMatrix) -> KNNRouter:
        """Index the training embeddings and keep their scores and costs."""
        data = check_training(embeddings, matrix)
        self.index_ = NeighbourIndex(self.n_lists, self.n_probe, self.seed).fit(data)
        self.recorded_ = matrix.available
        self.scores_ = np.where(self.recorded_, matrix.scores, 0.0)
        self.costs_ = np.where(self.recorded_, matrix.costs, 0.0)
        self.mean_score_, self.mean_cost_ = model_means(matrix)
        self.models_ = list(matrix.models)
        return self

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, M) expected score and cost: similarity-weighted means over the nearest neighbours."""
        self._check_fitted()
        queries = l2_normalise(np.asarray(embeddings, dtype=np.float32))
        sims, index = self.index_.search(queries, self.n_neighbors)
        # Slots an inverted file could not fill (similarity -inf) get weight 0.
        weights = np.where(np.isfinite(sims), np.maximum(sims, 0.0) + _WEIGHT_FLOOR, 0.0).astype(np.float64)
        recorded = self.recorded_[index]
        score, _ = weighted_means(weights, self.scores_[index], recorded, self.mean_score_)
        cost, _ = weighted_means(weights, self.costs_[index], recorded, self.mean_cost_)
        return score, cost
