"""Cross-validated selection with the one-standard-error rule toward the simplest candidate.

One validation carve-out of a few hundred queries gives AIQs whose differences between candidates
(0.002-0.003 on the default data) are smaller than their noise, so the choice it makes is mostly
noise. Here the training queries are dealt into K folds (:func:`cv_folds`, stratified by dataset);
every candidate is fitted on K - 1 folds and scored by the AIQ of its sweep on the held-out fold
(over ``[0, most expensive single model's cost on that fold]``), K times. A candidate's score is the
mean of its K fold AIQs, with the standard error ``sd / sqrt(K)``. **One-standard-error rule**: among
the candidates whose mean is at least the best mean minus the best candidate's standard error, the
simplest is chosen (:func:`simplicity`; equal simplicity: the earlier of the grid).

**Order of simplicity** (simplest first), per family: the one that trusts the local, per-query
evidence least, i.e. stays closest to one choice per task:

* ``knn``: more neighbours first;
* ``logistic``: smaller ``C`` (stronger regularisation) first;
* ``task``: ``hard`` (the predicted task's statistics) before ``soft``, then smaller ``C``;
* ``shrinkage``: larger ``tau`` (stronger shrinkage toward the task) first, a fixed ``tau`` before
  ``eb`` (estimated from the data); then the coarser base (fewer clusters; more neighbours);
* ``avengers-pro``: fewer clusters first.

Between families (the ``best`` export): ``task``, ``avengers-pro``, ``knn``, ``shrinkage``,
``logistic`` (:data:`FAMILY_ORDER`): a task classifier, then a fixed partition into clusters, then
local averages, then local averages mixed with the task, then one classifier per model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from avengers_pro.errors import DataError, TooFewQueries
from avengers_pro.evaluation import metrics
from avengers_pro.evaluation.selection import (
    Grid,
    Selection,
    expand_grid,
    make_estimator,
    sweep_curve,
    validation_cost_range,
)
from avengers_pro.io import RecordMatrix

#: K of the K-fold cross-validation (config ``split.cv_folds``).
DEFAULT_CV_FOLDS = 5

#: The families from simplest to most complex (the one-standard-error rule between families).
FAMILY_ORDER = ("task", "avengers-pro", "knn", "shrinkage", "logistic")


def _tau(value: Any) -> float:
    return -1.0 if value == "eb" else float(value)


def _shrinkage(params: Mapping[str, Any]) -> tuple[float, ...]:
    base = params.get("base", "clusters")
    resolution = float(params.get("n_clusters", 0)) if base == "clusters" else 1e6 / float(params.get("n_neighbors", 1))
    return (-_tau(params.get("tau", "eb")), resolution)


#: family -> key of a candidate's parameters; a smaller key is simpler (module docstring).
SIMPLICITY: dict[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]] = {
    "knn": lambda p: (-float(p.get("n_neighbors", 0)),),
    "logistic": lambda p: (float(p.get("C", 1.0)),),
    "task": lambda p: (p.get("mode", "soft") != "hard", float(p.get("C", 1.0))),
    "shrinkage": _shrinkage,
    "avengers-pro": lambda p: (float(p.get("n_clusters", 0)),),
}


def simplicity(family: str, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """The order of simplicity of one candidate of ``family`` (smaller: simpler)."""
    return SIMPLICITY[family](params)


def cv_folds(datasets: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """(n,) the fold of each query: each dataset's queries shuffled (seeded) and dealt in turn.

    Raises
    ------
    DataError
        If ``n_folds < 2`` or there are fewer queries than folds.
    """
    datasets = np.asarray(datasets, dtype=object)
    if n_folds < 2:
        raise DataError(f"cross-validation needs at least 2 folds, got {n_folds}", field="split.cv_folds")
    if datasets.size < n_folds:
        raise DataError(f"{datasets.size} training queries for {n_folds} folds", field="split.cv_folds")
    rng = np.random.default_rng([int(seed), 20])
    folds = np.empty(datasets.size, dtype=np.int64)
    offset = 0
    for dataset in sorted(set(datasets.tolist())):
        rows = np.flatnonzero(datasets == dataset)
        rng.shuffle(rows)
        folds[rows] = (offset + np.arange(rows.size)) % n_folds
        offset += rows.size
    return folds


def fold_mean_se(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean of a candidate's fold scores and its standard error ``sd / sqrt(K)`` (None for one fold)."""
    array = np.asarray(values, dtype=np.float64)
    se = float(array.std(ddof=1) / np.sqrt(array.size)) if array.size > 1 else None
    return float(array.mean()), se


