"""Pipeline time, part 1: the KMeans fits of an export and the choice of its default alpha.

The fits are kept in a file of their own (``results/export_fits/{name}.npz``) so that changing the
alpha grid or the target does not refit them; :mod:`avengers_pro.export.write` then fits the
statistics and writes the router folder. What an export does is described in ``docs/routing.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.export.settings import export_settings
from avengers_pro.io import PathLike, RecordMatrix, atomic_path, record_matrix
from avengers_pro.routing.geometry import Clustering, fit_clusters
from avengers_pro.routing.scores import Variant

log = logging.getLogger(__name__)

#: The ``target`` values of an export entry (the config schema lists the same).
_RECORD_COLUMNS = ("query_id", "dataset", "query", "model", "score", "cost")


def _require_records(records: pd.DataFrame) -> None:
    missing = [column for column in _RECORD_COLUMNS if column not in records.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", file="results/records.parquet", field=missing[0])
    if records.empty:
        raise DataError("no records to fit a router on", file="results/records.parquet")


def _aligned_embeddings(
    query_ids: Sequence[str] | np.ndarray, embeddings: np.ndarray, wanted: np.ndarray
) -> np.ndarray:
    """The rows of ``embeddings`` for ``wanted`` query ids, in that order."""
    embeddings = np.asarray(embeddings)
    ids = np.asarray(query_ids, dtype=object)
    if embeddings.ndim != 2 or len(embeddings) != len(ids):
        raise DataError(f"{len(ids)} query ids but embeddings of shape {embeddings.shape}", field="embedding")
    rows = pd.Index(ids).get_indexer(wanted)
    if (rows < 0).any():
        missing = wanted[rows < 0]
        raise DataError(
            f"{len(missing)} queries of the records have no embedding, e.g. '{missing[0]}'", field="query_id"
        )
    return embeddings[rows]


def fit_settings(config: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """What the KMeans fits of an export depend on (:mod:`avengers_pro.export.settings`, job
    ``export_clusters``): the entry, ``models``, ``split.cv_folds`` (the folds alpha is chosen over),
    ``clustering`` and the first split seed; no alpha grid, top_k, beta, max_router or variants, so
    that changing one does not refit them.
    """
    return export_settings("export_clusters", config, entry)


def matrix_and_vectors(
    records: pd.DataFrame,
    query_ids: Sequence[str] | np.ndarray,
    embeddings: np.ndarray,
    settings: dict[str, Any],
) -> tuple[RecordMatrix, np.ndarray]:
    """The record matrix of the export's models and its queries' embeddings, in matrix order."""
    _require_records(records)
    matrix = record_matrix(records, settings["models"] or None)
    return matrix, _aligned_embeddings(query_ids, embeddings, matrix.query_ids)


def export_folds(matrix: RecordMatrix, settings: dict[str, Any]) -> np.ndarray:
    """(n,) the cross-validation fold of each of the export's queries (matrix order).

    The families' folds (:func:`avengers_pro.evaluation.cv.cv_folds`: stratified by dataset), over
    every record, ``split.cv_folds`` of them, seeded by the first split seed: the folds
    :func:`avengers_pro.export.families.select_export` chooses the family on.
    """
    from avengers_pro.evaluation.cv import cv_folds  # pipeline-only, as below: loading a Router stays light

    return cv_folds(matrix.datasets, int(settings["split"]["cv_folds"]), int(settings["seed"]))


def choose_out_of_fold(
    records: pd.DataFrame,
    matrix: RecordMatrix,
    vectors: np.ndarray,
    settings: dict[str, Any],
    variant: Variant,
    folds: Sequence[Clustering],
) -> dict[str, Any]:
    """Route every query with the router fitted without its fold; pick alpha on the pooled curve.

    Parameters
    ----------
    folds
        Per fold (in order), KMeans on every query outside it (:attr:`ExportClusterings.folds`).

    Returns
    -------
    dict
        The ``alpha`` object of ``router.json``: ``default``, ``chosen_by`` and ``validation``.
    """
    from avengers_pro.config import alpha_grid
    from avengers_pro.evaluation.oof import fold_sweeps, pool_sweeps
    from avengers_pro.evaluation.summary import seed_curve

    avengers, sweep = settings["avengers"], settings["sweep"]
    sweeps = fold_sweeps(
        matrix,
        matrix.query_ids,
        export_folds(matrix, settings),
        dict(enumerate(folds)),
        vectors,
        variant,
        alpha_grid(sweep["alphas"]),
        top_k=int(avengers["top_k"]),
        beta=float(avengers["beta"]),
        max_router=int(sweep["max_router"]),
    )
    return alpha_from_curve(seed_curve(pool_sweeps(sweeps)), records, matrix, settings)


def alpha_from_curve(
    curve: pd.DataFrame,
    records: pd.DataFrame,
    matrix: RecordMatrix,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The export's default alpha from its out-of-fold curve, by the entry's ``target``.

    Parameters
    ----------
    curve
        Indexed by alpha: the ``accuracy`` (unweighted mean over datasets) and total ``cost`` of
        every query routed by the router fitted without its fold (as
        :func:`avengers_pro.evaluation.summary.seed_curve`).
    records, matrix, settings
        The export's records, record matrix and settings; ``match-best-single``'s reference is the
        best single model over all the records (the queries of the curve).

    Returns
    -------
    dict
        The ``alpha`` object of ``router.json``: ``default``, ``chosen_by`` and ``validation``.
    """
    from avengers_pro.evaluation.alpha_choice import choose_alpha, validation_best_single
    from avengers_pro.outputs import OUTCOME_COLUMNS

    entry = settings["export"]
    seed = settings["seed"]
    choice: dict[str, Any] = {
        "seed": seed,
        "cv_folds": int(settings["split"]["cv_folds"]),
        "n_queries": len(matrix.query_ids),
    }
    target: float | None = None
    if entry["target"] == "match-best-single":
        outcomes = records.loc[
            records["model"].isin(matrix.models) & records["query_id"].isin(matrix.query_ids), list(OUTCOME_COLUMNS)
        ]
        model, target = validation_best_single(outcomes, seed)
        choice.update(reference_model=model, reference_accuracy=float(target))
    alpha, reached = choose_alpha(curve, target)
    choice["reached"] = bool(reached)
    choice["accuracy"] = float(curve.loc[alpha, "accuracy"])
    choice["cost"] = float(curve.loc[alpha, "cost"])
    choice["curve"] = {
        "alpha": [float(a) for a in curve.index],
        "accuracy": [float(a) for a in curve["accuracy"]],
        "cost": [float(c) for c in curve["cost"]],
    }
    if not reached:
        log.warning(
            "export '%s': no alpha reaches the accuracy %.4f of %s on the out-of-fold curve; using the max-accuracy "
            "alpha %.2f (reached: false in router.json)",
            entry["name"],
            target,
            choice["reference_model"],
            alpha,
        )
    return {"default": float(alpha), "chosen_by": entry["target"], "validation": choice}


