"""Rule baselines: single models, random, oracles and the dataset router on every seed's test split."""

from avengers_pro.config import alpha_grid
from avengers_pro.evaluation.baselines import run_baselines
from avengers_pro.io import read_record_matrix, seed_key, write_parquet
from avengers_pro.outputs import read_split
from avengers_pro.routing.scores import Variant
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
settings = snakemake.params.sweep
variants = [Variant.from_config(name, spec) for name, spec in snakemake.params.variants.items()]
matrix = read_record_matrix(snakemake.input.records, snakemake.params.models or None)
alphas = alpha_grid(settings["alphas"])
decision_path = {seed_key(path): path for path in snakemake.output.decisions}  # (variant, seed) -> path
for seed, split_path, baselines_path in zip(snakemake.params.seeds, snakemake.input.splits, snakemake.output.baselines):
    baselines, decisions = run_baselines(
        matrix, read_split(split_path), variants, alphas, seed=int(seed), max_router=settings["max_router"]
    )
    write_parquet(baselines, baselines_path)
    for variant in variants:
        write_parquet(decisions[variant.name], decision_path[(variant.name, int(seed))])
    log.info(
        "seed %s baselines:\n%s",
        seed,
        baselines[baselines["alpha"].isna()]
        .groupby("method")[["accuracy", "cost"]]
        .agg({"accuracy": "mean", "cost": "sum"})
        .to_string(),
    )
