"""Rule export_clusters: the KMeans fits of one router of config `export` -> results/export_fits/{name}.npz."""

from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)

import pandas as pd

from avengers_pro.export import fit_export_clusterings, write_clusterings
from avengers_pro.io import read_embeddings

records = pd.read_parquet(snakemake.input.records)
query_ids, vectors = read_embeddings(snakemake.input.embeddings)
clusterings = fit_export_clusterings(records, query_ids, vectors, snakemake.params.settings, snakemake.params.entry)
write_clusterings(clusterings, snakemake.output.clusterings)
log.info(
    "router '%s': KMeans with %d clusters on %d queries%s",
    snakemake.wildcards.name,
    len(clusterings.full.centroids),
    len(clusterings.query_ids),
    "" if clusterings.folds is None else f", and on the queries outside each of {len(clusterings.folds)} folds",
)
