"""Avengers-Pro by K-fold cross-validation over a seed's training part: fold fits, out-of-fold sweeps.

Each seed's training queries are dealt into the K folds the router families use
(:func:`split_folds`, i.e. :func:`~avengers_pro.evaluation.cv.cv_folds` on the split's training rows in
query-id order, the record matrix's order). For every cluster count the ``cluster`` job fits KMeans
once per fold on the training queries outside that fold (:func:`fit_fold_clusterings`, stored as one
``results/clusters/folds/k{k}_seed{seed}.npz`` that both variants' sweep jobs read). The sweep job
then routes each fold's queries with the router fitted on the other folds (:func:`out_of_fold_sweeps`),
which gives:

* per (k, seed, fold) the held-out AIQ over ``[0, most expensive single model's cost on the fold]``
  on :data:`~avengers_pro.evaluation.selection.SELECTION_ALPHAS`, the families' criterion
  (``results/sweep_oof/{variant}/cv_aiq.parquet``): :func:`cv_best_k` chooses the cluster count by the
  one-standard-error rule toward fewer clusters;
* per (k, seed) the pooled out-of-fold sweep: every training query routed once, by a router that did
  not see it (``results/sweep_oof/{variant}/k{k}_seed{seed}.parquet``, the sweep format): the curve
  :mod:`avengers_pro.evaluation.alpha_choice` chooses alpha on.

No test query is read: the folds, the fits and the routed queries are all training queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.evaluation import metrics
from avengers_pro.evaluation.cv import cv_folds, fold_mean_se, one_standard_error, simplicity
from avengers_pro.evaluation.selection import SELECTION_ALPHAS, validation_cost_range
from avengers_pro.evaluation.summary import seed_curve
from avengers_pro.evaluation.sweep import matrix_rows, run_sweep
from avengers_pro.io import PathLike, RecordMatrix, atomic_path
from avengers_pro.outputs import require_columns
from avengers_pro.routing.geometry import Clustering, fit_clusters
from avengers_pro.routing.scores import Variant

#: Columns of ``results/sweep_oof/{variant}/cv_aiq.parquet``: one row per (cluster count, seed, fold).
CV_AIQ_COLUMNS = ("n_clusters", "seed", "fold", "aiq")

#: KMeans restarts of a fold fit when the config gives none (the schema's ``clustering.cv_n_init``).
DEFAULT_CV_N_INIT = 3


def split_folds(split: pd.DataFrame, n_folds: int, seed: int) -> pd.Series:
    """The fold of each training query of one split (index ``query_id``, sorted).

    The same folds as the families' (:func:`avengers_pro.evaluation.family_runs.select_family` deals
    ``matrix.datasets[train]`` in the record matrix's order, which is sorted by query id).
    """
    require_columns(split, ("query_id", "dataset", "split"), f"results/splits/seed{seed}.parquet")
    train = split[split["split"] == "train"].sort_values("query_id", kind="stable")
    folds = cv_folds(train["dataset"].to_numpy(dtype=object), n_folds, int(seed))
    return pd.Series(folds, index=pd.Index(train["query_id"].to_numpy(dtype=object), name="query_id"), name="fold")


def fit_fold_clusterings(
    vectors: np.ndarray, folds: np.ndarray, n_clusters: int, seed: int, n_init: int, minibatch_above: int
) -> list[Clustering]:
    """KMeans per fold on the training queries outside it (the pipeline's KMeans settings).

    Parameters
    ----------
    vectors
        (n, dim) the training queries' embeddings, rows aligned with ``folds``.
    folds
        (n,) the fold of each training query (:func:`split_folds`).
    """
    return [
        fit_clusters(vectors[folds != fold], n_clusters, seed=seed, n_init=n_init, minibatch_above=minibatch_above)
        for fold in np.unique(folds)
    ]


def write_fold_clusterings(query_ids: np.ndarray, folds: np.ndarray, fits: list[Clustering], path: PathLike) -> None:
    """One ``.npz``: ``query_ids`` and ``fold`` of the training queries; per fold ``f``, ``labels{f}``
    (the cluster of each query outside fold ``f``, in ``query_ids`` order) and ``centroids{f}``.
    """
    arrays: dict[str, np.ndarray] = {"query_ids": np.asarray(query_ids, dtype=str), "fold": np.asarray(folds)}
    for fold, clustering in zip(np.unique(folds), fits, strict=True):
        arrays[f"labels{int(fold)}"] = np.asarray(clustering.labels)
        arrays[f"centroids{int(fold)}"] = np.asarray(clustering.centroids)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool


def read_fold_clusterings(path: PathLike) -> tuple[np.ndarray, np.ndarray, dict[int, Clustering]]:
    """``(query_ids, fold, {fold: Clustering})`` of a :func:`write_fold_clusterings` file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            ids, folds = data["query_ids"].astype(object), data["fold"].astype(np.int64)
            fits = {int(f): Clustering(data[f"labels{int(f)}"], data[f"centroids{int(f)}"]) for f in np.unique(folds)}
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"not a fold clusterings file: {error}", file=str(path)) from None
    for fold, fit in fits.items():
        if len(fit.labels) != int((folds != fold).sum()):
            raise DataError(
                f"fold {fold}: {len(fit.labels)} labels for {(folds != fold).sum()} queries", file=str(path)
            )
    return ids, folds, fits


