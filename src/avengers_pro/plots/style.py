"""Style shared by every figure: sizes, palette, markers, names, cost axes and the figure plumbing.

Every figure is built on :class:`matplotlib.figure.Figure` with the Agg canvas, never through pyplot,
so no global backend or figure registry is touched and the functions are safe in any process. One
colour and one marker per model, fixed by the sorted model list, so a model looks the same in every
figure of a run; accuracy is shown in percent, cost in US dollars (total over the test split).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from avengers_pro.errors import ConfigError, DataError
from avengers_pro.io import PathLike, atomic_path

DPI = 300
COLUMN_WIDTH_IN = 3.5
FULL_WIDTH_IN = 7.0

#: Okabe-Ito without black (black is kept for Avengers-Pro), then Paul Tol's "muted" scheme in an
#: order that keeps the first colours far apart. Both are designed to stay distinct under the common
#: colour-vision deficiencies; markers vary as well, so no two models share colour *and* marker.
MODEL_PALETTE: tuple[str, ...] = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#882255",  # wine
    "#332288",  # indigo
    "#999933",  # olive
    "#CC6677",  # rose
    "#117733",  # green
    "#44AA99",  # teal
    "#88CCEE",  # cyan
    "#DDCC77",  # sand
    "#AA4499",  # purple
)
MODEL_MARKERS: tuple[str, ...] = ("o", "s", "D", "^", "v", "p", "h", "<", ">", "8", "d")
ROUTER_COLOR = "#000000"
REFERENCE_COLOR = "#5A5A5A"
FRONTIER_COLOR = "#333333"
#: Variants are drawn in greys with distinct line styles and markers, so they never look like a model.
VARIANT_STYLES: tuple[tuple[str, Any, str], ...] = (
    ("#000000", "-", "*"),
    ("#6E6E6E", "--", "^"),
    ("#A0A0A0", ":", "s"),
    ("#3C3C3C", "-.", "D"),
    ("#8C8C8C", (0, (5, 1)), "o"),
    ("#1E1E1E", (0, (1, 1)), "v"),
    ("#B4B4B4", (0, (3, 1, 1, 1, 1, 1)), "P"),
)

STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 7,
    "axes.labelsize": 7,
    "axes.titlesize": 7,
    "xtick.labelsize": 6,
    "ytick.labelsize": 6,
    "legend.fontsize": 6,
    "legend.frameon": False,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.3,
    "grid.color": "#DDDDDD",
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "xtick.minor.size": 1.5,
    "ytick.minor.size": 1.5,
    "lines.linewidth": 1.0,
    "pdf.fonttype": 42,  # embed TrueType so the text stays editable in the PDF
    "ps.fonttype": 42,
}
LABEL_FONTSIZE = 5.5
MARKER_SIZE_PT = 5.0  # diameter of a single-model marker, in points


# --------------------------------------------------------------------------- colours, names, styles


def model_colors(models: Iterable[str]) -> dict[str, str]:
    """One fixed colour per model: palette entries in sorted-name order.

    The colour depends only on the *set* of models, never on the order they were passed in, so every
    figure of a run that is given the same model set draws each model in the same colour.

    Parameters
    ----------
    models
        Model names (duplicates ignored).

    Returns
    -------
    dict
        Model name → hex colour (the palette repeats after 16 models; markers still differ).
    """
    ordered = _sorted_models(models)
    return {name: MODEL_PALETTE[i % len(MODEL_PALETTE)] for i, name in enumerate(ordered)}


def model_markers(models: Iterable[str]) -> dict[str, str]:
    """One fixed marker per model, in the same sorted order as :func:`model_colors`."""
    ordered = _sorted_models(models)
    return {name: MODEL_MARKERS[i % len(MODEL_MARKERS)] for i, name in enumerate(ordered)}


def _sorted_models(models: Iterable[str]) -> list[str]:
    # casefold first so "WizardLM/..." does not sort before every lower-case name; the raw name breaks ties
    return sorted(set(models), key=lambda name: (name.casefold(), name))


def display_names(models: Iterable[str]) -> dict[str, str]:
    """Short labels: the part after the last ``/`` (``mistralai/mixtral-8x7b-chat`` → ``mixtral-8x7b-chat``),
    kept in full where two models would otherwise share a label.
    """
    models = list(dict.fromkeys(models))
    short = {name: name.rsplit("/", 1)[-1] for name in models}
    counts = pd.Series(list(short.values())).value_counts()
    return {name: (short[name] if counts[short[name]] == 1 else name) for name in models}


def plot_names(models: Iterable[str]) -> dict[str, str]:
    """:func:`display_names` made safe for matplotlib: a ``$`` would otherwise start math text."""
    return {name: short.replace("$", r"\$") for name, short in display_names(models).items()}


def variant_styles(variants: Iterable[str]) -> dict[str, tuple[str, Any, str]]:
    """``(colour, line style, marker)`` per router variant, fixed by sorted variant name."""
    return {v: VARIANT_STYLES[i % len(VARIANT_STYLES)] for i, v in enumerate(sorted(set(variants)))}


def wrap_label(text: str, width: int = 14) -> str:
    """Break a label over lines at spaces only: a model name is never split, not even at ``-``.

    ``gpt-4-1106-preview`` stays one line; callers fit long names with :func:`label_fontsize`.
    """
    return "\n".join(textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)) or text


def label_fontsize(labels: Iterable[str], width: int = 14, base: float = 6.0, smallest: float = 4.0) -> float:
    """A font size at which the longest line of ``labels`` takes about ``width`` characters at ``base``."""
    longest = max((len(line) for label in labels for line in label.split("\n")), default=0)
    return base if longest <= width else max(smallest, base * width / longest)


def use_log_cost(costs: Iterable[float], setting: str | bool) -> bool:
    """Whether the cost axis is logarithmic.

    Parameters
    ----------
    costs
        The plotted costs.
    setting
        Config ``plots.log_cost``: ``"auto"`` (log when the positive costs span more than two
        decades), ``True``/``"true"`` or ``False``/``"false"``.

    Raises
    ------
    ConfigError
        For any other setting.
    """
    normalised = str(setting).strip().lower()
    if normalised in ("true", "yes", "1"):
        return True
    if normalised in ("false", "no", "0"):
        return False
    if normalised != "auto":
        raise ConfigError(f"plots.log_cost: expected auto, true or false, got {setting!r}")
    values = np.asarray(list(costs), dtype=float)
    values = values[np.isfinite(values)]
    # a zero cost has no place on a log axis, so auto stays linear rather than hide the point
    if values.size == 0 or (values <= 0).any():
        return False
    return bool(values.max() / values.min() > 100.0)


def _usd(value: float, _pos: object = None) -> str:
    """Axis tick in US dollars (at most four significant digits: ``$0.05``, ``$1``, ``$1500``).

    Costs are never negative: a tick left of zero (in the axis margin) stays blank.
    """
    if value < 0:
        return ""
    return "$0" if value == 0 else f"${value:.4g}"


def _signed_percent(fraction: float) -> str:
    """``+7.1%`` / ``−7.1%`` with a true minus sign."""
    return f"{fraction:+.1%}".replace("-", "\u2212")


def format_usd(value: float) -> str:
    """A cost for a label: cents above $0.10 (``$4.80``), two significant digits below (``$0.054``)."""
    if abs(value) >= 100:
        return f"${value:,.0f}"
    if abs(value) >= 0.1 or value == 0:
        return f"${value:,.2f}"
    return f"${value:.2g}"


def _set_cost_axis(ax: Axes, costs: np.ndarray, log: bool, axis: str = "x") -> None:
    set_scale = ax.set_xscale if axis == "x" else ax.set_yscale
    target = ax.xaxis if axis == "x" else ax.yaxis
    finite = costs[np.isfinite(costs)]
    if not (finite > 0).any():
        # No recorded costs (every cost 0): one tick at $0 and a label that says why, instead of
        # an autoscaled axis around 0 with made-up negative dollars.
        (ax.set_xlim if axis == "x" else ax.set_ylim)(-0.5, 0.5)
        target.set_major_locator(FixedLocator([0.0]))
        target.set_major_formatter(FuncFormatter(_usd))
        label = target.get_label().get_text()
        target.set_label_text(f"{label} (no costs recorded)" if label else "no costs recorded")
        return
    if log:
        positive = costs[costs > 0]
        if (costs <= 0).any():
            # a forced log axis with zero costs: linear below the cheapest positive cost
            set_scale("symlog", linthresh=float(positive.min()) if positive.size else 1e-3)
        else:
            set_scale("log")
            if positive.max() / positive.min() < 10**2.5:
                # few decades: label 1-2-5 steps, or the axis would carry only one or two numbers
                target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        target.set_minor_formatter(NullFormatter())
    target.set_major_formatter(FuncFormatter(_usd))


# --------------------------------------------------------------------------- figure plumbing


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]  # matplotlib types keys as literals
        yield


def renderer_of(fig: Figure | SubFigure) -> Any:
    """The Agg renderer of a figure made by :func:`_new_figure` (text extents need one)."""
    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        raise TypeError(f"expected a figure on the Agg canvas, got {type(canvas).__name__}")
    return canvas.get_renderer()


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _freeze_layout(fig: Figure) -> None:
    """Run the constrained layout once, then fix every axes' position and limits.

    Labels are placed in pixel space afterwards, so nothing may move once they are placed.
    """
    fig.canvas.draw()
    for ax in fig.axes:
        ax.set_xlim(ax.get_xlim())
        ax.set_ylim(ax.get_ylim())
    fig.set_layout_engine("none")


def save_figure(fig: Figure, stem: PathLike, dpi: int = DPI) -> None:
    """Write ``stem.png`` (at ``dpi``) and ``stem.pdf``, each atomically."""
    stem = Path(stem)
    for extension in ("png", "pdf"):
        target = stem.parent / f"{stem.name}.{extension}"
        # a fixed creation date keeps the PDF byte-identical between runs
        metadata = {"CreationDate": None} if extension == "pdf" else None
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=extension, dpi=dpi, metadata=metadata)


# --------------------------------------------------------------------------- shared drawing


def _scatter_models(ax: Axes, singles: pd.DataFrame, colors: Mapping[str, str], markers: Mapping[str, str]) -> None:
    for row in singles.itertuples(index=False):
        ax.scatter(
            row.cost,
            100 * row.accuracy,
            s=MARKER_SIZE_PT**2,
            marker=markers[row.method],
            color=colors[row.method],
            edgecolors="#333333",
            linewidths=0.4,
            zorder=4,
        )


def _model_styles(models: Iterable[str], colors: Mapping[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
    models = list(models)
    palette = dict(colors) if colors is not None else model_colors(models)
    missing = [m for m in models if m not in palette]
    if missing:
        raise DataError(f"no colour given for models {missing[:3]}", field="method")
    return palette, model_markers(palette)
