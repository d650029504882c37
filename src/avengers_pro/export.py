"""Exported routers: fit on all records, write a plain folder, load it back and route new queries.

A router folder (``results/router/{name}/``, format version 1) holds five files; see
the README ("Route new queries") for every field:

* ``centroids.npy``: float64 (K, dim) KMeans centroids of the L2-normalised embeddings of ALL
  records' queries (not re-normalised, as in the pipeline);
* ``statistics.parquet``: one row per (cluster, model): ``cluster`` int64, ``model`` str,
  ``mean_score`` float64, ``mean_cost`` float64 (USD per query), ``count`` int64 (training queries
  of the cluster with a record for the model; the means are NaN where it is 0);
* ``router.json``: the model list (its order is the tie-break order), the variant, ``top_k``,
  ``beta``, ``max_router``, the default alpha and how it was chosen, what the router was fitted on;
* ``embedder.json``: the embedding settings that determine a query's vector (no cache path, no
  endpoint URL, no key);
* ``manifest.json``: ``format_version``, the package version, the config used, and the sha256 of
  every other file.

Only the statistics are stored, not a ranking, so the alpha can be changed at load time: the
performance-efficiency scores are recomputed from the statistics with
:func:`avengers_pro.router.performance_efficiency`. Routing itself is :mod:`avengers_pro.router`'s
:func:`~avengers_pro.router.nearest_clusters` and :func:`~avengers_pro.router.route`, so an exported
router makes exactly the pipeline's decisions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .embeddings import embed_texts, embedder_id, make_embedder, parse_settings
from .embeddings.core import Embedder, check_texts
from .embeddings.settings import EMBEDDER_SPEC_KEYS, OPENAI_BACKEND
from .cluster import Clustering, fit_clusters
from .errors import ConfigError, DataError, EmbeddingError
from .io import PathLike, RecordMatrix, atomic_path, record_matrix, write_json, write_npy, write_parquet
from .router import (
    AvengersProRouter,
    aggregation_table,
    ClusterStats,
    Variant,
    nearest_clusters,
    performance_efficiency,
    rank_positions,
    route,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Format versions this package reads.
SUPPORTED_FORMAT_VERSIONS = (1,)

MANIFEST = "manifest.json"
CENTROIDS = "centroids.npy"
STATISTICS = "statistics.parquet"
ROUTER = "router.json"
EMBEDDER = "embedder.json"
#: Every file of a router folder except the manifest, which lists their sha256.
ROUTER_FILES = (CENTROIDS, STATISTICS, ROUTER, EMBEDDER)
STATISTICS_COLUMNS = ("cluster", "model", "mean_score", "mean_cost", "count")

#: The ``embedding:`` keys stored with a router: the ones that decide the vector of a text.
#: Environment variable naming a persistent embedding cache for routing (unset: in-memory).
CACHE_ENV = "AVENGERS_PRO_EMBEDDING_CACHE"
TARGETS = ("match-best-single", "max-accuracy")
# Exported embeddings must be L2-normalised, as the pipeline's; this tolerance admits float32 rounding.
_NORM_TOLERANCE = 1e-3
_RECORD_COLUMNS = ("query_id", "dataset", "query", "model", "score", "cost")


# --------------------------------------------------------------------------- embedder spec


def embedder_spec(embedding: Mapping[str, Any] | None) -> dict[str, Any]:
    """The part of an ``embedding:`` block that decides a text's vector, defaults filled in.

    Host-specific and secret settings (``cache``, ``base_url``, ``device``, batch sizes, timeouts)
    are left out: they do not change the vectors and must not travel with an exported router.

    Parameters
    ----------
    embedding
        An ``embedding:`` config block (``None``: all defaults).

    Returns
    -------
    dict
        ``backend``, ``model``, ``max_tokens``, ``dimensions``, ``query_instruction``, ``tokenizer``.

    Raises
    ------
    ConfigError
        A bad ``embedding:`` block.
    """
    settings = parse_settings(dict(embedding or {}))
    return {key: getattr(settings, key) for key in EMBEDDER_SPEC_KEYS}


def _tokenizer_identity(tokenizer: str) -> str:
    # A tokenizer given as a path is compared by its file and folder names, so a router fitted on
    # one machine still loads where the same tokenizer lives elsewhere.
    if "/" in tokenizer or "\\" in tokenizer or tokenizer.endswith(".json"):
        path = Path(tokenizer.replace("\\", "/"))
        return f"{path.parent.name}/{path.name}"
    return tokenizer


def _embedder_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What two embedding settings must share to give the same vectors (model folders by name)."""
    settings = parse_settings(dict(spec))
    identity: dict[str, Any] = {
        "backend": settings.backend,
        "model": embedder_id(dict(spec)),  # alias-free model name; a local folder by its name
        "max_tokens": settings.max_tokens,
        "dimensions": settings.dimensions,
        "query_instruction": settings.query_instruction,
    }
    if settings.backend == OPENAI_BACKEND:  # the local backend always uses the model's own tokenizer
        identity["tokenizer"] = _tokenizer_identity(settings.tokenizer)
    return identity


