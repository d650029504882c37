"""Rule router_family: one router family on every seed (hyperparameters chosen on validation only)."""

import pandas as pd

from avengers_pro.config import alpha_grid
from avengers_pro.io import read_embeddings, read_record_matrix, seed_key, write_json, write_parquet
from avengers_pro.leaderboard import aligned_embeddings, run_family, selection_record
from avengers_pro.outputs import json_ready
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
inputs, outputs = snakemake.input, snakemake.output
family = snakemake.wildcards.family
matrix = read_record_matrix(inputs.records, snakemake.params.models or None)
query_ids, vectors = read_embeddings(inputs.embeddings)
embeddings = aligned_embeddings(query_ids, vectors, matrix, inputs.embeddings)
splits = {seed_key(path)[1]: pd.read_parquet(path) for path in inputs.splits}
runs = run_family(
    family, snakemake.params.grid, embeddings, matrix, splits, alpha_grid({"router": snakemake.params.router})
)
sweep_of = {seed_key(path)[1]: path for path in outputs.sweeps}
decisions_of = {seed_key(path)[1]: path for path in outputs.decisions}
for run in runs:
    write_parquet(run.sweep, sweep_of[run.seed])
    write_parquet(run.decisions, decisions_of[run.seed])
    log.info("%s seed %d: chose %s", family, run.seed, run.params)
write_json(json_ready(selection_record(runs)), outputs.selection)
