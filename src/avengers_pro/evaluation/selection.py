"""Honest hyperparameter selection: fit on train minus validation, score on validation, refit on train.

Only the training queries are ever passed in (``embeddings`` and ``matrix`` hold train rows, and
``is_validation`` flags the validation part, as ``split.validation``); the test queries are routed
once, afterwards, by the estimator this returns. The criterion is the validation AIQ of the whole
alpha sweep over a fixed cost range ``[0, most expensive single model's validation cost]``, the same
range for every candidate; equal AIQs -> the earlier candidate of the grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avengers_pro.errors import DataError, TooFewQueries
from avengers_pro.evaluation import metrics
from avengers_pro.evaluation.sweep import chosen_outcomes
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.base import RouterEstimator
from avengers_pro.routing.families import Grid, expand_grid, make_estimator

#: The alpha grid of the validation AIQ that chooses hyperparameters (in the pipeline and for an
#: export). Fixed, not the config's ``sweep.alphas``: the selection (every candidate fitted, the
#: expensive part) then does not rerun when only the grid the curves are drawn on changes; 101
#: points are the paper's.
SELECTION_ALPHAS = np.linspace(0.0, 1.0, 101)


def sweep_curve(choices: np.ndarray, matrix: RecordMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-query outcomes and the curve of (A, n) choices on ``matrix``'s queries.

    Returns
    -------
    score, cost : np.ndarray
        (A, n) recorded score and cost of each chosen model.
    accuracy, total_cost : np.ndarray
        (A,) unweighted mean over datasets of the per-dataset accuracy, and the total cost.
    """
    score, cost = chosen_outcomes(np.asarray(choices)[..., None], matrix)
    accuracy, total = metrics.resampled_curve(score, cost, matrix.datasets, np.ones((1, score.shape[1])))
    return score, cost, accuracy[0], total[0]


def single_model_costs(matrix: RecordMatrix) -> np.ndarray:
    """(M,) total cost of each model over the queries it has a record for."""
    return np.where(matrix.available, matrix.costs, 0.0).sum(axis=0)


def validation_cost_range(matrix: RecordMatrix) -> tuple[float, float]:
    """The selection criterion's AIQ cost range on validation queries: ``[0, most expensive single model's cost]``.

    ``[0, 1]`` when no cost is recorded, so that the AIQ is still defined (every candidate equal).
    """
    top = float(single_model_costs(matrix).max())
    return (0.0, top if top > 0 else 1.0)


@dataclass
class Selection:
    """The outcome of :func:`select_on_validation`.

    Attributes
    ----------
    estimator
        Fitted on every training query (validation included) with the chosen hyperparameters
        (None when :func:`select_on_validation` was asked not to refit).
    params
        The chosen hyperparameters.
    validation
        One entry per candidate: ``params`` and its validation ``aiq``; a candidate the training data
        is too small for (more clusters than queries) has ``aiq`` None and the reason in ``skipped``.
    """

    estimator: RouterEstimator | None
    params: dict[str, Any]
    validation: list[dict[str, Any]] = field(default_factory=list)


def select_on_validation(
    family: str,
    grid: Grid,
    embeddings: np.ndarray,
    matrix: RecordMatrix,
    is_validation: np.ndarray,
    alphas: np.ndarray,
    seed: int = 0,
    refit: bool = True,
) -> Selection:
    """Choose a family's hyperparameters on the validation part of train, then refit on all of train.

    Parameters
    ----------
    family
        A key of :data:`FAMILIES`.
    grid
        ``{parameter: [values]}`` (every combination) or an explicit list of parameter mappings.
    embeddings, matrix
        The TRAINING queries only (rows aligned); test queries must not be passed.
    is_validation
        (n,) bool: the validation part of train (the split's ``validation`` column).
    alphas
        (A,) alpha grid of the sweep.
    seed
        Seed of the families that cluster.
    refit
        Refit the chosen candidate on all of train (``False``: the caller fits what it needs).

    Returns
    -------
    Selection
        The refitted estimator, its hyperparameters and every candidate's validation AIQ.

    Raises
    ------
    DataError
        If the validation part or the rest of train is empty.
    """
    is_validation = np.asarray(is_validation, dtype=bool)
    embeddings = np.asarray(embeddings)
    if is_validation.shape != (len(matrix.query_ids),) or len(embeddings) != len(matrix.query_ids):
        raise DataError(
            f"{len(matrix.query_ids)} training queries, {len(embeddings)} embeddings and "
            f"{is_validation.size} validation flags",
            field="validation",
        )
    if not is_validation.any() or is_validation.all():
        raise DataError("selection needs both validation queries and other training queries", field="validation")
    candidates = expand_grid(grid) if isinstance(grid, Mapping) else [dict(c) for c in grid]
    fit_part, val_part = matrix.subset(~is_validation), matrix.subset(is_validation)
    fit_emb, val_emb = embeddings[~is_validation], embeddings[is_validation]
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    cost_range = validation_cost_range(val_part)
    table: list[dict[str, Any]] = []
    for params in candidates:
        try:
            estimator = make_estimator(family, params, seed).fit(fit_emb, fit_part)
        except TooFewQueries as error:  # e.g. 64 clusters of 32 queries: a candidate for larger data
            table.append({"params": params, "aiq": None, "skipped": error.reason})
            continue
        choices = estimator.choose(val_emb, alphas, val_part.available)
        _, _, accuracy, cost = sweep_curve(choices, val_part)
        table.append({"params": params, "aiq": metrics.aiq(cost, accuracy, cost_range)})
    scored = [i for i, entry in enumerate(table) if entry["aiq"] is not None]
    if not scored:
        raise DataError(
            f"no candidate of the {family} grid fits {len(fit_emb)} training queries "
            f"({table[0]['skipped']}); give it smaller settings under families.{family}",
            field=f"families.{family}",
        )
    best = max(scored, key=lambda i: table[i]["aiq"])  # first of equal maxima
    chosen = table[best]["params"]
    refitted = make_estimator(family, chosen, seed).fit(embeddings, matrix) if refit else None
    return Selection(refitted, dict(chosen), table)
