"""Rule family_select: one router family's hyperparameters per seed, chosen by K-fold
cross-validation over train only (one-standard-error rule)."""

from avengers_pro.evaluation.family_runs import aligned_embeddings, select_family, selection_json
from avengers_pro.io import read_embeddings, read_record_matrix, seed_key, write_json
from avengers_pro.outputs import json_ready, read_split
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
inputs = snakemake.input
family = snakemake.wildcards.family
matrix = read_record_matrix(inputs.records, snakemake.params.models or None)
query_ids, vectors = read_embeddings(inputs.embeddings)
embeddings = aligned_embeddings(query_ids, vectors, matrix, inputs.embeddings)
splits = {seed_key(path)[1]: read_split(path) for path in inputs.splits}
n_folds = snakemake.params.cv_folds
selected = select_family(family, snakemake.params.grid, embeddings, matrix, splits, n_folds)
for seed, selection in selected.items():
    log.info("%s seed %d: chose %s", family, seed, selection.params)
write_json(json_ready(selection_json(family, selected, n_folds)), snakemake.output.selection)
