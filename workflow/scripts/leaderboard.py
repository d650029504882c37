"""Rule leaderboard: every router ranked by its validation-hull AIQ on test, with its validation-chosen
hyperparameters and the intervals of one paired bootstrap."""

import pandas as pd

from avengers_pro.config import alpha_grid
from avengers_pro.evaluation.family_runs import read_selection
from avengers_pro.evaluation.leaderboard import build_leaderboard
from avengers_pro.evaluation.leaderboard_markdown import leaderboard_markdown
from avengers_pro.evaluation.metrics_json import aiq_cost_range, best_single_model
from avengers_pro.evaluation.pipeline_rows import (
    dataset_router_validation_sweeps,
    pipeline_entries,
    single_model_decisions,
)
from avengers_pro.io import read_record_matrix, seed_key, sweep_key, write_text
from avengers_pro.outputs import read_decisions, read_split, read_summary, read_sweep
from avengers_pro.runlog import start_job

log = start_job(snakemake.log[0], snakemake.threads)
inputs, params = snakemake.input, snakemake.params
matrix = read_record_matrix(inputs.records, params.models or None)
splits = {seed_key(path)[1]: read_split(path) for path in inputs.splits}
# results/families/{family}/decisions_seed{seed}.parquet and .../selection.json
family_decisions = {(path.split("/")[-2], seed_key(path)[1]): read_decisions(path) for path in inputs.family_decisions}
family_validation = {(path.split("/")[-2], seed_key(path)[1]): read_sweep(path) for path in inputs.family_validation}
family_params = dict(map(read_selection, inputs.selections))

entries, reference, avengers_pro = pipeline_entries(
    matrix,
    splits,
    family_decisions,
    family_params,
    router_decisions={sweep_key(path): read_decisions(path) for path in inputs.decisions},
    router_validation={sweep_key(path): read_sweep(path) for path in inputs.validation},
    dataset_router_decisions={seed_key(path): read_decisions(path) for path in inputs.router_decisions},
    main=params.main,
    router_cv={path.split("/")[-2]: pd.read_parquet(path) for path in inputs.router_cv},
    family_validation=family_validation,
    dataset_router_validation=dataset_router_validation_sweeps(
        matrix, splits, params.variants, alpha_grid(params.alphas)
    ),
)
# One AIQ cost range and one best single model for every row: summary.csv's, as in metrics.json.
summary = read_summary(inputs.summary)
cost_range, best_single = aiq_cost_range(summary), best_single_model(summary)
settings = params.evaluation
table = build_leaderboard(
    entries,
    reference,
    best_single,
    cost_range,
    settings["bootstrap_resamples"],
    settings["confidence"],
    avengers_pro=avengers_pro,
    single=single_model_decisions(matrix, splits, best_single["model"]),
)
write_text(table.to_csv(index=False), snakemake.output.csv)
markdown = leaderboard_markdown(
    table,
    cost_range,
    best_single,
    settings["confidence"],
    reference=reference,
    avengers_pro=avengers_pro,
    score_label=params.score_label,
)
write_text(markdown, snakemake.output.md)
columns = ["rank", "router", "aiq", "aiq_test_hull", "aiq_delta_vs_dataset_router", "aiq_delta_vs_avengers_pro"]
log.info("leaderboard:\n%s", table[columns].to_string(index=False))
