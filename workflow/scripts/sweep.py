"""Rule sweep: one variant, every cluster count and seed, every alpha in one vectorised pass each.

Per (k, seed): statistics from the train clusters, routing of the test queries (sweep + per-query
decisions), the same with the router fitted on train minus validation, routed on validation, and
each cross-validation fold of train routed by the router fitted on the other folds (the pooled
out-of-fold sweep, and each fold's held-out AIQ).
"""

import numpy as np
import pandas as pd

from avengers_pro.config import alpha_grid
from avengers_pro.evaluation.oof import CV_AIQ_COLUMNS, out_of_fold_sweeps, read_fold_clusterings
from avengers_pro.evaluation.sweep import run_sweep
from avengers_pro.io import read_embeddings, read_record_matrix, release_arrow_memory, seed_key, write_parquet
from avengers_pro.outputs import read_centroids, read_clusters, read_split
from avengers_pro.routing.scores import Variant
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
inputs, outputs = snakemake.input, snakemake.output
settings, sweep_settings = snakemake.params.avengers, snakemake.params.sweep
alphas = alpha_grid(sweep_settings["alphas"])
variant = Variant.from_config(snakemake.wildcards.variant, snakemake.params.variant)
matrix = read_record_matrix(inputs.records, snakemake.params.models or None)
query_ids, vectors = read_embeddings(inputs.embeddings)
row_of = pd.Series(np.arange(len(query_ids)), index=query_ids)
splits = {seed_key(path)[1]: read_split(path) for path in inputs.splits}  # seed -> split


def sweep(labels_path, centroids_path, eval_ids, with_decisions=True):
    labels = read_clusters(labels_path)
    return run_sweep(
        matrix,
        train_ids=labels["query_id"].to_numpy(),
        train_labels=labels["cluster"].to_numpy(),
        centroids=read_centroids(centroids_path),
        eval_ids=eval_ids,
        eval_embeddings=vectors[row_of[eval_ids].to_numpy()],
        variant=variant,
        alphas=alphas,
        top_k=settings["top_k"],
        beta=settings["beta"],
        max_router=sweep_settings["max_router"],
        with_decisions=with_decisions,
    )


fold_aiqs = []
for i, (k, seed) in enumerate(snakemake.params.runs):
    split = splits[int(seed)]
    test_ids = split.loc[split["split"] == "test", "query_id"].to_numpy()
    validation_ids = split.loc[split["validation"], "query_id"].to_numpy()
    test_sweep, decisions = sweep(inputs.labels[i], inputs.centroids[i], test_ids)
    write_parquet(test_sweep, outputs.sweeps[i])
    write_parquet(decisions, outputs.decisions[i])
    # The decisions table is the largest object of the job (30M rows at 1M queries): freed, memory
    # included, before the validation sweep and the next (k, seed), so that it never adds to their peak.
    del decisions
    release_arrow_memory()
    # Only the sweep table of validation is kept: no per-query decisions are built for it.
    validation_sweep, _ = sweep(
        inputs.validation_labels[i], inputs.validation_centroids[i], validation_ids, with_decisions=False
    )
    write_parquet(validation_sweep, outputs.validation[i])
    at_one = test_sweep[test_sweep["alpha"] == alphas.max()]
    log.info(
        "k=%s seed %s: %d test, %d validation queries; alpha=%.2f mean accuracy %.4f, cost $%.4f",
        k,
        seed,
        len(test_ids),
        len(validation_ids),
        alphas.max(),
        at_one["accuracy"].mean(),
        at_one["cost"].sum(),
    )
    fold_ids, folds, fold_fits = read_fold_clusterings(inputs.folds[i])
    oof_sweep, aiqs = out_of_fold_sweeps(
        matrix,
        fold_ids,
        folds,
        fold_fits,
        vectors[row_of[fold_ids].to_numpy()],
        variant,
        alphas,
        top_k=settings["top_k"],
        beta=settings["beta"],
        max_router=sweep_settings["max_router"],
    )
    write_parquet(oof_sweep, outputs.oof[i])
    fold_aiqs += [(int(k), int(seed), fold, aiq) for fold, aiq in zip(sorted(fold_fits), aiqs, strict=True)]
    log.info("k=%s seed %s: held-out AIQ of the %d folds %s", k, seed, len(aiqs), [round(a, 4) for a in aiqs])
write_parquet(pd.DataFrame(fold_aiqs, columns=list(CV_AIQ_COLUMNS)), outputs.cv_aiq)
