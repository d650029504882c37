"""Rule leaderboard: every router ranked by test AIQ, with its validation-chosen hyperparameters."""

import json
from pathlib import Path

import pandas as pd

from avengers_pro.io import read_record_matrix, seed_key, sweep_key, write_text
from avengers_pro.leaderboard import build_leaderboard, chosen_params, leaderboard_markdown, pipeline_entries
from avengers_pro.outputs import best_single_of, read_decisions, read_metrics, read_sweep, require
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
inputs, params = snakemake.input, snakemake.params
matrix = read_record_matrix(inputs.records, params.models or None)
splits = {seed_key(path)[1]: pd.read_parquet(path) for path in inputs.splits}
# results/routers/{family}/decisions_seed{seed}.parquet and .../selection.json
family_decisions = {(path.split("/")[-2], seed_key(path)[1]): read_decisions(path) for path in inputs.family_decisions}
family_params = {}
for path in inputs.selections:
    record = json.loads(Path(path).read_text())
    family_params[record["family"]] = chosen_params(record)
entries, reference = pipeline_entries(
    matrix,
    splits,
    family_decisions,
    family_params,
    router_decisions={sweep_key(path): read_decisions(path) for path in inputs.decisions},
    router_validation={sweep_key(path): read_sweep(path) for path in inputs.validation},
    dataset_router_decisions={seed_key(path): read_decisions(path) for path in inputs.router_decisions},
    main=params.main,
)
# One AIQ cost range and one best single model for every row: metrics.json's.
first = read_metrics(inputs.metrics)[0]
cost_range = tuple(require(first, "aiq_cost_range", inputs.metrics))
best_single = best_single_of(first, inputs.metrics)
settings = params.evaluation
table = build_leaderboard(
    entries, reference, best_single, cost_range, settings["bootstrap_resamples"], settings["confidence"]
)
write_text(table.to_csv(index=False), snakemake.output.csv)
write_text(leaderboard_markdown(table, cost_range, best_single, settings["confidence"]), snakemake.output.md)
log.info("leaderboard:\n%s", table[["rank", "router", "aiq", "aiq_delta_vs_dataset_router"]].to_string(index=False))