@dataclass(frozen=True)
class ExportClusterings:
    """The KMeans fits of one export, kept apart from the rest of the export so that a new alpha grid
    (or target) does not refit them.

    Attributes
    ----------
    query_ids
        The queries of the record matrix, in its order (``full`` is fitted on all of them).
    full
        KMeans on every query.
    folds
        Per cross-validation fold (:func:`export_folds`), KMeans on every query outside it (``None``
        for an export with a fixed alpha, which chooses none).
    """

    query_ids: np.ndarray
    full: Clustering
    folds: tuple[Clustering, ...] | None


def _fit_clusters(
    vectors: np.ndarray, n_clusters: int, settings: dict[str, Any], restarts: str = "n_init"
) -> Clustering:
    clustering = settings["clustering"]
    return fit_clusters(
        vectors,
        n_clusters,
        seed=settings["seed"],
        n_init=int(clustering[restarts]),
        minibatch_above=int(clustering["minibatch_above"]),
    )


def fit_export_clusterings(
    records: pd.DataFrame,
    query_ids: Sequence[str] | np.ndarray,
    embeddings: np.ndarray,
    config: Mapping[str, Any],
    entry: Mapping[str, Any],
) -> ExportClusterings:
    """The KMeans fits :func:`export_router` needs (same arguments): on every query and, for an entry
    with a ``target``, on every query outside each cross-validation fold.

    KMeans is the pipeline's: ``fit_clusters(seed=split.seeds[0], n_init=clustering.n_init,
    minibatch_above=clustering.minibatch_above)``, with ``clustering.cv_n_init`` restarts for the folds.
    """
    settings = fit_settings(config, entry)
    matrix, vectors = matrix_and_vectors(records, query_ids, embeddings, settings)
    return fit_clusterings(records, matrix, vectors, settings)


def fit_clusterings(
    records: pd.DataFrame,
    matrix: RecordMatrix,
    vectors: np.ndarray,
    settings: dict[str, Any],
) -> ExportClusterings:
    """:func:`fit_export_clusterings` on an already built matrix and checked settings."""
    entry = settings["export"]
    n_clusters = int(entry["n_clusters"])
    folds = None
    if "target" in entry:
        fold_of = export_folds(matrix, settings)
        folds = tuple(
            _fit_clusters(vectors[fold_of != f], n_clusters, settings, "cv_n_init") for f in np.unique(fold_of)
        )
    return ExportClusterings(matrix.query_ids, _fit_clusters(vectors, n_clusters, settings), folds)


def write_clusterings(clusterings: ExportClusterings, path: PathLike) -> None:
    """Store :class:`ExportClusterings` as one ``.npz`` (no pickled objects)."""
    arrays: dict[str, Any] = {
        "query_ids": np.asarray(clusterings.query_ids, dtype=str),
        "full_labels": clusterings.full.labels,
        "full_centroids": clusterings.full.centroids,
    }
    for fold, clustering in enumerate(clusterings.folds or ()):
        arrays.update({f"fold{fold}_labels": clustering.labels, f"fold{fold}_centroids": clustering.centroids})
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def read_clusterings(path: PathLike) -> ExportClusterings:
    """Read what :func:`write_clusterings` wrote."""
    try:
        with np.load(path, allow_pickle=False) as data:
            n_folds = sum(1 for name in data.files if name.endswith("_labels") and name.startswith("fold"))
            folds = tuple(Clustering(data[f"fold{f}_labels"], data[f"fold{f}_centroids"]) for f in range(n_folds))
            full = Clustering(data["full_labels"], data["full_centroids"])
            return ExportClusterings(data["query_ids"].astype(object), full, folds or None)
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"not a clusterings file of an export: {error}", file=str(path)) from None
