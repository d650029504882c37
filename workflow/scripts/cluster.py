"""Rule cluster: KMeans on the train embeddings of one seed (all train, and train minus validation)."""

import numpy as np
import pandas as pd

from avengers_pro.cluster import fit_clusters
from avengers_pro.io import read_embeddings, write_npy, write_parquet
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
query_ids, vectors = read_embeddings(snakemake.input.embeddings)
split = pd.read_parquet(snakemake.input.split)
row_of = pd.Series(np.arange(len(query_ids)), index=query_ids)
train = split[split["split"] == "train"]
outputs = {
    "": (train, snakemake.output.labels, snakemake.output.centroids),
    "validation ": (train[~train["validation"]], snakemake.output.validation_labels, snakemake.output.validation_centroids),
}
for label, (rows, labels_path, centroids_path) in outputs.items():
    clustering = fit_clusters(
        vectors[row_of[rows["query_id"]].to_numpy()],
        int(snakemake.wildcards.k),
        seed=int(snakemake.wildcards.seed),
        n_init=snakemake.params.n_init,
        minibatch_above=snakemake.params.minibatch_above,
    )
    write_parquet(pd.DataFrame({"query_id": rows["query_id"].to_numpy(), "cluster": clustering.labels}), labels_path)
    write_npy(clustering.centroids, centroids_path)
    log.info("%sclustering: %d train queries, cluster sizes %s", label, len(rows), np.bincount(clustering.labels).tolist())
