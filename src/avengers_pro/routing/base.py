"""The one interface of every router family, and the one function that turns predictions into choices.

A router is an estimator in the scikit-learn style:

* ``Estimator(**params)`` only stores its hyperparameters, under the names of its arguments;
  ``get_params(deep=True)``, ``set_params(**params)`` and ``sklearn.base.clone`` work as in
  scikit-learn (without importing it: an exported router loads without scikit-learn);
* ``fit(embeddings, matrix)`` validates the hyperparameters (:meth:`RouterEstimator.check_params`)
  and learns from the training queries: ``embeddings`` (n, dim) and ``matrix`` a
  :class:`~avengers_pro.io.RecordMatrix` of the same queries (scores, costs, datasets);
* ``predict(embeddings) -> (expected_score, expected_cost)``, each (n, M) in the matrix's model order;
* ``choose(embeddings, alphas, available) -> (A, n)`` model indices, one row per alpha;
* ``describe(embeddings)``: what each prediction rests on, for an exported router's explanation.

Normalisation of query embeddings, one policy: every one of these methods scales each query row to
unit length first (:func:`avengers_pro.routing.geometry.unit_queries`, called in
:meth:`RouterEstimator.queries` and :func:`check_training`), so scaling a query changes no decision,
in any family or in an exported router.

``choose`` is the same for every family that predicts expected scores and costs
(:func:`select_models`); the Avengers-Pro variants, whose reciprocal-rank aggregation is not a
function of one expected score and cost per model, override it and keep the official computation.

Normalisation of per-query predictions. Each query is treated exactly like one Avengers-Pro cluster
whose statistics are the query's predicted scores and costs: the predictions are min-max normalised
*across the models of that query* (accuracy), and the cost term is either ``1 - cost / max`` over the
query's models (``official``) or min-max (``paper``), by :func:`avengers_pro.routing.scores.performance_efficiency`
itself. So the dataset router is the special case "predictions = the dataset's means", and alpha has
the same meaning for every family. Models without a record for a query (``available`` False) are left
out of that query's min and max and are never chosen.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Self

import numpy as np

from avengers_pro.errors import ConfigError, DataError
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.geometry import unit_queries
from avengers_pro.routing.scores import NORMALISATIONS, ClusterStats, Normalisation, performance_efficiency

# Size of one (alphas, queries, models) float64 block in select_models.
_BLOCK_BYTES = 4 << 20


def select_models(
    expected_score: np.ndarray,
    expected_cost: np.ndarray,
    alphas: np.ndarray,
    normalisation: Normalisation = "official",
    available: np.ndarray | None = None,
) -> np.ndarray:
    """The chosen model of every (alpha, query) from per-query predictions, all alphas at once.

    ``x = alpha * acc_norm + (1 - alpha) * cost_term`` per query, normalised across the query's models
    as :func:`avengers_pro.routing.scores.performance_efficiency` does within a cluster. The model with the
    highest ``x`` is chosen; equal ``x`` -> the higher predicted score, then the lower model index.

    Parameters
    ----------
    expected_score, expected_cost
        (n, M) predictions; a non-finite cell marks a model that cannot be chosen for that query.
    alphas
        (A,) weights of accuracy, each in [0, 1].
    normalisation
        ``"official"`` (cost / max) or ``"paper"`` (min-max cost).
    available
        Optional (n, M) bool: models with a record for each query; others are never chosen.

    Returns
    -------
    np.ndarray
        (A, n) int64 model indices; -1 where a query has no model to choose.
    """
    score = np.asarray(expected_score, dtype=np.float64)
    cost = np.asarray(expected_cost, dtype=np.float64)
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if score.ndim != 2 or cost.shape != score.shape:
        raise ValueError(f"expected score and cost of shape (n, M), got {score.shape} and {cost.shape}")
    valid = np.isfinite(score) & np.isfinite(cost)
    if available is not None:
        available = np.asarray(available, dtype=bool)
        if available.shape != score.shape:
            raise ValueError(f"available must have shape {score.shape}, got {available.shape}")
        valid &= available
    n, n_models = score.shape
    choices = np.empty((len(alphas), n), dtype=np.int64)
    block = max(1, _BLOCK_BYTES // (8 * max(1, len(alphas)) * max(1, n_models)))
    for start in range(0, n, block):
        stop = min(start + block, n)
        ok = valid[start:stop]
        stats = ClusterStats(
            accuracy=np.where(ok, score[start:stop], np.nan),
            cost=np.where(ok, cost[start:stop], np.nan),
            count=ok.astype(np.int64),
        )
        x = performance_efficiency(stats, alphas, normalisation)
        x = np.where(ok[None], x, -np.inf)
        best = x.max(axis=-1, keepdims=True)
        # Among the models of highest x, the highest predicted score; argmax then takes the first.
        tie_key = np.where(x == best, np.where(ok, score[start:stop], -np.inf)[None], -np.inf)
        pick = tie_key.argmax(axis=-1)
        choices[:, start:stop] = np.where(np.isneginf(best[..., 0]), -1, pick)
    return choices


def rank_models(
    expected_score: np.ndarray, expected_cost: np.ndarray, alpha: float, normalisation: Normalisation = "official"
) -> tuple[np.ndarray, np.ndarray]:
    """Every model of every query, best first, at one alpha: the order :func:`select_models` picks from.

    The same ``x`` and tie-break as :func:`select_models` (higher ``x``, then higher predicted score,
    then lower model index), so column 0 is its choice; models with a non-finite prediction come last.

    Returns
    -------
    order : np.ndarray
        (n, M) int64 model indices, best first.
    x : np.ndarray
        (n, M) each model's performance-efficiency score (-inf where it cannot be chosen).
    """
    score = np.asarray(expected_score, dtype=np.float64)
    cost = np.asarray(expected_cost, dtype=np.float64)
    ok = np.isfinite(score) & np.isfinite(cost)
    stats = ClusterStats(
        accuracy=np.where(ok, score, np.nan), cost=np.where(ok, cost, np.nan), count=ok.astype(np.int64)
    )
    x = np.where(ok, performance_efficiency(stats, np.array([float(alpha)]), normalisation)[0], -np.inf)
    tie = np.where(ok, score, -np.inf)
    index = np.broadcast_to(np.arange(score.shape[1]), score.shape)
    # lexsort: the last key is the primary one; every key sorts ascending, hence the negations.
    order = np.lexsort((index, -tie, -x), axis=-1)
    return order.astype(np.int64), x


class Params:
    """scikit-learn's parameter protocol without scikit-learn: ``get_params``, ``set_params``, ``repr``.

    The parameters are the arguments of ``__init__``, which stores each under its own name and does
    nothing else (so ``type(est)(**est.get_params())`` is an unfitted copy, and
    ``sklearn.base.clone`` works).
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(name for name in signature.parameters if name != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyperparameters by name; with ``deep``, also ``name__param`` of nested estimators."""
        params: dict[str, Any] = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and isinstance(value, Params):
                params.update({f"{name}__{key}": item for key, item in value.get_params(deep=True).items()})
            params[name] = value
        return params

    def set_params(self, **params: Any) -> Self:
        """Set hyperparameters (``name__param`` for a nested estimator's); unknown names are a ``ValueError``."""
        valid = self._param_names()
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"{type(self).__name__}: unknown parameter {name!r}; valid: {valid}")
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"


class RouterEstimator(Params):
    """Base class of the families that predict an expected score and cost per (query, model).

    Subclasses implement :meth:`fit` and :meth:`predict`, and :meth:`check_params` for their own
    hyperparameters; :meth:`choose` is shared.

    Parameters
    ----------
    normalisation
        How :func:`select_models` normalises each query's predictions across models.
    """

    family: ClassVar[str] = "base"
    # The dtype queries are normalised to: float32 for the families (their arrays are float32).
    query_dtype: ClassVar[type[np.floating]] = np.float32

    def __init__(self, normalisation: Normalisation = "official") -> None:
        self.normalisation = normalisation

    def check_params(self, where: str | None = None) -> None:
        """Refuse bad hyperparameters: a :class:`~avengers_pro.errors.ConfigError` naming ``where.param``.

        ``fit`` calls it with ``where`` = the class name;
        :func:`~avengers_pro.routing.families.make_estimator` with the config key (``families.knn``).
        Subclasses extend it (calling this one) for their own hyperparameters.
        """
        where = where or type(self).__name__
        if self.normalisation not in NORMALISATIONS:
            raise ConfigError(
                f"{where}.normalisation: expected one of {list(NORMALISATIONS)}, got {self.normalisation!r}"
            )

    def fit(self, embeddings: np.ndarray, matrix: RecordMatrix) -> Self:  # pragma: no cover
        """Learn from the training queries' embeddings and records (NaN = no record); return self."""
        raise NotImplementedError

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        """Expected score and expected cost of every model for every query, each (n, M)."""
        raise NotImplementedError

    def describe(self, embeddings: np.ndarray) -> list[dict[str, Any]]:
        """What each query's prediction rests on, JSON-ready, for an exported router's explanation.

        The base class has nothing to add (one empty dict per query); families override it.
        """
        return [{} for _ in range(len(self.queries(embeddings)))]

    def choose(self, embeddings: np.ndarray, alphas: np.ndarray, available: np.ndarray | None = None) -> np.ndarray:
        """(A, n) chosen model indices for every alpha: :meth:`predict`, then :func:`select_models`."""
        score, cost = self.predict(embeddings)
        return select_models(score, cost, alphas, self.normalisation, available)

    def queries(self, embeddings: np.ndarray) -> np.ndarray:
        """Query embeddings as every method takes them: :func:`~avengers_pro.routing.geometry.unit_queries`."""
        return unit_queries(embeddings, self.query_dtype)

    def _training_data(self, embeddings: np.ndarray, matrix: RecordMatrix) -> np.ndarray:
        """:meth:`check_params`, then :func:`check_training`, remembering the embedding dimension
        (``n_features_in_``, as scikit-learn).
        """
        self.check_params()
        data = check_training(embeddings, matrix)
        self.n_features_in_ = int(data.shape[1])
        return data

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit() first")


def check_int(value: object, where: str, minimum: int) -> None:
    """Refuse a hyperparameter that is not a whole number >= ``minimum`` (a ``ConfigError`` naming ``where``)."""
    whole = isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    )
    if isinstance(value, bool) or not whole or value < minimum:  # type: ignore[operator]
        raise ConfigError(f"{where}: must be an integer >= {minimum}, got {value!r}")


