"""Reference points on exactly the same test queries as the router.

* every single model;
* ``random``: a seeded uniform pick among the models with a record, per query;
* ``oracle``: the per-query oracle's curve, one point per alpha of the grid: at each alpha every query
  goes to the model that maximises the performance-efficiency score of the whole test point with
  the query's true scores and costs known (:func:`oracle_choices`), so that each point is the most
  accurate routing of the test queries for its cost: a ceiling at every cost;
* ``best-score-oracle``: the curve's best-score end as one point: per query, the best available
  score, at the cost of the cheapest model reaching it (with 0/1 scores: right if any model is
  right, cost of the cheapest right model, else of the cheapest model);
* ``dataset-oracle``: per dataset, the model with the best test accuracy on it (the cheapest of
  equally accurate ones);
* ``dataset-router``: the router's scoring and alpha grid with each dataset as one cluster, the
  query's dataset being known: the floor any embedding-based router must beat.

Every frame has the columns ``method``, ``kind`` (``model`` for a single model, ``baseline`` for the
others; see :mod:`avengers_pro.outputs`), ``variant`` (only for ``dataset-router``, else ""),
``alpha`` (only for ``dataset-router`` and ``oracle``, else NaN), ``dataset``, ``accuracy`` (mean recorded score over
the dataset's queries), ``cost`` (total USD), ``n_queries`` and ``routed[<model>]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.evaluation.sweep import evaluate_choices, matrix_rows, routed_column, summarise_by_dataset
from avengers_pro.io import RecordMatrix
from avengers_pro.outputs import (
    BASELINE,
    BASELINE_COLUMNS,
    BEST_SCORE_ORACLE,
    DATASET_ROUTER,
    MODEL,
    ORACLE,
    SWEEPING_BASELINES,
)
from avengers_pro.routing.scores import (
    ClusterStats,
    Variant,
    cluster_statistics,
    group_sums,
    performance_efficiency,
    route,
)

SPLIT_COLUMNS = ("query_id", "dataset", "split", "validation")


def baseline_columns(models: list[str]) -> list[str]:
    """Column order of every baselines frame."""
    return [*BASELINE_COLUMNS, *(routed_column(m) for m in models)]


def _labelled(frame: pd.DataFrame, models: list[str], method: str, variant: str = "") -> pd.DataFrame:
    """Add ``method``, ``kind`` (``baseline``) and ``variant``, blank the alpha of non-sweeping
    baselines, fix the column order.
    """
    frame = frame.copy()
    frame["method"] = method
    frame["kind"] = BASELINE
    frame["variant"] = variant
    if method not in SWEEPING_BASELINES:
        frame["alpha"] = np.nan
    return frame[baseline_columns(models)].reset_index(drop=True)


def _per_query_baseline(matrix: RecordMatrix, chosen: np.ndarray, method: str) -> pd.DataFrame:
    """Frame of a baseline that routes each query to one model, ``chosen`` (n,)."""
    rows = np.arange(len(chosen))
    score = matrix.scores[rows, chosen][None, :]
    cost = matrix.costs[rows, chosen][None, :]
    frame = summarise_by_dataset(chosen[None, :], score, cost, matrix, np.array([np.nan]))
    return _labelled(frame, matrix.models, method)


def _check_every_query_has_a_record(matrix: RecordMatrix) -> None:
    empty = ~matrix.available.any(axis=1)
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise DataError(f"query '{matrix.query_ids[row]}' has no record for any model", row=row, field="model")


def _dataset_model_totals(matrix: RecordMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (dataset, model): recorded queries, summed score and summed cost; datasets sorted.

    Returns ``(dataset names (D,), count (D, M), score_sum (D, M), cost_sum (D, M))``.
    """
    codes, names = pd.factorize(pd.Series(matrix.datasets, dtype=object), sort=True)
    recorded = matrix.available

    def total(values: np.ndarray) -> np.ndarray:
        return group_sums(codes, values, len(names))

    count = total(recorded.astype(np.float64)).astype(np.int64)
    score_sum = total(np.where(recorded, matrix.scores, 0.0))
    cost_sum = total(np.where(recorded, matrix.costs, 0.0))
    return np.asarray(names, dtype=object), count, score_sum, cost_sum


