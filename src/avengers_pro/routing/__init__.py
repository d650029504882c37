"""Routing: the one home of scoring, geometry and every router.

* :mod:`.scores`: grouped sums, per-cluster statistics, the performance-efficiency score, rank
  aggregation, routing by clusters (Avengers-Pro's formulas);
* :mod:`.geometry`: the query normalisation policy (:func:`~.geometry.unit_queries`), KMeans
  (cached), the nearest centroid, distances and a query's nearest clusters;
* :mod:`.base`: the estimator interface every family shares (scikit-learn's parameter protocol,
  ``fit``/``predict``/``choose``/``describe``) and the choice of models from expected scores and costs;
* :mod:`.avengers`: Avengers-Pro as one estimator (fitted by KMeans, on given clusters, or from an
  exported folder's statistics); :mod:`.knn`, :mod:`.supervised`, :mod:`.shrinkage`: the other families;
* :mod:`.families`: the families by name, their default grids, :func:`make_estimator`;
* :mod:`.state`: a fitted estimator as JSON + arrays, for export.

It imports nothing from :mod:`avengers_pro.evaluation`, :mod:`avengers_pro.export` or the workflow.
"""

from avengers_pro.routing.avengers import AvengersProEstimator
from avengers_pro.routing.base import RouterEstimator, select_models
from avengers_pro.routing.families import DEFAULT_GRIDS, FAMILIES, Grid, expand_grid, make_estimator
from avengers_pro.routing.knn import KNNRouter, NeighbourIndex
from avengers_pro.routing.shrinkage import ShrinkageRouter, empirical_bayes_strength
from avengers_pro.routing.supervised import LogisticRouter, TaskRouter

__all__ = [
    "DEFAULT_GRIDS",
    "FAMILIES",
    "AvengersProEstimator",
    "Grid",
    "KNNRouter",
    "LogisticRouter",
    "NeighbourIndex",
    "RouterEstimator",
    "ShrinkageRouter",
    "TaskRouter",
    "empirical_bayes_strength",
    "expand_grid",
    "make_estimator",
    "select_models",
]
