"""The router folder format, shared by the writer and the loader: file names, manifest, checks.

Every fact about the folder lives here once: the file names, the format version, the statistics
table's columns, how ``router.json`` stores a variant, how the manifest vouches for the other files
(sha256), and how each file is read back and checked. The fields of every file are documented in
``docs/routing.md`` ("Router folder, format version 1").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro import __version__
from avengers_pro.errors import ConfigError, DataError
from avengers_pro.io import PathLike
from avengers_pro.routing.scores import ClusterStats, Variant

#: Version 1: an Avengers-Pro router (centroids and per-cluster statistics).
FORMAT_VERSION = 1
#: Version 2: a router of another family (a fitted estimator's arrays; ``docs/routing.md``).
ESTIMATOR_FORMAT_VERSION = 2
#: Format versions this package reads.
SUPPORTED_FORMAT_VERSIONS = (1, 2)

MANIFEST = "manifest.json"
CENTROIDS = "centroids.npy"
STATISTICS = "statistics.parquet"
ESTIMATOR = "estimator.npz"
ROUTER = "router.json"
EMBEDDER = "embedder.json"
#: Every file of an Avengers-Pro router folder except the manifest, which lists their sha256.
ROUTER_FILES = (CENTROIDS, STATISTICS, ROUTER, EMBEDDER)
#: Every file of a family router folder (format version 2) except the manifest.
ESTIMATOR_FILES = (ESTIMATOR, ROUTER, EMBEDDER)
#: The files each format version lists in its manifest.
FILES_OF_VERSION = {FORMAT_VERSION: ROUTER_FILES, ESTIMATOR_FORMAT_VERSION: ESTIMATOR_FILES}
STATISTICS_COLUMNS = ("cluster", "model", "mean_score", "mean_cost", "count")


def sha256_file(path: PathLike) -> str:
    """The sha256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_manifest(folder: Path, config: Mapping[str, Any], version: int = FORMAT_VERSION) -> dict[str, Any]:
    """The ``manifest.json`` of a folder whose other files are written: version, config, sha256s.

    Parameters
    ----------
    folder
        The router folder, holding every file of ``FILES_OF_VERSION[version]``.
    config
        The config the router was fitted with.
    version
        The folder's format version.

    Returns
    -------
    dict
        The manifest's content.
    """
    return {
        "format_version": version,
        "package": "avengers-pro",
        "package_version": __version__,
        "config": dict(config),
        "files": {name: sha256_file(folder / name) for name in FILES_OF_VERSION[version]},
    }


def variant_json(variant: Variant) -> dict[str, Any]:
    """A variant as ``router.json`` stores it (and :meth:`avengers_pro.export.Router.explain` shows it)."""
    return {
        "name": variant.name,
        "normalisation": variant.normalisation,
        "aggregation": variant.aggregation,
        "weighted": variant.weighted,
        "distance": variant.distance,
    }


def make_spec(
    *,
    models: Sequence[str],
    n_clusters: int,
    dim: int,
    variant: Variant,
    top_k: int,
    beta: float,
    max_router: int,
    alpha: Mapping[str, Any],
    fitted_on: Mapping[str, Any],
) -> dict[str, Any]:
    """The content of ``router.json``; :func:`read_spec` reads it back.

    Parameters
    ----------
    models
        Model names, in the tie-break order.
    n_clusters, dim
        The centroids' shape.
    variant, top_k, beta, max_router
        The routing settings.
    alpha
        ``default``, ``chosen_by`` and ``validation`` (how the default was chosen).
    fitted_on
        ``n_queries``, ``n_records``, ``datasets`` (queries per dataset).
    """
    return {
        "models": list(models),
        "n_clusters": n_clusters,
        "dim": dim,
        "variant": variant_json(variant),
        "top_k": top_k,
        "beta": beta,
        "max_router": max_router,
        "alpha": dict(alpha),
        "fitted_on": dict(fitted_on),
    }


def statistics_frame(stats: ClusterStats, models: Sequence[str]) -> pd.DataFrame:
    """The ``statistics.parquet`` table of per-cluster statistics: one row per (cluster, model).

    Parameters
    ----------
    stats
        (K, M) statistics, models in ``models`` order.
    models
        The M model names.

    Returns
    -------
    pandas.DataFrame
        The columns :data:`STATISTICS_COLUMNS`, cluster-major.
    """
    n_clusters, n_models = stats.count.shape
    return pd.DataFrame(
        {
            "cluster": np.repeat(np.arange(n_clusters, dtype=np.int64), n_models),
            "model": np.tile(np.asarray(list(models), dtype=object), n_clusters),
            "mean_score": stats.accuracy.ravel(),
            "mean_cost": stats.cost.ravel(),
            "count": stats.count.ravel().astype(np.int64),
        }
    )


