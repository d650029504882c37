"""Rule summary: sweeps, router families and baselines of every seed -> results/summary.csv (mean and sd over seeds)."""

from avengers_pro.evaluation.family_runs import hyperparameters_text, read_selection
from avengers_pro.evaluation.summary import summarize
from avengers_pro.io import seed_key, sweep_key
from avengers_pro.outputs import read_baselines, read_sweep, write_summary
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
inputs = snakemake.input
sweeps = [(*sweep_key(path), read_sweep(path)) for path in inputs.sweeps]
baselines = [(seed_key(path)[1], read_baselines(path)) for path in inputs.baselines]
# results/families/{family}/seed{seed}.parquet and .../selection.json
family_sweeps = [(path.split("/")[-2], seed_key(path)[1], read_sweep(path)) for path in inputs.family_sweeps]
hyperparameters = {family: hyperparameters_text(params) for family, params in map(read_selection, inputs.selections)}
summary = summarize(sweeps, baselines, family_sweeps, hyperparameters)
write_summary(summary, snakemake.output.summary)
log.info("summary: %d rows", len(summary))
