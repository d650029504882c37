"""Rule plot_alpha_sweep: figures/alpha_sweep.{png,pdf} (paper Fig. 2)."""

from pathlib import Path

from avengers_pro import plots
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
summary = plots.load_summary(snakemake.input.summary)
colors = plots.model_colors(plots.single_models(summary)["method"])
metrics = plots.load_metrics(snakemake.input.metrics)
entry = plots.metrics_entry(metrics, snakemake.params.variant, int(snakemake.params.n_clusters), snakemake.input.metrics)
sweeps = [plots.load_sweep(path) for path in snakemake.input.sweeps]
stem = Path(snakemake.output.png).with_suffix("")
plots.plot_alpha_sweep(sweeps, plots.best_single_of(entry, snakemake.input.metrics), stem, colors=colors)
log.info("wrote %s.png and %s.pdf from %d seeds", stem, stem, len(sweeps))