def single_models(matrix: RecordMatrix) -> pd.DataFrame:
    """Every model on the given (test) queries.

    A model's accuracy on a dataset is its mean score over the queries it has a record for, its cost
    the total over them, and ``n_queries`` their number; a model without any record on a dataset
    gets a row with accuracy NaN, cost 0 and ``n_queries`` 0.

    Parameters
    ----------
    matrix
        The test queries.

    Returns
    -------
    pd.DataFrame
        One row per (model, dataset), models in model order, datasets sorted; ``method`` = the
        model's name.
    """
    names, count, score_sum, cost_sum = _dataset_model_totals(matrix)
    n_datasets, n_models = count.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(count > 0, score_sum / count, np.nan)
    # Rows are model-major: row m * D + d is model m on dataset d; it routed its own queries only.
    routed = np.zeros((n_models * n_datasets, n_models), dtype=np.int64)
    for m in range(n_models):
        routed[m * n_datasets : (m + 1) * n_datasets, m] = count[:, m]
    columns: dict[str, object] = {
        "method": np.repeat(np.asarray(matrix.models, dtype=object), n_datasets),
        "kind": MODEL,
        "variant": "",
        "alpha": np.nan,
        "dataset": np.tile(names, n_models),
        "accuracy": accuracy.T.ravel(),
        "cost": cost_sum.T.ravel(),
        "n_queries": count.T.ravel(),
    }
    for m, model in enumerate(matrix.models):
        columns[routed_column(model)] = routed[:, m]
    return pd.DataFrame(columns)[baseline_columns(matrix.models)]


def random_router(matrix: RecordMatrix, seed: int) -> pd.DataFrame:
    """A seeded uniform pick among the models with a record, independently per query.

    Parameters
    ----------
    matrix
        The test queries.
    seed
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    pd.DataFrame
        One row per dataset, ``method`` = ``random``.
    """
    _check_every_query_has_a_record(matrix)
    available = matrix.available
    rng = np.random.default_rng(seed)
    n_available = available.sum(axis=1)
    # The k-th available model (k uniform in [0, n_available)) is the first whose running count exceeds k.
    k = np.minimum((rng.random(len(n_available)) * n_available).astype(np.int64), n_available - 1)
    chosen = (np.cumsum(available, axis=1) > k[:, None]).argmax(axis=1)
    return _per_query_baseline(matrix, chosen, "random")


def best_score_oracle(matrix: RecordMatrix) -> pd.DataFrame:
    """The per-query oracle's best-score point: the best available score, at the cost of the cheapest
    model reaching it.

    With 0/1 scores a query is right if any model is right, and costs the cheapest right model, or
    the cheapest model when none is right. Equal costs -> the lower model index. It is the alpha = 1
    end of :func:`oracle_curve`.

    Parameters
    ----------
    matrix
        The test queries.

    Returns
    -------
    pd.DataFrame
        One row per dataset, ``method`` = ``best-score-oracle``.
    """
    return _per_query_baseline(matrix, oracle_choices(matrix, np.array([1.0]))[0], BEST_SCORE_ORACLE)


