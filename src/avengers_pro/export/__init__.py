"""Exported routers: fit on all records, write a plain folder, load it back and route new queries.

The package is split by when its code runs (the folder format and the API: ``docs/routing.md``):

* pipeline time: :mod:`~avengers_pro.export.fit` (the KMeans fits of an export and the alpha chosen
  on validation) and :mod:`~avengers_pro.export.write` (:func:`export_router`, :func:`write_router`)
  for an Avengers-Pro entry; :mod:`~avengers_pro.export.families` (:func:`select_export`,
  :func:`export_selected`, :func:`write_fitted_router`) for an entry with ``family:`` (any family, or
  the best on validation);
* the folder format, shared by writer and loader: :mod:`~avengers_pro.export.folder` (file names,
  format version, manifest and sha256, reading each file back) and
  :mod:`~avengers_pro.export.embedder` (``embedder.json`` and which user settings may differ);
* use time: :mod:`~avengers_pro.export.restore` (:class:`Router`: load, verify, embed, route, rank,
  explain; :class:`ClusterRouter` for Avengers-Pro, :class:`EstimatorRouter` for the other families).

Every public name is importable from here, as ``from avengers_pro.export import Router``.
"""

from __future__ import annotations

from avengers_pro.export.embedder import check_embedder, embedder_spec
from avengers_pro.export.families import BEST_ON_VALIDATION, export_selected, select_export, write_fitted_router
from avengers_pro.export.fit import (
    ExportClusterings,
    fit_export_clusterings,
    read_clusterings,
    write_clusterings,
)
from avengers_pro.export.folder import (
    CENTROIDS,
    EMBEDDER,
    ESTIMATOR,
    ESTIMATOR_FILES,
    ESTIMATOR_FORMAT_VERSION,
    FORMAT_VERSION,
    MANIFEST,
    ROUTER,
    ROUTER_FILES,
    STATISTICS,
    STATISTICS_COLUMNS,
    SUPPORTED_FORMAT_VERSIONS,
    sha256_file,
    verify_folder,
)
from avengers_pro.export.restore import CACHE_ENV, ClusterRouter, EstimatorRouter, Router
from avengers_pro.export.settings import TARGETS, export_settings, job_config
from avengers_pro.export.write import export_router, write_router

__all__ = [
    "BEST_ON_VALIDATION",
    "CACHE_ENV",
    "CENTROIDS",
    "EMBEDDER",
    "ESTIMATOR",
    "ESTIMATOR_FILES",
    "ESTIMATOR_FORMAT_VERSION",
    "FORMAT_VERSION",
    "MANIFEST",
    "ROUTER",
    "ROUTER_FILES",
    "STATISTICS",
    "STATISTICS_COLUMNS",
    "SUPPORTED_FORMAT_VERSIONS",
    "TARGETS",
    "export_settings",
    "job_config",
    "ClusterRouter",
    "EstimatorRouter",
    "ExportClusterings",
    "Router",
    "check_embedder",
    "embedder_spec",
    "export_router",
    "export_selected",
    "fit_export_clusterings",
    "read_clusterings",
    "select_export",
    "sha256_file",
    "verify_folder",
    "write_clusterings",
    "write_fitted_router",
    "write_router",
]
