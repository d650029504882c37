"""Figures over the alpha grid and the cluster counts: accuracy and cost against alpha (paper Fig. 2),
the models each alpha routes to (Fig. 3), and the cluster-count ablation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from avengers_pro.errors import DataError
from avengers_pro.evaluation.metrics import cost_save as metrics_cost_save
from avengers_pro.evaluation.summary import seed_curve as summary_seed_curve
from avengers_pro.io import PathLike
from avengers_pro.outputs import (
    DEFAULT_SCORE_LABEL,
    routed_models,
    score_words,
)
from avengers_pro.plots.style import (
    COLUMN_WIDTH_IN,
    DPI,
    FULL_WIDTH_IN,
    MODEL_PALETTE,
    REFERENCE_COLOR,
    ROUTER_COLOR,
    _model_styles,
    _new_figure,
    _style,
    _usd,
    model_colors,
    plot_names,
    save_figure,
    variant_styles,
)

# --------------------------------------------------------------------------- 3. alpha sweep (Fig. 2)


def seed_curve(sweep: pd.DataFrame) -> pd.DataFrame:
    """One seed's sweep reduced to one row per alpha (via :func:`avengers_pro.evaluation.summary.seed_curve`).

    Accuracy is the unweighted mean over datasets, cost the total over datasets (as the paper).

    Returns
    -------
    pandas.DataFrame
        Columns ``alpha``, ``accuracy``, ``cost``, sorted by alpha.
    """
    return summary_seed_curve(sweep).rename_axis("alpha").reset_index()


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
    curves = [seed_curve(s).set_index("alpha") for s in sweeps]
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
    score_label: str = DEFAULT_SCORE_LABEL,
) -> Figure:
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
    score_label
        What the score is called (config ``plots.score_label``).
    """
    alphas, accuracy, cost = _stack_seeds(sweeps)
    n_seeds = accuracy.shape[1]
    model = str(best_single["model"])
    single_color = (colors or model_colors([model])).get(model, MODEL_PALETTE[0])
    single_name = plot_names([model])[model]

    with _style():
        fig = _new_figure(FULL_WIDTH_IN, 2.3)
        ax_acc, ax_cost = fig.subplots(1, 2)
        panels = (
            (ax_acc, 100 * accuracy, 100 * float(best_single["accuracy"]), f"{score_label} (%)", (0.0, 100.0)),
            (ax_cost, cost, float(best_single["cost"]), "Total test cost (USD)", (0.0, np.inf)),
        )
        for ax, values, reference, ylabel, (low, high) in panels:
            mean, half = mean_and_interval(values, confidence)
            ax.plot(
                alphas,
                mean,
                color=ROUTER_COLOR,
                lw=1.1,
                label=f"Avengers-Pro, mean over {n_seeds} seed{'s' * (n_seeds > 1)}",
            )
            if np.isfinite(half).any():
                # with few seeds the t band can leave the possible range (a negative cost); clip it there
                ax.fill_between(
                    alphas,
                    np.clip(mean - half, low, high),
                    np.clip(mean + half, low, high),
                    color=ROUTER_COLOR,
                    alpha=0.18,
                    linewidth=0,
                    label=f"{confidence:.0%} CI (t, over seeds)",
                )
            ax.axhline(reference, color=single_color, ls="--", lw=1.0, label=f"best single: {single_name}")
            ax.set_xlabel(f"α (weight on {score_words(score_label)})")
            ax.set_ylabel(ylabel)
            ax.set_xlim(float(alphas.min()), float(alphas.max()))
        ax_cost.yaxis.set_major_formatter(FuncFormatter(_usd))
        ax_acc.legend(loc="lower right")
        save_figure(fig, stem, dpi)
    return fig


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
    frame = pd.concat(list(sweeps), ignore_index=True)
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
) -> Figure:
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
            ax.barh(
                positions,
                100 * share,
                left=100 * left,
                height=0.7,
                color=palette[model],
                edgecolor="white",
                linewidth=0.4,
                label=names[model],
            )
            for pos, start, value in zip(positions, left, share):
                if value >= 0.08:
                    ax.text(
                        100 * (start + value / 2),
                        float(pos),
                        f"{value:.0%}",
                        ha="center",
                        va="center",
                        fontsize=5.5,
                        color=_text_color_on(palette[model]),
                    )
            left += share
        ax.set_yticks(positions, [f"α = {a:.2f}" for a in shares.index])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("Share of test queries (%)")
        fig.legend(loc="outside lower center", ncols=2, handlelength=1.0, handletextpad=0.4, columnspacing=1.0)
        save_figure(fig, stem, dpi)
    return fig


