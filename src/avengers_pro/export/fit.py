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

from avengers_pro.errors import ConfigError, DataError
from avengers_pro.io import PathLike, RecordMatrix, atomic_path, record_matrix
from avengers_pro.routing.geometry import Clustering, fit_clusters
from avengers_pro.routing.scores import Variant

log = logging.getLogger(__name__)

#: The ``target`` values of an export entry (the config schema lists the same).
TARGETS = ("match-best-single", "max-accuracy")
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
    """The config values the KMeans fits of an export depend on.

    They are the entry, ``models``, ``split.validation_ratio``, ``clustering`` and the first split
    seed. No router setting (alpha grid, top_k, beta, max_router, variants), so that changing one
    does not refit them. (The whole entry is kept: changing its fixed alpha or target refits too.)
    Bounds the config schema enforces (alpha in [0, 1], the ratio in (0, 1)) are not checked again.

    Raises
    ------
    ConfigError
        A missing config key, an entry without exactly one of ``alpha`` and ``target``, an
        unknown ``target``.
    """
    try:
        settings: dict[str, Any] = {
            "export": dict(entry),
            "models": list(config.get("models") or []),
            "router": {"validation_ratio": config["split"]["validation_ratio"]},
            "clustering": {key: config["clustering"][key] for key in ("n_init", "minibatch_above")},
            "seed": int(config["split"]["seeds"][0]),
        }
    except KeyError as error:
        raise ConfigError(f"export '{entry.get('name')}': config key {error.args[0]!r} missing") from None
    except IndexError:
        raise ConfigError("split.seeds: empty; the first seed seeds the exported router's KMeans") from None
    # Which keys an entry has decides what export_router does, so these two stay checked here
    # (for callers without the schema) rather than failing later with a KeyError or a wrong branch.
    has_alpha, has_target = "alpha" in entry, "target" in entry
    if has_alpha == has_target:
        raise ConfigError(f"export '{entry.get('name')}': give exactly one of alpha and target")
    if has_target and entry["target"] not in TARGETS:
        raise ConfigError(f"export '{entry.get('name')}'.target: {entry['target']!r} is not one of {list(TARGETS)}")
    return settings


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


def validation_split(
    records: pd.DataFrame,
    matrix: RecordMatrix,
    settings: dict[str, Any],
) -> tuple[pd.DataFrame, np.ndarray]:
    """The validation carve-out of an export: the split table and which matrix queries it holds out.

    Raises
    ------
    DataError
        ``split.validation_ratio`` leaves no query to fit on or none to validate on.
    """
    # Imported here, as the other pipeline-only modules below: loading a Router must stay light.
    from avengers_pro.evaluation.split import split_queries

    router = settings["router"]
    queries = records.drop_duplicates("query_id")[["query_id", "dataset", "query"]]
    # train_ratio = 1: no test part; the validation carve-out is then validation_ratio of each
    # dataset's distinct query texts (identical texts stay on one side), drawn as the pipeline draws it.
    split = split_queries(
        queries, train_ratio=1.0, seed=settings["seed"], validation_ratio=float(router["validation_ratio"])
    )
    is_validation = split.set_index("query_id")["validation"].reindex(matrix.query_ids).to_numpy(dtype=bool)
    n_validation = int(is_validation.sum())
    if n_validation == 0 or n_validation == len(is_validation):
        raise DataError(
            f"split.validation_ratio {router['validation_ratio']} leaves {len(is_validation) - n_validation} "
            f"queries to fit and {n_validation} to validate on",
            field="validation_ratio",
        )
    return split, is_validation


