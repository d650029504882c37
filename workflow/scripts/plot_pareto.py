"""Rule plot_pareto: figures/pareto.{png,pdf} (paper Fig. 1A)."""

from pathlib import Path

from avengers_pro import plots
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
summary = plots.load_summary(snakemake.input.summary)
colors = plots.model_colors(plots.single_models(summary)["method"])
stem = Path(snakemake.output.png).with_suffix("")
plots.plot_pareto(
    summary,
    stem,
    variant=snakemake.params.variant,
    n_clusters=int(snakemake.params.n_clusters),
    log_cost=snakemake.params.log_cost,
    colors=colors,
)
log.info("wrote %s.png and %s.pdf", stem, stem)
