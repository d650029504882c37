"""The paper's figures, drawn from the pipeline's summary, metrics and sweep files.

Every ``plot_*`` function takes data frames or dicts and an output *stem*, writes ``stem.png``
(300 dpi unless told otherwise) and ``stem.pdf``, and returns nothing. Figures are built on
:class:`matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so no global backend or
figure registry is touched and the functions are safe to call from any process.

Conventions shared by all figures:

* one colour and one marker per model, fixed by the sorted model list (:func:`model_colors`,
  :func:`model_markers`), so a model looks the same in every figure of a run;
* accuracy is shown in percent, cost in US dollars (total over the test split);
* model labels are placed by a small deterministic label-repel (:func:`place_labels`) that keeps
  labels off each other, off the plotted points and inside the axes, with leader lines when a label
  had to move away from its point.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import Bbox

from avengers_pro.errors import ConfigError, DataError, plain
from avengers_pro.io import PathLike, atomic_path, sweep_key
from avengers_pro.metrics import cost_save as metrics_cost_save
from avengers_pro.metrics import pareto_front
from avengers_pro.summary import NO_COST_RANGE, NON_MODEL_BASELINES, ROUTER_METHOD
from avengers_pro.summary import seed_curve as summary_seed_curve

AVENGERS_PRO = ROUTER_METHOD
#: Every method in summary.csv that is not a single model; any other method name is a model.
NON_MODEL_METHODS = frozenset({AVENGERS_PRO, *NON_MODEL_BASELINES})

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
VARIANT_STYLES: tuple[tuple[str, str, str], ...] = (
    ("#000000", "-", "*"),
    ("#6E6E6E", "--", "^"),
    ("#A0A0A0", ":", "s"),
    ("#3C3C3C", "-.", "D"),
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


# --------------------------------------------------------------------------- reading the inputs


def load_summary(path: PathLike) -> pd.DataFrame:
    """Read ``results/summary.csv`` and check the columns the figures and table need.

    Parameters
    ----------
    path
        The summary CSV (columns as in ``docs/architecture.md``).

    Returns
    -------
    pandas.DataFrame
        The summary with ``variant`` as str ("" for baselines) and numeric ``n_clusters``,
        ``alpha``, ``accuracy``, ``cost`` (and ``accuracy_<dataset>`` when present).

    Raises
    ------
    DataError
        A needed column is missing or a value is not a number; ``row`` is the file's line number
        (the header is line 1).
    """
    try:
        frame = pd.read_csv(path, dtype={"method": str, "variant": str}, keep_default_na=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"cannot read the summary: {err}", file=path) from None
    return check_summary(frame, source=path)


def check_summary(frame: pd.DataFrame, source: PathLike = "summary") -> pd.DataFrame:
    """Validate and normalise a summary frame (see :func:`load_summary`); returns a copy."""
    required = ("method", "variant", "n_clusters", "alpha", "accuracy", "cost")
    for column in required:
        if column not in frame.columns:
            raise DataError("column missing", file=source, field=column)
    out = frame.copy()
    out["method"] = out["method"].astype(str)
    out["variant"] = out["variant"].fillna("").astype(str)
    numeric = ["n_clusters", "alpha", "accuracy", "cost"] + [
        c for c in out.columns if c.startswith("accuracy_") or c in ("accuracy_sd", "cost_sd", "n_seeds")
    ]
    for column in numeric:
        raw = out[column]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"not a number: {plain(raw.iloc[row])!r}", file=source, row=row + 2, field=column)
        out[column] = values.astype(float)
    for column in ("accuracy", "cost"):
        missing = out[column].isna().to_numpy()
        if missing.any():
            raise DataError("value missing", file=source, row=int(np.flatnonzero(missing)[0]) + 2, field=column)
    accuracy_columns = ["accuracy"] + dataset_columns(out)
    for column in accuracy_columns:
        outside = ((out[column] < 0) | (out[column] > 1)).to_numpy()
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise DataError(
                f"accuracy must lie in [0, 1], got {out[column].iloc[row]}", file=source, row=row + 2, field=column
            )
    negative = (out["cost"] < 0).to_numpy()
    if negative.any():
        raise DataError("cost must be >= 0", file=source, row=int(np.flatnonzero(negative)[0]) + 2, field="cost")
    return out


def dataset_columns(summary: pd.DataFrame) -> list[str]:
    """The ``accuracy_<dataset>`` columns of a summary, in file order (``accuracy_sd`` excluded)."""
    return [c for c in summary.columns if c.startswith("accuracy_") and c != "accuracy_sd"]


def single_models(summary: pd.DataFrame) -> pd.DataFrame:
    """The single-model rows of a summary (every method not in :data:`NON_MODEL_METHODS`)."""
    return summary[~summary["method"].isin(NON_MODEL_METHODS)]


def router_rows(summary: pd.DataFrame, variant: str, n_clusters: int, source: PathLike = "summary") -> pd.DataFrame:
    """The Avengers-Pro rows of one (variant, n_clusters), sorted by alpha.

    Raises
    ------
    DataError
        When the summary holds no such rows (the message lists what it holds).
    """
    is_router = summary["method"] == AVENGERS_PRO
    rows = summary[is_router & (summary["variant"] == variant) & (summary["n_clusters"] == n_clusters)]
    if rows.empty:
        present = sorted(
            {f"{v}/k={int(k)}" for v, k in summary.loc[is_router, ["variant", "n_clusters"]].itertuples(index=False)}
        )
        raise DataError(
            f"no {AVENGERS_PRO} rows for variant '{variant}' and n_clusters {n_clusters} "
            f"(config plots.main); present: {', '.join(present) or 'none'}",
            file=source,
            field="variant",
        )
    return rows.sort_values("alpha", kind="stable")


def load_metrics(path: PathLike) -> list[dict[str, Any]]:
    """Read ``results/metrics.json`` (a list of objects, one per variant and cluster count)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read the metrics: {err}", file=path) from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise DataError("expected a JSON list of objects", file=path)
    return data


def metrics_entry(
    metrics: Sequence[Mapping[str, Any]], variant: str, n_clusters: int, source: PathLike = "metrics.json"
) -> Mapping[str, Any]:
    """The metrics object of one (variant, n_clusters).

    Raises
    ------
    DataError
        When there is no such object.
    """
    # the list also holds dataset-router objects (n_clusters null); only router objects qualify
    routers = [(i, e) for i, e in enumerate(metrics) if e.get("method", AVENGERS_PRO) == AVENGERS_PRO]
    for index, entry in routers:
        if entry.get("variant") == variant and _as_int(entry.get("n_clusters"), source, index, "n_clusters") == n_clusters:
            return entry
    present = [f"{e.get('variant')}/k={e.get('n_clusters')}" for _, e in routers]
    raise DataError(
        f"no entry for variant '{variant}' and n_clusters {n_clusters}; present: {', '.join(present) or 'none'}",
        file=source,
        field="variant",
    )