def _oracle_scales(matrix: RecordMatrix) -> tuple[float, float]:
    """The min-max ranges of the single models' accuracy and total cost on ``matrix`` (1 where a range is 0)."""
    _, count, score_sum, cost_sum = _dataset_model_totals(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_dataset = np.where(count > 0, score_sum / count, np.nan)
    # A model without records on some dataset: its mean over the datasets it has (a scale, not a result).
    accuracy = np.array([np.nanmean(column) if np.isfinite(column).any() else np.nan for column in per_dataset.T])
    cost = cost_sum.sum(axis=0)

    def spread(values: np.ndarray) -> float:
        values = values[np.isfinite(values)]
        width = float(values.max() - values.min()) if values.size else 0.0
        return width if width > 0 else 1.0

    return spread(accuracy), spread(cost)


def oracle_choices(matrix: RecordMatrix, alphas: np.ndarray) -> np.ndarray:
    """(A, n) the model the per-query oracle routes each query to, at every alpha.

    The oracle maximises the performance-efficiency score of the whole test point,
    ``x = alpha * acc_norm + (1 - alpha) * (1 - cost_norm)``, over every way of routing the test
    queries, their true scores and costs known. ``acc`` is the point's accuracy (the unweighted mean
    over datasets of per-dataset mean scores) and ``cost`` its total cost, both normalised min-max
    across the single models on these queries (the ``paper`` normalisation of a cluster, with the
    test queries as the cluster; a range of 0 counts as 1). Both are sums over queries, so the
    maximum is reached query by query: query q of dataset d goes to the model i of largest
    ``alpha * s_qi / (D * n_d * range_acc) - (1 - alpha) * c_qi / range_cost``.

    Every point is therefore the most accurate routing of the queries among those of equal or lower
    cost (a Lagrangian relaxation with the exchange rate ``(1 - alpha) * range_acc / (alpha *
    range_cost)``): no router's point can lie above the line through it with that slope. Alpha = 0
    is the cheapest routing, alpha = 1 the best-score one.

    Tie-break: the routers' of the ``paper`` aggregation (the higher score, then model order), with the
    cheaper model first among equal scores; so alpha = 1 gives the cheapest model of the best score.
    Models without a record for a query are never chosen for it.

    Parameters
    ----------
    matrix
        The test queries.
    alphas
        (A,) alpha grid.

    Returns
    -------
    np.ndarray
        (A, n) int64 model indices.
    """
    _check_every_query_has_a_record(matrix)
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    codes, names = pd.factorize(pd.Series(matrix.datasets, dtype=object), sort=True)
    share = 1.0 / (len(names) * np.bincount(codes)[codes])  # each query's weight in the accuracy
    range_acc, range_cost = _oracle_scales(matrix)
    available = matrix.available
    # Each query's models in tie-break order (higher score, then cheaper, then model order), so that
    # the first maximum of x in that order is the choice.
    n_models = len(matrix.models)
    order = np.lexsort(
        (
            np.broadcast_to(np.arange(n_models), available.shape),
            np.where(available, matrix.costs, np.inf),
            -np.where(available, matrix.scores, -np.inf),
        ),
        axis=1,
    )
    rows = np.arange(len(matrix.query_ids))[:, None]
    gain = np.where(available, matrix.scores * (share / range_acc)[:, None], 0.0)[rows, order]
    price = np.where(available, matrix.costs / range_cost, 0.0)[rows, order]
    masked = np.where(available, 0.0, -np.inf)[rows, order]
    choices = np.empty((len(alphas), len(matrix.query_ids)), dtype=np.int64)
    for a, alpha in enumerate(alphas):  # one (n, M) block per alpha: memory stays O(n M)
        x = alpha * gain - (1.0 - alpha) * price + masked
        choices[a] = np.take_along_axis(order, x.argmax(axis=1)[:, None], axis=1)[:, 0]
    return choices


def oracle_curve(
    matrix: RecordMatrix, alphas: np.ndarray, with_decisions: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The per-query oracle's curve: :func:`oracle_choices` at every alpha, evaluated like a router.

    Parameters
    ----------
    matrix
        The test queries.
    alphas
        (A,) alpha grid (the routers').
    with_decisions
        Also return the per-query decisions (for the leaderboard's bootstrap); else None.

    Returns
    -------
    frame : pd.DataFrame
        One row per (alpha, dataset), ``method`` = ``oracle``.
    decisions : pd.DataFrame or None
        One row per (alpha, query), as :func:`avengers_pro.evaluation.sweep.evaluate_choices`.
    """
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    choices = oracle_choices(matrix, alphas)
    sweep, decisions = evaluate_choices(choices[:, :, None], matrix, alphas, with_decisions)
    return _labelled(sweep, matrix.models, ORACLE), decisions


def dataset_oracle(matrix: RecordMatrix) -> pd.DataFrame:
    """Per dataset, the model with the best accuracy on the given queries, and its cost.

    Equal accuracies -> the cheaper model, then the lower model index. Accuracy, cost and ``n_queries`` are that model's
    single-model numbers on the dataset (see :func:`single_models`).

    Parameters
    ----------
    matrix
        The test queries.

    Returns
    -------
    pd.DataFrame
        One row per dataset (sorted), ``method`` = ``dataset-oracle``.
    """
    singles = single_models(matrix)  # model-major rows: model m on dataset d is row m * D + d
    n_datasets = len(singles) // len(matrix.models)
    accuracy = singles["accuracy"].to_numpy().reshape(len(matrix.models), n_datasets).T  # (D, M)
    cost = singles["cost"].to_numpy().reshape(len(matrix.models), n_datasets).T
    accuracy = np.where(np.isnan(accuracy), -np.inf, accuracy)
    # Like the per-query oracle: among the most accurate models, the cheapest (then the lower index).
    is_best = accuracy == accuracy.max(axis=1, keepdims=True)
    best = np.where(is_best, cost, np.inf).argmin(axis=1)
    frame = singles.iloc[best * n_datasets + np.arange(n_datasets)]
    return _labelled(frame, matrix.models, "dataset-oracle")


def _dataset_cluster_stats(train: RecordMatrix, test: RecordMatrix) -> tuple[ClusterStats, np.ndarray]:
    """Statistics with one cluster per training dataset, and each test query's cluster.

    A test dataset absent from training (an out-of-distribution dataset) has no statistics of its
    own; its queries are routed by one extra cluster made of all training queries.
    """
    train_codes, names = pd.factorize(pd.Series(train.datasets, dtype=object), sort=True)
    stats = cluster_statistics(train_codes, train.scores, train.costs, n_clusters=len(names))
    test_cluster = pd.Index(names).get_indexer(pd.Series(test.datasets, dtype=object))
    unseen = test_cluster < 0
    if unseen.any():
        pooled = cluster_statistics(np.zeros(len(train.query_ids), dtype=np.int64), train.scores, train.costs, 1)
        stats = ClusterStats(
            accuracy=np.vstack([stats.accuracy, pooled.accuracy]),
            cost=np.vstack([stats.cost, pooled.cost]),
            count=np.vstack([stats.count, pooled.count]),
        )
        test_cluster = np.where(unseen, len(names), test_cluster)
    return stats, test_cluster.astype(np.int64)


def dataset_router(
    matrix: RecordMatrix,
    train_ids: np.ndarray,
    test_ids: np.ndarray,
    variant: Variant,
    alphas: np.ndarray,
    max_router: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The router with each dataset as one cluster, the query's dataset being known (no embeddings).

    Statistics come from the training queries only. Each test query is routed by its own dataset's
    cluster alone (top_k = 1, so both aggregations pick the best-scored model of that cluster and
    only the normalisation of ``variant`` matters).

    Parameters
    ----------
    matrix
        All records.
    train_ids, test_ids
        Query ids of the training and the test queries.
    variant
        Router variant (normalisation and aggregation).
    alphas
        (A,) alpha grid.
    max_router
        Models per query (> 1: an upper bound, as in :func:`avengers_pro.evaluation.sweep.evaluate_choices`).

    Returns
    -------
    frame : pd.DataFrame
        One row per (alpha, dataset), ``method`` = ``dataset-router``, ``variant`` = its name.
    decisions : pd.DataFrame
        One row per (alpha, test query), as :func:`avengers_pro.evaluation.sweep.evaluate_choices`.
    """
    train_ids = np.asarray(train_ids, dtype=object)
    test_ids = np.asarray(test_ids, dtype=object)
    leaked = pd.Index(test_ids).intersection(pd.Index(train_ids))
    if len(leaked):
        raise DataError(f"{len(leaked)} test queries are also training queries, e.g. '{leaked[0]}'", field="split")
    train = matrix.subset(matrix_rows(matrix, train_ids, "training"))
    test = matrix.subset(matrix_rows(matrix, test_ids, "test"))
    if len(train.query_ids) == 0:
        raise DataError("the dataset router needs at least one training query", field="split")
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    stats, test_cluster = _dataset_cluster_stats(train, test)
    x = performance_efficiency(stats, alphas, variant.normalisation)
    choices = route(
        x,
        test_cluster[:, None],
        np.ones((len(test_cluster), 1)),
        variant,
        available=test.available,
        max_router=max_router,
        tie_accuracy=stats.accuracy,
    )
    sweep, decisions = evaluate_choices(choices, test, alphas)
    return _labelled(sweep, matrix.models, DATASET_ROUTER, variant.name), decisions


def _check_split(split: pd.DataFrame, seed: int) -> None:
    where = f"splits/seed{seed}"
    missing = [c for c in SPLIT_COLUMNS if c not in split.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}", file=where, field=missing[0])
    bad = ~split["split"].isin(["train", "test"]).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"expected 'train' or 'test', got {split['split'].iloc[row]!r}", file=where, row=row, field="split"
        )
    duplicated = split["query_id"].duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise DataError(
            f"query id {split['query_id'].iloc[row]!r} appears twice", file=where, row=row, field="query_id"
        )


def run_baselines(
    matrix: RecordMatrix,
    split: pd.DataFrame,
    variants: list[Variant],
    alphas: np.ndarray,
    seed: int,
    max_router: int = 1,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every baseline of one seed on that seed's test split.

    Parameters
    ----------
    matrix
        All records.
    split
        The ``results/splits/seed{seed}.parquet`` frame (``query_id``, ``dataset``, ``split``,
        ``validation``). Train = ``split == "train"`` (validation rows included); test =
        ``split == "test"``.
    variants
        Router variants, one dataset-router sweep each.
    alphas
        (A,) alpha grid of the dataset router and the oracle.
    seed
        The split's seed; also seeds the random router.
    max_router
        Models per query of the dataset router.

    Returns
    -------
    baselines : pd.DataFrame
        The ``results/baselines/seed{seed}.parquet`` frame: single models, ``random``, ``oracle``
        (one sweep), ``best-score-oracle``, ``dataset-oracle`` and ``dataset-router`` (one sweep per
        variant).
    decisions : dict[str, pd.DataFrame]
        ``{variant name: dataset-router decisions}``.
    """
    _check_split(split, seed)
    is_test = (split["split"] == "test").to_numpy()
    train_ids = split["query_id"].to_numpy(dtype=object)[~is_test]
    test_ids = split["query_id"].to_numpy(dtype=object)[is_test]
    test = matrix.subset(matrix_rows(matrix, test_ids, "test"))
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    curve, _ = oracle_curve(test, alphas)
    frames = [single_models(test), random_router(test, seed), curve, best_score_oracle(test), dataset_oracle(test)]
    decisions: dict[str, pd.DataFrame] = {}
    for variant in variants:
        frame, decisions[variant.name] = dataset_router(matrix, train_ids, test_ids, variant, alphas, max_router)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True), decisions
