"""Router families behind one estimator interface (see :mod:`avengers_pro.routers.base`).

Every family is fitted on training embeddings and records and predicts, per query and model, an
expected score and an expected cost; :func:`select_models` turns those into one model per alpha with
the performance-efficiency score of :mod:`avengers_pro.router`. Avengers-Pro's variants keep their own
rank aggregation behind the same ``choose`` method. Hyperparameters are chosen on the validation part
of train by :func:`select_on_validation`.
"""

from .avengers import AvengersProEstimator
from .base import RouterEstimator, select_models
from .knn import KNNRouter, NeighbourIndex
from .selection import (
    DEFAULT_GRIDS,
    FAMILIES,
    SELECTION_ALPHAS,
    Grid,
    Selection,
    expand_grid,
    make_estimator,
    select_on_validation,
    sweep_curve,
)
from .shrinkage import ShrinkageRouter, empirical_bayes_strength
from .supervised import LogisticRouter, TaskRouter

__all__ = [
    "DEFAULT_GRIDS",
    "FAMILIES",
    "SELECTION_ALPHAS",
    "AvengersProEstimator",
    "Grid",
    "KNNRouter",
    "LogisticRouter",
    "NeighbourIndex",
    "RouterEstimator",
    "Selection",
    "ShrinkageRouter",
    "TaskRouter",
    "empirical_bayes_strength",
    "expand_grid",
    "make_estimator",
    "select_models",
    "select_on_validation",
    "sweep_curve",
]
