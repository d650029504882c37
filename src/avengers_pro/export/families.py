"""Pipeline time, for an export entry with ``family:``: a router of any family, or the best one on validation.

Two steps, each a pipeline job (``workflow/rules/export.smk``), as for an Avengers-Pro export:

1. :func:`select_export`: by K-fold cross-validation over ALL records (``split.cv_folds`` folds
   stratified by dataset, seed = the first of ``split.seeds``), each candidate family's
   hyperparameters are chosen by the mean held-out AIQ over
   :data:`~avengers_pro.evaluation.selection.SELECTION_ALPHAS` with the one-standard-error rule toward the simplest
   (:func:`~avengers_pro.evaluation.cv.select_cv`), and, for ``best-on-validation``, the same rule
   chooses between the families (:data:`~avengers_pro.evaluation.cv.FAMILY_ORDER`). No alpha grid is
   read, so a new grid does not rerun this step.
2. :func:`export_selected`: the default alpha (fixed, or chosen by the entry's ``target`` on the
   pooled out-of-fold curve over the same folds, as every export chooses it), then the chosen estimator refitted on ALL records and
   written: an Avengers-Pro winner in the version-1 folder (centroids and statistics), any other
   family as a version-2 folder (the estimator's arrays; ``docs/routing.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import ConfigError, DataError
from avengers_pro.evaluation.cv import FAMILY_ORDER, one_standard_error, select_cv
from avengers_pro.evaluation.selection import SELECTION_ALPHAS, sweep_curve
from avengers_pro.export.fit import alpha_from_curve, export_folds, matrix_and_vectors
from avengers_pro.export.folder import (
    EMBEDDER,
    ESTIMATOR,
    ESTIMATOR_FILES,
    ESTIMATOR_FORMAT_VERSION,
    FILES_OF_VERSION,
    FORMAT_VERSION,
    MANIFEST,
    ROUTER,
    ROUTER_FILES,
    make_estimator_spec,
    make_manifest,
    make_spec,
)
from avengers_pro.export.settings import export_settings
from avengers_pro.export.write import fitted_on, write_router
from avengers_pro.io import PathLike, RecordMatrix, atomic_path, write_json
from avengers_pro.routing import DEFAULT_GRIDS, FAMILIES, Grid, make_estimator
from avengers_pro.routing.avengers import AvengersProEstimator
from avengers_pro.routing.base import RouterEstimator
from avengers_pro.routing.state import estimator_state, is_storable

log = logging.getLogger(__name__)

#: The ``router`` of an export entry that compares every candidate and keeps the best on validation.
BEST_ON_VALIDATION = "best-on-validation"
AVENGERS_PRO = "avengers-pro"


def family_export_settings(job: str, config: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """What a ``family:`` entry's job (``export_select`` or ``export_family``) uses
    (:func:`avengers_pro.export.settings.export_settings`), with the entry's family checked.

    Raises
    ------
    ConfigError
        A missing key, or a ``family`` that is neither a family nor ``best-on-validation``.
    """
    settings = export_settings(job, config, entry)
    wanted = entry.get("family")
    if wanted != BEST_ON_VALIDATION and wanted not in FAMILIES:
        raise ConfigError(
            f"export '{entry.get('name')}'.family: {wanted!r} is not a router family "
            f"({', '.join(sorted(FAMILIES))}) or {BEST_ON_VALIDATION!r}"
        )
    return settings


def export_candidates(settings: Mapping[str, Any]) -> list[tuple[str, Grid]]:
    """The (family, grid) pairs an entry chooses among, in order (the first of equal AIQs wins).

    A named family: its ``families`` grid, else its default grid; ``avengers-pro``: every
    ``avengers.variants`` entry x ``clustering.n_clusters``. ``best-on-validation``: every family of
    ``families``, then those Avengers-Pro candidates.
    """
    wanted = settings["export"]["family"]
    families = settings["families"]
    if wanted == BEST_ON_VALIDATION:
        return [*families.items(), (AVENGERS_PRO, _avengers_grid(settings))]
    if wanted == AVENGERS_PRO:
        return [(AVENGERS_PRO, _avengers_grid(settings))]
    return [(wanted, families.get(wanted) or DEFAULT_GRIDS[wanted])]


def _avengers_grid(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Avengers-Pro's candidates: every configured variant x cluster count, with the router's top_k and beta."""
    router = settings["avengers"]
    return [
        {
            "variant": {"name": name, **dict(spec)},
            "n_clusters": int(k),
            "top_k": int(router["top_k"]),
            "beta": float(router["beta"]),
            "n_init": int(settings["clustering"]["n_init"]),
        }
        for name, spec in router["variants"].items()
        for k in settings["clustering"]["n_clusters"]
    ]


