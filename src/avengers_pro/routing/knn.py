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

from typing import Any

import numpy as np

from avengers_pro.io import RecordMatrix
from avengers_pro.routing.base import Params, RouterEstimator, check_int, model_means, weighted_means
from avengers_pro.routing.geometry import centroid_gaps, nearest_centroid
from avengers_pro.routing.scores import Normalisation

# Weight floor, so that a neighbourhood of non-positive similarities still averages.
_WEIGHT_FLOOR = 1e-6
# Lloyd iterations that build an inverted file's lists.
_LLOYD_ITERATIONS = 5
# Queries predicted at once (per thread).
_PREDICT_BLOCK = 8192


class NeighbourIndex(Params):
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
        Queries searched at once (bounds the (block, n_train) similarity matrix of exact search;
        an inverted file takes 8 blocks at once).
    n_jobs
        Threads searching blocks in parallel (NumPy's matrix products and partitions release the
        GIL); with ``n_jobs > 1`` keep BLAS single-threaded (``OMP_NUM_THREADS=1``), since many
        small products gain nothing from BLAS threads and lose a lot when cores are shared.
    """

    def __init__(self, n_lists: int = 0, n_probe: int = 8, seed: int = 0, block: int = 1024, n_jobs: int = 1) -> None:
        self.n_lists = n_lists
        self.n_probe = n_probe
        self.seed = seed
        self.block = block
        self.n_jobs = n_jobs

    def check_params(self, where: str = "NeighbourIndex") -> None:
        """Refuse bad parameters (a ``ConfigError`` naming ``where.param``)."""
        check_int(self.n_lists, f"{where}.n_lists", 0)
        check_int(self.n_probe, f"{where}.n_probe", 1)
        check_int(self.block, f"{where}.block", 1)

    def fit(self, embeddings: np.ndarray) -> NeighbourIndex:
        """Index (n, dim) L2-normalised embeddings (kept as float32)."""
        self.check_params()
        data = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.n_train_ = len(data)
        n_lists = int(self.n_lists)
        if n_lists == 0 or n_lists >= len(data):
            self.data_ = data
            self.centroids_: np.ndarray | None = None
            return self
        # The lists only need to group near points: a few Lloyd iterations on a sample of ~32 points
        # per list, from random sample points (the usual inverted-file practice), build them in a
        # fraction of a full k-means' time; the search is exact within the lists it scans.
        rng = np.random.default_rng(int(self.seed))
        sample = data[rng.choice(len(data), size=min(len(data), 32 * n_lists), replace=False)]
        centroids = sample[rng.choice(len(sample), size=n_lists, replace=False)].copy()
        for _ in range(_LLOYD_ITERATIONS):
            members = nearest_centroid(sample, centroids)
            sums = np.zeros_like(centroids)
            np.add.at(sums, members, sample)
            counts = np.bincount(members, minlength=n_lists)
            # An emptied list keeps its old centroid.
            centroids = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centroids)
        self.centroids_ = centroids
        lists = nearest_centroid(data, centroids)
        order = np.argsort(lists, kind="stable")
        # Members of list l are data_[offsets_[l]:offsets_[l + 1]]; ids_ maps back to training rows.
        self.data_ = np.ascontiguousarray(data[order])
        self.ids_ = order.astype(np.int64)
        self.offsets_ = np.concatenate(([0], np.cumsum(np.bincount(lists, minlength=n_lists))))
        return self

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
        search = self._exact if self.centroids_ is None else self._inverted
        step = int(self.block) if self.centroids_ is None else 8 * int(self.block)
        starts = range(0, len(queries), step)
        if len(queries) == 0:
            return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
        n_jobs = max(1, int(self.n_jobs))  # 0 or less: one thread
        if n_jobs > 1 and len(starts) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(n_jobs) as pool:
                parts = list(pool.map(lambda start: search(queries[start : start + step], k), starts))
        else:
            parts = [search(queries[start : start + step], k) for start in starts]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _exact(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(queries)
        sims = np.empty((n, k), dtype=np.float32)
        index = np.empty((n, k), dtype=np.int64)
        block = int(self.block)
        for start in range(0, n, block):
            s = queries[start : start + block] @ self.data_.T
            top = (
                np.argpartition(-s, k - 1, axis=1)[:, :k]
                if k < s.shape[1]
                else np.broadcast_to(np.arange(s.shape[1]), s.shape).copy()
            )
            top_s = np.take_along_axis(s, top, axis=1)
            order = np.argsort(-top_s, axis=1, kind="stable")
            sims[start : start + len(s)] = np.take_along_axis(top_s, order, axis=1)
            index[start : start + len(s)] = np.take_along_axis(top, order, axis=1)
        return sims, index

    def _inverted(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(queries)
        n_lists = int(self.n_lists)
        n_probe = min(int(self.n_probe), n_lists)
        centroids = self.centroids_
        assert centroids is not None
        probes = np.argpartition(centroid_gaps(queries, centroids), n_probe - 1, axis=1)[:, :n_probe]
        # Every (query, probe) entry, sorted by list: one gather of the query vectors in that order, so
        # each list reads a contiguous slice and writes its best k into contiguous rows of `best_*`.
        by_list = np.argsort(probes.ravel(), kind="stable")
        bounds = np.searchsorted(probes.ravel()[by_list], np.arange(n_lists + 1))
        ordered = queries[by_list // n_probe]
        best_s = np.full((len(by_list), k), -np.inf, dtype=np.float32)
        best_i = np.zeros((len(by_list), k), dtype=np.int64)
        for lst in np.flatnonzero(np.diff(bounds)):
            b0, b1 = bounds[lst], bounds[lst + 1]
            lo, hi = self.offsets_[lst], self.offsets_[lst + 1]
            if hi == lo:
                continue
            s = ordered[b0:b1] @ self.data_[lo:hi].T
            kk = min(k, hi - lo)
            if kk < s.shape[1]:
                top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
                best_s[b0:b1, :kk] = np.take_along_axis(s, top, axis=1)
                best_i[b0:b1, :kk] = self.ids_[lo + top]
            else:
                best_s[b0:b1, :kk] = s
                best_i[b0:b1, :kk] = self.ids_[lo:hi][None, :]
        # Back to query order: query q's candidates are its n_probe entries' k slots each.
        cand_s = np.empty_like(best_s)
        cand_i = np.empty_like(best_i)
        cand_s[by_list], cand_i[by_list] = best_s, best_i
        cand_s, cand_i = cand_s.reshape(n, n_probe * k), cand_i.reshape(n, n_probe * k)
        top = (
            np.argpartition(-cand_s, k - 1, axis=1)[:, :k]
            if k < cand_s.shape[1]
            else np.broadcast_to(np.arange(cand_s.shape[1]), cand_s.shape)
        )
        top_s = np.take_along_axis(cand_s, top, axis=1)
        order = np.argsort(-top_s, axis=1, kind="stable")
        return np.take_along_axis(top_s, order, axis=1), np.take_along_axis(
            np.take_along_axis(cand_i, top, axis=1), order, axis=1
        )


class NeighbourMeans:
    """The neighbour-mean store kNN, shrinkage on neighbours and the logistic router's cost share.

    :meth:`_keep_neighbours` indexes the training embeddings (``index_``) and keeps which cells have
    a record (``recorded_``) and the values (``scores_``, ``costs_``, 0 where not recorded);
    :meth:`_neighbour_mean` is the weighted mean of one of them over each query's neighbours.
    """

    index_: NeighbourIndex
    recorded_: np.ndarray
    scores_: np.ndarray  # the families that keep them
    costs_: np.ndarray

    def _keep_neighbours(
        self,
        data: np.ndarray,
        matrix: RecordMatrix,
        index: NeighbourIndex | None = None,
        values: tuple[str, ...] = ("scores", "costs"),
    ) -> None:
        self.index_ = (index or NeighbourIndex()).fit(data)
        self.recorded_ = matrix.available
        for name in values:
            setattr(self, f"{name}_", np.where(self.recorded_, getattr(matrix, name), 0.0))

    def _neighbour_mean(
        self, values: np.ndarray, index: np.ndarray, weights: np.ndarray, fallback: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, M) weighted mean of ``values`` over the neighbours ``index`` (n, k), and the weight sums;
        see :func:`~avengers_pro.routing.base.weighted_means`.
        """
        return weighted_means(weights, values[index], self.recorded_[index], fallback)


