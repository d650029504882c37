"""Evaluating routing decisions: one (variant, k, seed) sweep over every alpha at once.

The outputs are the sweep table (one row per (alpha, dataset)) and the per-query decisions (one row
per (alpha, query)) described in ``docs/architecture.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from avengers_pro.errors import DataError
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.avengers import AvengersProEstimator
from avengers_pro.routing.scores import Variant


def routed_column(model: str) -> str:
    """Name of the column that counts the queries routed to ``model``."""
    return f"routed[{model}]"


def chosen_outcomes(choices: np.ndarray, matrix: RecordMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Score and cost of the routed call(s) of every (alpha, query).

    With several models per query (``max_router > 1``) the score is the best of them and the cost
    their sum: an upper bound, since it assumes the right answer can be recognised for free.

    Parameters
    ----------
    choices
        (A, n, R) model indices, best first; -1 pads slots without an available model.
    matrix
        The evaluated queries, rows aligned with ``choices``' second axis.

    Returns
    -------
    score, cost : np.ndarray
        (A, n) float64 each.

    Raises
    ------
    DataError
        If a query has no chosen model at all, or a chosen model has no record for the query.
    """
    choices = np.asarray(choices)
    n = len(matrix.query_ids)
    if choices.ndim != 3 or choices.shape[1] != n:
        raise ValueError(f"choices must have shape (A, {n}, max_router), got {choices.shape}")
    no_choice = choices[..., 0] < 0
    if no_choice.any():
        row = int(np.argwhere(no_choice)[0, 1])
        raise DataError(
            f"query '{matrix.query_ids[row]}' has no model with a record to route to", row=row, field="model"
        )
    used = choices >= 0
    every_slot_used = bool(used.all())
    # Flat positions into the (n, M) arrays: np.take on them is much faster than 2-D fancy indexing.
    safe = choices if every_slot_used else np.where(used, choices, 0)
    flat = np.arange(n)[None, :, None] * len(matrix.models) + safe
    chosen_scores = np.take(matrix.scores, flat)
    chosen_costs = np.take(matrix.costs, flat)
    missing = used & np.isnan(chosen_scores)
    if missing.any():
        alpha, row, slot = np.argwhere(missing)[0]
        raise DataError(
            f"query '{matrix.query_ids[row]}' was routed to model '{matrix.models[choices[alpha, row, slot]]}', "
            "which has no record for it",
            row=int(row),
            field="model",
        )
    if not every_slot_used:
        chosen_scores = np.where(used, chosen_scores, -np.inf)
        chosen_costs = np.where(used, chosen_costs, 0.0)
    return chosen_scores.max(axis=-1), chosen_costs.sum(axis=-1)