def select_export(
    records: pd.DataFrame,
    query_ids: Sequence[str] | np.ndarray,
    embeddings: np.ndarray,
    config: Mapping[str, Any],
    entry: Mapping[str, Any],
) -> dict[str, Any]:
    """Choose an export's family and hyperparameters by K-fold cross-validation over all records.

    Parameters
    ----------
    records, query_ids, embeddings
        As :func:`avengers_pro.export.export_router`.
    config, entry
        The config (see :func:`family_export_settings`) and one ``export`` entry with ``router``.

    Returns
    -------
    dict
        JSON-ready: ``router`` (the entry's), ``family`` and ``params`` (the winner), ``seed``,
        ``cv_folds``, ``n_queries``, ``selection_alphas`` and ``candidates`` (per family its chosen
        ``params``, their mean held-out AIQ ``validation_aiq`` with its standard error
        ``validation_aiq_se``, and every candidate's fold AIQs under ``validation``).
    """
    settings = family_export_settings("export_select", config, entry)
    matrix, vectors = matrix_and_vectors(records, query_ids, embeddings, settings)
    seed, n_folds = int(settings["seed"]), int(settings["split"]["cv_folds"])
    folds = export_folds(matrix, settings)
    candidates: list[dict[str, Any]] = []
    for family, grid in export_candidates(settings):
        selection = select_cv(family, grid, vectors, matrix, folds, SELECTION_ALPHAS, seed=seed)
        chosen = next(c for c in selection.validation if c["chosen"])
        candidates.append(
            {
                "family": family,
                "params": selection.params,
                "validation_aiq": chosen["aiq"],
                "validation_aiq_se": chosen["aiq_se"],
                "validation": selection.validation,
            }
        )
        log.info(
            "export '%s': %s, CV AIQ %.4f ± %.4f with %s",
            entry["name"],
            family,
            chosen["aiq"],
            chosen["aiq_se"] or 0.0,
            selection.params,
        )
    # The same rule between families: the simplest within one standard error of the best.
    winner = one_standard_error(
        [c["validation_aiq"] for c in candidates],
        [c["validation_aiq_se"] for c in candidates],
        [(FAMILY_ORDER.index(c["family"]),) for c in candidates],
    )
    return {
        "requested": entry["family"],
        "family": candidates[winner]["family"],
        "params": candidates[winner]["params"],
        "seed": seed,
        "cv_folds": n_folds,
        "n_queries": len(matrix.query_ids),
        "selection_alphas": len(SELECTION_ALPHAS),
        "candidates": candidates,
    }