class KNNRouter(NeighbourMeans, RouterEstimator):
    """Similarity-weighted mean score and cost of the ``n_neighbors`` nearest training queries.

    Parameters
    ----------
    n_neighbors
        Neighbours averaged per query.
    normalisation
        See :func:`avengers_pro.routing.base.select_models`.
    n_lists, n_probe, seed, n_jobs
        Inverted-file search (``n_lists = 0``: exact) and search threads; see :class:`NeighbourIndex`.
    """

    family = "knn"

    def __init__(
        self,
        n_neighbors: int = 20,
        normalisation: Normalisation = "official",
        n_lists: int = 0,
        n_probe: int = 8,
        seed: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.normalisation = normalisation
        self.n_lists = n_lists
        self.n_probe = n_probe
        self.seed = seed
        self.n_jobs = n_jobs

    def check_params(self, where: str | None = None) -> None:
        """Refuse bad hyperparameters (a ``ConfigError`` naming ``where.param``)."""
        where = where or type(self).__name__
        super().check_params(where)
        check_int(self.n_neighbors, f"{where}.n_neighbors", 1)
        NeighbourIndex(self.n_lists, self.n_probe, self.seed).check_params(where)

    def fit(self, embeddings: np.ndarray, matrix: RecordMatrix) -> KNNRouter:
        """Index the training embeddings and keep their scores and costs."""
        data = self._training_data(embeddings, matrix)
        self._keep_neighbours(data, matrix, NeighbourIndex(self.n_lists, self.n_probe, self.seed))
        self.mean_score_, self.mean_cost_ = model_means(matrix)
        self.models_ = list(matrix.models)
        return self

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, M) expected score and cost: similarity-weighted means over the nearest neighbours."""
        self._check_fitted()
        queries = self.queries(embeddings)
        n_models = len(self.models_)
        score, cost = np.empty((len(queries), n_models)), np.empty((len(queries), n_models))

        def predict_block(start: int) -> None:
            stop = min(start + _PREDICT_BLOCK, len(queries))
            sims, index = self.index_.search(queries[start:stop], int(self.n_neighbors))
            # Slots an inverted file could not fill (similarity -inf) get weight 0.
            weights = np.where(np.isfinite(sims), np.maximum(sims, 0.0) + _WEIGHT_FLOOR, 0.0).astype(np.float64)
            score[start:stop], _ = self._neighbour_mean(self.scores_, index, weights, self.mean_score_)
            cost[start:stop], _ = self._neighbour_mean(self.costs_, index, weights, self.mean_cost_)

        # Blocks bound the (block, n_neighbors, M) gathers; with n_jobs > 1 they run in threads
        # (search and means alike; NumPy releases the GIL in the heavy parts).
        starts = range(0, len(queries), _PREDICT_BLOCK)
        if int(self.n_jobs) > 1 and len(starts) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(int(self.n_jobs)) as pool:
                list(pool.map(predict_block, starts))
        else:
            for start in starts:
                predict_block(start)
        return score, cost

    def describe(self, embeddings: np.ndarray) -> list[dict[str, Any]]:
        """Per query: how many neighbours were averaged and their cosine similarities (nearest, mean)."""
        self._check_fitted()
        sims, _ = self.index_.search(self.queries(embeddings), int(self.n_neighbors))
        found = np.isfinite(sims)
        return [
            {
                "neighbors": int(found[q].sum()),
                "nearest_similarity": float(sims[q, 0]),
                "mean_similarity": float(sims[q][found[q]].mean()),
            }
            for q in range(len(sims))
        ]
