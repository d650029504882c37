"""The Avengers-Pro router: per-cluster statistics, performance-efficiency scores and routing.

Everything here is a pure function on arrays; the alpha grid is an array axis, so a whole sweep over
alphas is computed in one pass. Shapes use these letters:

* ``n`` queries, ``M`` models (columns in model order, which is also the tie-break order),
* ``K`` clusters, ``A`` alphas, ``top_k`` nearest clusters a query is routed by.

Two normalisations and two aggregations are implemented, the paper's (arXiv 2508.12631) and the
official code's (github.com/ZhangYiqun018/AvengersPro), as tabled in ``docs/method.md``; a
:class:`Variant` picks one of each.

Missing records. A model with no record for some training queries is simply left out of the
means over those queries. A model with no record at all in a cluster (count 0) is left out of that
cluster's min/max and gets the score ``x = 0`` there (the official code's rule for models with no
queries in a cluster): it still ranks, below or tied with the worst recorded model. At routing
time, a model without a record for the routed query itself can never be chosen for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from avengers_pro.errors import ConfigError, DataError
from avengers_pro.routing.geometry import DISTANCES, Distance

Normalisation = Literal["paper", "official"]
Aggregation = Literal["paper", "official"]

NORMALISATIONS: tuple[str, ...] = get_args(Normalisation)
_AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)
_VARIANT_KEYS = {"normalisation", "aggregation", "weighted", "distance"}
# Size of one (queries, alphas, models) float64 block in route(): small enough to stay in cache.
_CACHE_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class Variant:
    """A router variant: how scores are normalised within a cluster and aggregated over clusters.

    Attributes
    ----------
    name
        Label used in output paths (``results/sweep/{name}/...``).
    normalisation
        ``"paper"``: min-max accuracy and min-max cost; ``"official"``: min-max accuracy and cost
        divided by the cluster's maximum cost.
    aggregation
        ``"paper"``: sum of the scores x over the ``top_k`` nearest clusters; ``"official"``:
        softmax(-beta * d)-weighted sum of 1 / (rank + 1).
    weighted
        Paper aggregation only: weight each cluster's x by softmax(-beta * d) instead of a plain sum.
    distance
        How a query's nearest clusters are found (see :func:`~avengers_pro.routing.geometry.nearest_clusters`): ``"dot"``,
        ``d = 1 - q . centroid`` (the official code), or ``"euclidean"``,
        ``d = ||q - centroid||^2 / 2`` (KMeans' own assignment).
    """

    name: str
    normalisation: Normalisation
    aggregation: Aggregation
    weighted: bool = False
    distance: Distance = "dot"

    def __post_init__(self) -> None:
        where = f"avengers.variants.{self.name}"
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"avengers.variants: a variant name must be a non-empty string, got {self.name!r}")
        if self.normalisation not in NORMALISATIONS:
            raise ConfigError(
                f"{where}.normalisation: expected one of {list(NORMALISATIONS)}, got {self.normalisation!r}"
            )
        if self.aggregation not in _AGGREGATIONS:
            raise ConfigError(f"{where}.aggregation: expected one of {list(_AGGREGATIONS)}, got {self.aggregation!r}")
        if not isinstance(self.weighted, bool):
            raise ConfigError(f"{where}.weighted: expected true or false, got {self.weighted!r}")
        if self.distance not in DISTANCES:
            raise ConfigError(f"{where}.distance: expected one of {list(DISTANCES)}, got {self.distance!r}")
        if self.weighted and self.aggregation != "paper":
            # The official aggregation is always softmax-weighted; a flag that does nothing would mislead.
            raise ConfigError(f"{where}.weighted: only applies to aggregation 'paper'")

    @property
    def uses_weights(self) -> bool:
        """Whether the softmax(-beta * d) proximity weights multiply each cluster's share of S."""
        return self.aggregation == "official" or self.weighted

    @classmethod
    def from_config(cls, name: str, spec: dict) -> Variant:
        """Build a variant from one entry of the config's ``avengers.variants`` mapping.

        Parameters
        ----------
        name
            The variant's key in ``avengers.variants``.
        spec
            ``{"normalisation": ..., "aggregation": ..., "weighted": ..., "distance": ...}``; ``weighted``
            (default false) and ``distance`` (default ``"dot"``) are optional.

        Raises
        ------
        ConfigError
            On a missing or unknown key or a bad value; the message names the key.
        """
        where = f"avengers.variants.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(spec).__name__}")
        unknown = sorted(set(spec) - _VARIANT_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_VARIANT_KEYS)}")
        for key in ("normalisation", "aggregation"):
            if key not in spec:
                raise ConfigError(f"{where}.{key}: missing")
        return cls(
            name=name,
            normalisation=spec["normalisation"],
            aggregation=spec["aggregation"],
            weighted=spec.get("weighted", False),
            distance=spec.get("distance", "dot"),
        )