def check_positive(value: object, where: str) -> None:
    """Refuse a hyperparameter that is not a number > 0 (a ``ConfigError`` naming ``where``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > 0:
        raise ConfigError(f"{where}: must be > 0, got {value!r}")


def check_training(embeddings: np.ndarray, matrix: RecordMatrix) -> np.ndarray:
    """L2-normalised float32 training embeddings, checked against the matrix's rows.

    Raises
    ------
    DataError
        If the row counts differ, there is no training query, or an embedding is not finite.
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or len(embeddings) != len(matrix.query_ids):
        raise DataError(
            f"{len(matrix.query_ids)} training queries but embeddings of shape {embeddings.shape}", field="embedding"
        )
    if len(embeddings) == 0:
        raise DataError("a router needs at least one training query", field="split")
    return unit_queries(embeddings, np.float32)


def model_means(matrix: RecordMatrix) -> tuple[np.ndarray, np.ndarray]:
    """(M,) mean score and mean cost of each model over the queries it has a record for (NaN if none)."""
    recorded = matrix.available
    count = recorded.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(recorded, matrix.scores, 0.0).sum(axis=0) / count
        cost = np.where(recorded, matrix.costs, 0.0).sum(axis=0) / count
    return np.where(count > 0, score, np.nan), np.where(count > 0, cost, np.nan)


def weighted_means(
    weights: np.ndarray, values: np.ndarray, recorded: np.ndarray, fallback: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted means over each query's neighbours, cells without a record left out.

    Parameters
    ----------
    weights
        (n, k) weight of each neighbour.
    values
        (n, k, M) the neighbours' values (anything where not recorded).
    recorded
        (n, k, M) bool.
    fallback
        (M,) value where no neighbour has a record (or all weights are 0).

    Returns
    -------
    mean, weight_sum : np.ndarray
        (n, M) each.
    """
    w = weights[:, :, None] * recorded
    total = w.sum(axis=1)
    num = (w * np.where(recorded, values, 0.0)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = num / total
    return np.where(total > 0, mean, fallback[None, :]), total