def _out_of_fold_alpha(
    records: pd.DataFrame,
    matrix: RecordMatrix,
    vectors: np.ndarray,
    settings: dict[str, Any],
    family: str,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """The default alpha by the entry's target, on the pooled out-of-fold curve: each fold of
    :func:`~avengers_pro.export.fit.export_folds` routed by the estimator fitted on the other folds.
    """
    from avengers_pro.config import alpha_grid

    alphas = alpha_grid(settings["sweep"]["alphas"])
    fold_of = export_folds(matrix, settings)
    choices = np.empty((len(alphas), len(matrix.query_ids)), dtype=np.int64)
    for fold in np.unique(fold_of):
        held_out = fold_of == fold
        estimator = make_estimator(family, dict(params), int(settings["seed"]))
        estimator.fit(vectors[~held_out], matrix.subset(~held_out))
        choices[:, held_out] = estimator.choose(vectors[held_out], alphas, matrix.available[held_out])
    _, _, accuracy, cost = sweep_curve(choices, matrix)
    curve = pd.DataFrame({"accuracy": accuracy, "cost": cost}, index=pd.Index(alphas, name="alpha"))
    return alpha_from_curve(curve, records, matrix, settings)


def export_selected(
    records: pd.DataFrame,
    query_ids: Sequence[str] | np.ndarray,
    embeddings: np.ndarray,
    config: Mapping[str, Any],
    entry: Mapping[str, Any],
    selection: Mapping[str, Any],
    out_dir: PathLike,
) -> dict[str, Any]:
    """Fit the router :func:`select_export` chose on ALL records and write its folder.

    Parameters
    ----------
    records, query_ids, embeddings, config, entry
        As :func:`select_export`.
    selection
        What :func:`select_export` returned for the same arguments.
    out_dir
        The router folder (created; files of the same names are replaced atomically).

    Returns
    -------
    dict
        The content of the folder's ``router.json``.
    """
    settings = family_export_settings("export_family", config, entry)
    if selection.get("requested") != entry["family"]:
        raise DataError(
            f"export '{entry['name']}': the selection is for {selection.get('requested')!r}; select again",
            field="requested",
        )
    matrix, vectors = matrix_and_vectors(records, query_ids, embeddings, settings)
    family, params, seed = str(selection["family"]), dict(selection["params"]), int(settings["seed"])
    if "alpha" in entry:
        alpha: dict[str, Any] = {"default": float(entry["alpha"]), "chosen_by": "fixed", "validation": None}
    else:
        alpha = _out_of_fold_alpha(records, matrix, vectors, settings, family, params)
    log.info("export '%s': %s, alpha %.4f (%s)", entry["name"], family, alpha["default"], alpha["chosen_by"])
    estimator = make_estimator(family, params, seed).fit(vectors, matrix)
    how = {key: selection[key] for key in ("requested", "family", "seed", "cv_folds", "n_queries")}
    how["candidates"] = [
        {"family": c["family"], "params": c["params"], "validation_aiq": c["validation_aiq"]}
        for c in selection["candidates"]
    ]
    return write_fitted_router(
        Path(out_dir),
        estimator,
        params=params,
        matrix=matrix,
        max_router=int(settings["sweep"]["max_router"]),
        alpha=alpha,
        selection=how,
        embedder=settings["embedding"],
        config=settings,
    )


def write_fitted_router(
    out_dir: Path,
    estimator: RouterEstimator,
    *,
    params: Mapping[str, Any],
    matrix: RecordMatrix,
    max_router: int,
    alpha: Mapping[str, Any],
    selection: Mapping[str, Any],
    embedder: Mapping[str, Any],
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """Write a fitted estimator of any family as a router folder; return its ``router.json``.

    An :class:`~avengers_pro.routing.AvengersProEstimator` becomes a version-1 folder (centroids and
    statistics, routed by :class:`~avengers_pro.export.restore.ClusterRouter`), any other family a
    version-2 folder (its arrays, routed by :class:`~avengers_pro.export.restore.EstimatorRouter`).

    Parameters
    ----------
    out_dir
        The router folder.
    estimator
        Fitted on ``matrix``'s queries.
    params
        Its hyperparameters (as chosen on validation).
    matrix
        The records it was fitted on (models, queries per dataset).
    max_router, alpha
        Models routed to per query, and the ``alpha`` object (``default``, ``chosen_by``, ``validation``).
    selection
        How the family and hyperparameters were chosen (stored in ``router.json``).
    embedder, config
        The ``embedder.json`` content and the config stored in the manifest.
    """
    dim = int(estimator.n_features_in_)
    version = FORMAT_VERSION if isinstance(estimator, AvengersProEstimator) else ESTIMATOR_FORMAT_VERSION
    # A folder that held the other format (a best-on-validation export whose winner changed) keeps
    # none of its files: the manifest would not list them, and they would only mislead a reader.
    for stale in {*ROUTER_FILES, *ESTIMATOR_FILES} - set(FILES_OF_VERSION[version]):
        (out_dir / stale).unlink(missing_ok=True)
    if isinstance(estimator, AvengersProEstimator):
        router_json = make_spec(
            models=list(matrix.models),
            n_clusters=int(estimator.n_clusters),
            dim=dim,
            variant=estimator.variant,
            top_k=estimator.top_k,
            beta=estimator.beta,
            max_router=max_router,
            alpha=alpha,
            fitted_on=fitted_on(matrix),
        )
        router_json["selection"] = dict(selection)
        write_router(out_dir, estimator.centroids_, estimator.stats_, router_json, embedder, config)
        return router_json
    if not is_storable(estimator):
        raise ConfigError(f"a {estimator.family} router cannot be exported")
    structure, arrays = estimator_state(estimator)
    router_json = make_estimator_spec(
        family=estimator.family,
        hyperparameters=params,
        models=list(matrix.models),
        dim=dim,
        normalisation=estimator.normalisation,
        max_router=max_router,
        alpha=alpha,
        selection=selection,
        fitted_on=fitted_on(matrix),
        estimator=structure,
    )
    write_estimator_router(out_dir, arrays, router_json, embedder, config)
    return router_json


def write_estimator_router(
    out_dir: Path,
    arrays: Mapping[str, np.ndarray],
    router_json: Mapping[str, Any],
    embedder: Mapping[str, Any],
    config: Mapping[str, Any],
) -> None:
    """Write the four files of a family router folder (format version 2); the manifest last."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # An export that dies half-way must leave no manifest that seems to vouch for the new files.
    (out_dir / MANIFEST).unlink(missing_ok=True)
    with atomic_path(out_dir / ESTIMATOR) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **dict(arrays))  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
    write_json(dict(router_json), out_dir / ROUTER)
    write_json(dict(embedder), out_dir / EMBEDDER)
    write_json(make_manifest(out_dir, config, ESTIMATOR_FORMAT_VERSION), out_dir / MANIFEST)
