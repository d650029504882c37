"""Rule metrics: PerfGain, CostSave, AIQ, Gap@O, the validation-chosen alpha and bootstrap intervals."""

import pandas as pd

from avengers_pro.io import seed_key, sweep_key, write_json
from avengers_pro.runlog import start_job
from avengers_pro.summary import compute_metrics, read_summary, single_model_outcomes

log = start_job(snakemake.log[0], snakemake.threads)
inputs = snakemake.input
settings = snakemake.params.evaluation


def by_sweep_key(paths):
    return {sweep_key(path): pd.read_parquet(path) for path in paths}


records = pd.read_parquet(inputs.records)
splits = {seed_key(path)[1]: pd.read_parquet(path) for path in inputs.splits}
metrics = compute_metrics(
    read_summary(inputs.summary),
    validation_sweeps=by_sweep_key(inputs.validation),
    test_sweeps=by_sweep_key(inputs.sweeps),
    decisions=by_sweep_key(inputs.decisions),
    router_decisions={seed_key(path): pd.read_parquet(path) for path in inputs.router_decisions},
    single_outcomes={seed: single_model_outcomes(records, split, "test") for seed, split in splits.items()},
    validation_singles={seed: single_model_outcomes(records, split, "validation") for seed, split in splits.items()},
    n_resamples=settings["bootstrap_resamples"],
    confidence=settings["confidence"],
)
write_json(metrics, snakemake.output.metrics)
log.info("metrics for %d entries", len(metrics))
