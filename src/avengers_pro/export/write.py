"""Pipeline time, part 2: fit a router on all records and write its folder.

:func:`export_router` takes the KMeans fits and the alpha choice of :mod:`avengers_pro.export.fit`,
fits the per-cluster statistics and writes the folder with :func:`write_router`, in the format of
:mod:`avengers_pro.export.folder` (documented in ``docs/routing.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.export.fit import (
    ExportClusterings,
    choose_out_of_fold,
    fit_clusterings,
    matrix_and_vectors,
)
from avengers_pro.export.folder import (
    CENTROIDS,
    EMBEDDER,
    MANIFEST,
    ROUTER,
    STATISTICS,
    make_manifest,
    make_spec,
    statistics_frame,
)
from avengers_pro.export.settings import export_settings
from avengers_pro.io import PathLike, RecordMatrix, write_json, write_npy, write_parquet
from avengers_pro.routing.avengers import AvengersProEstimator
from avengers_pro.routing.scores import ClusterStats, Variant

log = logging.getLogger(__name__)


def export_router(
    records: pd.DataFrame,
    query_ids: Sequence[str] | np.ndarray,
    embeddings: np.ndarray,
    config: Mapping[str, Any],
    entry: Mapping[str, Any],
    out_dir: PathLike,
    clusterings: ExportClusterings | None = None,
) -> dict[str, Any]:
    """Fit a router on ALL records and write it to ``out_dir`` (the folder: ``docs/routing.md``).

    With ``entry["alpha"]`` that alpha becomes the default. With ``entry["target"]`` it is chosen out
    of fold first: the records' queries are dealt into ``split.cv_folds`` folds stratified by
    dataset (seed ``split.seeds[0]``, :func:`~avengers_pro.export.fit.export_folds`), each fold is
    routed over the ``sweep.alphas`` grid by clusters and statistics fitted on the other folds, and
    on the pooled curve the alpha is chosen as ``metrics.json`` does: ``match-best-single`` = the
    cheapest alpha whose accuracy (unweighted mean over datasets) reaches the best single model's on
    the same queries (else the max-accuracy alpha, flagged ``reached: false``); ``max-accuracy`` =
    the alpha of the best accuracy (ties: cheaper, then smaller). Then clusters and statistics are
    refitted on all records (KMeans: :func:`fit_export_clusterings`).

    Parameters
    ----------
    records
        The canonical long records table (``query_id``, ``dataset``, ``query``, ``model``,
        ``score``, ``cost``).
    query_ids, embeddings
        Query ids and their (n, dim) L2-normalised embeddings; every record's query needs one.
    config
        A validated config, or a mapping with at least ``avengers`` (``variants``, ``top_k``,
        ``beta``), ``sweep`` (``alphas``, ``max_router``), ``split`` (``seeds``, ``cv_folds``, default 5),
        ``clustering`` (``n_init``, ``minibatch_above``), ``embedding`` and optionally ``models``.
    entry
        One item of ``config["export"]``: ``name``, ``variant``, ``n_clusters`` and ``alpha`` or
        ``target``.
    out_dir
        The router folder (created; existing files of the same names are replaced atomically).
    clusterings
        The KMeans fits from :func:`fit_export_clusterings` with the same arguments (the pipeline
        keeps them in a file of their own, so a new alpha grid does not refit them); fitted here
        when None.

    Returns
    -------
    dict
        The content of ``router.json``.

    Raises
    ------
    ConfigError
        A bad entry, an unknown variant, more clusters than queries.
    DataError
        Missing columns, a query without embedding, bad records.
    """
    settings = export_settings("export_router", config, entry)
    variant = Variant.from_config(entry["variant"], settings["avengers"]["variants"][entry["variant"]])
    matrix, vectors = matrix_and_vectors(records, query_ids, embeddings, settings)
    n_clusters = int(entry["n_clusters"])
    if clusterings is None:
        clusterings = fit_clusterings(records, matrix, vectors, settings)
    elif not np.array_equal(np.asarray(clusterings.query_ids, dtype=object), matrix.query_ids):
        raise DataError(
            f"export '{entry['name']}': the clusterings were fitted on other queries than these "
            "records'; fit them again",
            field="query_id",
        )
    for clustering in (clusterings.full, *(clusterings.folds or ())):
        if clustering is not None and clustering.centroids.shape[0] != n_clusters:
            raise DataError(
                f"export '{entry['name']}': clusterings with {clustering.centroids.shape[0]} clusters, "
                f"the entry asks for {n_clusters}; fit them again",
                field="n_clusters",
            )

    if "alpha" in entry:
        alpha: dict[str, Any] = {"default": float(entry["alpha"]), "chosen_by": "fixed", "validation": None}
    else:
        if clusterings.folds is None or len(clusterings.folds) != int(settings["split"]["cv_folds"]):
            raise DataError(
                f"export '{entry['name']}' chooses alpha out of fold, but its clusterings hold no fit per "
                f"fold of split.cv_folds = {settings['split']['cv_folds']}; fit them again",
                field="target",
            )
        alpha = choose_out_of_fold(records, matrix, vectors, settings, variant, clusterings.folds)
    log.info("export '%s': alpha %.4f (%s)", entry["name"], alpha["default"], alpha["chosen_by"])

    clustering = clusterings.full
    fitted = AvengersProEstimator.from_clusters(
        variant,
        clustering.centroids,
        clustering.labels,
        matrix,
        top_k=int(settings["avengers"]["top_k"]),
        beta=float(settings["avengers"]["beta"]),
        max_router=int(settings["sweep"]["max_router"]),
    )

    router_json = make_spec(
        models=list(matrix.models),
        n_clusters=n_clusters,
        dim=int(vectors.shape[1]),
        variant=variant,
        top_k=fitted.top_k,
        beta=fitted.beta,
        max_router=fitted.max_router,
        alpha=alpha,
        fitted_on=fitted_on(matrix),
    )
    write_router(Path(out_dir), fitted.centroids_, fitted.stats_, router_json, settings["embedding"], settings)
    return router_json


def fitted_on(matrix: RecordMatrix) -> dict[str, Any]:
    """``router.json``'s ``fitted_on``: queries, records and queries per dataset of what a router was fitted on."""
    datasets, per_dataset = np.unique(matrix.datasets.astype(str), return_counts=True)
    return {
        "n_queries": len(matrix.query_ids),
        "n_records": int(matrix.available.sum()),
        "datasets": {str(d): int(c) for d, c in zip(datasets, per_dataset, strict=True)},
    }


def write_router(
    out_dir: Path,
    centroids: np.ndarray,
    stats: ClusterStats,
    router_json: Mapping[str, Any],
    embedder: Mapping[str, Any],
    config: Mapping[str, Any],
) -> None:
    """Write the five files of a router folder; the manifest last, with the others' sha256.

    Parameters
    ----------
    out_dir
        The router folder.
    centroids
        (K, dim) float64.
    stats
        (K, M) per-cluster statistics, models in ``router_json["models"]`` order.
    router_json, embedder
        The contents of ``router.json`` and ``embedder.json``.
    config
        The config the router was fitted with (stored in the manifest).
    """
    statistics = statistics_frame(stats, list(router_json["models"]))
    out_dir.mkdir(parents=True, exist_ok=True)
    # An export that dies half-way must leave no manifest that seems to vouch for the new files.
    (out_dir / MANIFEST).unlink(missing_ok=True)
    write_npy(np.ascontiguousarray(centroids, dtype=np.float64), out_dir / CENTROIDS)
    write_parquet(statistics, out_dir / STATISTICS)
    write_json(dict(router_json), out_dir / ROUTER)
    write_json(dict(embedder), out_dir / EMBEDDER)
    write_json(make_manifest(out_dir, config), out_dir / MANIFEST)
