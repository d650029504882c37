"""Rule baselines: single models, random, oracles and the dataset router on one seed's test split."""

import pandas as pd

from avengers_pro.baselines import run_baselines
from avengers_pro.config import alpha_grid
from avengers_pro.io import read_record_matrix, write_parquet
from avengers_pro.router import Variant
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
settings = snakemake.params.router
variants = [Variant.from_config(name, spec) for name, spec in snakemake.params.variants.items()]
matrix = read_record_matrix(snakemake.input.records, snakemake.params.models or None)
baselines, decisions = run_baselines(
    matrix,
    pd.read_parquet(snakemake.input.split),
    variants,
    alpha_grid({"router": settings}),
    seed=int(snakemake.wildcards.seed),
    max_router=settings["max_router"],
)
write_parquet(baselines, snakemake.output.baselines)
for variant, path in zip(variants, snakemake.output.decisions):
    write_parquet(decisions[variant.name], path)
log.info("baselines:\n%s", baselines[baselines["alpha"].isna()].groupby("method")[["accuracy", "cost"]].agg({"accuracy": "mean", "cost": "sum"}).to_string())
