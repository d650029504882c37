"""A fitted router estimator as plain data: JSON for its structure, NumPy arrays for its numbers.

An exported router folder stores a fitted family estimator this way (``estimator.npz`` with
``allow_pickle=False``, and the structure in ``router.json``), so loading one never unpickles code
and the restored estimator runs the very ``predict`` the pipeline's sweep ran.

The rule follows scikit-learn's convention: constructor arguments (``get_params``) are the
hyperparameters, and attributes ending in ``_`` are what ``fit`` learned. A learned attribute may be
a NumPy array, ``None``, a scalar, a list of strings, or another estimator of :data:`RESTORABLE`
(kept recursively). Anything else is refused when saving, so a family that learns something this
format cannot hold fails its export test instead of writing a folder that routes differently.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from avengers_pro.errors import DataError
from avengers_pro.routing.base import RouterEstimator
from avengers_pro.routing.knn import KNNRouter, NeighbourIndex
from avengers_pro.routing.shrinkage import ShrinkageRouter
from avengers_pro.routing.supervised import LogisticRouter, TaskRouter

#: The classes a stored estimator (or a part of one) may be: name -> class.
RESTORABLE: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (KNNRouter, LogisticRouter, TaskRouter, ShrinkageRouter, NeighbourIndex)
}

#: Separates the attribute names of nested estimators in the array names, e.g. ``index_/data_``.
_SEP = "/"


def _json_param(value: Any) -> Any:
    """A hyperparameter as JSON (NumPy scalars become Python numbers)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def estimator_state(estimator: Any, prefix: str = "") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split a fitted estimator into its structure (JSON-ready) and its arrays.

    Parameters
    ----------
    estimator
        A fitted estimator of a class in :data:`RESTORABLE`.
    prefix
        Name prefix of this estimator's arrays (for nested ones).

    Returns
    -------
    structure, arrays : dict, dict[str, np.ndarray]
        ``{"class", "params", "fitted"}``, where ``fitted`` maps each learned attribute to
        ``{"array": name}``, ``{"value": v}``, ``{"strings": [...]}``, ``None`` or a nested structure;
        and the arrays by name.

    Raises
    ------
    TypeError
        A class outside :data:`RESTORABLE`, or a learned attribute this format cannot hold.
    """
    name = type(estimator).__name__
    if name not in RESTORABLE or not isinstance(estimator, RESTORABLE[name]):
        raise TypeError(f"{name} cannot be stored: not one of {sorted(RESTORABLE)}")
    arrays: dict[str, np.ndarray] = {}
    fitted: dict[str, Any] = {}
    for attribute, value in sorted(vars(estimator).items()):
        if not attribute.endswith("_") or attribute.startswith("_"):
            continue
        key = prefix + attribute
        if value is None:
            fitted[attribute] = None
        elif isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError(f"{name}.{attribute}: an object array cannot be stored without pickling")
            arrays[key] = value
            fitted[attribute] = {"array": key}
        elif isinstance(value, (bool, numbers.Number, str)) and not isinstance(value, complex):
            fitted[attribute] = {"value": _json_param(value)}
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            fitted[attribute] = {"strings": list(value)}
        elif type(value).__name__ in RESTORABLE:
            structure, nested = estimator_state(value, key + _SEP)
            fitted[attribute] = structure
            arrays.update(nested)
        else:
            raise TypeError(f"{name}.{attribute}: a {type(value).__name__} cannot be stored")
    params = {key: _json_param(value) for key, value in estimator.get_params().items()}
    return {"class": name, "params": params, "fitted": fitted}, arrays


def restore_estimator(structure: Mapping[str, Any], arrays: Mapping[str, np.ndarray], file: str = "") -> Any:
    """Rebuild what :func:`estimator_state` split: the class with its params, then its learned attributes.

    Raises
    ------
    DataError
        An unknown class, an array the structure names but ``arrays`` lacks, a malformed entry.
    """
    try:
        cls = RESTORABLE[str(structure["class"])]
    except KeyError:
        raise DataError(
            f"unknown estimator class {structure.get('class')!r}; expected one of {sorted(RESTORABLE)}",
            file=file,
            field="estimator",
        ) from None
    try:
        estimator = cls(**dict(structure["params"]))
        for attribute, entry in dict(structure["fitted"]).items():
            if entry is None:
                value: Any = None
            elif "array" in entry:
                value = arrays[entry["array"]]
            elif "value" in entry:
                value = entry["value"]
            elif "strings" in entry:
                value = [str(item) for item in entry["strings"]]
            elif "class" in entry:
                value = restore_estimator(entry, arrays, file)
            else:
                raise ValueError(f"{attribute}: unknown entry {sorted(entry)}")
            setattr(estimator, attribute, value)
    except DataError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"malformed estimator: {error}", file=file, field="estimator") from None
    return estimator


def is_storable(estimator: RouterEstimator) -> bool:
    """Whether :func:`estimator_state` can store this estimator (Avengers-Pro has a folder format of its own)."""
    return RESTORABLE.get(type(estimator).__name__) is type(estimator)