def _text_color_on(background: str) -> str:
    red, green, blue = matplotlib.colors.to_rgb(background)
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "#000000" if luminance > 0.45 else "#FFFFFF"


# --------------------------------------------------------------------------- 5. cluster ablation


def seed_cost_save(curve: pd.DataFrame, best_accuracy: float, best_cost: float) -> float:
    """CostSave of one seed's curve against the best single model (:func:`avengers_pro.evaluation.metrics.cost_save`,
    the same definition as ``metrics.json``); NaN when no alpha reaches its accuracy.
    """
    if best_cost <= 0:
        return float("nan")
    saved, _alpha = metrics_cost_save(
        curve["alpha"].to_numpy(float),
        curve["accuracy"].to_numpy(float),
        curve["cost"].to_numpy(float),
        best_accuracy,
        best_cost,
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
            curve = seed_curve(frame)
            rows.append(
                {
                    "variant": variant,
                    "n_clusters": int(k),
                    "seed": seed,
                    "accuracy_at_1": float(curve["accuracy"].iloc[-1]),
                    "cost_save": seed_cost_save(curve, float(best_single["accuracy"]), float(best_single["cost"])),
                }
            )
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
    score_label: str = DEFAULT_SCORE_LABEL,
) -> Figure:
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
    score_label
        What the score is called (config ``plots.score_label``).
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
            (ax_acc, "accuracy_at_1", 100, f"{score_label} at α = 1 (%)"),
            (ax_save, "cost_save", 100, "CostSave vs best single (%)"),
        ):
            for variant, (color, linestyle, marker) in styles.items():
                rows = table[table["variant"] == variant]
                shift = 2 ** offsets[variant]
                ax.scatter(
                    rows["n_clusters"] * shift,
                    scale * rows[column],
                    s=6,
                    color=color,
                    alpha=0.35,
                    linewidths=0,
                    zorder=2,
                )
                stats = rows.groupby("n_clusters")[column].agg(["mean", "std", "count"]).reindex(ks)
                stats["std"] = stats["std"].fillna(0.0)
                ax.errorbar(
                    ks * shift,
                    scale * stats["mean"],
                    yerr=scale * stats["std"],
                    color=color,
                    ls=linestyle,
                    marker=marker,
                    ms=4,
                    lw=1.0,
                    capsize=1.5,
                    elinewidth=0.6,
                    label=variant,
                    zorder=3,
                )
                n_seeds = rows.groupby("n_clusters")["seed"].count().reindex(ks)
                for k, count, total, mean in zip(ks, stats["count"], n_seeds, stats["mean"]):
                    if column == "cost_save" and 0 < count < total:
                        ax.annotate(
                            f"{int(count)}/{int(total)}",
                            (k * shift, scale * mean),
                            xytext=(3, 3),
                            textcoords="offset points",
                            fontsize=5,
                            color=color,
                        )
            never = [v for v in styles if not np.isfinite(table.loc[table["variant"] == v, column]).any()]
            if never:
                ax.text(
                    0.5,
                    0.5,
                    f"{', '.join(never)}: no α reaches the best\nsingle model's {score_words(score_label)} at any k",
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    fontsize=6,
                    style="italic",
                    color=REFERENCE_COLOR,
                )
            ax.set_xscale("log", base=2)
            # explicit limits: autoscaling a log axis fails when a panel has no finite point
            ax.set_xlim(ks.min() / 1.35, ks.max() * 1.35)
            ax.set_xticks(ks, [str(int(k)) for k in ks])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.tick_params(axis="x", which="minor", length=0)
            ax.set_xlabel("Number of clusters k")
            ax.set_ylabel(ylabel)
        ax_acc.axhline(
            100 * float(best_single["accuracy"]),
            color=single_color,
            ls="--",
            lw=0.9,
            label=f"best single: {plot_names([model])[model]}",
        )
        ax_save.axhline(0, color="#999999", lw=0.6)
        ax_acc.legend(loc="lower right")
        save_figure(fig, stem, dpi)
    return fig
