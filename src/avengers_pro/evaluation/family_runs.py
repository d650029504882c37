"""Router families on the pipeline's splits: one family's selection and test routing per seed.

:func:`run_family`: for every seed's split, one family's hyperparameters are chosen by K-fold
cross-validation over train only (:func:`select_family`, the ``family_select`` job), then
(:func:`route_family`, the ``family_route`` job) the chosen estimator is refitted on all of train and
routes the seed's test queries once, over every alpha. The outcome per seed is a sweep frame in the
format of the Avengers-Pro sweep files (``outputs.SWEEP_COLUMNS`` and ``routed[<model>]``), the
per-query decisions and the validation sweep. The leaderboard (:mod:`avengers_pro.evaluation.leaderboard`)
ranks them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.evaluation.cv import DEFAULT_CV_FOLDS, cv_folds, select_cv
from avengers_pro.evaluation.selection import SELECTION_ALPHAS, Selection, make_estimator
from avengers_pro.evaluation.sweep import evaluate_choices
from avengers_pro.io import PathLike, RecordMatrix
from avengers_pro.outputs import require_columns
from avengers_pro.routing import Grid

# --------------------------------------------------------------------------- step 1: one family


@dataclass
class FamilyRun:
    """One family on one seed: what was chosen on validation and what it did on test.

    Attributes
    ----------
    family, seed
        The family (a key of :data:`avengers_pro.routing.FAMILIES`) and the split's seed.
    params
        The hyperparameters chosen on validation.
    validation
        Every candidate's ``params`` and validation ``aiq``.
    sweep
        One row per (alpha, test dataset): ``outputs.SWEEP_COLUMNS`` and ``routed[<model>]``.
    decisions
        One row per (alpha, test query): ``alpha``, ``query_id``, ``dataset``, ``model``, ``score``,
        ``cost``.
    validation_sweep
        The sweep of the chosen hyperparameters fitted on train minus the validation carve-out and
        evaluated on the carve-out (the columns of ``sweep``; no test query read): where its upper
        hull lies decides the alphas of the leaderboard's validation-hull AIQ.
    """

    family: str
    seed: int
    params: dict[str, Any]
    validation: list[dict[str, Any]]
    sweep: pd.DataFrame
    decisions: pd.DataFrame
    validation_sweep: pd.DataFrame


def aligned_embeddings(
    query_ids: np.ndarray, vectors: np.ndarray, matrix: RecordMatrix, file: str = "results/embeddings"
) -> np.ndarray:
    """The rows of ``vectors`` in ``matrix``'s query order.

    Raises
    ------
    DataError
        If a query of the records has no embedding.
    """
    rows = pd.Index(np.asarray(query_ids, dtype=object)).get_indexer(np.asarray(matrix.query_ids, dtype=object))
    if (rows < 0).any():
        missing = str(matrix.query_ids[int(np.flatnonzero(rows < 0)[0])])
        raise DataError(f"query {missing!r} of the records has no embedding", file=file, field="query_id")
    return np.asarray(vectors)[rows]


def split_flags(split: pd.DataFrame, matrix: RecordMatrix, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(is_test, is_validation)`` of one split file, aligned with ``matrix``'s queries.

    Raises
    ------
    DataError
        If the split lacks a column or a query of the records.
    """
    file = f"results/splits/seed{seed}.parquet"
    require_columns(split, ("query_id", "split", "validation"), file)
    frame = split.set_index("query_id")
    rows = frame.index.get_indexer(np.asarray(matrix.query_ids, dtype=object))
    if (rows < 0).any():
        missing = str(matrix.query_ids[int(np.flatnonzero(rows < 0)[0])])
        raise DataError(f"query {missing!r} of the records is not in the split", file=file, field="query_id")
    is_test = frame["split"].to_numpy(dtype=object)[rows] == "test"
    is_validation = frame["validation"].to_numpy(dtype=bool)[rows] & ~is_test
    return is_test, is_validation


def select_family(
    family: str,
    grid: Grid,
    embeddings: np.ndarray,
    matrix: RecordMatrix,
    splits: Mapping[int, pd.DataFrame],
    n_folds: int = DEFAULT_CV_FOLDS,
) -> dict[int, Selection]:
    """One family's hyperparameters per seed, chosen by K-fold cross-validation over train only.

    Each seed's training rows alone go to :func:`avengers_pro.evaluation.cv.select_cv` (folds stratified
    by dataset, seeded by the split's seed), scored by the mean held-out AIQ over
    :data:`SELECTION_ALPHAS`, with the one-standard-error rule toward the simplest candidate.

    Parameters
    ----------
    family, grid
        A key of :data:`avengers_pro.routing.FAMILIES` and its hyperparameter grid.
    embeddings
        (n, dim) L2-normalised embeddings, rows aligned with ``matrix`` (:func:`aligned_embeddings`).
    matrix
        Every query's records.
    splits
        seed -> the ``results/splits/seed{seed}.parquet`` frame (``query_id``, ``split``, ``validation``).
    n_folds
        K (``split.cv_folds``).

    Returns
    -------
    dict[int, Selection]
        seed -> the choice (``params`` and every candidate's fold AIQs, mean and standard error; no
        refitted estimator: :func:`route_family` fits it).
    """
    chosen = {}
    for seed in sorted(splits):
        is_test, _ = split_flags(splits[seed], matrix, seed)
        train = ~is_test
        folds = cv_folds(matrix.datasets[train], n_folds, int(seed))
        chosen[int(seed)] = select_cv(
            family, grid, embeddings[train], matrix.subset(train), folds, SELECTION_ALPHAS, seed=int(seed)
        )
    return chosen


