"""Rule family_route: one router family's test sweep on every seed, with the hyperparameters chosen
on validation (results/families/{family}/selection.json)."""

from avengers_pro.config import alpha_grid
from avengers_pro.evaluation.family_runs import aligned_embeddings, read_selection, route_family
from avengers_pro.io import read_embeddings, read_record_matrix, seed_key, write_parquet
from avengers_pro.outputs import read_split
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
inputs, outputs = snakemake.input, snakemake.output
family = snakemake.wildcards.family
matrix = read_record_matrix(inputs.records, snakemake.params.models or None)
query_ids, vectors = read_embeddings(inputs.embeddings)
embeddings = aligned_embeddings(query_ids, vectors, matrix, inputs.embeddings)
splits = {seed_key(path)[1]: read_split(path) for path in inputs.splits}
_, chosen = read_selection(inputs.selection)
runs = route_family(family, chosen, embeddings, matrix, splits, alpha_grid(snakemake.params.alphas))
sweep_of = {seed_key(path)[1]: path for path in outputs.sweeps}
decisions_of = {seed_key(path)[1]: path for path in outputs.decisions}
validation_of = {seed_key(path)[1]: path for path in outputs.validation}
for run in runs:
    write_parquet(run.sweep, sweep_of[run.seed])
    write_parquet(run.decisions, decisions_of[run.seed])
    write_parquet(run.validation_sweep, validation_of[run.seed])
    log.info("%s seed %d: routed %d test queries with %s", family, run.seed, len(run.decisions), run.params)