@dataclass(frozen=True)
class ClusterStats:
    """Per (cluster, model) statistics over the training queries.

    Attributes
    ----------
    accuracy
        (K, M) mean score over the cluster's training queries that have a record; NaN if none.
    cost
        (K, M) mean cost (USD per query), same rule.
    count
        (K, M) int, number of the cluster's training queries with a record for the model.
    """

    accuracy: np.ndarray
    cost: np.ndarray
    count: np.ndarray


def group_sums(labels: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """(G, M) sum of the (n, M) ``values`` over the rows of each group, ``labels`` (n,) in ``[0, G)``.

    The one grouped sum of the package: cluster statistics, dataset means, the empirical-Bayes
    moments. One flat bin per (group, model), so ``bincount`` sums every row at once, no loop.
    """
    n_models = values.shape[1]
    bins = (np.asarray(labels)[:, None] * n_models + np.arange(n_models)[None, :]).ravel()
    size = n_groups * n_models
    return np.bincount(bins, weights=values.ravel(), minlength=size).reshape(n_groups, n_models)


def cluster_statistics(labels: np.ndarray, scores: np.ndarray, costs: np.ndarray, n_clusters: int) -> ClusterStats:
    """Mean score and mean cost per (cluster, model) over the training queries.

    Parameters
    ----------
    labels
        (n,) int cluster label of each training query, in ``[0, n_clusters)``.
    scores, costs
        (n, M) score and cost of each (query, model); NaN in ``scores`` means no record (the cell is
        left out of the means).
    n_clusters
        K; clusters without any training query get count 0 and NaN means.

    Returns
    -------
    ClusterStats
        Arrays of shape (K, M).

    Raises
    ------
    DataError
        If a label is out of range, or a recorded cell has a missing or negative cost.
    """
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    costs = np.asarray(costs, dtype=np.float64)
    if scores.ndim != 2 or costs.shape != scores.shape or labels.shape != (scores.shape[0],):
        raise ValueError(
            f"expected labels (n,) and scores/costs (n, M); got {labels.shape}, {scores.shape}, {costs.shape}"
        )
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be >= 1, got {n_clusters}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"cluster labels must be integers, got dtype {labels.dtype}", field="cluster")
    labels = labels.astype(np.int64, copy=False)
    bad = np.flatnonzero((labels < 0) | (labels >= n_clusters))
    if bad.size:
        raise DataError(f"cluster label {labels[bad[0]]} outside [0, {n_clusters})", row=int(bad[0]), field="cluster")
    recorded = ~np.isnan(scores)
    bad_cost = recorded & ~(costs >= 0)  # catches NaN and negative costs at once
    if bad_cost.any():
        row, col = np.argwhere(bad_cost)[0]
        raise DataError(
            f"recorded score with a missing or negative cost ({costs[row, col]})", row=int(row), field=f"cost[{col}]"
        )

    count = group_sums(labels, recorded, n_clusters).astype(np.int64)
    score_sum = group_sums(labels, np.where(recorded, scores, 0.0), n_clusters)
    cost_sum = group_sums(labels, np.where(recorded, costs, 0.0), n_clusters)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(count > 0, score_sum / count, np.nan)
        cost = np.where(count > 0, cost_sum / count, np.nan)
    return ClusterStats(accuracy=accuracy, cost=cost, count=count)