def require(entry: Mapping[str, Any], key: str, source: PathLike = "metrics.json", *, nullable: bool = False) -> Any:
    """``entry[key]``, or a :class:`DataError` naming the file and the field when it is absent (or null)."""
    if key not in entry or (entry[key] is None and not nullable):
        where = f" (variant '{entry.get('variant')}', n_clusters {entry.get('n_clusters')})" if "variant" in entry else ""
        raise DataError(f"field missing or null{where}", file=source, field=key)
    return entry[key]


def best_single_of(entry: Mapping[str, Any], source: PathLike = "metrics.json") -> dict[str, Any]:
    """The ``best_single`` object of a metrics entry as ``{model: str, accuracy: float, cost: float}``."""
    best = require(entry, "best_single", source)
    if not isinstance(best, Mapping):
        raise DataError("expected an object {model, accuracy, cost}", file=source, field="best_single")
    return {
        "model": str(require(best, "model", source)),
        "accuracy": float(require(best, "accuracy", source)),
        "cost": float(require(best, "cost", source)),
    }


def parse_sweep_path(path: PathLike) -> tuple[str, int, int]:
    """``(variant, n_clusters, seed)`` from a path ``.../sweep/{variant}/k{k}_seed{seed}.parquet``."""
    try:
        return sweep_key(path)
    except ValueError:
        raise DataError("not a sweep file name (expected sweep/{variant}/k{k}_seed{seed}.parquet)", file=path) from None


def load_sweep(path: PathLike) -> pd.DataFrame:
    """Read one sweep file and check its columns (``alpha``, ``dataset``, ``accuracy``, ``cost``)."""
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read the sweep: {err}", file=path) from None
    return check_sweep(frame, source=path)


def check_sweep(frame: pd.DataFrame, source: PathLike = "sweep") -> pd.DataFrame:
    """Validate one sweep frame (see :func:`load_sweep`)."""
    for column in ("alpha", "dataset", "accuracy", "cost"):
        if column not in frame.columns:
            raise DataError("column missing", file=source, field=column)
    if frame.empty:
        raise DataError("the sweep has no rows", file=source)
    for column in ("alpha", "accuracy", "cost"):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataError("missing or not a number", file=source, row=row, field=column)
    return frame


def routed_models(frame: pd.DataFrame) -> list[str]:
    """Model names of the ``routed[<model>]`` columns, in column order."""
    names = []
    for column in frame.columns:
        match = re.fullmatch(r"routed\[(.+)\]", str(column))
        if match:
            names.append(match[1])
    return names


