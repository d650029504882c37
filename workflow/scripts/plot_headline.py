"""Rule plot_headline: figures/headline.{png,pdf} (paper Fig. 1B)."""

from pathlib import Path

from avengers_pro import plots
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
summary = plots.load_summary(snakemake.input.summary)
colors = plots.model_colors(plots.single_models(summary)["method"])
metrics = plots.load_metrics(snakemake.input.metrics)
entry = plots.metrics_entry(metrics, snakemake.params.variant, int(snakemake.params.n_clusters), snakemake.input.metrics)
stem = Path(snakemake.output.png).with_suffix("")
plots.plot_headline(entry, stem, colors=colors, source=snakemake.input.metrics)
log.info("wrote %s.png and %s.pdf", stem, stem)
