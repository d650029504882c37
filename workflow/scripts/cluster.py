"""Rule cluster: KMeans for one cluster count and every seed, on all train queries and on train minus validation."""

import numpy as np
import pandas as pd

from avengers_pro.console import Progress
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
with Progress(f"cluster k={k}", 2 * len(seeds), "KMeans fits") as progress:
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
