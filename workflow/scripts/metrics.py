"""Rule metrics: PerfGain, CostSave, AIQ, Gap@O, the validation-chosen alpha and bootstrap intervals."""

import pandas as pd

from avengers_pro.config import alpha_grid
from avengers_pro.evaluation.alpha_choice import single_model_outcomes
from avengers_pro.evaluation.metrics_json import compute_metrics
from avengers_pro.evaluation.pipeline_rows import dataset_router_validation_sweeps
from avengers_pro.io import read_record_matrix, seed_key, sweep_key, write_json
from avengers_pro.outputs import read_decisions, read_leaderboard, read_split, read_summary, read_sweep
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
inputs, params = snakemake.input, snakemake.params
settings = params.evaluation

records = pd.read_parquet(inputs.records)
splits = {seed_key(path)[1]: read_split(path) for path in inputs.splits}
metrics = compute_metrics(
    read_summary(inputs.summary),
    validation_sweeps={sweep_key(path): read_sweep(path) for path in inputs.validation},
    test_sweeps={sweep_key(path): read_sweep(path) for path in inputs.sweeps},
    decisions={sweep_key(path): read_decisions(path) for path in inputs.decisions},
    router_decisions={seed_key(path): read_decisions(path) for path in inputs.router_decisions},
    single_outcomes={seed: single_model_outcomes(records, split, "test") for seed, split in splits.items()},
    # alpha is chosen on every training query routed out of fold (results/sweep_oof/).
    choice_sweeps={sweep_key(path): read_sweep(path) for path in inputs.oof},
    choice_singles={seed: single_model_outcomes(records, split, "train") for seed, split in splits.items()},
    n_resamples=settings["bootstrap_resamples"],
    confidence=settings["confidence"],
    # The router families' intervals: their leaderboard rows (a list of one file, none without families).
    leaderboard=next((read_leaderboard(path) for path in inputs.leaderboard), None),
    main=params.main,
    # The dataset router's validation sweeps: the alphas of its validation-hull AIQ, as in the leaderboard.
    dataset_router_validation=dataset_router_validation_sweeps(
        read_record_matrix(inputs.records, params.models or None),
        splits,
        params.variants,
        alpha_grid(params.alphas),
    ),
)
write_json(metrics, snakemake.output.metrics)
log.info("metrics for %d entries", len(metrics))