def performance_efficiency(stats: ClusterStats, alphas: np.ndarray, normalisation: Normalisation) -> np.ndarray:
    """The performance-efficiency score x of every (alpha, cluster, model).

    ``x = alpha * acc_norm + (1 - alpha) * cost_term``, normalised across the models of each cluster:

    * accuracy (both normalisations): ``acc_norm = (acc - min) / (max - min)``; all equal -> 1;
    * ``paper``: ``cost_term = 1 - (cost - min) / (max - min)``; all costs equal -> 1;
    * ``official``: ``cost_term = 1 - cost / max``; max cost 0 -> 1.

    Models with no record in a cluster (count 0) are left out of that cluster's min and max and get
    ``x = 0`` there (as the official code does for models with no queries in a cluster).

    Parameters
    ----------
    stats
        Per-cluster statistics from :func:`cluster_statistics`.
    alphas
        (A,) weights of accuracy, each in [0, 1].
    normalisation
        ``"paper"`` or ``"official"``.

    Returns
    -------
    np.ndarray
        (A, K, M) float64.
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation: expected one of {list(NORMALISATIONS)}, got {normalisation!r}")
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1:
        raise ValueError(f"alphas must be a 1-D array, got shape {alphas.shape}")
    outside = ~((alphas >= 0) & (alphas <= 1))
    if outside.any():
        raise ValueError(f"alphas: every alpha must lie in [0, 1], got {alphas[outside][:3].tolist()}")
    valid = stats.count > 0
    acc = np.where(valid, stats.accuracy, 0.0)
    cost = np.where(valid, stats.cost, 0.0)

    acc_min = np.where(valid, acc, np.inf).min(axis=1, keepdims=True)
    acc_max = np.where(valid, acc, -np.inf).max(axis=1, keepdims=True)
    acc_range = acc_max - acc_min
    acc_tied = ~(acc_range > 0)  # also true for clusters without any recorded model (range -inf)
    acc_norm = np.where(acc_tied, 1.0, (acc - acc_min) / np.where(acc_tied, 1.0, acc_range))

    cost_max = np.where(valid, cost, -np.inf).max(axis=1, keepdims=True)
    if normalisation == "paper":
        cost_min = np.where(valid, cost, np.inf).min(axis=1, keepdims=True)
        cost_range = cost_max - cost_min
        cost_tied = ~(cost_range > 0)
        cost_term = np.where(cost_tied, 1.0, 1.0 - (cost - cost_min) / np.where(cost_tied, 1.0, cost_range))
    else:
        zero_max = ~(cost_max > 0)
        cost_term = np.where(zero_max, 1.0, 1.0 - cost / np.where(zero_max, 1.0, cost_max))

    a = alphas[:, None, None]
    x = a * acc_norm[None] + (1.0 - a) * cost_term[None]
    return np.where(valid[None], x, 0.0)


def rank_positions(x: np.ndarray) -> np.ndarray:
    """Rank of every model within each (alpha, cluster): 0 = best.

    Equal scores are ranked in model order (a stable sort), so the lower model index ranks first.

    Parameters
    ----------
    x
        (A, K, M) scores from :func:`performance_efficiency`.

    Returns
    -------
    np.ndarray
        (A, K, M) int64 rank positions.
    """
    x = np.asarray(x)
    order = np.argsort(-x, axis=-1, kind="stable")
    ranks = np.empty(x.shape, dtype=np.int64)
    positions = np.broadcast_to(np.arange(x.shape[-1], dtype=np.int64), x.shape)
    np.put_along_axis(ranks, order, positions, axis=-1)
    return ranks


def _cluster_share(
    by_cluster: np.ndarray, chunk_idx: np.ndarray, chunk_weights: np.ndarray | None, j: int
) -> np.ndarray:
    """(chunk, A, M) share of S from each query's j-th nearest cluster (a fresh, writable array)."""
    share = by_cluster[chunk_idx[:, j]]
    if chunk_weights is not None:
        share *= chunk_weights[:, j][:, None, None]
    return share


def _gathered_sum(by_cluster: np.ndarray, chunk_idx: np.ndarray, chunk_weights: np.ndarray | None) -> np.ndarray:
    """(chunk, A, M) sum of ``by_cluster`` over each query's clusters, optionally weighted.

    Summed nearest first, in the same order as a plain per-query loop, so that ties are exact ties.
    The one implementation of S (and of the tie-break accuracy, which is gathered the same way).
    """
    total = _cluster_share(by_cluster, chunk_idx, chunk_weights, 0)
    for j in range(1, chunk_idx.shape[1]):
        total += _cluster_share(by_cluster, chunk_idx, chunk_weights, j)
    return total


