"""The paper's figures, drawn from the pipeline's summary, metrics and sweep files.

Every ``plot_*`` function takes data frames or dicts and an output *stem*, writes ``stem.png``
(300 dpi unless told otherwise) and ``stem.pdf``, and returns nothing. The package:

* :mod:`.registry`: every figure, which job draws it and with which settings (the one list the
  workflow, the report, CI and the tests read);
* :mod:`.style`: sizes, palette, markers, names, cost axes, saving;
* :mod:`.labels`: the deterministic label placer;
* :mod:`.frontier` (Fig. 1A, the variants, the router families), :mod:`.headline` (Fig. 1B), :mod:`.sweeps` (Fig. 2, 3 and
  the cluster ablation); :mod:`.inputs`: what the figures select from the result files.

Names are looked up lazily (PEP 562), so that importing :mod:`.registry` (which the Snakefile does
on every call) does not import matplotlib.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

#: The submodules whose names the package offers, looked up in this order.
_SUBMODULES = ("style", "labels", "inputs", "frontier", "headline", "sweeps")


def __getattr__(name: str) -> Any:
    """A name defined in one of the submodules, found by importing them in order.

    Functions and classes count where they are defined, not where they are imported; imported
    modules (``np``, ``pd``) are not offered.
    """
    for submodule in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{submodule}")
        value = vars(module).get(name)
        if isinstance(value, types.ModuleType):
            continue
        if value is not None and getattr(value, "__module__", module.__name__) == module.__name__:
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
