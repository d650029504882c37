"""The headline figure (paper Fig. 1B): the best single model against Avengers-Pro."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from avengers_pro.evaluation.metrics_json import NO_COST_RANGE
from avengers_pro.io import PathLike
from avengers_pro.outputs import (
    DEFAULT_SCORE_LABEL,
    best_single_of,
    require,
    score_words,
)
from avengers_pro.plots.style import (
    COLUMN_WIDTH_IN,
    DPI,
    MODEL_PALETTE,
    REFERENCE_COLOR,
    ROUTER_COLOR,
    _new_figure,
    _signed_percent,
    _style,
    _usd,
    format_usd,
    label_fontsize,
    model_colors,
    plot_names,
    save_figure,
    wrap_label,
)

# --------------------------------------------------------------------------- 2. headline (Fig. 1B)


def plot_headline(
    entry: Mapping[str, Any],
    stem: PathLike,
    *,
    colors: Mapping[str, str] | None = None,
    source: PathLike = "metrics.json",
    dpi: int = DPI,
    score_label: str = DEFAULT_SCORE_LABEL,
) -> Figure:
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
    score_label
        What the score is called (config ``plots.score_label``).
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
        bars = ax_acc.bar(
            [0, 1], values, width=0.6, color=[single_color, ROUTER_COLOR], edgecolor="#333333", linewidth=0.4
        )
        ax_acc.set_xticks([0, 1], [single_label, f"Avengers-Pro\n(α = {best_alpha:.2f})"], fontsize=tick_size)
        ax_acc.set_ylabel(f"{score_label} (%)")
        ax_acc.set_title(f"Best {score_words(score_label)}")
        ax_acc.set_ylim(0, max(values) * 1.3)
        ax_acc.bar_label(
            bars, labels=[f"{values[0]:.1f}%", f"{values[1]:.1f}%\n({_signed_percent(gain)})"], padding=1.5, fontsize=6
        )

        ax_cost.set_title(f"Cost at parity {score_words(score_label)}")
        ax_cost.set_ylabel("Total test cost (USD)")
        ax_cost.yaxis.set_major_formatter(FuncFormatter(_usd))
        if cost_save is None:
            # Why there is no second bar: data without costs, or a curve that never gets there.
            no_costs = (entry.get("null_reasons") or {}).get("cost_save") == NO_COST_RANGE or not best["cost"] > 0
            top = best["cost"] * 1.3 if best["cost"] > 0 else 1.0
            bars = ax_cost.bar([0], [best["cost"]], width=0.6, color=single_color, edgecolor="#333333", linewidth=0.4)
            ax_cost.bar_label(bars, labels=[format_usd(best["cost"])], padding=1.5, fontsize=6)
            ax_cost.text(
                1,
                top * 0.4,
                "no costs\nrecorded" if no_costs else f"no α reaches\nits {score_words(score_label)}",
                ha="center",
                va="center",
                fontsize=6,
                style="italic",
                color=REFERENCE_COLOR,
            )
            ax_cost.set_xticks([0, 1], [single_label, "Avengers-Pro"], fontsize=tick_size)
            ax_cost.set_xlim(-0.4, 1.4)  # as wide as the bars of the other panel: the tick labels fit
            ax_cost.set_ylim(0, top)
            if no_costs:
                ax_cost.set_yticks([0.0])
        else:
            router_cost = best["cost"] * (1 - float(cost_save))
            costs = [best["cost"], router_cost]
            bars = ax_cost.bar(
                [0, 1], costs, width=0.6, color=[single_color, ROUTER_COLOR], edgecolor="#333333", linewidth=0.4
            )
            ax_cost.set_xticks(
                [0, 1], [single_label, f"Avengers-Pro\n(α = {float(cost_save_alpha or 0.0):.2f})"], fontsize=tick_size
            )
            ax_cost.bar_label(
                bars,
                labels=[format_usd(costs[0]), f"{format_usd(costs[1])}\n({_signed_percent(-float(cost_save))})"],
                padding=1.5,
                fontsize=6,
            )
            ax_cost.set_ylim(0, max(costs) * 1.3)
        save_figure(fig, stem, dpi)
    return fig