def pool_sweeps(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Sweeps of disjoint query sets (one row per (alpha, dataset) each) -> the sweep of their union.

    Per (alpha, dataset): ``accuracy`` weighted by ``n_queries``, ``cost``, ``n_queries`` and every
    ``routed[<model>]`` summed; ``max_router`` kept.
    """
    if not frames:
        raise ValueError("no sweep to pool")
    stacked = pd.concat(frames, ignore_index=True)
    stacked["accuracy"] = stacked["accuracy"] * stacked["n_queries"]
    summed = [c for c in stacked.columns if c not in ("alpha", "dataset", "max_router")]
    pooled = stacked.groupby(["alpha", "dataset"], sort=True)[summed].sum().reset_index()
    pooled["accuracy"] = pooled["accuracy"] / pooled["n_queries"].clip(lower=1)
    pooled.insert(pooled.columns.get_loc("n_queries") + 1, "max_router", stacked["max_router"].iloc[0])
    return pooled[list(frames[0].columns)]


def fold_sweeps(
    matrix: RecordMatrix,
    query_ids: np.ndarray,
    folds: np.ndarray,
    fits: Mapping[int, Clustering],
    embeddings: np.ndarray,
    variant: Variant,
    alphas: np.ndarray,
    top_k: int,
    beta: float,
    max_router: int = 1,
) -> list[pd.DataFrame]:
    """Each fold's queries (folds in order) routed over ``alphas`` by the router fitted on the other
    folds: ``fits[fold]``, the KMeans of the queries outside it (the pipeline's training queries, or
    an export's records).
    """
    sweeps = []
    for fold in sorted(fits):
        held_out = folds == fold
        sweep, _ = run_sweep(
            matrix,
            train_ids=query_ids[~held_out],
            train_labels=fits[fold].labels,
            centroids=fits[fold].centroids,
            eval_ids=query_ids[held_out],
            eval_embeddings=embeddings[held_out],
            variant=variant,
            alphas=alphas,
            top_k=top_k,
            beta=beta,
            max_router=max_router,
            with_decisions=False,
        )
        sweeps.append(sweep)
    return sweeps


def out_of_fold_sweeps(
    matrix: RecordMatrix,
    query_ids: np.ndarray,
    folds: np.ndarray,
    fits: Mapping[int, Clustering],
    embeddings: np.ndarray,
    variant: Variant,
    alphas: np.ndarray,
    top_k: int,
    beta: float,
    max_router: int = 1,
) -> tuple[pd.DataFrame, list[float]]:
    """Route each fold with the router fitted on the other folds (one seed, one cluster count).

    Parameters
    ----------
    matrix
        The records (only the training queries named in ``query_ids`` are read).
    query_ids, folds, fits
        :func:`read_fold_clusterings`' output.
    embeddings
        (n, dim) the embeddings of ``query_ids``, rows aligned.
    variant, alphas, top_k, beta, max_router
        The router's settings; ``alphas`` the grid of the pooled sweep.

    Returns
    -------
    pooled, fold_aiqs
        The pooled out-of-fold sweep on ``alphas`` (:func:`pool_sweeps`) and, per fold in order, the
        held-out AIQ on :data:`SELECTION_ALPHAS` (the families' criterion, :func:`fold_aiq`).
    """
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    routing = (matrix, query_ids, folds, fits, embeddings, variant)
    frames = fold_sweeps(*routing, alphas, top_k, beta, max_router)
    same_grid = np.array_equal(alphas, SELECTION_ALPHAS)
    selection = frames if same_grid else fold_sweeps(*routing, SELECTION_ALPHAS, top_k, beta, max_router)
    aiqs = [
        fold_aiq(sweep, matrix.subset(matrix_rows(matrix, query_ids[folds == fold], "held-out")))
        for fold, sweep in zip(sorted(fits), selection)
    ]
    return pool_sweeps(frames), aiqs


def fold_aiq(sweep: pd.DataFrame, part: RecordMatrix) -> float:
    """The held-out AIQ of one fold's sweep: the families' criterion
    (:func:`~avengers_pro.evaluation.cv.select_cv`), over ``[0, the most expensive single model's cost
    on the fold]``.
    """
    curve = seed_curve(sweep)
    return float(metrics.aiq(curve["cost"].to_numpy(), curve["accuracy"].to_numpy(), validation_cost_range(part)))


def cv_best_k(fold_aiqs: pd.DataFrame, seed: int) -> tuple[int, list[dict[str, Any]]]:
    """One seed's cluster count by the one-standard-error rule toward fewer clusters.

    Parameters
    ----------
    fold_aiqs
        ``cv_aiq.parquet`` rows (:data:`CV_AIQ_COLUMNS`); those of ``seed`` are used.

    Returns
    -------
    k, table
        The chosen count and, per count, ``n_clusters``, ``aiq`` (mean over folds), ``aiq_se``
        (``sd / sqrt(K)``) and ``aiq_folds``.
    """
    require_columns(fold_aiqs, CV_AIQ_COLUMNS, "results/sweep_oof/<variant>/cv_aiq.parquet")
    rows = fold_aiqs[fold_aiqs["seed"] == seed]
    if rows.empty:
        raise DataError(f"no fold AIQ of seed {seed}", file="results/sweep_oof/<variant>/cv_aiq.parquet", field="seed")
    table = []
    for k, group in rows.sort_values(["n_clusters", "fold"]).groupby("n_clusters", sort=True):
        values = group["aiq"].to_numpy(dtype=np.float64)
        mean, se = fold_mean_se(values)
        table.append({"n_clusters": int(k), "aiq": mean, "aiq_se": se, "aiq_folds": values.tolist()})
    chosen = one_standard_error(
        [t["aiq"] for t in table],
        [t["aiq_se"] for t in table],
        [simplicity("avengers-pro", {"n_clusters": t["n_clusters"]}) for t in table],
    )
    return int(table[chosen]["n_clusters"]), table