def summarise_by_dataset(
    first_choice: np.ndarray, score: np.ndarray, cost: np.ndarray, matrix: RecordMatrix, alphas: np.ndarray
) -> pd.DataFrame:
    """Aggregate per-(alpha, query) outcomes into one row per (alpha, dataset).

    Parameters
    ----------
    first_choice
        (A, n) index of the first chosen model (counted in ``routed[<model>]``).
    score, cost
        (A, n) outcome of each routed query.
    matrix
        The evaluated queries.
    alphas
        (A,) alpha of each row of the inputs.

    Returns
    -------
    pd.DataFrame
        Columns ``alpha``, ``dataset``, ``accuracy`` (mean score), ``cost`` (total USD),
        ``n_queries`` and ``routed[<model>]``; datasets in sorted order within each alpha.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    n_alphas = len(alphas)
    n_models = len(matrix.models)
    codes, names = pd.factorize(pd.Series(matrix.datasets, dtype=object), sort=True)
    names = np.asarray(names, dtype=object)
    n_datasets = len(names)
    n_per_dataset = np.bincount(codes, minlength=n_datasets)
    # One flat bin per (alpha, dataset): every alpha and every query in one bincount.
    cell = np.arange(n_alphas)[:, None] * n_datasets + codes[None, :]
    size = n_alphas * n_datasets
    score_sum = np.bincount(cell.ravel(), weights=score.ravel(), minlength=size)
    cost_sum = np.bincount(cell.ravel(), weights=cost.ravel(), minlength=size)
    routed = np.bincount((cell * n_models + first_choice).ravel(), minlength=size * n_models).reshape(size, n_models)
    n_queries = np.tile(n_per_dataset, n_alphas)
    columns: dict[str, np.ndarray] = {
        "alpha": np.repeat(alphas, n_datasets),
        "dataset": np.tile(names, n_alphas),
        "accuracy": score_sum / np.maximum(n_queries, 1),
        "cost": cost_sum,
        "n_queries": n_queries.astype(np.int64),
    }
    for m, model in enumerate(matrix.models):
        columns[routed_column(model)] = routed[:, m].astype(np.int64)
    return pd.DataFrame(columns)


def evaluate_choices(
    choices: np.ndarray, matrix: RecordMatrix, alphas: np.ndarray, with_decisions: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Turn routing choices into the sweep table and the per-query decisions.

    Parameters
    ----------
    choices
        (A, n, max_router) model indices from :func:`avengers_pro.routing.scores.route`, best first.
    matrix
        The evaluated queries only, rows aligned with ``choices``' second axis.
    alphas
        (A,) the alpha of each leading slice of ``choices``.
    with_decisions
        False skips the per-query table (None is returned in its place): it has A x n rows, 30M at
        300k evaluated queries, and a validation sweep only needs the sweep table.

    Returns
    -------
    sweep : pd.DataFrame
        One row per (alpha, dataset): ``alpha``, ``dataset``, ``accuracy`` (mean recorded score of
        the chosen model), ``cost`` (total USD), ``n_queries``, ``max_router`` and
        ``routed[<model>]`` (queries whose first choice is that model).
    decisions : pd.DataFrame
        One row per (alpha, query): ``alpha``, ``query_id``, ``dataset``, ``model`` (first choice),
        ``score``, ``cost``. With ``max_router > 1``, score = max over the chosen models and cost =
        their sum (an upper bound).
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    choices = np.asarray(choices)
    if choices.ndim != 3 or choices.shape[0] != len(alphas):
        raise ValueError(f"choices must have shape ({len(alphas)}, n, max_router), got {choices.shape}")
    score, cost = chosen_outcomes(choices, matrix)
    first = choices[..., 0]
    sweep = summarise_by_dataset(first, score, cost, matrix, alphas)
    sweep.insert(sweep.columns.get_loc("n_queries") + 1, "max_router", np.int64(choices.shape[2]))
    if not with_decisions:
        return sweep, None
    n = len(matrix.query_ids)
    query_rows = np.tile(np.arange(n), len(alphas))
    decisions = pd.DataFrame(
        {
            "alpha": np.repeat(alphas, n),
            "query_id": string_column(matrix.query_ids, query_rows),
            "dataset": string_column(matrix.datasets, query_rows),
            "model": string_column(np.asarray(matrix.models, dtype=object), first.ravel()),
            "score": score.ravel(),
            "cost": cost.ravel(),
        }
    )
    return sweep, decisions


def string_column(values: np.ndarray, positions: np.ndarray) -> pd.Series:
    """``values[positions]`` as a pandas string column.

    Built with Arrow's ``take`` rather than from a NumPy object array: several times faster for the
    (alphas x queries) decision tables, with the same ``str`` dtype.
    """
    taken = pa.array(np.asarray(values, dtype=object), type=pa.large_string()).take(pa.array(positions))
    return taken.to_pandas(types_mapper=lambda _: pd.StringDtype("pyarrow", na_value=np.nan))


def matrix_rows(matrix: RecordMatrix, query_ids: np.ndarray, what: str) -> np.ndarray:
    """Row positions of ``query_ids`` in ``matrix``; unknown ids raise a DataError naming ``what``."""
    try:
        return matrix.positions(np.asarray(query_ids, dtype=object))
    except KeyError as error:
        raise DataError(f"{what} query ids not in the records: {error.args[0]}", field="query_id") from None


def run_sweep(
    matrix: RecordMatrix,
    train_ids: np.ndarray,
    train_labels: np.ndarray,
    centroids: np.ndarray,
    eval_ids: np.ndarray,
    eval_embeddings: np.ndarray,
    variant: Variant,
    alphas: np.ndarray,
    top_k: int,
    beta: float,
    max_router: int = 1,
    with_decisions: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Fit the router on the training queries and evaluate it on the evaluation queries, every alpha.

    Per-cluster statistics use ``train_ids`` ONLY; the evaluated queries' scores are read only to
    score the decisions already made.

    Parameters
    ----------
    matrix
        All records (train and evaluation queries).
    train_ids, train_labels
        Training query ids and their cluster labels (aligned).
    centroids
        (K, dim) KMeans centroids of the training embeddings.
    eval_ids, eval_embeddings
        Evaluated query ids and their embeddings (rows aligned).
    variant, alphas, top_k, beta, max_router
        Router settings; see :mod:`avengers_pro.routing.scores`.
    with_decisions
        False: no per-query decisions table (None in its place), as :func:`evaluate_choices`.

    Returns
    -------
    sweep, decisions : pd.DataFrame
        As :func:`evaluate_choices`.

    Raises
    ------
    DataError
        If ids are unknown, lengths disagree, or an evaluated query is also a training query.
    """
    train_ids = np.asarray(train_ids, dtype=object)
    eval_ids = np.asarray(eval_ids, dtype=object)
    train_labels = np.asarray(train_labels)
    eval_embeddings = np.asarray(eval_embeddings)
    if len(train_labels) != len(train_ids):
        raise DataError(f"{len(train_ids)} training query ids but {len(train_labels)} cluster labels", field="cluster")
    if eval_embeddings.ndim != 2 or len(eval_embeddings) != len(eval_ids):
        raise DataError(
            f"{len(eval_ids)} evaluated query ids but embeddings of shape {eval_embeddings.shape}", field="embedding"
        )
    train_rows = matrix_rows(matrix, train_ids, "training")
    eval_rows = matrix_rows(matrix, eval_ids, "evaluated")
    leaked = np.intersect1d(train_rows, eval_rows)
    if len(leaked):
        raise DataError(
            f"{len(leaked)} evaluated queries are also training queries, e.g. '{matrix.query_ids[leaked[0]]}'",
            field="query_id",
        )
    train = matrix.subset(train_rows)
    evaluated = matrix.subset(eval_rows)
    router = AvengersProEstimator.from_clusters(
        variant, centroids, train_labels, train, top_k=top_k, beta=beta, max_router=max_router
    )
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    choices = router.route(eval_embeddings, alphas, available=evaluated.available)
    return evaluate_choices(choices, evaluated, alphas, with_decisions)
