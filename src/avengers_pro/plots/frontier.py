"""The cost figures: the Pareto figure (paper Fig. 1A) and the variants' frontiers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from avengers_pro.errors import DataError
from avengers_pro.evaluation.metrics import pareto_front
from avengers_pro.io import PathLike
from avengers_pro.outputs import (
    BEST_SCORE_ORACLE,
    DATASET_ROUTER,
    DEFAULT_SCORE_LABEL,
    ORACLE,
    ROUTER_METHOD,
    family_rows,
    single_models,
)
from avengers_pro.plots.inputs import router_rows
from avengers_pro.plots.labels import _line_samples, place_labels
from avengers_pro.plots.style import (
    COLUMN_WIDTH_IN,
    DPI,
    FRONTIER_COLOR,
    REFERENCE_COLOR,
    ROUTER_COLOR,
    _freeze_layout,
    _model_styles,
    _new_figure,
    _scatter_models,
    _set_cost_axis,
    _style,
    plot_names,
    renderer_of,
    save_figure,
    use_log_cost,
    variant_styles,
)

# --------------------------------------------------------------------------- Pareto frontier


def frontier_points(
    costs: Sequence[float] | np.ndarray, accuracies: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
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
        raise ValueError(
            f"costs and accuracies must be 1-d arrays of one length, got {cost.shape} and {accuracy.shape}"
        )
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
    score_label: str = DEFAULT_SCORE_LABEL,
) -> Figure:
    """Accuracy (the mean score, named ``score_label``) against total test cost (paper Fig. 1A).

    Every single model is a labelled point; the Avengers-Pro sweep of one (variant, n_clusters) is a
    row of stars; the Pareto frontier over single models, the sweep and the random router is the
    attainable staircase (flat to the right of its best point); random and the per-query oracle's
    best-score point are grey reference markers, and the oracle's curve a broad pale grey staircase,
    the ceiling at every cost. The oracle is kept off the frontier: it is an upper bound, not a router.

    Parameters
    ----------
    summary
        ``results/summary.csv`` as read by :func:`avengers_pro.outputs.read_summary`.
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
    score_label
        What the score is called (config ``plots.score_label``).
    """
    singles = single_models(summary)
    router = router_rows(summary, variant, n_clusters)
    references = summary[summary["method"].isin(["random", BEST_SCORE_ORACLE])]
    oracle = summary[summary["method"] == ORACLE]
    palette, markers = _model_styles(singles["method"], colors)
    names = plot_names(singles["method"])

    frontier_cost, frontier_accuracy = frontier_points(
        np.concatenate([singles["cost"], router["cost"], references.loc[references["method"] == "random", "cost"]]),
        100
        * np.concatenate(
            [singles["accuracy"], router["accuracy"], references.loc[references["method"] == "random", "accuracy"]]
        ),
    )
    all_costs = np.concatenate([singles["cost"], router["cost"], references["cost"], oracle["cost"]]).astype(float)

    with _style():
        fig = _new_figure(COLUMN_WIDTH_IN, 2.9)
        ax = fig.add_subplot()
        ax.set_xlabel("Total test cost (USD)")
        _set_cost_axis(ax, all_costs, use_log_cost(all_costs, log_cost))
        oracle_line, oracle_front = _oracle_curve(ax, oracle)
        ax.scatter(
            router["cost"],
            100 * router["accuracy"],
            s=16,
            marker="*",
            color=ROUTER_COLOR,
            linewidths=0,
            zorder=3,
            label=f"Avengers-Pro ({variant}, k={n_clusters})",
        )
        _scatter_models(ax, singles, palette, markers)
        _scatter_references(ax, references)
        # a first pass of the frontier (to the last point) lets autoscaling see it; it is redrawn to the axis edge
        (frontier_line,) = ax.plot(
            frontier_cost, frontier_accuracy, color=FRONTIER_COLOR, lw=0.9, zorder=2, label="Pareto frontier"
        )
        ax.set_ylabel(f"{score_label} (%)")
        ax.margins(x=0.1, y=0.1)
        legend = ax.legend(loc="lower right", handletextpad=0.3, borderaxespad=0.3)
        _freeze_layout(fig)

        xs, ys = _staircase(frontier_cost, frontier_accuracy, ax.get_xlim()[1])
        frontier_line.set_data(xs, ys)
        oracle_samples = _extend_line(ax, oracle_line, oracle_front)
        label_x = np.concatenate([singles["cost"], references["cost"]])
        label_y = 100 * np.concatenate([singles["accuracy"], references["accuracy"]])
        texts = [names[m] for m in singles["method"]] + [REFERENCE_NAMES[m] for m in references["method"]]
        obstacles = np.vstack(
            [
                np.column_stack([router["cost"], 100 * router["accuracy"]]),
                _line_samples(ax, xs, ys),
                oracle_samples,
            ]
        )
        place_labels(
            ax,
            label_x,
            label_y,
            texts,
            obstacles=obstacles,
            avoid=[legend.get_window_extent(renderer_of(fig))],
            italic=[False] * len(singles) + [True] * len(references),
        )
        save_figure(fig, stem, dpi)
    return fig


# --------------------------------------------------------------------------- 6. variants


def plot_variants(
    summary: pd.DataFrame,
    stem: PathLike,
    *,
    n_clusters: int,
    log_cost: str | bool = "auto",
    colors: Mapping[str, str] | None = None,
    dpi: int = DPI,
    score_label: str = DEFAULT_SCORE_LABEL,
) -> Figure:
    """The Pareto frontiers of every router variant at one cluster count, with the single models.

    Each variant's sweep points are faint markers and its own frontier a staircase in the variant's
    grey and line style; the dataset router's frontier (per variant) is a dotted line, the floor a
    query-level router must beat; single models are labelled points as in :func:`plot_pareto`.

    Parameters
    ----------
    summary
        ``results/summary.csv`` as read by :func:`avengers_pro.outputs.read_summary`.
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
    score_label
        What the score is called (config ``plots.score_label``).
    """
    routers = summary[(summary["method"] == ROUTER_METHOD) & (summary["n_clusters"] == n_clusters)]
    if routers.empty:
        raise DataError(f"no {ROUTER_METHOD} rows with n_clusters {n_clusters} (config plots.main)", field="n_clusters")
    curves = {
        f"{variant} (k={n_clusters})": (routers[routers["variant"] == variant], style)
        for variant, style in variant_styles(routers["variant"]).items()
    }
    return _plot_frontiers(summary, curves, stem, log_cost=log_cost, colors=colors, dpi=dpi, score_label=score_label)


def plot_families(
    summary: pd.DataFrame,
    stem: PathLike,
    *,
    variant: str,
    n_clusters: int,
    log_cost: str | bool = "auto",
    colors: Mapping[str, str] | None = None,
    dpi: int = DPI,
    score_label: str = DEFAULT_SCORE_LABEL,
) -> Figure:
    """The Pareto frontier of every router family next to Avengers-Pro, the dataset router and the models.

    Parameters
    ----------
    summary
        ``results/summary.csv`` as read by :func:`avengers_pro.outputs.read_summary`; each router
        family's rows (:func:`avengers_pro.outputs.family_rows`) are its seed-averaged sweep.
    stem
        Output path without suffix.
    variant, n_clusters
        The Avengers-Pro sweep shown with them (config ``plots.main``).
    log_cost
        Config ``plots.log_cost``.
    colors
        Model → colour.
    dpi
        PNG resolution.
    score_label
        What the score is called (config ``plots.score_label``).
    """
    router = router_rows(summary, variant, n_clusters)
    families = dict(list(family_rows(summary).groupby("method", sort=True)))
    styles = variant_styles([f"0 {variant}", *(f"1 {name}" for name in families)])
    curves = {f"Avengers-Pro {variant} (k={n_clusters})": (router, styles[f"0 {variant}"])}
    for name, rows in families.items():
        curves[str(name)] = (rows, styles[f"1 {name}"])
    return _plot_frontiers(summary, curves, stem, log_cost=log_cost, colors=colors, dpi=dpi, score_label=score_label)


#: The reference markers' names in the figures.
REFERENCE_NAMES = {"random": "random", BEST_SCORE_ORACLE: "best-score oracle"}


def _oracle_curve(ax: Any, oracle: pd.DataFrame) -> tuple[Any, tuple[np.ndarray, np.ndarray]]:
    """The per-query oracle's curve (summary rows, one per alpha): a broad pale grey line behind the
    routers' lines, the ceiling at every cost. Drawn to its last point; :func:`_extend_line` carries it
    to the axis edge. Without oracle rows (a summary from before the curve) the line is empty and
    stays out of the legend.
    """
    front = frontier_points(oracle["cost"], 100 * oracle["accuracy"])
    label = "oracle (per query)" if len(oracle) else None
    (line,) = ax.plot(*front, color=REFERENCE_COLOR, alpha=0.45, lw=2.4, solid_capstyle="butt", zorder=1, label=label)
    return line, front


def _extend_line(ax: Any, line: Any, front: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Redraw a frontier line as a staircase to the axis edge; its samples, for the label placer."""
    if not len(front[0]):
        return np.empty((0, 2))
    xs, ys = _staircase(*front, ax.get_xlim()[1])
    line.set_data(xs, ys)
    return _line_samples(ax, xs, ys)