def check_embedder(router_spec: Mapping[str, Any], embedding: Mapping[str, Any] | None, file: PathLike) -> dict[str, Any]:
    """The embedding block to route with: the router's spec, overridden by ``embedding``.

    ``embedding`` may add host settings (``base_url``, ``device``, ``batch_size``...) or repeat the
    router's own; any setting that would change the vectors is an error, not a silent mismatch.

    Parameters
    ----------
    router_spec
        The router's ``embedder.json``.
    embedding
        The user's ``embedding:`` block, or ``None``.
    file
        The ``embedder.json`` path, for the message.

    Returns
    -------
    dict
        The effective ``embedding:`` block.

    Raises
    ------
    ConfigError
        ``embedding`` differs from the router's embedder in a setting that changes the vectors.
    """
    effective = {**dict(router_spec), **dict(embedding or {})}
    expected = _embedder_identity(router_spec)
    actual = _embedder_identity(effective)
    for key, value in expected.items():
        if actual.get(key) != value:
            raise ConfigError(
                f"embedding.{key}: {actual.get(key)!r} differs from {value!r}, which the router in "
                f"{Path(file).parent} was fitted with (see {file}); its vectors would not match the centroids"
            )
    return effective


# --------------------------------------------------------------------------- export


def _require_records(records: pd.DataFrame) -> None:
    missing = [column for column in _RECORD_COLUMNS if column not in records.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", file="results/records.parquet", field=missing[0])
    if records.empty:
        raise DataError("no records to fit a router on", file="results/records.parquet")


def _aligned_embeddings(query_ids: Sequence[str] | np.ndarray, embeddings: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The rows of ``embeddings`` for ``wanted`` query ids, in that order."""
    embeddings = np.asarray(embeddings)
    ids = np.asarray(query_ids, dtype=object)
    if embeddings.ndim != 2 or len(embeddings) != len(ids):
        raise DataError(f"{len(ids)} query ids but embeddings of shape {embeddings.shape}", field="embedding")
    rows = pd.Index(ids).get_indexer(wanted)
    if (rows < 0).any():
        missing = wanted[rows < 0]
        raise DataError(f"{len(missing)} queries of the records have no embedding, e.g. '{missing[0]}'",
                        field="query_id")
    return embeddings[rows]


def _fit_settings(config: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """The config values the KMeans fits of an export depend on, checked: the entry, ``models``,
    ``router.validation_ratio``, ``clustering`` and the first split seed. No router setting (alpha
    grid, top_k, beta, max_router, variants), so that changing one does not refit them. (The whole
    entry is kept, for its checks: changing its fixed alpha or target refits too.)"""
    try:
        settings = {
            "export": dict(entry),
            "models": list(config.get("models") or []),
            "router": {"validation_ratio": config["router"]["validation_ratio"]},
            "clustering": {key: config["clustering"][key] for key in ("n_init", "minibatch_above")},
            "seed": int(config["split"]["seeds"][0]),
        }
    except KeyError as error:
        raise ConfigError(f"export '{entry.get('name')}': config key {error.args[0]!r} missing") from None
    except IndexError:
        raise ConfigError("split.seeds: empty; the first seed seeds the exported router's KMeans") from None
    has_alpha, has_target = "alpha" in entry, "target" in entry
    if has_alpha == has_target:
        raise ConfigError(f"export '{entry.get('name')}': give exactly one of alpha and target")
    if has_target and entry["target"] not in TARGETS:
        raise ConfigError(f"export '{entry.get('name')}'.target: {entry['target']!r} is not one of {list(TARGETS)}")
    if has_alpha and not 0.0 <= float(entry["alpha"]) <= 1.0:
        raise ConfigError(f"export '{entry.get('name')}'.alpha: must lie in [0, 1], got {entry['alpha']}")
    ratio = settings["router"]["validation_ratio"]
    if has_target and not 0.0 < float(ratio) < 1.0:
        raise ConfigError(f"router.validation_ratio: export '{entry.get('name')}' chooses alpha on validation, "
                          f"which needs a ratio in (0, 1), got {ratio}")
    return settings


def _settings(config: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """The config values an export uses, checked; also the ``config`` stored in the manifest."""
    settings = _fit_settings(config, entry)
    try:
        router = config["router"]
        settings["variant"] = dict(router["variants"][entry["variant"]])
        settings["router"] = {key: router[key] for key in ("alphas", "top_k", "beta", "max_router", "validation_ratio")}
    except KeyError as error:
        raise ConfigError(f"export '{entry.get('name')}': config key {error.args[0]!r} missing") from None
    settings["embedding"] = embedder_spec(config.get("embedding"))
    return settings


def _matrix_and_vectors(
    records: pd.DataFrame, query_ids: Sequence[str] | np.ndarray, embeddings: np.ndarray, settings: dict[str, Any],
) -> tuple[RecordMatrix, np.ndarray]:
    """The record matrix of the export's models and its queries' embeddings, in matrix order."""
    _require_records(records)
    matrix = record_matrix(records, settings["models"] or None)
    return matrix, _aligned_embeddings(query_ids, embeddings, matrix.query_ids)


def _validation_split(records: pd.DataFrame, matrix: RecordMatrix, settings: dict[str, Any]) -> tuple[pd.DataFrame, np.ndarray]:
    """The validation carve-out of an export: the split table and which matrix queries it holds out."""
    from .split import split_queries

    router = settings["router"]
    queries = records.drop_duplicates("query_id")[["query_id", "dataset", "query"]]
    # train_ratio = 1: no test part; the validation carve-out is then validation_ratio of each
    # dataset's distinct query texts (identical texts stay on one side), drawn as the pipeline draws it.
    split = split_queries(queries, train_ratio=1.0, seed=settings["seed"], validation_ratio=float(router["validation_ratio"]))
    is_validation = split.set_index("query_id")["validation"].reindex(matrix.query_ids).to_numpy(dtype=bool)
    n_validation = int(is_validation.sum())
    if n_validation == 0 or n_validation == len(is_validation):
        raise ConfigError(f"router.validation_ratio: {router['validation_ratio']} leaves "
                          f"{len(is_validation) - n_validation} queries to fit and {n_validation} to validate on")
    return split, is_validation


def _choose_on_validation(
    records: pd.DataFrame, matrix: RecordMatrix, vectors: np.ndarray, settings: dict[str, Any], variant: Variant,
    split: pd.DataFrame, is_validation: np.ndarray, clustering: Clustering,
) -> dict[str, Any]:
    """Sweep alphas on the held-out validation queries (router fitted on the rest) and pick one by the target."""
    from .config import alpha_grid
    from .evaluate import run_sweep

    # The alpha choice on validation is the one metrics.json reports: shared, not duplicated.
    from .summary import choose_alpha, validation_best_single, seed_curve, single_model_outcomes

    entry = settings["export"]
    router = settings["router"]
    seed = settings["seed"]
    fit_ids, validation_ids = matrix.query_ids[~is_validation], matrix.query_ids[is_validation]
    alphas = alpha_grid({"router": router})
    sweep, _ = run_sweep(
        matrix, train_ids=fit_ids, train_labels=clustering.labels, centroids=clustering.centroids,
        eval_ids=validation_ids, eval_embeddings=vectors[is_validation], variant=variant, alphas=alphas,
        top_k=int(router["top_k"]), beta=float(router["beta"]), max_router=int(router["max_router"]),
        with_decisions=False,
    )
    file = f"validation sweep of export '{entry['name']}'"
    curve = seed_curve(sweep, file)
    choice: dict[str, Any] = {
        "seed": seed,
        "ratio": float(router["validation_ratio"]),
        "n_fit_queries": int(len(fit_ids)),
        "n_validation_queries": int(len(validation_ids)),
    }
    target: float | None = None
    if entry["target"] == "match-best-single":
        outcomes = single_model_outcomes(records, split, "validation")
        outcomes = outcomes[outcomes["model"].isin(matrix.models)]
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
        log.warning("export '%s': no alpha reaches the validation accuracy %.4f of %s; using the max-accuracy "
                    "alpha %.2f (reached: false in router.json)", entry["name"], target, choice["reference_model"], alpha)
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
    validation
        KMeans on every query outside the validation carve-out (``None`` for an export with a fixed
        alpha, which does not validate).
    """

    query_ids: np.ndarray
    full: Clustering
    validation: Clustering | None


def _fit_clusters(vectors: np.ndarray, n_clusters: int, settings: dict[str, Any]) -> Clustering:
    clustering = settings["clustering"]
    return fit_clusters(vectors, n_clusters, seed=settings["seed"], n_init=int(clustering["n_init"]),
                        minibatch_above=int(clustering["minibatch_above"]))


def fit_export_clusterings(
    records: pd.DataFrame,
    query_ids: Sequence[str] | np.ndarray,
    embeddings: np.ndarray,
    config: Mapping[str, Any],
    entry: Mapping[str, Any],
) -> ExportClusterings:
    """The KMeans fits :func:`export_router` needs (same arguments): on every query and, for an entry
    with a ``target``, on every query outside the validation carve-out.

    KMeans is the pipeline's: ``fit_clusters(seed=split.seeds[0], n_init=clustering.n_init,
    minibatch_above=clustering.minibatch_above)``.
    """
    settings = _fit_settings(config, entry)
    matrix, vectors = _matrix_and_vectors(records, query_ids, embeddings, settings)
    return _fit_clusterings(records, matrix, vectors, settings)


def _fit_clusterings(
    records: pd.DataFrame, matrix: RecordMatrix, vectors: np.ndarray, settings: dict[str, Any],
) -> ExportClusterings:
    """:func:`fit_export_clusterings` on an already built matrix and checked settings."""
    entry = settings["export"]
    n_clusters = int(entry["n_clusters"])
    validation = None
    if "target" in entry:
        _, is_validation = _validation_split(records, matrix, settings)
        validation = _fit_clusters(vectors[~is_validation], n_clusters, settings)
    return ExportClusterings(matrix.query_ids, _fit_clusters(vectors, n_clusters, settings), validation)


def write_clusterings(clusterings: ExportClusterings, path: PathLike) -> None:
    """Store :class:`ExportClusterings` as one ``.npz`` (no pickled objects)."""
    arrays = {"query_ids": np.asarray(clusterings.query_ids, dtype=str),
              "full_labels": clusterings.full.labels, "full_centroids": clusterings.full.centroids}
    if clusterings.validation is not None:
        arrays.update(validation_labels=clusterings.validation.labels,
                      validation_centroids=clusterings.validation.centroids)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def read_clusterings(path: PathLike) -> ExportClusterings:
    """Read what :func:`write_clusterings` wrote."""
    try:
        with np.load(path, allow_pickle=False) as data:
            validation = (Clustering(data["validation_labels"], data["validation_centroids"])
                          if "validation_labels" in data else None)
            full = Clustering(data["full_labels"], data["full_centroids"])
            return ExportClusterings(data["query_ids"].astype(object), full, validation)
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"not a clusterings file of an export: {error}", file=str(path)) from None


def sha256_file(path: PathLike) -> str:
    """The sha256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_router(
    records: pd.DataFrame,
    query_ids: Sequence[str] | np.ndarray,
    embeddings: np.ndarray,
    config: Mapping[str, Any],
    entry: Mapping[str, Any],
    out_dir: PathLike,
    clusterings: ExportClusterings | None = None,
) -> dict[str, Any]:
    """Fit a router on ALL records and write it to ``out_dir`` (see the module docstring).

    With ``entry["alpha"]`` that alpha becomes the default. With ``entry["target"]`` it is chosen on
    validation first: ``router.validation_ratio`` of each dataset's distinct query texts is held out
    (``split_queries(train_ratio=1, validation_ratio=..., seed=split.seeds[0])``), clusters and
    statistics are fitted on the rest, the ``router.alphas`` grid is swept on the held-out part and
    the alpha is chosen as ``metrics.json`` does: ``match-best-single`` = the cheapest alpha whose
    validation accuracy (unweighted mean over datasets) reaches the validation-best single model's
    (else the max-accuracy alpha, flagged ``reached: false``); ``max-accuracy`` = the alpha of the
    best validation accuracy (ties: cheaper, then smaller). Then clusters and statistics are
    refitted on all records (KMeans: :func:`fit_export_clusterings`).

    Parameters
    ----------
    records
        The canonical long records table (``query_id``, ``dataset``, ``query``, ``model``,
        ``score``, ``cost``).
    query_ids, embeddings
        Query ids and their (n, dim) L2-normalised embeddings; every record's query needs one.
    config
        A validated config, or a mapping with at least ``router`` (``variants``, ``alphas``,
        ``top_k``, ``beta``, ``max_router``, ``validation_ratio``), ``clustering`` (``n_init``,
        ``minibatch_above``), ``split.seeds``, ``embedding`` and optionally ``models``.
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
    settings = _settings(config, entry)
    variant = Variant.from_config(entry["variant"], settings["variant"])
    matrix, vectors = _matrix_and_vectors(records, query_ids, embeddings, settings)
    n_clusters = int(entry["n_clusters"])
    router_settings = settings["router"]
    if clusterings is None:
        clusterings = _fit_clusterings(records, matrix, vectors, settings)
    elif not np.array_equal(np.asarray(clusterings.query_ids, dtype=object), matrix.query_ids):
        raise DataError(f"export '{entry['name']}': the clusterings were fitted on other queries than these "
                        "records'; fit them again", field="query_id")
    for clustering in (clusterings.full, clusterings.validation):
        if clustering is not None and clustering.centroids.shape[0] != n_clusters:
            raise DataError(f"export '{entry['name']}': clusterings with {clustering.centroids.shape[0]} clusters, "
                            f"the entry asks for {n_clusters}; fit them again", field="n_clusters")

    if "alpha" in entry:
        alpha: dict[str, Any] = {"default": float(entry["alpha"]), "chosen_by": "fixed", "validation": None}
    else:
        if clusterings.validation is None:
            raise DataError(f"export '{entry['name']}' chooses alpha on validation, but its clusterings hold no "
                            "validation fit; fit them again", field="target")
        split, is_validation = _validation_split(records, matrix, settings)
        alpha = _choose_on_validation(records, matrix, vectors, settings, variant, split, is_validation,
                                      clusterings.validation)
    log.info("export '%s': alpha %.4f (%s)", entry["name"], alpha["default"], alpha["chosen_by"])

    clustering = clusterings.full
    fitted = AvengersProRouter(variant, top_k=int(router_settings["top_k"]), beta=float(router_settings["beta"]),
                               max_router=int(router_settings["max_router"]))
    fitted.fit(clustering.centroids, clustering.labels, matrix.scores, matrix.costs)

    datasets, per_dataset = np.unique(matrix.datasets.astype(str), return_counts=True)
    router_json: dict[str, Any] = {
        "models": list(matrix.models),
        "n_clusters": n_clusters,
        "dim": int(vectors.shape[1]),
        "variant": {"name": variant.name, "normalisation": variant.normalisation,
                    "aggregation": variant.aggregation, "weighted": variant.weighted},
        "top_k": int(router_settings["top_k"]),
        "beta": float(router_settings["beta"]),
        "max_router": int(router_settings["max_router"]),
        "alpha": alpha,
        "fitted_on": {
            "n_queries": int(len(matrix.query_ids)),
            "n_records": int(matrix.available.sum()),
            "datasets": {str(d): int(c) for d, c in zip(datasets, per_dataset, strict=True)},
        },
    }
    write_router(Path(out_dir), fitted.centroids_, fitted.stats_, router_json, settings["embedding"], settings)
    return router_json


def write_router(
    out_dir: Path, centroids: np.ndarray, stats: ClusterStats, router_json: Mapping[str, Any],
    embedder: Mapping[str, Any], config: Mapping[str, Any],
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
    models = list(router_json["models"])
    n_clusters, n_models = stats.count.shape
    statistics = pd.DataFrame({
        "cluster": np.repeat(np.arange(n_clusters, dtype=np.int64), n_models),
        "model": np.tile(np.asarray(models, dtype=object), n_clusters),
        "mean_score": stats.accuracy.ravel(),
        "mean_cost": stats.cost.ravel(),
        "count": stats.count.ravel().astype(np.int64),
    })
    out_dir.mkdir(parents=True, exist_ok=True)
    # An export that dies half-way must leave no manifest that seems to vouch for the new files.
    (out_dir / MANIFEST).unlink(missing_ok=True)
    write_npy(np.ascontiguousarray(centroids, dtype=np.float64), out_dir / CENTROIDS)
    write_parquet(statistics, out_dir / STATISTICS)
    write_json(dict(router_json), out_dir / ROUTER)
    write_json(dict(embedder), out_dir / EMBEDDER)
    manifest = {
        "format_version": FORMAT_VERSION,
        "package": "avengers-pro",
        "package_version": __version__,
        "config": dict(config),
        "files": {name: sha256_file(out_dir / name) for name in ROUTER_FILES},
    }
    write_json(manifest, out_dir / MANIFEST)


# --------------------------------------------------------------------------- loading


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"not valid JSON ({error.msg}, line {error.lineno})", file=path) from None
    except UnicodeDecodeError:
        raise DataError("not valid JSON (not UTF-8 text)", file=path) from None


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
    manifest = _read_json(manifest_path)
    if not isinstance(manifest, dict):
        raise DataError("expected a JSON object", file=manifest_path)
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version not in SUPPORTED_FORMAT_VERSIONS:
        raise DataError(
            f"unknown router format version {version!r}: avengers-pro {__version__} reads version(s) "
            f"{', '.join(map(str, SUPPORTED_FORMAT_VERSIONS))} (upgrade avengers-pro, or re-export the router)",
            file=manifest_path, field="format_version",
        )
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise DataError("expected an object of file name -> sha256", file=manifest_path, field="files")
    unlisted = [name for name in ROUTER_FILES if name not in files]
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
            raise DataError(f"sha256 mismatch: the file was changed after export (expected {str(expected)[:12]}..., "
                            f"found {actual[:12]}...); re-export the router", file=file)
    return manifest


def _malformed(file: Path, error: Exception) -> DataError:
    return DataError(f"malformed router file: {error}", file=file)


def _read_statistics(file: Path, models: list[str], n_clusters: int) -> ClusterStats:
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
        raise DataError(f"(cluster {cluster[row]}, model {frame['model'].iloc[row]!r}) is not a cluster and model of "
                        f"the router", file=file, row=row, field="model")
    cell = cluster.astype(np.int64) * n_models + model
    if len(frame) != n_clusters * n_models or np.bincount(cell, minlength=n_clusters * n_models).max() != 1:
        raise DataError(f"expected one row per (cluster, model), {n_clusters} x {n_models}", file=file,
                        field="cluster")
    accuracy = np.empty(n_clusters * n_models)
    cost = np.empty(n_clusters * n_models)
    count = np.empty(n_clusters * n_models, dtype=np.int64)
    accuracy[cell] = frame["mean_score"].to_numpy(dtype=np.float64)
    cost[cell] = frame["mean_cost"].to_numpy(dtype=np.float64)
    count[cell] = frame["count"].to_numpy(dtype=np.int64)
    shape = (n_clusters, n_models)
    stats = ClusterStats(accuracy=accuracy.reshape(shape), cost=cost.reshape(shape), count=count.reshape(shape))
    recorded = stats.count > 0
    if (stats.count < 0).any() or not np.isfinite(stats.accuracy[recorded]).all() or (
            ~(stats.cost[recorded] >= 0)).any():
        raise DataError("negative counts, or non-finite means / negative costs where count > 0", file=file)
    return stats


class Router:
    """An exported Avengers-Pro router, ready to route new queries.

    Build one with :meth:`Router.load`. Routing goes through :func:`avengers_pro.router.nearest_clusters`
    and :func:`avengers_pro.router.route` (the pipeline's own code) with the statistics' scores at
    one alpha, computed once.

    Attributes
    ----------
    models : list[str]
        Model names; their order is the tie-break order.
    centroids : np.ndarray
        (K, dim) float64 centroids.
    stats : ClusterStats
        Per (cluster, model) mean score, mean cost and count.
    variant : Variant
        Normalisation and aggregation.
    top_k, beta, max_router
        Routing settings.
    alpha : float
        The alpha routed with (the exported default unless overridden).
    default_alpha : float
        The alpha stored at export, and ``alpha_choice`` how it was chosen.
    embedding : dict
        The ``embedding:`` block queries are embedded with.
    cache_path : str or None
        Persistent embedding cache (``None``: in-memory).
    """

    def __init__(
        self,
        *,
        models: list[str],
        centroids: np.ndarray,
        stats: ClusterStats,
        variant: Variant,
        top_k: int,
        beta: float,
        max_router: int,
        alpha: float,
        embedding: Mapping[str, Any],
        default_alpha: float | None = None,
        alpha_choice: Mapping[str, Any] | None = None,
        manifest: Mapping[str, Any] | None = None,
        path: PathLike | None = None,
        cache_path: PathLike | None = None,
    ) -> None:
        value: object = alpha  # checked as an object: mypy would take float for not numbers.Real, and the rest as dead
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"alpha: must be a number in [0, 1], got {alpha!r}")
        self.models = list(models)
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float64)
        self.stats = stats
        self.variant = variant
        self.top_k = int(top_k)
        self.beta = float(beta)
        self.max_router = int(max_router)
        self.alpha = float(alpha)
        self.default_alpha = self.alpha if default_alpha is None else float(default_alpha)
        self.alpha_choice = dict(alpha_choice or {"default": self.default_alpha, "chosen_by": "fixed"})
        self.embedding = dict(embedding)
        self.manifest = dict(manifest or {})
        self.path = None if path is None else Path(path)
        self.cache_path = None if cache_path is None else str(cache_path)
        # The scores at this one alpha: (1, K, M), recomputed from the statistics, never stored.
        self._x = performance_efficiency(stats, np.array([self.alpha]), variant.normalisation)
        self._embedder: Embedder | None = None

    @classmethod
    def load(
        cls,
        path: PathLike,
        *,
        alpha: float | None = None,
        embedding: Mapping[str, Any] | None = None,
        cache_path: PathLike | None = None,
    ) -> Router:
        """Load a router folder written by :func:`export_router`, checking every file's sha256.

        Parameters
        ----------
        path
            The router folder (``results/router/{name}``).
        alpha
            Route with this alpha instead of the exported default (no refit: the scores are
            recomputed from the stored statistics).
        embedding
            Embedding settings for this machine (``base_url``, ``device``, ``batch_size``...), merged
            over the router's ``embedder.json``. A setting that changes the vectors (backend, model,
            max_tokens, dimensions, query_instruction, tokenizer) and differs is an error.
        cache_path
            Persistent embedding cache (SQLite). Default: ``$AVENGERS_PRO_EMBEDDING_CACHE``, else an
            in-memory cache. The ``cache`` key of ``embedding`` is not used.

        Returns
        -------
        Router

        Raises
        ------
        DataError
            Missing or altered files, an unknown format version, malformed content.
        ConfigError
            A bad ``alpha`` or an ``embedding`` that differs from the router's.
        """
        folder = Path(path)
        manifest = verify_folder(folder)
        router_file = folder / ROUTER
        spec = _read_json(router_file)
        embedder_file = folder / EMBEDDER
        stored_embedding = _read_json(embedder_file)
        try:
            models = [str(m) for m in spec["models"]]
            variant = Variant(
                name=str(spec["variant"]["name"]), normalisation=spec["variant"]["normalisation"],
                aggregation=spec["variant"]["aggregation"], weighted=bool(spec["variant"]["weighted"]),
            )
            n_clusters = int(spec["n_clusters"])
            default_alpha = float(spec["alpha"]["default"])
            top_k, beta, max_router = int(spec["top_k"]), float(spec["beta"]), int(spec["max_router"])
        except (KeyError, TypeError, ValueError, ConfigError) as error:
            raise _malformed(router_file, error) from None
        if not models or len(set(models)) != len(models):
            raise DataError("models: expected a non-empty list of distinct names", file=router_file, field="models")
        centroids = np.load(folder / CENTROIDS, allow_pickle=False)
        if centroids.ndim != 2 or centroids.shape[0] != n_clusters or not np.isfinite(centroids).all():
            raise DataError(f"expected finite centroids of shape ({n_clusters}, dim), got {centroids.shape}",
                            file=folder / CENTROIDS)
        stats = _read_statistics(folder / STATISTICS, models, n_clusters)
        if not isinstance(stored_embedding, dict):
            raise DataError("expected a JSON object", file=embedder_file)
        try:
            embedder_spec(stored_embedding)
        except ConfigError as error:
            raise _malformed(embedder_file, error) from None
        effective = check_embedder(stored_embedding, embedding, embedder_file)
        if cache_path is None:
            cache_path = os.environ.get(CACHE_ENV) or None
        return cls(
            models=models, centroids=centroids, stats=stats, variant=variant, top_k=top_k, beta=beta,
            max_router=max_router, alpha=default_alpha if alpha is None else alpha, embedding=effective,
            default_alpha=default_alpha, alpha_choice=spec["alpha"], manifest=manifest, path=folder,
            cache_path=cache_path,
        )

    def __repr__(self) -> str:
        return (f"Router({str(self.path)!r}, variant={self.variant.name!r}, clusters={len(self.centroids)}, "
                f"models={len(self.models)}, alpha={self.alpha})")

    def with_alpha(self, alpha: float) -> Router:
        """The same router at another alpha (shares the arrays; nothing is refitted)."""
        return Router(
            models=self.models, centroids=self.centroids, stats=self.stats, variant=self.variant,
            top_k=self.top_k, beta=self.beta, max_router=self.max_router, alpha=alpha, embedding=self.embedding,
            default_alpha=self.default_alpha, alpha_choice=self.alpha_choice, manifest=self.manifest,
            path=self.path, cache_path=self.cache_path,
        )

    # ----------------------------------------------------------------------- embedding

    def embed(self, queries: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed query texts with the router's embedder → (n, dim) L2-normalised float32.

        Raises
        ------
        DataError
            A query that is not a string or is empty (the row is its position).
        EmbeddingError
            The embedder failed or gave vectors of another dimension than the centroids.
        """
        if isinstance(queries, str):
            raise TypeError("queries must be a list of strings, not one string")
        texts = check_texts(queries)
        if not texts:
            return np.zeros((0, self.centroids.shape[1]), dtype=np.float32)
        if self._embedder is None:
            self._embedder = make_embedder(self.embedding)
        vectors = embed_texts(texts, self.embedding, cache_path=self.cache_path, progress=progress,
                              embedder=self._embedder)
        if vectors.shape[1] != self.centroids.shape[1]:
            raise EmbeddingError(f"the embedder gave {vectors.shape[1]}-dimensional vectors, the router's centroids "
                                 f"have {self.centroids.shape[1]}")
        return vectors

    def prepare(self) -> None:
        """Build the embedder and load its model now (else the first :meth:`route` does)."""
        if self._embedder is None:
            self._embedder = make_embedder(self.embedding)
        if hasattr(self._embedder, "prepare"):
            self._embedder.prepare()

    def close(self) -> None:
        """Release the embedder (connections of a remote backend)."""
        if self._embedder is not None and hasattr(self._embedder, "close"):
            self._embedder.close()
        self._embedder = None

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------- routing

    def _check_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.centroids.shape[1]:
            raise DataError(f"expected embeddings of shape (n, {self.centroids.shape[1]}), got {embeddings.shape}",
                            field="embedding")
        if not np.issubdtype(embeddings.dtype, np.floating):
            embeddings = embeddings.astype(np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", embeddings, embeddings, dtype=np.float64))
        bad = np.flatnonzero(~(np.abs(norms - 1.0) <= _NORM_TOLERANCE))  # also catches NaN and inf
        if bad.size:
            raise DataError(f"embedding of norm {norms[bad[0]]:.4g}; expected L2-normalised (unit) vectors",
                            row=int(bad[0]), field="embedding")
        return embeddings

    def route_indices(self, embeddings: np.ndarray) -> np.ndarray:
        """Model indices chosen for L2-normalised query embeddings.

        Parameters
        ----------
        embeddings
            (n, dim) unit vectors (float32 or float64).

        Returns
        -------
        np.ndarray
            (n, max_router) int64 indices into :attr:`models`, best first.
        """
        return self._choices(embeddings, self.max_router)

    def _choices(self, embeddings: np.ndarray, max_router: int) -> np.ndarray:
        """The ``max_router`` best model indices per query, by :func:`~avengers_pro.router.route`."""
        embeddings = self._check_embeddings(embeddings)
        idx, weights = nearest_clusters(embeddings, self.centroids, self.top_k, self.beta)
        return route(self._x, idx, weights, self.variant, max_router=max_router)[0]

    def rank_embeddings(self, embeddings: np.ndarray) -> list[list[str]]:
        """Every model, best first, for each of (n, dim) L2-normalised query embeddings.

        The order of the aggregated score S that routing uses (the same
        :func:`~avengers_pro.router.route` call, asked for every model), so the first name is
        :meth:`route_embeddings`'s choice and the first ``max_router`` are :meth:`route_indices`'s.
        The server falls back along it when a model's upstream fails.
        """
        return [[self.models[i] for i in row if i >= 0] for row in self._choices(embeddings, len(self.models))]

    def route_embeddings(self, embeddings: np.ndarray) -> list[str]:
        """The model chosen (first choice) for each of (n, dim) L2-normalised query embeddings."""
        return self.names(self.route_indices(embeddings)[:, 0])

    def route(self, queries: Sequence[str]) -> list[str]:
        """Embed query texts and return the model chosen (first choice) for each.

        Raises
        ------
        DataError
            An empty query or a non-string.
        """
        return self.route_embeddings(self.embed(queries))

    def names(self, indices: np.ndarray) -> list[str]:
        """Model names of model indices."""
        return np.asarray(self.models, dtype=object)[np.asarray(indices)].tolist()

    # ----------------------------------------------------------------------- explanation

    def explain(self, query: str) -> dict[str, Any]:
        """Why a query goes where it goes; see :meth:`explain_embeddings`."""
        if not isinstance(query, str):
            raise TypeError("explain takes one query string")
        explanation = self.explain_embeddings(self.embed([query]))[0]
        return {"query": query, **explanation}

    def explain_embeddings(self, embeddings: np.ndarray) -> list[dict[str, Any]]:
        """The routing of each query, step by step.

        Parameters
        ----------
        embeddings
            (n, dim) L2-normalised query embeddings.

        Returns
        -------
        list[dict]
            Per query: ``alpha``, ``variant``, ``model`` (the choice), ``models`` (the
            ``max_router`` choices, best first), ``clusters`` (the ``top_k`` nearest, nearest first:
            ``cluster``, ``distance`` = 1 - q . centroid, ``weight`` = softmax(-beta * d) over them,
            ``n_train_queries``, and per model ``x``, its performance-efficiency score there, and
            ``rank``, 0 = best) and ``scores`` (each model's aggregated score S; the choice has the
            highest S, ties to the earlier model).
        """
        embeddings = self._check_embeddings(embeddings)
        choices = self.route_indices(embeddings)
        idx, weights = nearest_clusters(embeddings, self.centroids, self.top_k, self.beta)
        distance = 1.0 - np.take_along_axis(embeddings.astype(np.float64) @ self.centroids.T, idx, axis=1)
        x = self._x[0]
        ranks = rank_positions(self._x)[0]
        # S as route() sums it, nearest cluster first: reciprocal ranks (official) or x (paper).
        tables, uses_weights = aggregation_table(self._x, self.variant)
        table = tables[0]
        contributions = table[idx] * (weights[:, :, None] if uses_weights else 1.0)
        totals = contributions[:, 0].copy()
        for j in range(1, idx.shape[1]):
            totals += contributions[:, j]
        sizes = self.stats.count.max(axis=1)  # every training query has a record for some model
        variant = {"name": self.variant.name, "normalisation": self.variant.normalisation,
                   "aggregation": self.variant.aggregation, "weighted": self.variant.weighted,
                   "uses_weights": uses_weights}
        explanations: list[dict[str, Any]] = []
        for q in range(len(embeddings)):
            clusters = [{
                "cluster": int(c),
                "distance": float(distance[q, j]),
                "weight": float(weights[q, j]),
                "n_train_queries": int(sizes[c]),
                "x": {m: float(x[c, i]) for i, m in enumerate(self.models)},
                "rank": {m: int(ranks[c, i]) for i, m in enumerate(self.models)},
            } for j, c in enumerate(idx[q])]
            chosen = [self.models[i] for i in choices[q] if i >= 0]
            explanations.append({
                "alpha": self.alpha,
                "variant": variant,
                "model": chosen[0],
                "models": chosen,
                "clusters": clusters,
                "scores": {m: float(totals[q, i]) for i, m in enumerate(self.models)},
            })
        return explanations


