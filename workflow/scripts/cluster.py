"""Rule cluster: KMeans for one cluster count and every seed, on all train queries, on train minus
validation, and on train minus each cross-validation fold (shared by both variants' sweep jobs)."""

import numpy as np
import pandas as pd

from avengers_pro.console import Progress
from avengers_pro.evaluation.oof import fit_fold_clusterings, split_folds, write_fold_clusterings
from avengers_pro.io import read_embeddings, write_npy, write_parquet
from avengers_pro.outputs import read_split
from avengers_pro.routing.geometry import fit_clusters
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
k = int(snakemake.wildcards.k)
query_ids, vectors = read_embeddings(snakemake.input.embeddings)
row_of = pd.Series(np.arange(len(query_ids)), index=query_ids)
out = snakemake.output
seeds = snakemake.params.seeds
n_folds = int(snakemake.params.cv_folds)
with Progress(f"cluster k={k}", (2 + n_folds) * len(seeds), "KMeans fits") as progress:
    for i, seed in enumerate(seeds):
        split = read_split(snakemake.input.splits[i])
        train = split[split["split"] == "train"]
        fits = [
            ("all train", train, out.labels[i], out.centroids[i]),
            (
                "train minus validation",
                train[~train["validation"]],
                out.validation_labels[i],
                out.validation_centroids[i],
            ),
        ]
        for label, rows, labels_path, centroids_path in fits:
            clustering = fit_clusters(
                vectors[row_of[rows["query_id"]].to_numpy()],
                k,
                seed=seed,
                n_init=snakemake.params.n_init,
                minibatch_above=snakemake.params.minibatch_above,
            )
            write_parquet(
                pd.DataFrame({"query_id": rows["query_id"].to_numpy(), "cluster": clustering.labels}), labels_path
            )
            write_npy(clustering.centroids, centroids_path)
            log.info(
                "seed %d, %s: %d queries, cluster sizes %s",
                seed,
                label,
                len(rows),
                np.bincount(clustering.labels, minlength=k).tolist(),
            )
            progress.update()
        # The folds of the cross-validation over train (k by CV, alpha on out-of-fold routing).
        folds = split_folds(split, n_folds, seed)
        fold_fits = fit_fold_clusterings(
            vectors[row_of[folds.index].to_numpy()],
            folds.to_numpy(),
            k,
            seed=seed,
            n_init=snakemake.params.cv_n_init,
            minibatch_above=snakemake.params.minibatch_above,
        )
        write_fold_clusterings(folds.index.to_numpy(), folds.to_numpy(), fold_fits, out.folds[i])
        progress.update(n_folds)
