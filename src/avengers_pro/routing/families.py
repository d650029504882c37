"""The router families by name: the estimator class of each, its default hyperparameter grid, and
:func:`make_estimator`, which builds one from a config mapping and checks its hyperparameters with
errors that name the config key (``families.knn.n_neighbors: ...``); the estimators themselves only
check when fitted, with errors that name the class.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from avengers_pro.errors import ConfigError
from avengers_pro.routing.avengers import AvengersProEstimator
from avengers_pro.routing.base import RouterEstimator
from avengers_pro.routing.knn import KNNRouter
from avengers_pro.routing.scores import Variant
from avengers_pro.routing.shrinkage import ShrinkageRouter
from avengers_pro.routing.supervised import LogisticRouter, TaskRouter

# family name -> estimator class; "avengers-pro" also takes a ``variant`` mapping (avengers.variants entry).
FAMILIES: dict[str, type[RouterEstimator]] = {
    "knn": KNNRouter,
    "logistic": LogisticRouter,
    "task": TaskRouter,
    "shrinkage": ShrinkageRouter,
    "avengers-pro": AvengersProEstimator,
}

Grid = Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]
"""``{parameter: [values]}`` (every combination) or an explicit list of parameter mappings."""

# Small default grids; a mapping's value lists are the axes of a product grid.
DEFAULT_GRIDS: dict[str, Grid] = {
    "knn": {"n_neighbors": [10, 20, 50, 100, 200, 400]},
    "logistic": {"C": [0.1, 1.0, 10.0]},
    "task": {"C": [1.0, 10.0, 100.0], "mode": ["soft", "hard"]},
    "shrinkage": [
        *({"base": "clusters", "n_clusters": k, "tau": tau} for k in (16, 64, 256) for tau in ("eb", 0.0, 10.0, 50.0)),
        *({"base": "neighbors", "n_neighbors": n, "tau": tau} for n in (20, 100) for tau in (10.0, 50.0, 200.0)),
    ],
    "avengers-pro": {"n_clusters": [8, 16, 25, 32, 64]},
}


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of a ``{parameter: [values]}`` grid, in the grid's order (last key fastest)."""
    keys = list(grid)
    for key in keys:
        if isinstance(grid[key], (str, bytes)) or not isinstance(grid[key], Sequence) or not grid[key]:
            raise ConfigError(f"families grid: {key}: expected a non-empty list of values, got {grid[key]!r}")
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def make_estimator(family: str, params: Mapping[str, Any], seed: int = 0) -> RouterEstimator:
    """An unfitted estimator of ``family`` with ``params``; ``seed`` goes to the families that use one.

    For ``avengers-pro``, ``params["variant"]`` is a ``{"name": ..., **avengers.variants entry}`` mapping.

    Raises
    ------
    ConfigError
        An unknown family or parameter, or a bad value; the message names ``families.{family}.{param}``.
    """
    if family not in FAMILIES:
        raise ConfigError(f"families: unknown family {family!r}; expected one of {sorted(FAMILIES)}")
    kwargs = dict(params)
    if family == "avengers-pro":
        if not isinstance(kwargs.get("variant"), Mapping):
            raise ConfigError(
                "families.avengers-pro.variant: expected a mapping with name, normalisation and aggregation"
            )
        spec = dict(kwargs.pop("variant"))
        if "name" not in spec:
            raise ConfigError("families.avengers-pro.variant.name: missing")
        kwargs["variant"] = Variant.from_config(str(spec.pop("name")), spec)
    if family in ("shrinkage", "avengers-pro"):
        kwargs.setdefault("seed", seed)
    try:
        estimator = FAMILIES[family](**kwargs)
    except TypeError as error:
        raise ConfigError(f"families.{family}: {error}") from None
    estimator.check_params(f"families.{family}")
    return estimator
