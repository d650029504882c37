"""Rule export_router: one router of config `export`, from its KMeans fits -> results/exports/{name}/."""

from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)

from pathlib import Path

import pandas as pd

from avengers_pro.export import export_router, read_clusterings
from avengers_pro.io import read_embeddings

records = pd.read_parquet(snakemake.input.records)
query_ids, vectors = read_embeddings(snakemake.input.embeddings)
router = export_router(
    records,
    query_ids,
    vectors,
    snakemake.params.settings,
    snakemake.params.entry,
    Path(snakemake.output.manifest).parent,
    clusterings=read_clusterings(snakemake.input.clusterings),
)
alpha = router["alpha"]
log.info(
    "router '%s': %s, %d clusters, %d models, %d queries; alpha %.2f (%s)",
    snakemake.wildcards.name,
    router["variant"]["name"],
    router["n_clusters"],
    len(router["models"]),
    router["fitted_on"]["n_queries"],
    alpha["default"],
    alpha["chosen_by"],
)
