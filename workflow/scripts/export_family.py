"""Rule export_family: the router export_select chose, refitted on all records -> results/exports/{name}/."""

from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)

import json
from pathlib import Path

import pandas as pd

from avengers_pro.export import export_selected
from avengers_pro.io import read_embeddings

records = pd.read_parquet(snakemake.input.records)
query_ids, vectors = read_embeddings(snakemake.input.embeddings)
router = export_selected(
    records,
    query_ids,
    vectors,
    snakemake.params.settings,
    snakemake.params.entry,
    json.loads(Path(snakemake.input.selection).read_text()),
    Path(snakemake.output.manifest).parent,
)
log.info(
    "router '%s': %s, %d models, %d queries; alpha %.2f (%s)",
    snakemake.wildcards.name,
    router.get("family", "avengers-pro"),
    len(router["models"]),
    router["fitted_on"]["n_queries"],
    router["alpha"]["default"],
    router["alpha"]["chosen_by"],
)
