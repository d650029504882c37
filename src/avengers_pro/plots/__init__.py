"""The paper's figures, drawn from the pipeline's summary, metrics and sweep files.

Every ``plot_*`` function takes data frames or dicts and an output *stem*, writes ``stem.png``
(300 dpi unless told otherwise) and ``stem.pdf``, and returns nothing. The package:

* :mod:`.registry`: every figure, which job draws it and with which settings (the one list the
  workflow, the report, CI and the tests read);
* :mod:`.style`: sizes, palette, markers, names, cost axes, saving;
* :mod:`.labels`: the deterministic label placer;
* :mod:`.frontier` (Fig. 1A, the variants), :mod:`.headline` (Fig. 1B), :mod:`.sweeps` (Fig. 2, 3 and
  the cluster ablation); :mod:`.inputs`: what the figures select from the result files.

Names are looked up lazily (PEP 562), so that importing :mod:`.registry` (which the Snakefile does
on every call) does not import matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Module of each public name.
_MODULES: dict[str, tuple[str, ...]] = {
    "style": (
        "ROUTER_METHOD",
        "COLUMN_WIDTH_IN",
        "DPI",
        "FRONTIER_COLOR",
        "FULL_WIDTH_IN",
        "LABEL_FONTSIZE",
        "MARKER_SIZE_PT",
        "MODEL_MARKERS",
        "MODEL_PALETTE",
        "REFERENCE_COLOR",
        "ROUTER_COLOR",
        "STYLE",
        "VARIANT_STYLES",
        "_set_cost_axis",
        "display_names",
        "format_usd",
        "label_fontsize",
        "model_colors",
        "model_markers",
        "plot_names",
        "save_figure",
        "use_log_cost",
        "variant_styles",
        "wrap_label",
    ),
    "labels": ("place_labels",),
    "frontier": (
        "_staircase",
        "frontier_points",
        "plot_pareto",
        "plot_variants",
    ),
    "headline": ("plot_headline",),
    "sweeps": (
        "cluster_ablation_table",
        "mean_and_interval",
        "nearest_alphas",
        "plot_alpha_sweep",
        "plot_cluster_ablation",
        "plot_model_usage",
        "seed_cost_save",
        "seed_curve",
        "usage_shares",
    ),
    "inputs": (
        "parse_sweep_path",
        "router_rows",
    ),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
