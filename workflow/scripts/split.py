"""Rule split: one seeded per-dataset train/test split (validation flagged) -> results/splits/seed{seed}.parquet."""

import pandas as pd

from avengers_pro.evaluation.split import split_queries
from avengers_pro.io import write_parquet
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
settings = snakemake.params.split
split = split_queries(
    pd.read_parquet(snakemake.input.queries),
    train_ratio=settings["train_ratio"],
    seed=int(snakemake.wildcards.seed),
    ood_datasets=settings["ood_datasets"],
    validation_ratio=settings["validation_ratio"],
)
write_parquet(split, snakemake.output.split)
log.info("split sizes:\n%s", split.groupby(["dataset", "split", "validation"]).size().to_string())