def _scatter_references(ax: Any, rows: pd.DataFrame, label: str | None = None) -> None:
    """Grey reference markers of summary rows: x for the random router, + for the best-score oracle point."""
    for row in rows.itertuples(index=False):
        ax.scatter(
            row.cost,
            100 * row.accuracy,
            s=22,
            marker="x" if row.method == "random" else "+",
            color=REFERENCE_COLOR,
            linewidths=0.9,
            zorder=4,
            label=label,
        )


def _plot_frontiers(
    summary: pd.DataFrame,
    curves: Mapping[str, tuple[pd.DataFrame, tuple[str, Any, str]]],
    stem: PathLike,
    *,
    log_cost: str | bool,
    colors: Mapping[str, str] | None,
    dpi: int,
    score_label: str = DEFAULT_SCORE_LABEL,
) -> Figure:
    """Sweep points and frontier of each curve (label -> (rows with ``cost`` and ``accuracy``, (colour,
    line style, marker))), the dataset router's frontier as the floor, the per-query oracle's curve as
    the ceiling (with its best-score point as a marker), and the labelled single models.
    """
    singles = single_models(summary)
    palette, markers = _model_styles(singles["method"], colors)
    names = plot_names(singles["method"])
    # The per-query oracle: the upper bound every router is measured against, at every cost.
    oracle = summary[summary["method"] == ORACLE]
    best_score = summary[summary["method"] == BEST_SCORE_ORACLE]
    points = pd.concat([rows[["cost", "accuracy"]] for rows, _style_of in curves.values()], ignore_index=True)
    all_costs = np.concatenate([singles["cost"], points["cost"], oracle["cost"], best_score["cost"]]).astype(float)

    with _style():
        fig = _new_figure(COLUMN_WIDTH_IN, 2.9)
        ax = fig.add_subplot()
        ax.set_xlabel("Total test cost (USD)")
        _set_cost_axis(ax, all_costs, use_log_cost(all_costs, log_cost))
        lines = {}
        fronts = {}
        for label, (rows, (color, linestyle, marker)) in curves.items():
            ax.scatter(
                rows["cost"],
                100 * rows["accuracy"],
                s=7,
                marker=marker,
                color=color,
                alpha=0.45,
                linewidths=0,
                zorder=2,
            )
            fronts[label] = frontier_points(rows["cost"], 100 * rows["accuracy"])
            (lines[label],) = ax.plot(*fronts[label], color=color, ls=linestyle, lw=1.0, zorder=3, label=label)
        # The floor a query-level router must beat: the same scoring with each dataset as one cluster.
        # Variants whose dataset-router frontiers coincide share one line.
        dataset_fronts: dict[tuple[tuple[float, ...], tuple[float, ...]], list[str]] = {}
        for variant, rows in summary[summary["method"] == DATASET_ROUTER].groupby("variant", sort=True):
            front = frontier_points(rows["cost"], 100 * rows["accuracy"])
            dataset_fronts.setdefault((tuple(front[0]), tuple(front[1])), []).append(str(variant))
        for (front_costs, front_accs), names_of_variants in dataset_fronts.items():
            key = "dataset router" if len(dataset_fronts) == 1 else f"dataset router ({', '.join(names_of_variants)})"
            fronts[key] = (np.asarray(front_costs), np.asarray(front_accs))
            style = ":" if len(lines) % 2 == 0 else (0, (3, 1, 1, 1))  # dotted, then dash-dot
            (lines[key],) = ax.plot(*fronts[key], color=REFERENCE_COLOR, ls=style, lw=1.2, zorder=3, label=key)
        lines["oracle (per query)"], fronts["oracle (per query)"] = _oracle_curve(ax, oracle)
        _scatter_models(ax, singles, palette, markers)
        _scatter_references(ax, best_score, label="best-score oracle point")
        ax.set_ylabel(f"{score_label} (%)")
        ax.margins(x=0.1, y=0.1)
        # Above the axes: the frontier entries inside would cover single models.
        legend = ax.legend(
            loc="lower left",
            bbox_to_anchor=(0.0, 1.01, 1.0, 0.1),
            mode="expand",
            ncol=2,
            borderaxespad=0.0,
            frameon=False,
        )
        _freeze_layout(fig)

        samples = [np.column_stack([points["cost"], 100 * points["accuracy"]])]
        for label, line in lines.items():
            samples.append(_extend_line(ax, line, fronts[label]))
        place_labels(
            ax,
            singles["cost"],
            100 * singles["accuracy"],
            [names[m] for m in singles["method"]],
            obstacles=np.vstack(samples),
            avoid=[legend.get_window_extent(renderer_of(fig))],
        )
        save_figure(fig, stem, dpi)
    return fig