def _as_int(value: Any, source: PathLike, index: int, field: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataError(f"not an integer: {value!r}", file=source, row=index, field=field) from None


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
    kept in full where two models would otherwise share a label."""
    models = list(dict.fromkeys(models))
    short = {name: name.rsplit("/", 1)[-1] for name in models}
    counts = pd.Series(list(short.values())).value_counts()
    return {name: (short[name] if counts[short[name]] == 1 else name) for name in models}


def plot_names(models: Iterable[str]) -> dict[str, str]:
    """:func:`display_names` made safe for matplotlib: a ``$`` would otherwise start math text."""
    return {name: short.replace("$", r"\$") for name, short in display_names(models).items()}


def variant_styles(variants: Iterable[str]) -> dict[str, tuple[str, str, str]]:
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
    with matplotlib.rc_context(STYLE):
        yield


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


# --------------------------------------------------------------------------- Pareto frontier


def frontier_points(costs: Sequence[float] | np.ndarray, accuracies: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-dominated (cost, accuracy) points, sorted by cost.

    A point is dominated when another has cost ≤ and accuracy ≥ with at least one strict. Exact
    duplicates are returned once. NaN points are ignored.

    Parameters
    ----------
    costs, accuracies
        Same-length arrays of the candidate points.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Costs (strictly increasing) and accuracies (strictly increasing) of the frontier.
    """
    cost = np.asarray(costs, dtype=float)
    accuracy = np.asarray(accuracies, dtype=float)
    if cost.shape != accuracy.shape or cost.ndim != 1:
        raise ValueError(f"costs and accuracies must be 1-d arrays of one length, got {cost.shape} and {accuracy.shape}")
    keep = np.isfinite(cost) & np.isfinite(accuracy)
    cost, accuracy = cost[keep], accuracy[keep]
    if cost.size == 0:
        return cost, accuracy
    on_front = pareto_front(cost, accuracy)
    cost, accuracy = cost[on_front], accuracy[on_front]
    order = np.argsort(cost, kind="stable")
    return cost[order], accuracy[order]


def _staircase(front_cost: np.ndarray, front_accuracy: np.ndarray, x_right: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the attainable envelope: flat from each frontier point to the next, then to ``x_right``."""
    xs = np.repeat(np.append(front_cost, max(x_right, front_cost[-1])), 2)[1:-1]
    ys = np.repeat(front_accuracy, 2)
    return xs, ys


# --------------------------------------------------------------------------- label placement

_ANGLES = np.deg2rad(np.array([0, 180, 90, 270, 45, 315, 135, 225, 22.5, 337.5, 157.5, 202.5, 67.5, 112.5, 247.5, 292.5]))
_RADII_PT = (2.0, 5.0, 9.0, 14.0, 20.0, 27.0, 35.0, 45.0, 57.0)


def _overlap(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Summed intersection area of each box (m, 4) with all ``others`` (n, 4); boxes are x0, y0, x1, y1."""
    if len(others) == 0:
        return np.zeros(len(boxes))
    width = np.minimum(boxes[:, None, 2], others[None, :, 2]) - np.maximum(boxes[:, None, 0], others[None, :, 0])
    height = np.minimum(boxes[:, None, 3], others[None, :, 3]) - np.maximum(boxes[:, None, 1], others[None, :, 1])
    return (np.clip(width, 0, None) * np.clip(height, 0, None)).sum(axis=1)


def _segments_cross(a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """(m, n) mask: segment a0[i]-a1[i] properly crosses segment b0[j]-b1[j] (all in pixels)."""
    if len(b0) == 0:
        return np.zeros((len(a0), 0), dtype=bool)

    def side(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        return np.sign((q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0]))

    p0, p1, q0, q1 = a0[:, None, :], a1[:, None, :], b0[None, :, :], b1[None, :, :]
    return (side(p0, p1, q0) * side(p0, p1, q1) < 0) & (side(q0, q1, p0) * side(q0, q1, p1) < 0)


def _box_distance(boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(m, n) distances from each (m, 4) box to each (n, 2) point; 0 for a point inside the box."""
    dx = np.maximum.reduce([boxes[:, None, 0] - points[None, :, 0], np.zeros((len(boxes), len(points))),
                            points[None, :, 0] - boxes[:, None, 2]])
    dy = np.maximum.reduce([boxes[:, None, 1] - points[None, :, 1], np.zeros((len(boxes), len(points))),
                            points[None, :, 1] - boxes[:, None, 3]])
    return np.hypot(dx, dy)


def _points_in_boxes(samples: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """For (m, s, 2) sample points, how many of each row's samples fall inside any of the (n, 4) boxes."""
    if len(boxes) == 0:
        return np.zeros(len(samples))
    x, y = samples[..., 0][..., None], samples[..., 1][..., None]
    inside = (x >= boxes[:, 0]) & (x <= boxes[:, 2]) & (y >= boxes[:, 1]) & (y <= boxes[:, 3])
    return inside.any(axis=-1).sum(axis=1)


def place_labels(
    ax: Axes,
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    labels: Sequence[str],
    *,
    obstacles: np.ndarray | None = None,
    avoid: Sequence[Bbox] = (),
    italic: Sequence[bool] | None = None,
    fontsize: float = LABEL_FONTSIZE,
    marker_size_pt: float = MARKER_SIZE_PT,
) -> list[Annotation]:
    """Label points without overlaps: a greedy, deterministic label-repel.

    Call it after the layout and the axis limits are final (the plot functions call
    :func:`_freeze_layout` first). Each label tries 16 directions at growing distances from its
    point and takes the cheapest position, where the cost weighs, from worst to mildest: overlap with
    a label already placed, lying outside the axes, overlap with a box in ``avoid`` (a legend),
    overlap with a labelled point, overlap with an obstacle point, and the distance moved. Labels are
    placed most-crowded first. A label set away from its point gets a thin leader line.

    Parameters
    ----------
    ax
        The axes, with its final layout and limits.
    x, y
        Data coordinates of the labelled points.
    labels
        One text per point.
    obstacles
        Extra (n, 2) data points to keep clear of (other markers, samples along lines).
    avoid
        Display-space boxes to keep clear of (legends).
    italic
        Per label, whether to set it in italics (reference methods).
    fontsize
        Label size in points.
    marker_size_pt
        Diameter of the labelled markers in points.

    Returns
    -------
    list of matplotlib.text.Annotation
        The placed labels, in the order of ``labels``.
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    px_per_pt = fig.dpi / 72.0
    points = ax.transData.transform(np.column_stack([np.asarray(x, float), np.asarray(y, float)]))
    italic = [False] * len(labels) if italic is None else list(italic)

    half_marker = marker_size_pt * px_per_pt / 2
    point_boxes = np.column_stack([points - half_marker, points + half_marker])
    if obstacles is not None and len(obstacles):
        obstacle_px = ax.transData.transform(np.asarray(obstacles, float))
        obstacle_px = obstacle_px[np.isfinite(obstacle_px).all(axis=1)]
        obstacle_boxes = np.column_stack([obstacle_px - 1.5 * px_per_pt, obstacle_px + 1.5 * px_per_pt])
    else:
        obstacle_boxes = np.zeros((0, 4))
    avoid_boxes = np.array([[b.x0, b.y0, b.x1, b.y1] for b in avoid]).reshape(-1, 4)
    axes_box = ax.get_window_extent(renderer)

    sizes = []
    for label, slanted in zip(labels, italic):
        probe = ax.text(0, 0, label, fontsize=fontsize, style="italic" if slanted else "normal")
        extent = probe.get_window_extent(renderer)
        probe.remove()
        sizes.append((extent.width + 2.0, extent.height + 1.0))  # a hair of padding between labels

    # candidate anchors: every (radius, angle); alignment follows the direction so the box grows away
    radii = np.array(_RADII_PT) * px_per_pt + half_marker
    radius_grid, angle_grid = np.meshgrid(radii, _ANGLES, indexing="ij")
    radius_flat, angle_flat = radius_grid.ravel(), angle_grid.ravel()
    cos, sin = np.cos(angle_flat), np.sin(angle_flat)
    # anchors on a square ring rather than a circle, so a diagonal label clears the marker's corner
    ring = np.maximum(np.abs(cos), np.abs(sin))
    cos, sin = cos / ring, sin / ring
    frac_x = np.where(cos > 0.3, 0.0, np.where(cos < -0.3, 1.0, 0.5))  # share of the width left of the anchor
    frac_y = np.where(sin > 0.3, 0.0, np.where(sin < -0.3, 1.0, 0.5))
    tie_break = np.arange(len(radius_flat)) * 1e-6

    has_leader = radius_flat > radii[0] + 1e-9
    leader_t = np.linspace(0.0, 1.0, 33)

    def greedy(order: Sequence[int]) -> tuple[float, dict[int, tuple[float, float, float, float, bool]]]:
        """Place the labels one by one in ``order``; return the summed cost and the chosen offsets."""
        placed = np.zeros((0, 4))
        leader_starts = np.zeros((0, 2))
        leader_ends = np.zeros((0, 2))
        leader_boxes = np.zeros((0, 4))
        chosen: dict[int, tuple[float, float, float, float, bool]] = {}
        total = 0.0
        for i in order:
            width, height = sizes[i]
            anchor_x = points[i, 0] + radius_flat * cos
            anchor_y = points[i, 1] + radius_flat * sin
            x0 = anchor_x - frac_x * width
            y0 = anchor_y - frac_y * height
            boxes = np.column_stack([x0, y0, x0 + width, y0 + height])
            inside_w = np.clip(np.minimum(boxes[:, 2], axes_box.x1) - np.maximum(boxes[:, 0], axes_box.x0), 0, None)
            inside_h = np.clip(np.minimum(boxes[:, 3], axes_box.y1) - np.maximum(boxes[:, 1], axes_box.y0), 0, None)
            outside = width * height - inside_w * inside_h
            others = np.delete(point_boxes, i, axis=0)
            # a leader line runs from the point to the label's centre (where matplotlib aims it); it
            # must not cross another leader, run through a label or pass over another point
            centres = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2])
            starts = np.broadcast_to(points[i], centres.shape)
            samples = starts[:, None, :] + (centres - starts)[:, None, :] * leader_t[None, :, None]
            # the stretch over the labelled point's own marker does not count (moved far off-screen)
            own = np.hypot(*(samples - points[i]).transpose(2, 0, 1)) < 1.3 * half_marker
            samples = np.where(own[..., None], -1e9, samples)
            leader_cost = (
                5e3 * _segments_cross(starts, centres, leader_starts, leader_ends).sum(axis=1)
                + 5e3 * _points_in_boxes(samples, placed)
                + 2e2 * _points_in_boxes(samples, others)
            )
            # a label nearer another model's marker than its own reads as that model's label
            own_gap = _box_distance(boxes, points[i : i + 1])[:, 0]
            other_points = np.delete(points, i, axis=0)
            nearest_other = _box_distance(boxes, other_points).min(axis=1) if len(other_points) else np.inf
            ambiguous = np.clip(own_gap - nearest_other + 3 * px_per_pt, 0, None)
            # a visible leader line says whose label it is, so ambiguity weighs less there
            ambiguous = np.where(radius_flat > radii[1] + 1e-9, 0.3, 1.0) * ambiguous
            cost = (
                1e4 * _overlap(boxes, placed)
                + 2e2 * ambiguous
                + 1e3 * outside
                + 3e2 * _overlap(boxes, avoid_boxes)
                + 2e1 * _overlap(boxes, others)
                + 2e1 * _overlap(boxes, leader_boxes)
                + 2.0 * _overlap(boxes, obstacle_boxes)
                + np.where(has_leader, leader_cost, 0.0)
                + 3.0 * (radius_flat - radii[0])
                + tie_break
            )
            best = int(np.argmin(cost))
            total += float(cost[best])
            placed = np.vstack([placed, boxes[best]])
            if has_leader[best]:
                leader_starts = np.vstack([leader_starts, points[i]])
                leader_ends = np.vstack([leader_ends, centres[best]])
                leader_boxes = np.vstack([
                    leader_boxes,
                    np.column_stack([samples[best] - 0.5 * px_per_pt, samples[best] + 0.5 * px_per_pt]),
                ])
            chosen[i] = (
                anchor_x[best] - points[i, 0],
                anchor_y[best] - points[i, 1],
                frac_x[best],
                frac_y[best],
                bool(has_leader[best]),
            )
        return total, chosen

    # greedy placement depends on the order; a few fixed orders are tried and the cheapest layout
    # kept (crowded points first, then top-down, bottom-up, left-right, right-left, least crowded first)
    near = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1)) < 40 * px_per_pt
    crowding = near.sum(axis=1)
    indices = range(len(labels))
    crowded_first = sorted(indices, key=lambda i: (-crowding[i], points[i, 0], points[i, 1], labels[i]))
    orders = [
        crowded_first,
        sorted(indices, key=lambda i: (-points[i, 1], points[i, 0])),
        sorted(indices, key=lambda i: (points[i, 1], points[i, 0])),
        sorted(indices, key=lambda i: (points[i, 0], points[i, 1])),
        sorted(indices, key=lambda i: (-points[i, 0], points[i, 1])),
        crowded_first[::-1],
    ]
    layouts = [greedy(order) for order in orders]
    chosen = min(layouts, key=lambda layout: layout[0])[1]  # min keeps the first of equal costs

    horizontal = {0.0: "left", 0.5: "center", 1.0: "right"}
    vertical = {0.0: "bottom", 0.5: "center", 1.0: "top"}
    annotations = []
    for i, label in enumerate(labels):
        dx, dy, fx, fy, leader = chosen[i]
        arrow = (
            dict(arrowstyle="-", color="#555555", lw=0.45, shrinkA=0.0, shrinkB=marker_size_pt / 2 + 0.3)
            if leader
            else None
        )
        annotations.append(
            ax.annotate(
                label,
                xy=(float(np.asarray(x, float)[i]), float(np.asarray(y, float)[i])),
                xytext=(dx / px_per_pt, dy / px_per_pt),
                textcoords="offset points",
                ha=horizontal[float(fx)],
                va=vertical[float(fy)],
                fontsize=fontsize,
                style="italic" if italic[i] else "normal",
                color="#222222",
                # a faint white box keeps a label legible where it crosses a line or sweep markers
                bbox=dict(boxstyle="square,pad=0.05", facecolor="white", edgecolor="none", alpha=0.75),
                arrowprops=arrow,
                annotation_clip=False,
                zorder=6,
            )
        )
    return annotations


def _line_samples(ax: Axes, xs: np.ndarray, ys: np.ndarray, step_px: float = 4.0) -> np.ndarray:
    """Data points every ``step_px`` pixels along a polyline, so labels can keep off the line."""
    pixels = ax.transData.transform(np.column_stack([xs, ys]))
    samples = [pixels[:1]]
    for start, end in zip(pixels[:-1], pixels[1:]):
        count = max(int(np.hypot(*(end - start)) / step_px), 1)
        samples.append(start + (end - start) * np.linspace(0, 1, count + 1)[1:, None])
    return ax.transData.inverted().transform(np.vstack(samples))


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


def _model_styles(
    models: Iterable[str], colors: Mapping[str, str] | None
) -> tuple[dict[str, str], dict[str, str]]:
    models = list(models)
    palette = dict(colors) if colors is not None else model_colors(models)
    missing = [m for m in models if m not in palette]
    if missing:
        raise DataError(f"no colour given for models {missing[:3]}", field="method")
    return palette, model_markers(palette)


# --------------------------------------------------------------------------- 1. Pareto (Fig. 1A)


def plot_pareto(
    summary: pd.DataFrame,
    stem: PathLike,
    *,
    variant: str,
    n_clusters: int,
    log_cost: str | bool = "auto",
    colors: Mapping[str, str] | None = None,
    dpi: int = DPI,
) -> None:
    """Accuracy against total test cost (paper Fig. 1A).

    Every single model is a labelled point; the Avengers-Pro sweep of one (variant, n_clusters) is a
    row of stars; the Pareto frontier over single models, the sweep and the random router is the
    attainable staircase (flat to the right of its best point); random and the per-query oracle are
    grey reference markers. The oracle is kept off the frontier: it is an upper bound, not a router.

    Parameters
    ----------
    summary
        ``results/summary.csv`` as read by :func:`load_summary`.
    stem
        Output path without suffix; ``stem.png`` and ``stem.pdf`` are written.
    variant, n_clusters
        The sweep to show (config ``plots.main``).
    log_cost
        Config ``plots.log_cost``, see :func:`use_log_cost`.
    colors
        Model → colour; default :func:`model_colors` of the summary's models.
    dpi
        PNG resolution.
    """
    summary = check_summary(summary)
    singles = single_models(summary)
    router = router_rows(summary, variant, n_clusters)
    references = summary[summary["method"].isin(["random", "oracle"]) & (summary["variant"] == "")]
    palette, markers = _model_styles(singles["method"], colors)
    names = plot_names(singles["method"])

    frontier_cost, frontier_accuracy = frontier_points(
        np.concatenate([singles["cost"], router["cost"], references.loc[references["method"] == "random", "cost"]]),
        100 * np.concatenate(
            [singles["accuracy"], router["accuracy"], references.loc[references["method"] == "random", "accuracy"]]
        ),
    )
    all_costs = np.concatenate([singles["cost"], router["cost"], references["cost"]]).astype(float)

    with _style():
        fig = _new_figure(COLUMN_WIDTH_IN, 2.9)
        ax = fig.add_subplot()
        ax.set_xlabel("Total test cost (USD)")
        _set_cost_axis(ax, all_costs, use_log_cost(all_costs, log_cost))
        ax.scatter(
            router["cost"], 100 * router["accuracy"], s=16, marker="*", color=ROUTER_COLOR, linewidths=0,
            zorder=3, label=f"Avengers-Pro ({variant}, k={n_clusters})",
        )
        _scatter_models(ax, singles, palette, markers)
        for row in references.itertuples(index=False):
            ax.scatter(row.cost, 100 * row.accuracy, s=22, marker="x" if row.method == "random" else "+",
                       color=REFERENCE_COLOR, linewidths=0.9, zorder=4)
        # a first pass of the frontier (to the last point) lets autoscaling see it; it is redrawn to the axis edge
        frontier_line, = ax.plot(frontier_cost, frontier_accuracy, color=FRONTIER_COLOR, lw=0.9, zorder=2,
                                 label="Pareto frontier")
        ax.set_ylabel("Accuracy (%)")
        ax.margins(x=0.1, y=0.1)
        legend = ax.legend(loc="lower right", handletextpad=0.3, borderaxespad=0.3)
        _freeze_layout(fig)

        xs, ys = _staircase(frontier_cost, frontier_accuracy, ax.get_xlim()[1])
        frontier_line.set_data(xs, ys)
        label_x = np.concatenate([singles["cost"], references["cost"]])
        label_y = 100 * np.concatenate([singles["accuracy"], references["accuracy"]])
        texts = [names[m] for m in singles["method"]] + list(references["method"])
        obstacles = np.vstack([
            np.column_stack([router["cost"], 100 * router["accuracy"]]),
            _line_samples(ax, xs, ys),
        ])
        place_labels(
            ax, label_x, label_y, texts, obstacles=obstacles, avoid=[legend.get_window_extent(fig.canvas.get_renderer())],
            italic=[False] * len(singles) + [True] * len(references),
        )
        save_figure(fig, stem, dpi)


# --------------------------------------------------------------------------- 2. headline (Fig. 1B)


def plot_headline(
    entry: Mapping[str, Any],
    stem: PathLike,
    *,
    colors: Mapping[str, str] | None = None,
    source: PathLike = "metrics.json",
    dpi: int = DPI,
) -> None:
    """The best single model against Avengers-Pro (paper Fig. 1B).

    Left: accuracy of the best single model and Avengers-Pro's best accuracy over the sweep, with the
    relative gain. Right: cost of the best single model and of the cheapest Avengers-Pro setting
    that reaches its accuracy (parity), with the relative saving; when no setting reaches parity the
    panel says so instead of drawing a bar.

    Parameters
    ----------
    entry
        One object of ``results/metrics.json``; needs ``best_single {model, accuracy, cost}``,
        ``best_accuracy``, ``best_accuracy_alpha``, ``cost_save`` and ``cost_save_alpha`` (the
        last two may be null).
    stem
        Output path without suffix.
    colors
        Model → colour; the best single model's bar uses its colour.
    source
        Name of the metrics file, for error messages.
    dpi
        PNG resolution.
    """
    best = best_single_of(entry, source)
    best_accuracy = float(require(entry, "best_accuracy", source))
    best_alpha = float(require(entry, "best_accuracy_alpha", source))
    cost_save = require(entry, "cost_save", source, nullable=True)
    cost_save_alpha = require(entry, "cost_save_alpha", source, nullable=True) if cost_save is not None else None
    single_color = (colors or model_colors([best["model"]])).get(best["model"], MODEL_PALETTE[0])
    single_label = wrap_label(plot_names([best["model"]])[best["model"]], 16)
    tick_size = label_fontsize([single_label, "Avengers-Pro"], width=16)

    with _style():
        fig = _new_figure(COLUMN_WIDTH_IN, 2.1)
        ax_acc, ax_cost = fig.subplots(1, 2)
        for ax in (ax_acc, ax_cost):
            ax.grid(False, axis="x")

        gain = best_accuracy / best["accuracy"] - 1 if best["accuracy"] > 0 else float("nan")
        values = [100 * best["accuracy"], 100 * best_accuracy]
        bars = ax_acc.bar([0, 1], values, width=0.6, color=[single_color, ROUTER_COLOR], edgecolor="#333333", linewidth=0.4)
        ax_acc.set_xticks([0, 1], [single_label, f"Avengers-Pro\n(α = {best_alpha:.2f})"], fontsize=tick_size)
        ax_acc.set_ylabel("Accuracy (%)")
        ax_acc.set_title("Best accuracy")
        ax_acc.set_ylim(0, max(values) * 1.3)
        ax_acc.bar_label(bars, labels=[f"{values[0]:.1f}%", f"{values[1]:.1f}%\n({_signed_percent(gain)})"], padding=1.5, fontsize=6)

        ax_cost.set_title("Cost at parity accuracy")
        ax_cost.set_ylabel("Total test cost (USD)")
        ax_cost.yaxis.set_major_formatter(FuncFormatter(_usd))
        if cost_save is None:
            # Why there is no second bar: data without costs, or a curve that never gets there.
            no_costs = (entry.get("null_reasons") or {}).get("cost_save") == NO_COST_RANGE or not best["cost"] > 0
            top = best["cost"] * 1.3 if best["cost"] > 0 else 1.0
            bars = ax_cost.bar([0], [best["cost"]], width=0.6, color=single_color, edgecolor="#333333", linewidth=0.4)
            ax_cost.bar_label(bars, labels=[format_usd(best["cost"])], padding=1.5, fontsize=6)
            ax_cost.text(1, top * 0.4, "no costs\nrecorded" if no_costs else "no α reaches\nits accuracy",
                         ha="center", va="center", fontsize=6, style="italic", color=REFERENCE_COLOR)
            ax_cost.set_xticks([0, 1], [single_label, "Avengers-Pro"], fontsize=tick_size)
            ax_cost.set_xlim(-0.6, 1.6)
            ax_cost.set_ylim(0, top)
            if no_costs:
                ax_cost.set_yticks([0.0])
        else:
            router_cost = best["cost"] * (1 - float(cost_save))
            costs = [best["cost"], router_cost]
            bars = ax_cost.bar([0, 1], costs, width=0.6, color=[single_color, ROUTER_COLOR], edgecolor="#333333",
                               linewidth=0.4)
            ax_cost.set_xticks([0, 1], [single_label, f"Avengers-Pro\n(α = {float(cost_save_alpha):.2f})"],
                               fontsize=tick_size)
            ax_cost.bar_label(bars, labels=[format_usd(costs[0]), f"{format_usd(costs[1])}\n({_signed_percent(-float(cost_save))})"],
                              padding=1.5, fontsize=6)
            ax_cost.set_ylim(0, max(costs) * 1.3)
        save_figure(fig, stem, dpi)


# --------------------------------------------------------------------------- 3. alpha sweep (Fig. 2)


def seed_curve(sweep: pd.DataFrame, source: PathLike = "sweep") -> pd.DataFrame:
    """One seed's sweep reduced to one row per alpha (via :func:`avengers_pro.summary.seed_curve`).

    Accuracy is the unweighted mean over datasets, cost the total over datasets (as the paper).

    Returns
    -------
    pandas.DataFrame
        Columns ``alpha``, ``accuracy``, ``cost``, sorted by alpha.
    """
    return summary_seed_curve(sweep, str(source)).rename_axis("alpha").reset_index()


def mean_and_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds (axis 1) and the half-width of the t-based confidence interval.

    Parameters
    ----------
    values
        (n_points, n_seeds) array.
    confidence
        Two-sided confidence level.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Mean and half-width per point; the half-width is NaN with a single seed.
    """
    # scipy ships with scikit-learn; scipy.special imports in a fraction of scipy.stats' time
    from scipy.special import stdtrit

    n_seeds = values.shape[1]
    mean = values.mean(axis=1)
    if n_seeds < 2:
        return mean, np.full_like(mean, np.nan)
    sem = values.std(axis=1, ddof=1) / math.sqrt(n_seeds)
    return mean, stdtrit(n_seeds - 1, 0.5 + confidence / 2) * sem


def _stack_seeds(sweeps: Sequence[pd.DataFrame]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alphas, accuracy (n_alpha, n_seeds), cost (n_alpha, n_seeds)) over the alphas every seed has."""
    if not sweeps:
        raise DataError("no sweep files given", field="alpha")
    curves = [seed_curve(s, source=f"sweep #{i}").set_index("alpha") for i, s in enumerate(sweeps)]
    common = curves[0].index
    for curve in curves[1:]:
        common = common.intersection(curve.index)
    if common.empty:
        raise DataError("the sweep files share no alpha value", field="alpha")
    accuracy = np.column_stack([c.loc[common, "accuracy"].to_numpy(float) for c in curves])
    cost = np.column_stack([c.loc[common, "cost"].to_numpy(float) for c in curves])
    return common.to_numpy(float), accuracy, cost


def plot_alpha_sweep(
    sweeps: Sequence[pd.DataFrame],
    best_single: Mapping[str, Any],
    stem: PathLike,
    *,
    colors: Mapping[str, str] | None = None,
    confidence: float = 0.95,
    dpi: int = DPI,
) -> None:
    """Accuracy and cost against alpha (paper Fig. 2).

    Each seed's sweep is first reduced to one curve (mean accuracy over datasets, total cost); the
    figure shows the mean over seeds and a t-based confidence band over seeds (none with one seed),
    with the best single model as a dashed line in both panels. No smoothing.

    Parameters
    ----------
    sweeps
        One sweep frame per seed (``results/sweep/{variant}/k{k}_seed{seed}.parquet``).
    best_single
        ``{model, accuracy, cost}`` (``best_single`` of ``metrics.json``).
    stem
        Output path without suffix.
    colors
        Model → colour; the dashed lines use the best single model's colour.
    confidence
        Level of the band.
    dpi
        PNG resolution.
    """
    for index, sweep in enumerate(sweeps):
        check_sweep(sweep, source=f"sweep #{index}")
    alphas, accuracy, cost = _stack_seeds(sweeps)
    n_seeds = accuracy.shape[1]
    model = str(best_single["model"])
    single_color = (colors or model_colors([model])).get(model, MODEL_PALETTE[0])
    single_name = plot_names([model])[model]

    with _style():
        fig = _new_figure(FULL_WIDTH_IN, 2.3)
        ax_acc, ax_cost = fig.subplots(1, 2)
        panels = (
            (ax_acc, 100 * accuracy, 100 * float(best_single["accuracy"]), "Accuracy (%)", (0.0, 100.0)),
            (ax_cost, cost, float(best_single["cost"]), "Total test cost (USD)", (0.0, np.inf)),
        )
        for ax, values, reference, ylabel, (low, high) in panels:
            mean, half = mean_and_interval(values, confidence)
            ax.plot(alphas, mean, color=ROUTER_COLOR, lw=1.1, label=f"Avengers-Pro, mean over {n_seeds} seed{'s' * (n_seeds > 1)}")
            if np.isfinite(half).any():
                # with few seeds the t band can leave the possible range (a negative cost); clip it there
                ax.fill_between(alphas, np.clip(mean - half, low, high), np.clip(mean + half, low, high),
                                color=ROUTER_COLOR, alpha=0.18, linewidth=0, label=f"{confidence:.0%} CI (t, over seeds)")
            ax.axhline(reference, color=single_color, ls="--", lw=1.0, label=f"best single: {single_name}")
            ax.set_xlabel("α (weight on accuracy)")
            ax.set_ylabel(ylabel)
            ax.set_xlim(float(alphas.min()), float(alphas.max()))
        ax_cost.yaxis.set_major_formatter(FuncFormatter(_usd))
        ax_acc.legend(loc="lower right")
        save_figure(fig, stem, dpi)


# --------------------------------------------------------------------------- 4. model usage (Fig. 3)


def nearest_alphas(grid: Iterable[float], wanted: Iterable[float]) -> list[float]:
    """For each wanted alpha the nearest alpha of the grid (duplicates dropped, order kept)."""
    grid_values = np.unique(np.asarray(list(grid), dtype=float))
    if grid_values.size == 0:
        raise DataError("the alpha grid is empty", field="alpha")
    chosen = [float(grid_values[np.argmin(np.abs(grid_values - float(a)))]) for a in wanted]
    return list(dict.fromkeys(chosen))


def usage_shares(sweeps: Sequence[pd.DataFrame], alphas: Iterable[float]) -> pd.DataFrame:
    """Share of test queries routed to each model, pooled over seeds and datasets.

    Parameters
    ----------
    sweeps
        Sweep frames (one per seed) with ``routed[<model>]`` count columns.
    alphas
        Wanted alphas; each is matched to the nearest alpha of the sweep grid.

    Returns
    -------
    pandas.DataFrame
        Index: the grid alphas used; columns: models (``routed`` column order); values: shares
        summing to 1 per row.
    """
    if not sweeps:
        raise DataError("no sweep files given", field="routed")
    frame = pd.concat([check_sweep(s, source=f"sweep #{i}") for i, s in enumerate(sweeps)], ignore_index=True)
    models = routed_models(frame)
    if not models:
        raise DataError("no routed[<model>] columns", field="routed")
    chosen = nearest_alphas(frame["alpha"], alphas)
    columns = [f"routed[{m}]" for m in models]
    counts = frame.groupby("alpha")[columns].sum().loc[chosen]
    counts.columns = models
    totals = counts.sum(axis=1).to_numpy()
    if (totals <= 0).any():
        raise DataError(f"no routed queries at alpha {chosen[int(np.argmin(totals))]}", field="routed")
    return counts.div(totals, axis=0)


def plot_model_usage(
    sweeps: Sequence[pd.DataFrame],
    alphas: Sequence[float],
    stem: PathLike,
    *,
    colors: Mapping[str, str] | None = None,
    dpi: int = DPI,
) -> None:
    """Share of test queries routed to each model at a few alphas (paper Fig. 3), as stacked bars.

    Counts are pooled over seeds and datasets (with ``max_router > 1`` the first choice counts).
    Shares of at least 8% are written on their segment; only models that receive queries at one of
    the alphas appear in the legend.

    Parameters
    ----------
    sweeps
        One sweep frame per seed, with ``routed[<model>]`` columns.
    alphas
        Config ``plots.usage_alphas`` (each matched to the nearest grid alpha).
    stem
        Output path without suffix.
    colors
        Model → colour.
    dpi
        PNG resolution.
    """
    shares = usage_shares(sweeps, alphas)
    models = [m for m in shares.columns if (shares[m] > 0).any()]
    palette, _ = _model_styles(shares.columns, colors)
    names = plot_names(shares.columns)
    # stack and legend in the order of the shown (short) names, so the legend reads alphabetically
    legend_order = sorted(models, key=lambda m: (names[m].casefold(), m))

    with _style():
        height = 0.75 + 0.24 * len(shares) + 0.13 * math.ceil(len(models) / 2)
        fig = _new_figure(COLUMN_WIDTH_IN, height)
        ax = fig.add_subplot()
        ax.grid(False, axis="y")
        positions = np.arange(len(shares))
        left = np.zeros(len(shares))
        for model in legend_order:
            share = shares[model].to_numpy(float)
            ax.barh(positions, 100 * share, left=100 * left, height=0.7, color=palette[model], edgecolor="white",
                    linewidth=0.4, label=names[model])
            for pos, start, value in zip(positions, left, share):
                if value >= 0.08:
                    ax.text(100 * (start + value / 2), pos, f"{value:.0%}", ha="center", va="center", fontsize=5.5,
                            color=_text_color_on(palette[model]))
            left += share
        ax.set_yticks(positions, [f"α = {a:.2f}" for a in shares.index])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("Share of test queries (%)")
        fig.legend(loc="outside lower center", ncols=2, handlelength=1.0, handletextpad=0.4, columnspacing=1.0)
        save_figure(fig, stem, dpi)


def _text_color_on(background: str) -> str:
    red, green, blue = matplotlib.colors.to_rgb(background)
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "#000000" if luminance > 0.45 else "#FFFFFF"


# --------------------------------------------------------------------------- 5. cluster ablation


def seed_cost_save(curve: pd.DataFrame, best_accuracy: float, best_cost: float) -> float:
    """CostSave of one seed's curve against the best single model (:func:`avengers_pro.metrics.cost_save`,
    the same definition as ``metrics.json``); NaN when no alpha reaches its accuracy."""
    if best_cost <= 0:
        return float("nan")
    saved, _alpha = metrics_cost_save(
        curve["alpha"].to_numpy(float), curve["accuracy"].to_numpy(float), curve["cost"].to_numpy(float),
        best_accuracy, best_cost,
    )
    return float("nan") if saved is None else float(saved)


def cluster_ablation_table(
    sweeps: Mapping[tuple[str, int], Sequence[pd.DataFrame]], best_single: Mapping[str, Any]
) -> pd.DataFrame:
    """Per (variant, n_clusters, seed): accuracy at the largest alpha (alpha = 1) and CostSave.

    Parameters
    ----------
    sweeps
        (variant, n_clusters) → one sweep frame per seed.
    best_single
        ``{model, accuracy, cost}``: the reference of CostSave (means over seeds).

    Returns
    -------
    pandas.DataFrame
        Columns ``variant``, ``n_clusters``, ``seed`` (position), ``accuracy_at_1``, ``cost_save``.
    """
    rows = []
    for (variant, k), frames in sorted(sweeps.items()):
        for seed, frame in enumerate(frames):
            curve = seed_curve(frame, source=f"sweep {variant}/k{k} #{seed}")
            rows.append({
                "variant": variant,
                "n_clusters": int(k),
                "seed": seed,
                "accuracy_at_1": float(curve["accuracy"].iloc[-1]),
                "cost_save": seed_cost_save(curve, float(best_single["accuracy"]), float(best_single["cost"])),
            })
    if not rows:
        raise DataError("no sweep files given", field="n_clusters")
    return pd.DataFrame(rows)


def plot_cluster_ablation(
    sweeps: Mapping[tuple[str, int], Sequence[pd.DataFrame]],
    best_single: Mapping[str, Any],
    stem: PathLike,
    *,
    colors: Mapping[str, str] | None = None,
    dpi: int = DPI,
) -> None:
    """Accuracy at alpha = 1 and CostSave against the number of clusters, for every variant.

    Each seed is a faint dot; the line joins the means over seeds with ± one standard deviation as
    error bars. CostSave is computed per seed against the best single model's mean accuracy and
    cost; a seed where no alpha reaches that accuracy has no CostSave and is left out (the count of
    seeds that do is written beside the point when it is not all of them).

    Parameters
    ----------
    sweeps
        (variant, n_clusters) → one sweep frame per seed.
    best_single
        ``{model, accuracy, cost}`` from ``metrics.json``.
    stem
        Output path without suffix.
    colors
        Model → colour, for the best single model's reference line.
    dpi
        PNG resolution.
    """
    table = cluster_ablation_table(sweeps, best_single)
    styles = variant_styles(table["variant"])
    model = str(best_single["model"])
    single_color = (colors or model_colors([model])).get(model, MODEL_PALETTE[0])
    ks = np.sort(table["n_clusters"].unique())
    offsets = {v: (i - (len(styles) - 1) / 2) * 0.035 for i, v in enumerate(styles)}  # dodge variants on the log axis

    with _style():
        fig = _new_figure(FULL_WIDTH_IN, 2.3)
        ax_acc, ax_save = fig.subplots(1, 2)
        for ax, column, scale, ylabel in (
            (ax_acc, "accuracy_at_1", 100, "Accuracy at α = 1 (%)"),
            (ax_save, "cost_save", 100, "CostSave vs best single (%)"),
        ):
            for variant, (color, linestyle, marker) in styles.items():
                rows = table[table["variant"] == variant]
                shift = 2 ** offsets[variant]
                ax.scatter(rows["n_clusters"] * shift, scale * rows[column], s=6, color=color, alpha=0.35,
                           linewidths=0, zorder=2)
                stats = rows.groupby("n_clusters")[column].agg(["mean", "std", "count"]).reindex(ks)
                stats["std"] = stats["std"].fillna(0.0)
                ax.errorbar(ks * shift, scale * stats["mean"], yerr=scale * stats["std"], color=color, ls=linestyle,
                            marker=marker, ms=4, lw=1.0, capsize=1.5, elinewidth=0.6, label=variant, zorder=3)
                n_seeds = rows.groupby("n_clusters")["seed"].count().reindex(ks)
                for k, count, total, mean in zip(ks, stats["count"], n_seeds, stats["mean"]):
                    if column == "cost_save" and 0 < count < total:
                        ax.annotate(f"{int(count)}/{int(total)}", (k * shift, scale * mean), xytext=(3, 3),
                                    textcoords="offset points", fontsize=5, color=color)
            never = [v for v in styles if not np.isfinite(table.loc[table["variant"] == v, column]).any()]
            if never:
                ax.text(0.5, 0.5, f"{', '.join(never)}: no α reaches the best\nsingle model's accuracy at any k",
                        transform=ax.transAxes, ha="center", va="center", fontsize=6, style="italic",
                        color=REFERENCE_COLOR)
            ax.set_xscale("log", base=2)
            # explicit limits: autoscaling a log axis fails when a panel has no finite point
            ax.set_xlim(ks.min() / 1.35, ks.max() * 1.35)
            ax.set_xticks(ks, [str(int(k)) for k in ks])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.tick_params(axis="x", which="minor", length=0)
            ax.set_xlabel("Number of clusters k")
            ax.set_ylabel(ylabel)
        ax_acc.axhline(100 * float(best_single["accuracy"]), color=single_color, ls="--", lw=0.9,
                       label=f"best single: {plot_names([model])[model]}")
        ax_save.axhline(0, color="#999999", lw=0.6)
        ax_acc.legend(loc="lower right")
        save_figure(fig, stem, dpi)


# --------------------------------------------------------------------------- 6. variants


def plot_variants(
    summary: pd.DataFrame,
    stem: PathLike,
    *,
    n_clusters: int,
    log_cost: str | bool = "auto",
    colors: Mapping[str, str] | None = None,
    dpi: int = DPI,
) -> None:
    """The Pareto frontiers of every router variant at one cluster count, with the single models.

    Each variant's sweep points are faint markers and its own frontier a staircase in the variant's
    grey and line style; the dataset router's frontier (per variant) is a dotted line, the floor a
    query-level router must beat; single models are labelled points as in :func:`plot_pareto`.

    Parameters
    ----------
    summary
        ``results/summary.csv`` as read by :func:`load_summary`.
    stem
        Output path without suffix.
    n_clusters
        The cluster count shown (config ``plots.main.n_clusters``).
    log_cost
        Config ``plots.log_cost``.
    colors
        Model → colour.
    dpi
        PNG resolution.
    """
    summary = check_summary(summary)
    singles = single_models(summary)
    routers = summary[(summary["method"] == AVENGERS_PRO) & (summary["n_clusters"] == n_clusters)]
    if routers.empty:
        raise DataError(f"no {AVENGERS_PRO} rows with n_clusters {n_clusters} (config plots.main)", field="n_clusters")
    styles = variant_styles(routers["variant"])
    palette, markers = _model_styles(singles["method"], colors)
    names = plot_names(singles["method"])
    all_costs = np.concatenate([singles["cost"], routers["cost"]]).astype(float)

    with _style():
        fig = _new_figure(COLUMN_WIDTH_IN, 2.9)
        ax = fig.add_subplot()
        ax.set_xlabel("Total test cost (USD)")
        _set_cost_axis(ax, all_costs, use_log_cost(all_costs, log_cost))
        lines = {}
        fronts = {}
        for variant, (color, linestyle, marker) in styles.items():
            rows = routers[routers["variant"] == variant]
            ax.scatter(rows["cost"], 100 * rows["accuracy"], s=7, marker=marker, color=color, alpha=0.45,
                       linewidths=0, zorder=2)
            fronts[variant] = frontier_points(rows["cost"], 100 * rows["accuracy"])
            lines[variant], = ax.plot(*fronts[variant], color=color, ls=linestyle, lw=1.0, zorder=3,
                                      label=f"{variant} (k={n_clusters})")
        # The floor a query-level router must beat: the same scoring with each dataset as one cluster.
        # Variants whose dataset-router frontiers coincide share one line.
        dataset_fronts: dict[tuple[tuple[float, ...], tuple[float, ...]], list[str]] = {}
        for variant, rows in summary[summary["method"] == "dataset-router"].groupby("variant", sort=True):
            front = frontier_points(rows["cost"], 100 * rows["accuracy"])
            dataset_fronts.setdefault((tuple(front[0]), tuple(front[1])), []).append(str(variant))
            all_costs = np.concatenate([all_costs, rows["cost"].astype(float)])
        for (front_costs, front_accs), names_of_variants in dataset_fronts.items():
            key = "dataset router" if len(dataset_fronts) == 1 else f"dataset router ({', '.join(names_of_variants)})"
            fronts[key] = (np.asarray(front_costs), np.asarray(front_accs))
            style = ":" if len(lines) % 2 == 0 else (0, (3, 1, 1, 1))  # dotted, then dash-dot
            lines[key], = ax.plot(*fronts[key], color=REFERENCE_COLOR, ls=style, lw=1.2, zorder=3, label=key)
        _scatter_models(ax, singles, palette, markers)
        ax.set_ylabel("Accuracy (%)")
        ax.margins(x=0.1, y=0.1)
        # Above the axes: four frontier entries inside would cover single models.
        legend = ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01, 1.0, 0.1), mode="expand", ncol=2,
                           borderaxespad=0.0, frameon=False)
        _freeze_layout(fig)

        samples = [np.column_stack([routers["cost"], 100 * routers["accuracy"]])]
        for variant, line in lines.items():
            xs, ys = _staircase(*fronts[variant], ax.get_xlim()[1])
            line.set_data(xs, ys)
            samples.append(_line_samples(ax, xs, ys))
        place_labels(
            ax, singles["cost"], 100 * singles["accuracy"], [names[m] for m in singles["method"]],
            obstacles=np.vstack(samples), avoid=[legend.get_window_extent(fig.canvas.get_renderer())],
        )
        save_figure(fig, stem, dpi)
