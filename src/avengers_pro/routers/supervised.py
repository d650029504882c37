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

from typing import Any, Literal

import numpy as np
import pandas as pd

from ..cluster import l2_normalise
from ..errors import ConfigError
from ..io import RecordMatrix
from ..router import Normalisation, cluster_statistics
from .base import RouterEstimator, check_training, model_means, weighted_means
from .knn import NeighbourIndex

_MAX_ITER = 1000


def _logistic(C: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=_MAX_ITER)


class LogisticRouter(RouterEstimator):
    """One logistic regression per model predicting P(correct); cost from the neighbourhood.

    Parameters
    ----------
    C
        Inverse L2 regularisation strength (scikit-learn's ``C``).
    cost_neighbors
        Neighbours whose mean cost is the expected cost (0: the model's training mean cost).
    normalisation
        See :func:`avengers_pro.routers.base.select_models`.
    """

    family = "logistic"

    def __init__(self, C: float = 10.0, cost_neighbors: int = 20, normalisation: Normalisation = "official") -> None:
        super().__init__(normalisation)
        if not C > 0:
            raise ConfigError(f"routers.logistic.C: must be > 0, got {C}")
        self.C = float(C)
        self.cost_neighbors = int(cost_neighbors)

    def fit(self, embeddings: np.ndarray, matrix: RecordMatrix) -> LogisticRouter:
        """Fit one classifier per model on the queries it has a record for."""
        data = check_training(embeddings, matrix)
        self.mean_score_, self.mean_cost_ = model_means(matrix)
        self.classifiers_: list[Any] = []
        for m in range(len(matrix.models)):
            rows = np.flatnonzero(matrix.available[:, m])
            labels = matrix.scores[rows, m]
            if rows.size == 0 or np.all(labels == labels[0]):
                self.classifiers_.append(None)  # one class only: the constant mean score predicts it
                continue
            if np.isin(labels, (0.0, 1.0)).all():
                x, y, weight = data[rows], labels.astype(np.int64), None
            else:  # soft labels: every row once as a positive (weight s) and once as a negative (1 - s)
                x = np.vstack([data[rows], data[rows]])
                y = np.concatenate([np.ones(rows.size, np.int64), np.zeros(rows.size, np.int64)])
                weight = np.concatenate([labels, 1.0 - labels])
            self.classifiers_.append(_logistic(self.C).fit(x, y, sample_weight=weight))
        if self.cost_neighbors > 0:
            self.index_ = NeighbourIndex().fit(data)
            self.recorded_ = matrix.available
            self.costs_ = np.where(self.recorded_, matrix.costs, 0.0)
        self.models_ = list(matrix.models)
        return self

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, M) P(correct) of each model and its expected cost."""
        self._check_fitted()
        queries = l2_normalise(np.asarray(embeddings, dtype=np.float32))
        n = len(queries)
        score = np.empty((n, len(self.models_)))
        for m, classifier in enumerate(self.classifiers_):
            score[:, m] = self.mean_score_[m] if classifier is None else classifier.predict_proba(queries)[:, 1]
        if self.cost_neighbors > 0:
            _, index = self.index_.search(queries, self.cost_neighbors)
            cost, _ = weighted_means(np.ones(index.shape), self.costs_[index], self.recorded_[index], self.mean_cost_)
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
        See :func:`avengers_pro.routers.base.select_models`.
    """

    family = "task"

    def __init__(
        self, C: float = 10.0, mode: Literal["soft", "hard"] = "soft", normalisation: Normalisation = "official"
    ) -> None:
        super().__init__(normalisation)
        if not C > 0:
            raise ConfigError(f"routers.task.C: must be > 0, got {C}")
        if mode not in ("soft", "hard"):
            raise ConfigError(f"routers.task.mode: expected 'soft' or 'hard', got {mode!r}")
        self.C = float(C)
        self.mode = mode

    def fit(self, embeddings: np.ndarray, matrix: RecordMatrix) -> TaskRouter:
        """Fit the dataset classifier and the per-dataset means (datasets in sorted order)."""
        data = check_training(embeddings, matrix)
        codes, names = pd.factorize(pd.Series(matrix.datasets, dtype=object), sort=True)
        self.datasets_ = [str(name) for name in names]
        stats = cluster_statistics(codes, matrix.scores, matrix.costs, n_clusters=len(names))
        mean_score, mean_cost = model_means(matrix)
        # A dataset without a record for a model contributes the model's overall mean instead.
        self.dataset_score_ = np.where(stats.count > 0, stats.accuracy, mean_score[None, :])
        self.dataset_cost_ = np.where(stats.count > 0, stats.cost, mean_cost[None, :])
        self.dataset_count_ = stats.count
        self.classifier_ = _logistic(self.C).fit(data, codes) if len(names) > 1 else None
        self.models_ = list(matrix.models)
        return self

    def task_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, D) P(dataset | query), datasets in :attr:`datasets_` order (one-hot in ``hard`` mode)."""
        self._check_fitted()
        queries = l2_normalise(np.asarray(embeddings, dtype=np.float32))
        if self.classifier_ is None:
            return np.ones((len(queries), 1))
        proba = self.classifier_.predict_proba(queries)
        if self.mode == "hard":
            proba = np.eye(proba.shape[1])[proba.argmax(axis=1)]
        return proba

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, M) expected score and cost under the predicted dataset distribution."""
        proba = self.task_probabilities(embeddings)
        return proba @ self.dataset_score_, proba @ self.dataset_cost_
