"""Every figure of the pipeline, in one list: its name, what it is, which job draws it, its settings.

The workflow's rule outputs, the report's captions (``workflow/report/{name}.rst``), the CI output
check and the tests all derive the list of figures from :data:`FIGURES`. Adding a figure means:
write its plot function, add one :class:`FigureSpec` here (with a ``draw`` adapter), and write its
caption file.

This module imports no matplotlib at import time (the Snakefile reads :data:`FIGURES` on every
``snakemake`` call); the adapters import the plotting modules when they run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from avengers_pro.io import PathLike, sweep_key
from avengers_pro.outputs import (
    DEFAULT_SCORE_LABEL,
    metrics_entry,
    read_metrics,
    read_summary,
    read_sweep,
    routed_models,
    single_models,
)

#: ``summary``: drawn from summary.csv and the sweeps, beside the metrics job; ``metrics``: needs
#: metrics.json. Each plot job pays the matplotlib import once for all its figures.
Job = Literal["summary", "metrics"]


class PlotInputs:
    """The files a plot job reads, each read (and validated) once, when a figure first needs it.

    Parameters
    ----------
    summary
        ``results/summary.csv``.
    main_sweeps
        The test sweeps of ``plots.main`` (one per seed).
    metrics
        ``results/metrics.json`` (plot_metrics only).
    sweeps
        Every test sweep (the cluster ablation).
    """

    def __init__(
        self,
        summary: PathLike,
        main_sweeps: Sequence[PathLike],
        metrics: PathLike | None = None,
        sweeps: Sequence[PathLike] = (),
    ) -> None:
        self.summary_path = summary
        self.main_sweep_paths = list(main_sweeps)
        self.metrics_path = metrics
        self.sweep_paths = list(sweeps)

    @cached_property
    def summary(self) -> pd.DataFrame:
        """``summary.csv``, read and validated."""
        return read_summary(self.summary_path)

    @cached_property
    def colors(self) -> dict[str, str]:
        """One colour per single model, the same in every figure."""
        from avengers_pro.plots.style import model_colors

        return model_colors(single_models(self.summary)["method"])

    @cached_property
    def main_sweeps(self) -> list[pd.DataFrame]:
        """The test sweeps of ``plots.main``, one per seed."""
        return [read_sweep(path) for path in self.main_sweep_paths]

    @cached_property
    def sweeps(self) -> dict[tuple[str, int], list[pd.DataFrame]]:
        """(variant, n_clusters) -> the sweep of every seed."""
        out: dict[tuple[str, int], list[pd.DataFrame]] = {}
        for path in self.sweep_paths:
            variant, n_clusters, _seed = sweep_key(path)
            out.setdefault((variant, n_clusters), []).append(read_sweep(path))
        return out

    @cached_property
    def metrics(self) -> list[dict[str, Any]]:
        """``metrics.json``, read and validated."""
        if self.metrics_path is None:
            raise ValueError("this figure needs results/metrics.json, which its job was not given")
        return read_metrics(self.metrics_path)

    def entry(self, settings: Mapping[str, Any]) -> Mapping[str, Any]:
        """metrics.json's object of the main variant and cluster count."""
        return metrics_entry(self.metrics, settings["variant"], int(settings["n_clusters"]), self.metrics_path or "")


Draw = Callable[[PlotInputs, Mapping[str, Any], Path], None]


@dataclass(frozen=True)
class FigureSpec:
    """One figure: ``figures/{name}.png`` and ``.pdf``, captioned by ``workflow/report/{name}.rst``.

    Attributes
    ----------
    name
        File stem and key in the plot job's params.
    title
        Label in the Snakemake report.
    job
        Which plot job draws it (see :data:`Job`).
    settings
        The figure's settings from the config's ``plots:`` block (they are its job's params, so a
        changed setting reruns that job and nothing else); :meth:`settings_of` adds the score label
        every figure takes.
    draw
        ``draw(inputs, settings, stem)`` writes ``stem.png`` and ``stem.pdf``.
    """

    name: str
    title: str
    job: Job
    settings: Callable[[Mapping[str, Any]], dict[str, Any]]
    draw: Draw

    def settings_of(self, plots: Mapping[str, Any]) -> dict[str, Any]:
        """The figure's settings with ``score_label`` (config ``plots.score_label``; default "Accuracy")."""
        return {**self.settings(plots), "score_label": plots.get("score_label", DEFAULT_SCORE_LABEL)}


def _main(plots: Mapping[str, Any]) -> dict[str, Any]:
    return dict(plots["main"])


def _style_of(inputs: PlotInputs, settings: Mapping[str, Any]) -> dict[str, Any]:
    """What every figure shares: the models' colours and the score label."""
    return {"colors": inputs.colors, "score_label": settings["score_label"]}


