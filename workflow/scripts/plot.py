"""Rules plot_summary and plot_metrics: draw every figure (and Table 3) named in params.figures.

Each entry of params.figures holds that figure's settings; each figure writes the outputs named
``{figure}`` (PNG or Markdown) and ``{figure}_pdf`` / ``table_tex``.
"""

from functools import cache
from pathlib import Path

from avengers_pro import plots, tables
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
inputs, outputs = snakemake.input, snakemake.output
summary = plots.load_summary(inputs.summary)
# one colour per model, the same in every figure
colors = plots.model_colors(plots.single_models(summary)["method"])
main_sweeps = [plots.load_sweep(path) for path in inputs.main_sweeps]


def stem(figure):
    return Path(outputs[figure]).with_suffix("")


@cache
def main_entry(variant, n_clusters):
    """metrics.json's entry of the main variant and cluster count (read once for every figure)."""
    return plots.metrics_entry(plots.load_metrics(inputs.metrics), variant, int(n_clusters), inputs.metrics)


def best_single(settings):
    """The best single model as metrics.json reports it for the main variant and cluster count."""
    return plots.best_single_of(main_entry(settings["variant"], settings["n_clusters"]), inputs.metrics)


def pareto(settings):
    plots.plot_pareto(summary, stem("pareto"), variant=settings["variant"], n_clusters=int(settings["n_clusters"]),
                      log_cost=settings["log_cost"], colors=colors)


def variants(settings):
    plots.plot_variants(summary, stem("variants"), n_clusters=int(settings["n_clusters"]),
                        log_cost=settings["log_cost"], colors=colors)


def model_usage(settings):
    # routed models too: a model no single-model baseline names still gets a colour of its own
    models = set(plots.single_models(summary)["method"]).union(*(plots.routed_models(s) for s in main_sweeps))
    plots.plot_model_usage(main_sweeps, list(settings["alphas"]), stem("model_usage"),
                           colors=plots.model_colors(models))


def table(settings):
    tables.write_tables(summary, outputs.table, outputs.table_tex, variant=settings["variant"],
                        n_clusters=int(settings["n_clusters"]), alphas=list(settings["alphas"]))


def headline(settings):
    entry = main_entry(settings["variant"], settings["n_clusters"])
    plots.plot_headline(entry, stem("headline"), colors=colors, source=inputs.metrics)


def alpha_sweep(settings):
    plots.plot_alpha_sweep(main_sweeps, best_single(settings), stem("alpha_sweep"), colors=colors)


def cluster_ablation(settings):
    sweeps = {}
    for path in inputs.sweeps:
        variant, n_clusters, _seed = plots.parse_sweep_path(path)
        sweeps.setdefault((variant, n_clusters), []).append(plots.load_sweep(path))
    plots.plot_cluster_ablation(sweeps, best_single(settings), stem("cluster_ablation"), colors=colors)


DRAW = {function.__name__: function
        for function in (pareto, variants, model_usage, table, headline, alpha_sweep, cluster_ablation)}
for figure, settings in snakemake.params.figures.items():
    DRAW[figure](settings)
    log.info("wrote %s", ", ".join(str(Path(path)) for name, path in outputs.items() if name.startswith(figure)))