def aggregation_table(x: np.ndarray, variant: Variant) -> tuple[np.ndarray, bool]:
    """What each cluster contributes to a model's aggregated score S, and whether it is weighted.

    Official aggregation: the reciprocal rank ``1 / (rank + 1)``, weighted by softmax(-beta * d);
    paper aggregation: the score ``x`` itself, weighted only when ``variant.weighted``.

    Returns
    -------
    tuple[np.ndarray, bool]
        The (A, K, M) table and whether the proximity weights multiply it.
    """
    if variant.aggregation == "official":
        return 1.0 / (rank_positions(x) + 1.0), variant.uses_weights
    return x, variant.uses_weights


def _cluster_major_table(x: np.ndarray, variant: Variant) -> tuple[np.ndarray, bool]:
    """:func:`aggregation_table` as (K, A, M): gathering a query's cluster is then one contiguous block."""
    table, use_weights = aggregation_table(x, variant)
    return np.ascontiguousarray(table.transpose(1, 0, 2)), use_weights


def _checked_inputs(x: np.ndarray, idx: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x``, ``idx`` and ``weights`` as arrays of the shapes :func:`route` and :func:`aggregate` take."""
    x = np.asarray(x, dtype=np.float64)
    idx = np.asarray(idx)
    weights = np.asarray(weights, dtype=np.float64)
    if x.ndim != 3 or idx.ndim != 2 or weights.shape != idx.shape:
        raise ValueError(
            f"expected x (A, K, M), idx and weights (n, top_k); got {x.shape}, {idx.shape}, {weights.shape}"
        )
    if idx.shape[1] < 1:
        raise ValueError("idx must name at least one cluster per query")
    return x, idx, weights


def _block_size(chunk_size: int, n_alphas: int, n_models: int) -> int:
    """Queries per block: at most ``chunk_size``, and about 1 MiB per (block, A, M) float64 array."""
    return max(1, min(int(chunk_size), _CACHE_BLOCK_BYTES // (8 * n_alphas * n_models)))


def aggregate(
    x: np.ndarray, idx: np.ndarray, weights: np.ndarray, variant: Variant, chunk_size: int = 8192
) -> np.ndarray:
    """The aggregated score S of every (alpha, query, model): what :func:`route` ranks.

    * official aggregation: ``S(m) = sum_j w_j / (rank_j(m) + 1)``;
    * paper aggregation: ``S(m) = sum_j x_j(m)``, or ``sum_j w_j * x_j(m)`` when ``variant.weighted``.

    :func:`route` computes S with the same code, block by block, so these are exactly the values it
    compares (no model is masked out here: ``available`` is :func:`route`'s business).

    Parameters
    ----------
    x
        (A, K, M) scores from :func:`performance_efficiency`.
    idx, weights
        (n, top_k) from :func:`~avengers_pro.routing.geometry.nearest_clusters`.
    variant
        Selects the aggregation (and ``weighted``).
    chunk_size
        At most this many queries are processed at once (as in :func:`route`).

    Returns
    -------
    np.ndarray
        (A, n, M) float64.
    """
    x, idx, weights = _checked_inputs(x, idx, weights)
    n_alphas, _, n_models = x.shape
    by_cluster, use_weights = _cluster_major_table(x, variant)
    n = idx.shape[0]
    scores = np.empty((n_alphas, n, n_models), dtype=np.float64)
    block = _block_size(chunk_size, n_alphas, n_models)
    for start in range(0, n, block):
        stop = min(start + block, n)
        chunk_weights = weights[start:stop] if use_weights else None
        scores[:, start:stop] = _gathered_sum(by_cluster, idx[start:stop], chunk_weights).transpose(1, 0, 2)
    return scores


def route(
    x: np.ndarray,
    idx: np.ndarray,
    weights: np.ndarray,
    variant: Variant,
    available: np.ndarray | None = None,
    max_router: int = 1,
    chunk_size: int = 8192,
    tie_accuracy: np.ndarray | None = None,
) -> np.ndarray:
    """Choose the model(s) for every (alpha, query) in one pass.

    Each model gets the aggregated score S over the query's nearest clusters of :func:`aggregate`
    (the same code). The ``max_router`` models with the highest S are returned, best first. Ties in S:

    * paper aggregation, with ``tie_accuracy``: the model of higher accuracy over the same clusters
      (``sum_j w_j * acc_j(m)``, the weights as in S) wins, then the lower model index. Without it, a
      tie such as every model at alpha = 0 with equal costs would go to the first model by name;
    * official aggregation: the lower model index (the official code's stable sort), for fidelity.

    A model whose ``available`` cell is False is never chosen for that query; if fewer than
    ``max_router`` models are available (or exist), the remaining slots hold -1.

    Parameters
    ----------
    x
        (A, K, M) scores from :func:`performance_efficiency`.
    idx, weights
        (n, top_k) from :func:`~avengers_pro.routing.geometry.nearest_clusters`.
    variant
        Selects the aggregation (and ``weighted``).
    available
        Optional (n, M) bool mask of the models that have a record for each query.
    max_router
        Number of models returned per query.
    tie_accuracy
        Optional (K, M) accuracy of each model in each cluster (NaN = no record), the tie-break of
        the paper aggregation (ignored by the official one).
    chunk_size
        At most this many queries are processed at once. Blocks are further cut to about 1 MiB per
        (block, A, M) array, which keeps them in the CPU cache (3x faster than big blocks); memory
        stays a few such arrays plus the (A, n, max_router) result.

    Returns
    -------
    np.ndarray
        (A, n, max_router) int64 model indices.
    """
    x, idx, weights = _checked_inputs(x, idx, weights)
    n_alphas, _, n_models = x.shape
    n = idx.shape[0]
    if available is not None:
        available = np.asarray(available, dtype=bool)
        if available.shape != (n, n_models):
            raise ValueError(f"available must have shape {(n, n_models)}, got {available.shape}")
    if max_router < 1:
        raise ValueError(f"max_router: must be >= 1, got {max_router}")
    max_router = int(max_router)

    by_cluster, use_weights = _cluster_major_table(x, variant)
    tie_table = None
    if tie_accuracy is not None and variant.aggregation == "paper":
        tie_accuracy = np.asarray(tie_accuracy, dtype=np.float64)
        if tie_accuracy.shape != x.shape[1:]:
            raise ValueError(f"tie_accuracy must have shape {x.shape[1:]}, got {tie_accuracy.shape}")
        # (K, 1, M): the same gathering as S, with one "alpha"; no record counts as accuracy 0.
        tie_table = np.ascontiguousarray(np.nan_to_num(tie_accuracy, nan=0.0)[:, None, :])

    block = _block_size(chunk_size, n_alphas, n_models)
    choices = np.empty((n_alphas, n, max_router), dtype=np.int64)
    for start in range(0, n, block):
        stop = min(start + block, n)
        chunk_idx = idx[start:stop]
        chunk_weights = weights[start:stop] if use_weights else None
        total = _gathered_sum(by_cluster, chunk_idx, chunk_weights)  # S, as aggregate() gives it
        if available is not None:
            np.copyto(total, -np.inf, where=~available[start:stop, None, :])
        tie = None if tie_table is None else _gathered_sum(tie_table, chunk_idx, chunk_weights)
        # max_router rounds of argmax, each knocking out the model it took: argmax returns the first
        # maximum, so equal S (and equal tie-break accuracy) go to the lower model index, as a stable
        # sort would (and cheaper).
        best = np.empty(total.shape[:2] + (max_router,), dtype=np.int64)
        for slot in range(max_router):
            if tie is None:
                pick = total.argmax(axis=-1)[..., None]
            else:
                tied = total == total.max(axis=-1, keepdims=True)
                pick = np.where(tied, tie, -np.inf).argmax(axis=-1)[..., None]
            # Unavailable and already taken models are -inf: a -inf maximum means nothing is left.
            best[..., slot : slot + 1] = np.where(np.isneginf(np.take_along_axis(total, pick, axis=-1)), -1, pick)
            if slot + 1 < max_router:
                np.put_along_axis(total, pick, -np.inf, axis=-1)
        choices[:, start:stop] = best.transpose(1, 0, 2)
    return choices