def route_family(
    family: str,
    chosen: Mapping[int, Mapping[str, Any]],
    embeddings: np.ndarray,
    matrix: RecordMatrix,
    splits: Mapping[int, pd.DataFrame],
    alphas: np.ndarray,
    validation: Mapping[int, list[dict[str, Any]]] | None = None,
) -> list[FamilyRun]:
    """Route each seed's test queries once with the hyperparameters chosen for that seed.

    The estimator is fitted on all of that seed's training queries; of the test records only which
    models have one (``available``) is read. A second fit without the validation carve-out routes the
    carve-out over the same alphas (:attr:`FamilyRun.validation_sweep`).

    Parameters
    ----------
    family
        A key of :data:`avengers_pro.routing.FAMILIES`.
    chosen
        seed -> the chosen hyperparameters (:func:`select_family`, or ``selection.json``).
    embeddings, matrix, splits
        As :func:`select_family`.
    alphas
        (A,) the alpha grid of the test sweep.
    validation
        seed -> every candidate's validation AIQ, carried into the runs (optional).

    Returns
    -------
    list[FamilyRun]
        One per seed, in seed order.
    """
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    runs = []
    for seed in sorted(splits):
        is_test, is_validation = split_flags(splits[seed], matrix, seed)
        train = ~is_test
        params = dict(chosen[int(seed)])
        estimator = make_estimator(family, params, int(seed)).fit(embeddings[train], matrix.subset(train))
        choices = estimator.choose(embeddings[is_test], alphas, matrix.available[is_test])
        sweep, decisions = evaluate_choices(choices[..., None], matrix.subset(is_test), alphas)
        assert decisions is not None  # with_decisions defaults to True
        fit = train & ~is_validation
        held_out = make_estimator(family, params, int(seed)).fit(embeddings[fit], matrix.subset(fit))
        validation_choices = held_out.choose(embeddings[is_validation], alphas, matrix.available[is_validation])
        validation_sweep, _ = evaluate_choices(
            validation_choices[..., None], matrix.subset(is_validation), alphas, with_decisions=False
        )
        runs.append(
            FamilyRun(
                family,
                int(seed),
                params,
                list((validation or {}).get(int(seed), [])),
                sweep,
                decisions,
                validation_sweep,
            )
        )
    return runs


def run_family(
    family: str,
    grid: Grid,
    embeddings: np.ndarray,
    matrix: RecordMatrix,
    splits: Mapping[int, pd.DataFrame],
    alphas: np.ndarray,
    n_folds: int = DEFAULT_CV_FOLDS,
) -> list[FamilyRun]:
    """One family on every seed: :func:`select_family`, then :func:`route_family` on ``alphas``.

    Parameters
    ----------
    family, grid, embeddings, matrix, splits, n_folds
        As :func:`select_family`.
    alphas
        (A,) the alpha grid of the test sweep.

    Returns
    -------
    list[FamilyRun]
        One per seed, in seed order.
    """
    selected = select_family(family, grid, embeddings, matrix, splits, n_folds)
    return route_family(
        family,
        {seed: selection.params for seed, selection in selected.items()},
        embeddings,
        matrix,
        splits,
        alphas,
        validation={seed: selection.validation for seed, selection in selected.items()},
    )


def selection_json(family: str, selected: Mapping[int, Selection], n_folds: int = DEFAULT_CV_FOLDS) -> dict[str, Any]:
    """The JSON object of a family's choices (``results/families/{family}/selection.json``): per seed
    the chosen ``params`` and every candidate's fold AIQs (:func:`select_family`).
    """
    return {
        "family": family,
        "selection_alphas": len(SELECTION_ALPHAS),
        "cv_folds": n_folds,
        "seeds": {
            str(seed): {"params": selection.params, "validation": selection.validation}
            for seed, selection in sorted(selected.items())
        },
    }


def chosen_params(record: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """The chosen hyperparameters of each seed (``{seed: params}``), from a ``selection.json`` object."""
    return {int(seed): dict(entry["params"]) for seed, entry in record["seeds"].items()}


def read_selection(path: PathLike) -> tuple[str, dict[int, dict[str, Any]]]:
    """``(family, {seed: chosen hyperparameters})`` of a ``results/families/{family}/selection.json``.

    Raises
    ------
    DataError
        If the file is not JSON or lacks ``family`` or a seed's ``params``.
    """
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read the selection: {err}", file=path) from None
    if not isinstance(record, dict) or not isinstance(record.get("family"), str):
        raise DataError("expected an object with the family's name", file=path, field="family")
    seeds = record.get("seeds")
    if not isinstance(seeds, dict) or not all(
        isinstance(entry, dict) and isinstance(entry.get("params"), dict) for entry in seeds.values()
    ):
        raise DataError("expected {seed: {params: {...}}} for every seed", file=path, field="seeds")
    return record["family"], chosen_params(record)


# --------------------------------------------------------------------------- hyperparameters as text


def params_text(params: Mapping[str, Any]) -> str:
    """``key=value`` pairs of one choice; a mapping value (Avengers-Pro's variant) shows its name."""
    parts = []
    for key, value in params.items():
        if isinstance(value, Mapping):
            value = value.get("name", dict(value))
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def hyperparameters_text(by_seed: Mapping[int, Mapping[str, Any]]) -> str:
    """Each distinct choice once, with the seeds that chose it, e.g. ``n_neighbors=200 (seeds 0, 3)``."""
    seeds_of: dict[str, list[int]] = {}
    for seed in sorted(by_seed):
        seeds_of.setdefault(params_text(by_seed[seed]), []).append(int(seed))
    parts = []
    for text, seeds in seeds_of.items():
        label = "seed" if len(seeds) == 1 else "seeds"
        parts.append(f"{text} ({label} {', '.join(map(str, seeds))})")
    return "; ".join(parts)
