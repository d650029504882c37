"""Rule plot_cluster_ablation: figures/cluster_ablation.{png,pdf} (accuracy at alpha 1 and CostSave vs k)."""

from pathlib import Path

from avengers_pro import plots
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
summary = plots.load_summary(snakemake.input.summary)
colors = plots.model_colors(plots.single_models(summary)["method"])
metrics = plots.load_metrics(snakemake.input.metrics)
entry = plots.metrics_entry(metrics, snakemake.params.variant, int(snakemake.params.n_clusters), snakemake.input.metrics)
sweeps = {}
for path in snakemake.input.sweeps:
    variant, n_clusters, _seed = plots.parse_sweep_path(path)
    sweeps.setdefault((variant, n_clusters), []).append(plots.load_sweep(path))
stem = Path(snakemake.output.png).with_suffix("")
plots.plot_cluster_ablation(sweeps, plots.best_single_of(entry, snakemake.input.metrics), stem, colors=colors)
log.info("wrote %s.png and %s.pdf from %d sweeps", stem, stem, len(snakemake.input.sweeps))
