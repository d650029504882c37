"""Supervised families: per-model logistic regression, and the task (dataset) classifier.

* :class:`LogisticRouter`: one L2-regularised logistic regression per model on the embedding,
  ``P(correct | q) = sigmoid(w_m . q + b_m)``; the log-loss fit makes it a probability estimate.
  Fractional scores are soft labels (each row counted as a positive with weight ``s`` and a negative
  with weight ``1 - s``). Expected cost: the model's mean cost over the ``cost_neighbors`` nearest
  training queries (``cost_neighbors = 0``: its training mean).
* :class:`TaskRouter`: a multinomial logistic regression predicts the query's dataset, ``P(d | q)``;
  the expected score and cost of model m are ``sum_d P(d | q) * mean_d(m)`` over the training
  datasets (``mode = "soft"``), or the most probable dataset's means (``mode = "hard"``). With a
  perfect classifier and ``hard`` this is exactly the dataset router, without reading the label.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Literal

import numpy as np
import pandas as pd

from avengers_pro.errors import ConfigError
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.base import RouterEstimator, check_int, check_positive, model_means
from avengers_pro.routing.knn import NeighbourMeans
from avengers_pro.routing.scores import Normalisation, cluster_statistics

_MAX_ITER = 1000
_LOGISTIC_CACHE: OrderedDict[tuple[str, str, str, float], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_LOGISTIC_CACHE_SIZE = 64


def fit_logistic(
    x: np.ndarray, y: np.ndarray, C: float, sample_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fit scikit-learn's L2-regularised logistic regression; return only its ``(coef, intercept)``.

    Only the arrays are kept, and :func:`linear_probabilities` predicts from them, so that a fitted
    router is plain arrays: an exported one is stored without pickling and routes without importing
    scikit-learn, with the very code the pipeline's sweep uses.

    Returns
    -------
    coef, intercept : np.ndarray
        (C, dim) and (C,) float64, as ``LogisticRegression.coef_`` / ``intercept_``: C = 1 for two
        classes (the logit of the second), else one row per class (multinomial).
    """
    from sklearn.linear_model import LogisticRegression

    key = None
    if sample_weight is None:
        # Deterministic given (x, y, C): the candidates of one fold (the task router's modes, every
        # shrinkage candidate's task prior, the families of an export) reuse one fit.
        x_bytes, y_bytes = np.ascontiguousarray(x).tobytes(), np.ascontiguousarray(y).tobytes()
        digest = hashlib.blake2b(x_bytes + b"|" + y_bytes, digest_size=16).hexdigest()
        key = (digest, str(np.shape(x)), str(np.asarray(y).dtype), float(C))
        if key in _LOGISTIC_CACHE:
            _LOGISTIC_CACHE.move_to_end(key)
            coef, intercept = _LOGISTIC_CACHE[key]
            return coef.copy(), intercept.copy()
    model = LogisticRegression(C=C, max_iter=_MAX_ITER).fit(x, y, sample_weight=sample_weight)
    found = np.asarray(model.coef_, dtype=np.float64), np.asarray(model.intercept_, dtype=np.float64)
    if key is not None:
        _LOGISTIC_CACHE[key] = (found[0].copy(), found[1].copy())
        while len(_LOGISTIC_CACHE) > _LOGISTIC_CACHE_SIZE:
            _LOGISTIC_CACHE.popitem(last=False)
    return found


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow for large negative ``z``."""
    return np.exp(-np.logaddexp(0.0, -z))


def linear_probabilities(x: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """Class probabilities of a logistic regression from its arrays (scikit-learn's ``predict_proba``).

    Returns
    -------
    np.ndarray
        (n, C) softmax of the logits for C > 1 rows of ``coef``; (n, 2) ``[1 - p, p]`` with
        ``p = sigmoid(logit)`` for one row.
    """
    logits = np.asarray(x, dtype=np.float64) @ coef.T + intercept[None, :]
    if coef.shape[0] == 1:
        positive = sigmoid(logits[:, 0])
        return np.column_stack([1.0 - positive, positive])
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


class LogisticRouter(NeighbourMeans, RouterEstimator):
    """One logistic regression per model predicting P(correct); cost from the neighbourhood.

    Parameters
    ----------
    C
        Inverse L2 regularisation strength (scikit-learn's ``C``).
    cost_neighbors
        Neighbours whose mean cost is the expected cost (0: the model's training mean cost).
    normalisation
        See :func:`avengers_pro.routing.base.select_models`.
    """

    family = "logistic"

    def __init__(self, C: float = 10.0, cost_neighbors: int = 20, normalisation: Normalisation = "official") -> None:
        self.C = C
        self.cost_neighbors = cost_neighbors
        self.normalisation = normalisation

    def check_params(self, where: str | None = None) -> None:
        """Refuse bad hyperparameters (a ``ConfigError`` naming ``where.param``)."""
        where = where or type(self).__name__
        super().check_params(where)
        check_positive(self.C, f"{where}.C")
        check_int(self.cost_neighbors, f"{where}.cost_neighbors", 0)

    def fit(self, embeddings: np.ndarray, matrix: RecordMatrix) -> LogisticRouter:
        """Fit one classifier per model on the queries it has a record for."""
        data = self._training_data(embeddings, matrix)
        self.mean_score_, self.mean_cost_ = model_means(matrix)
        n_models = len(matrix.models)
        # Model m's classifier: row m of coef_ / intercept_, where has_classifier_[m].
        self.has_classifier_ = np.zeros(n_models, dtype=bool)
        self.coef_ = np.zeros((n_models, data.shape[1]))
        self.intercept_ = np.zeros(n_models)
        for m in range(n_models):
            rows = np.flatnonzero(matrix.available[:, m])
            labels = matrix.scores[rows, m]
            if rows.size == 0 or np.all(labels == labels[0]):
                continue  # one class only: the constant mean score predicts it
            if np.isin(labels, (0.0, 1.0)).all():
                x, y, weight = data[rows], labels.astype(np.int64), None
            else:  # soft labels: every row once as a positive (weight s) and once as a negative (1 - s)
                x = np.vstack([data[rows], data[rows]])
                y = np.concatenate([np.ones(rows.size, np.int64), np.zeros(rows.size, np.int64)])
                weight = np.concatenate([labels, 1.0 - labels])
            coef, intercept = fit_logistic(x, y, float(self.C), weight)
            self.coef_[m], self.intercept_[m] = coef[0], intercept[0]
            self.has_classifier_[m] = True
        if self.cost_neighbors > 0:
            self._keep_neighbours(data, matrix, values=("costs",))
        self.models_ = list(matrix.models)
        return self

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, M) P(correct) of each model and its expected cost."""
        self._check_fitted()
        queries = self.queries(embeddings)
        # Every model's P(correct) at once: model m's logit is column m (a binary classifier each).
        probability = sigmoid(np.asarray(queries, dtype=np.float64) @ self.coef_.T + self.intercept_[None, :])
        score = np.where(self.has_classifier_[None, :], probability, self.mean_score_[None, :])
        if self.cost_neighbors > 0:
            _, index = self.index_.search(queries, int(self.cost_neighbors))
            cost, _ = self._neighbour_mean(self.costs_, index, np.ones(index.shape), self.mean_cost_)
        else:
            cost = np.broadcast_to(self.mean_cost_, score.shape).copy()
        return score, cost


class TaskRouter(RouterEstimator):
    """Predict the query's dataset, then use the predicted datasets' statistics: a deployable dataset router.

    Parameters
    ----------
    C
        Inverse L2 regularisation strength of the multinomial logistic regression.
    mode
        ``"soft"``: probability-weighted dataset means; ``"hard"``: the most probable dataset's means.
    normalisation
        See :func:`avengers_pro.routing.base.select_models`.
    """

    family = "task"

    def __init__(
        self, C: float = 10.0, mode: Literal["soft", "hard"] = "soft", normalisation: Normalisation = "official"
    ) -> None:
        self.C = C
        self.mode = mode
        self.normalisation = normalisation

    def check_params(self, where: str | None = None) -> None:
        """Refuse bad hyperparameters (a ``ConfigError`` naming ``where.param``)."""
        where = where or type(self).__name__
        super().check_params(where)
        check_positive(self.C, f"{where}.C")
        if self.mode not in ("soft", "hard"):
            raise ConfigError(f"{where}.mode: expected 'soft' or 'hard', got {self.mode!r}")

    def fit(self, embeddings: np.ndarray, matrix: RecordMatrix) -> TaskRouter:
        """Fit the dataset classifier and the per-dataset means (datasets in sorted order)."""
        data = self._training_data(embeddings, matrix)
        codes, names = pd.factorize(pd.Series(matrix.datasets, dtype=object), sort=True)
        self.datasets_ = [str(name) for name in names]
        stats = cluster_statistics(codes, matrix.scores, matrix.costs, n_clusters=len(names))
        mean_score, mean_cost = model_means(matrix)
        # A dataset without a record for a model contributes the model's overall mean instead.
        self.dataset_score_ = np.where(stats.count > 0, stats.accuracy, mean_score[None, :])
        self.dataset_cost_ = np.where(stats.count > 0, stats.cost, mean_cost[None, :])
        self.dataset_count_ = stats.count
        # One dataset: nothing to classify (coef_ and intercept_ stay empty; every query is that dataset).
        coef_and_intercept: tuple[np.ndarray, np.ndarray] = (
            fit_logistic(data, codes, float(self.C)) if len(names) > 1 else (np.zeros((0, data.shape[1])), np.zeros(0))
        )
        self.coef_, self.intercept_ = coef_and_intercept
        self.models_ = list(matrix.models)
        return self

    def task_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, D) P(dataset | query), datasets in :attr:`datasets_` order (one-hot in ``hard`` mode)."""
        self._check_fitted()
        queries = self.queries(embeddings)
        if len(self.datasets_) == 1:
            return np.ones((len(queries), 1))
        proba = linear_probabilities(queries, self.coef_, self.intercept_)
        if self.mode == "hard":
            proba = np.eye(proba.shape[1])[proba.argmax(axis=1)]
        return proba

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, M) expected score and cost under the predicted dataset distribution."""
        proba = self.task_probabilities(embeddings)
        return proba @ self.dataset_score_, proba @ self.dataset_cost_

    def describe(self, embeddings: np.ndarray) -> list[dict[str, Any]]:
        """Per query: ``datasets``, the probability of each training dataset (as :meth:`predict` weights them)."""
        proba = self.task_probabilities(embeddings)
        return [{"datasets": {d: float(p) for d, p in zip(self.datasets_, row, strict=True)}} for row in proba]