def choose_on_validation(
    records: pd.DataFrame,
    matrix: RecordMatrix,
    vectors: np.ndarray,
    settings: dict[str, Any],
    variant: Variant,
    split: pd.DataFrame,
    is_validation: np.ndarray,
    clustering: Clustering,
) -> dict[str, Any]:
    """Sweep alphas on the held-out validation queries (router fitted on the rest) and pick one by the target.

    Returns
    -------
    dict
        The ``alpha`` object of ``router.json``: ``default``, ``chosen_by`` and ``validation``.
    """
    # The alpha choice on validation is the one metrics.json reports: shared, not duplicated.
    from avengers_pro.config import alpha_grid
    from avengers_pro.evaluation.summary import seed_curve
    from avengers_pro.evaluation.sweep import run_sweep

    router = settings["router"]
    fit_ids, validation_ids = matrix.query_ids[~is_validation], matrix.query_ids[is_validation]
    alphas = alpha_grid(router["alphas"])
    sweep, _ = run_sweep(
        matrix,
        train_ids=fit_ids,
        train_labels=clustering.labels,
        centroids=clustering.centroids,
        eval_ids=validation_ids,
        eval_embeddings=vectors[is_validation],
        variant=variant,
        alphas=alphas,
        top_k=int(router["top_k"]),
        beta=float(router["beta"]),
        max_router=int(router["max_router"]),
        with_decisions=False,
    )
    return alpha_from_curve(seed_curve(sweep), records, matrix, settings, split, is_validation)


def alpha_from_curve(
    curve: pd.DataFrame,
    records: pd.DataFrame,
    matrix: RecordMatrix,
    settings: dict[str, Any],
    split: pd.DataFrame,
    is_validation: np.ndarray,
) -> dict[str, Any]:
    """The export's default alpha from a validation curve, by the entry's ``target``.

    Parameters
    ----------
    curve
        Indexed by alpha: the validation ``accuracy`` (unweighted mean over datasets) and total
        ``cost`` of the router fitted outside the carve-out (as :func:`avengers_pro.evaluation.summary.seed_curve`).
    records, matrix, settings
        The export's records, record matrix and settings.
    split, is_validation
        The carve-out (:func:`validation_split`).

    Returns
    -------
    dict
        The ``alpha`` object of ``router.json``: ``default``, ``chosen_by`` and ``validation``.
    """
    from avengers_pro.evaluation.alpha_choice import choose_alpha, single_model_outcomes, validation_best_single

    entry = settings["export"]
    seed = settings["seed"]
    n_validation = int(np.count_nonzero(is_validation))
    choice: dict[str, Any] = {
        "seed": seed,
        "ratio": float(settings["router"]["validation_ratio"]),
        "n_fit_queries": len(is_validation) - n_validation,
        "n_validation_queries": n_validation,
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
        log.warning(
            "export '%s': no alpha reaches the validation accuracy %.4f of %s; using the max-accuracy "
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
    validation
        KMeans on every query outside the validation carve-out (``None`` for an export with a fixed
        alpha, which does not validate).
    """

    query_ids: np.ndarray
    full: Clustering
    validation: Clustering | None


def _fit_clusters(vectors: np.ndarray, n_clusters: int, settings: dict[str, Any]) -> Clustering:
    clustering = settings["clustering"]
    return fit_clusters(
        vectors,
        n_clusters,
        seed=settings["seed"],
        n_init=int(clustering["n_init"]),
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
    with a ``target``, on every query outside the validation carve-out.

    KMeans is the pipeline's: ``fit_clusters(seed=split.seeds[0], n_init=clustering.n_init,
    minibatch_above=clustering.minibatch_above)``.
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
    validation = None
    if "target" in entry:
        _, is_validation = validation_split(records, matrix, settings)
        validation = _fit_clusters(vectors[~is_validation], n_clusters, settings)
    return ExportClusterings(matrix.query_ids, _fit_clusters(vectors, n_clusters, settings), validation)


def write_clusterings(clusterings: ExportClusterings, path: PathLike) -> None:
    """Store :class:`ExportClusterings` as one ``.npz`` (no pickled objects)."""
    arrays: dict[str, Any] = {
        "query_ids": np.asarray(clusterings.query_ids, dtype=str),
        "full_labels": clusterings.full.labels,
        "full_centroids": clusterings.full.centroids,
    }
    if clusterings.validation is not None:
        arrays.update(
            validation_labels=clusterings.validation.labels, validation_centroids=clusterings.validation.centroids
        )
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def read_clusterings(path: PathLike) -> ExportClusterings:
    """Read what :func:`write_clusterings` wrote."""
    try:
        with np.load(path, allow_pickle=False) as data:
            validation = (
                Clustering(data["validation_labels"], data["validation_centroids"])
                if "validation_labels" in data
                else None
            )
            full = Clustering(data["full_labels"], data["full_centroids"])
            return ExportClusterings(data["query_ids"].astype(object), full, validation)
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"not a clusterings file of an export: {error}", file=str(path)) from None