def _draw_pareto(inputs: PlotInputs, settings: Mapping[str, Any], stem: Path) -> None:
    from avengers_pro.plots.frontier import plot_pareto

    plot_pareto(
        inputs.summary,
        stem,
        variant=settings["variant"],
        n_clusters=int(settings["n_clusters"]),
        log_cost=settings["log_cost"],
        **_style_of(inputs, settings),
    )


def _draw_variants(inputs: PlotInputs, settings: Mapping[str, Any], stem: Path) -> None:
    from avengers_pro.plots.frontier import plot_variants

    plot_variants(
        inputs.summary,
        stem,
        n_clusters=int(settings["n_clusters"]),
        log_cost=settings["log_cost"],
        **_style_of(inputs, settings),
    )


def _draw_families(inputs: PlotInputs, settings: Mapping[str, Any], stem: Path) -> None:
    from avengers_pro.plots.frontier import plot_families

    plot_families(
        inputs.summary,
        stem,
        variant=settings["variant"],
        n_clusters=int(settings["n_clusters"]),
        log_cost=settings["log_cost"],
        **_style_of(inputs, settings),
    )


def _draw_model_usage(inputs: PlotInputs, settings: Mapping[str, Any], stem: Path) -> None:
    from avengers_pro.plots.style import model_colors
    from avengers_pro.plots.sweeps import plot_model_usage

    # Routed models too: a model no single-model baseline names still gets a colour of its own.
    models = set(single_models(inputs.summary)["method"]).union(*(routed_models(s) for s in inputs.main_sweeps))
    plot_model_usage(inputs.main_sweeps, list(settings["alphas"]), stem, colors=model_colors(models))


def _draw_headline(inputs: PlotInputs, settings: Mapping[str, Any], stem: Path) -> None:
    from avengers_pro.plots.headline import plot_headline

    plot_headline(inputs.entry(settings), stem, source=inputs.metrics_path or "", **_style_of(inputs, settings))


def _best_single(inputs: PlotInputs, settings: Mapping[str, Any]) -> dict[str, Any]:
    from avengers_pro.outputs import best_single_of

    return best_single_of(inputs.entry(settings), inputs.metrics_path or "")


def _draw_alpha_sweep(inputs: PlotInputs, settings: Mapping[str, Any], stem: Path) -> None:
    from avengers_pro.plots.sweeps import plot_alpha_sweep

    plot_alpha_sweep(inputs.main_sweeps, _best_single(inputs, settings), stem, **_style_of(inputs, settings))


def _draw_cluster_ablation(inputs: PlotInputs, settings: Mapping[str, Any], stem: Path) -> None:
    from avengers_pro.plots.sweeps import plot_cluster_ablation

    plot_cluster_ablation(inputs.sweeps, _best_single(inputs, settings), stem, **_style_of(inputs, settings))


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "pareto",
        "1A Pareto: accuracy vs cost",
        "summary",
        lambda plots: {**_main(plots), "log_cost": plots["log_cost"]},
        _draw_pareto,
    ),
    FigureSpec("headline", "1B Headline: best single vs Avengers-Pro", "metrics", _main, _draw_headline),
    FigureSpec("alpha_sweep", "2 Accuracy and cost vs alpha", "metrics", _main, _draw_alpha_sweep),
    FigureSpec(
        "model_usage",
        "3 Model usage vs alpha",
        "summary",
        lambda plots: {"alphas": list(plots["usage_alphas"])},
        _draw_model_usage,
    ),
    FigureSpec("cluster_ablation", "Ablation: number of clusters", "metrics", _main, _draw_cluster_ablation),
    FigureSpec(
        "variants",
        "Variants: paper vs official",
        "summary",
        lambda plots: {"n_clusters": plots["main"]["n_clusters"], "log_cost": plots["log_cost"]},
        _draw_variants,
    ),
    FigureSpec(
        "families",
        "Router families vs the dataset router",
        "summary",
        lambda plots: {**_main(plots), "log_cost": plots["log_cost"]},
        _draw_families,
    ),
)
FIGURE_NAMES = tuple(figure.name for figure in FIGURES)
FIGURE_EXTENSIONS = ("png", "pdf")


def figures_of(job: Job) -> list[FigureSpec]:
    """The figures one plot job draws, in registry order."""
    return [figure for figure in FIGURES if figure.job == job]


def figure(name: str) -> FigureSpec:
    """The registry entry of one figure."""
    for spec in FIGURES:
        if spec.name == name:
            return spec
    raise KeyError(f"no figure {name!r}; the figures are {', '.join(FIGURE_NAMES)}")
