"""Rule plot_model_usage: figures/model_usage.{png,pdf} (paper Fig. 3)."""

from pathlib import Path

from avengers_pro import plots
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
summary = plots.load_summary(snakemake.input.summary)
sweeps = [plots.load_sweep(path) for path in snakemake.input.sweeps]
# the colour map spans every model of the run, so a model keeps its colour in every figure
models = set(plots.single_models(summary)["method"]).union(*(plots.routed_models(s) for s in sweeps))
stem = Path(snakemake.output.png).with_suffix("")
plots.plot_model_usage(sweeps, list(snakemake.params.alphas), stem, colors=plots.model_colors(models))
log.info("wrote %s.png and %s.pdf from %d seeds", stem, stem, len(sweeps))