def one_standard_error(
    means: Sequence[float | None], errors: Sequence[float | None], keys: Sequence[tuple[Any, ...]]
) -> int:
    """The index the one-standard-error rule chooses: the simplest (smallest key; ties: the first)
    among the scored candidates whose mean is at least the best mean minus the best's standard error.
    """
    scored = [i for i, mean in enumerate(means) if mean is not None]
    if not scored:
        raise ValueError("no scored candidate")
    best = max(scored, key=lambda i: means[i])  # type: ignore[arg-type,return-value]
    threshold = float(means[best]) - float(errors[best] or 0.0)  # type: ignore[arg-type]
    within = [i for i in scored if float(means[i]) >= threshold]  # type: ignore[arg-type]
    return min(within, key=lambda i: (keys[i], i))


def select_cv(
    family: str,
    grid: Grid,
    embeddings: np.ndarray,
    matrix: RecordMatrix,
    folds: np.ndarray,
    alphas: np.ndarray,
    seed: int = 0,
) -> Selection:
    """Choose a family's hyperparameters by K-fold CV over the given (training) queries.

    Parameters
    ----------
    family, grid
        A key of :data:`~avengers_pro.routing.FAMILIES` and its grid.
    embeddings, matrix
        The TRAINING queries only (rows aligned); test queries must not be passed.
    folds
        (n,) the fold of each query (:func:`cv_folds`).
    alphas
        (A,) alpha grid of the sweeps.
    seed
        Seed of the families that cluster.

    Returns
    -------
    Selection
        No estimator (the caller fits the chosen one); ``params``; ``validation``: per candidate its
        ``params``, ``aiq`` (mean over folds), ``aiq_se``, ``aiq_folds`` and ``chosen`` (bool); a
        candidate that does not fit a fold has ``aiq`` None and the reason in ``skipped``.

    Raises
    ------
    DataError
        If no candidate fits every fold.
    """
    embeddings = np.asarray(embeddings)
    folds = np.asarray(folds)
    if folds.shape != (len(matrix.query_ids),) or len(embeddings) != len(matrix.query_ids):
        raise DataError(
            f"{len(matrix.query_ids)} training queries, {len(embeddings)} embeddings and {folds.size} folds",
            field="split.cv_folds",
        )
    candidates = expand_grid(grid) if isinstance(grid, Mapping) else [dict(c) for c in grid]
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    table: list[dict[str, Any]] = [{"params": params, "aiq_folds": []} for params in candidates]
    for fold in np.unique(folds):
        held_out = folds == fold
        fit_part, val_part = matrix.subset(~held_out), matrix.subset(held_out)
        cost_range = validation_cost_range(val_part)
        for entry in table:
            if "skipped" in entry:
                continue
            try:
                estimator = make_estimator(family, entry["params"], seed).fit(embeddings[~held_out], fit_part)
            except TooFewQueries as error:
                entry["skipped"] = error.reason
                continue
            choices = estimator.choose(embeddings[held_out], alphas, val_part.available)
            _, _, accuracy, cost = sweep_curve(choices, val_part)
            entry["aiq_folds"].append(metrics.aiq(cost, accuracy, cost_range))
    for entry in table:
        ok = "skipped" not in entry
        entry["aiq"], entry["aiq_se"] = fold_mean_se(entry["aiq_folds"]) if ok else (None, None)
    means = [entry["aiq"] for entry in table]
    if all(mean is None for mean in means):
        raise DataError(
            f"no candidate of the {family} grid fits every fold ({table[0].get('skipped')}); give it smaller "
            f"settings under families.{family}",
            field=f"families.{family}",
        )
    chosen = one_standard_error(means, [e["aiq_se"] for e in table], [simplicity(family, e["params"]) for e in table])
    for i, entry in enumerate(table):
        entry["chosen"] = i == chosen
    return Selection(None, dict(table[chosen]["params"]), table)
