"""Rule summary: sweeps and baselines of every seed -> results/summary.csv (mean and sd over seeds)."""

from avengers_pro.io import seed_key, sweep_key
from avengers_pro.outputs import read_baselines, read_sweep, write_summary
from avengers_pro.runlog import start_job
from avengers_pro.summary import summarize

log = start_job(snakemake.log[0], snakemake.threads)
sweeps = [(*sweep_key(path), read_sweep(path)) for path in snakemake.input.sweeps]
baselines = [(seed_key(path)[1], read_baselines(path)) for path in snakemake.input.baselines]
summary = summarize(sweeps, baselines)
write_summary(summary, snakemake.output.summary)
log.info("summary: %d rows", len(summary))
