"""Rule export_select: choose the family and hyperparameters of one `family:` export by K-fold CV over
all records -> results/export_fits/{name}.json."""

from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)

import pandas as pd

from avengers_pro.export import select_export
from avengers_pro.io import read_embeddings, write_json

records = pd.read_parquet(snakemake.input.records)
query_ids, vectors = read_embeddings(snakemake.input.embeddings)
selection = select_export(records, query_ids, vectors, snakemake.params.settings, snakemake.params.entry)
write_json(selection, snakemake.output.selection)
log.info(
    "export '%s' (%s): %s with %s; CV AIQ per family: %s",
    snakemake.wildcards.name,
    selection["requested"],
    selection["family"],
    selection["params"],
    ", ".join(f"{c['family']} {c['validation_aiq']:.4f}" for c in selection["candidates"]),
)