def read_json(path: Path) -> Any:
    """A JSON file of a router folder, parsed.

    Raises
    ------
    DataError
        Not UTF-8 or not valid JSON.
    """
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"not valid JSON ({error.msg}, line {error.lineno})", file=path) from None
    except UnicodeDecodeError:
        raise DataError("not valid JSON (not UTF-8 text)", file=path) from None


def malformed(file: Path, error: Exception) -> DataError:
    """The error for a router file whose content does not parse as the format says."""
    return DataError(f"malformed router file: {error}", file=file)


def verify_folder(path: PathLike) -> dict[str, Any]:
    """Check a router folder against its manifest and return the manifest.

    Parameters
    ----------
    path
        The router folder.

    Returns
    -------
    dict
        The parsed ``manifest.json``.

    Raises
    ------
    DataError
        Not a folder, no manifest, an unknown format version, a listed file missing, or a file
        whose sha256 differs from the manifest's (altered after export).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DataError("no such router folder", file=folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise DataError(f"not a router folder: {MANIFEST} is missing", file=folder)
    manifest = read_json(manifest_path)
    if not isinstance(manifest, dict):
        raise DataError("expected a JSON object", file=manifest_path)
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version not in SUPPORTED_FORMAT_VERSIONS:
        raise DataError(
            f"unknown router format version {version!r}: avengers-pro {__version__} reads version(s) "
            f"{', '.join(map(str, SUPPORTED_FORMAT_VERSIONS))} (upgrade avengers-pro, or re-export the router)",
            file=manifest_path,
            field="format_version",
        )
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise DataError("expected an object of file name -> sha256", file=manifest_path, field="files")
    unlisted = [name for name in FILES_OF_VERSION[version] if name not in files]
    if unlisted:
        raise DataError(f"{unlisted[0]} is not listed", file=manifest_path, field="files")
    for name, expected in files.items():
        # Only plain names: a manifest must not make us read outside the folder.
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise DataError(f"bad file name {name!r}", file=manifest_path, field="files")
        file = folder / name
        if not file.is_file():
            raise DataError("missing (listed in manifest.json)", file=file)
        actual = sha256_file(file)
        if actual != expected:
            raise DataError(
                f"sha256 mismatch: the file was changed after export (expected {str(expected)[:12]}..., "
                f"found {actual[:12]}...); re-export the router",
                file=file,
            )
    return manifest


def read_spec(file: Path) -> dict[str, Any]:
    """``router.json`` (as :func:`make_spec` writes it), with the fields routing needs checked and typed.

    Returns
    -------
    dict
        ``models`` (list[str]), ``variant`` (:class:`~avengers_pro.routing.scores.Variant`), ``n_clusters``,
        ``top_k``, ``max_router`` (int), ``beta`` (float), ``default_alpha`` (float) and ``alpha``
        (the stored object: how the default was chosen).

    Raises
    ------
    DataError
        A missing or malformed field.
    """
    spec = read_json(file)
    try:
        stored = spec["variant"]
        parsed: dict[str, Any] = {
            "models": [str(m) for m in spec["models"]],
            "variant": Variant(
                name=str(stored["name"]),
                normalisation=stored["normalisation"],
                aggregation=stored["aggregation"],
                weighted=bool(stored["weighted"]),
                # Routers exported before the distance option routed by the dot distance.
                distance=stored.get("distance", "dot"),
            ),
            "n_clusters": int(spec["n_clusters"]),
            "default_alpha": float(spec["alpha"]["default"]),
            "alpha": spec["alpha"],
            "top_k": int(spec["top_k"]),
            "beta": float(spec["beta"]),
            "max_router": int(spec["max_router"]),
        }
    except (KeyError, TypeError, ValueError, ConfigError) as error:
        raise malformed(file, error) from None
    return _checked(parsed, file, ("n_clusters", "top_k", "max_router"))


def _checked(parsed: dict[str, Any], file: Path, counts: Sequence[str]) -> dict[str, Any]:
    """A parsed ``router.json`` whose ``models`` are distinct and non-empty and whose ``counts`` are >= 1."""
    models = parsed["models"]
    if not models or len(set(models)) != len(models):
        raise DataError("models: expected a non-empty list of distinct names", file=file, field="models")
    for key in counts:
        if parsed[key] < 1:
            raise DataError(f"expected an integer >= 1, got {parsed[key]}", file=file, field=key)
    return parsed


def read_centroids(file: Path, n_clusters: int) -> np.ndarray:
    """``centroids.npy``: finite float (K, dim), K = ``n_clusters``."""
    centroids = np.load(file, allow_pickle=False)
    if centroids.ndim != 2 or centroids.shape[0] != n_clusters or not np.isfinite(centroids).all():
        raise DataError(f"expected finite centroids of shape ({n_clusters}, dim), got {centroids.shape}", file=file)
    return np.asarray(centroids, dtype=np.float64)


def read_statistics(file: Path, models: list[str], n_clusters: int) -> ClusterStats:
    """``statistics.parquet`` back as (K, M) statistics, models in ``models`` order.

    Raises
    ------
    DataError
        Missing columns, an unknown cluster or model, not exactly one row per (cluster, model),
        negative counts, or non-finite means / negative costs where the count is positive.
    """
    frame = pd.read_parquet(file)
    missing = [c for c in STATISTICS_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", file=file, field=missing[0])
    n_models = len(models)
    cluster = frame["cluster"].to_numpy()
    model = pd.Index(models).get_indexer(frame["model"].astype(object).to_numpy())
    bad = np.flatnonzero((model < 0) | (cluster < 0) | (cluster >= n_clusters))
    if bad.size:
        row = int(bad[0])
        raise DataError(
            f"(cluster {cluster[row]}, model {frame['model'].iloc[row]!r}) is not a cluster and model of the router",
            file=file,
            row=row,
            field="model",
        )
    cell = cluster.astype(np.int64) * n_models + model
    if len(frame) != n_clusters * n_models or np.bincount(cell, minlength=n_clusters * n_models).max() != 1:
        raise DataError(f"expected one row per (cluster, model), {n_clusters} x {n_models}", file=file, field="cluster")
    accuracy = np.empty(n_clusters * n_models)
    cost = np.empty(n_clusters * n_models)
    count = np.empty(n_clusters * n_models, dtype=np.int64)
    accuracy[cell] = frame["mean_score"].to_numpy(dtype=np.float64)
    cost[cell] = frame["mean_cost"].to_numpy(dtype=np.float64)
    count[cell] = frame["count"].to_numpy(dtype=np.int64)
    shape = (n_clusters, n_models)
    stats = ClusterStats(accuracy=accuracy.reshape(shape), cost=cost.reshape(shape), count=count.reshape(shape))
    recorded = stats.count > 0
    if (
        (stats.count < 0).any()
        or not np.isfinite(stats.accuracy[recorded]).all()
        or (~(stats.cost[recorded] >= 0)).any()
    ):
        raise DataError("negative counts, or non-finite means / negative costs where count > 0", file=file)
    return stats


def make_estimator_spec(
    *,
    family: str,
    hyperparameters: Mapping[str, Any],
    models: Sequence[str],
    dim: int,
    normalisation: str,
    max_router: int,
    alpha: Mapping[str, Any],
    selection: Mapping[str, Any],
    fitted_on: Mapping[str, Any],
    estimator: Mapping[str, Any],
) -> dict[str, Any]:
    """The content of a family router's ``router.json`` (format version 2); :func:`read_estimator_spec` reads it.

    Parameters
    ----------
    family, hyperparameters
        The family and the hyperparameters chosen on validation.
    models, dim
        Model names (tie-break order) and the embedding dimension.
    normalisation, max_router
        How predictions are normalised across models, and how many models a query is routed to.
    alpha
        ``default``, ``chosen_by`` and ``validation`` (how the default was chosen).
    selection
        How the family and its hyperparameters were chosen (every candidate's validation AIQ).
    fitted_on
        ``n_queries``, ``n_records``, ``datasets``.
    estimator
        The estimator's structure (:func:`avengers_pro.routing.state.estimator_state`); its arrays
        are in ``estimator.npz``.
    """
    return {
        "family": family,
        "hyperparameters": dict(hyperparameters),
        "models": list(models),
        "dim": dim,
        "normalisation": normalisation,
        "max_router": max_router,
        "alpha": dict(alpha),
        "selection": dict(selection),
        "fitted_on": dict(fitted_on),
        "estimator": dict(estimator),
    }


def read_estimator_spec(file: Path) -> dict[str, Any]:
    """A family router's ``router.json``, with the fields routing needs checked and typed.

    Returns
    -------
    dict
        ``family`` (str), ``models`` (list[str]), ``dim``, ``max_router`` (int), ``default_alpha``
        (float), ``alpha`` (the stored object), ``hyperparameters`` and ``estimator`` (dicts).

    Raises
    ------
    DataError
        A missing or malformed field.
    """
    spec = read_json(file)
    try:
        parsed: dict[str, Any] = {
            "family": str(spec["family"]),
            "hyperparameters": dict(spec["hyperparameters"]),
            "models": [str(m) for m in spec["models"]],
            "dim": int(spec["dim"]),
            "max_router": int(spec["max_router"]),
            "default_alpha": float(spec["alpha"]["default"]),
            "alpha": spec["alpha"],
            "estimator": dict(spec["estimator"]),
        }
    except (KeyError, TypeError, ValueError) as error:
        raise malformed(file, error) from None
    return _checked(parsed, file, ("dim", "max_router"))


def read_estimator_arrays(file: Path) -> dict[str, np.ndarray]:
    """``estimator.npz``: every array by name (no pickled objects are read)."""
    try:
        with np.load(file, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError) as error:
        raise DataError(f"not an estimator file: {error}", file=file) from None
