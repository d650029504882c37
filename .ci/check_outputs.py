"""CI: check the outputs of the default pipeline on the real RouterBench files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from avengers_pro.config import validate_config
from avengers_pro.outputs import (
    BEST_SCORE_ORACLE,
    ORACLE,
    family_rows,
    fixed_k_row,
    read_leaderboard,
    read_metrics,
    read_summary,
    single_models,
)
from avengers_pro.plots.registry import FIGURE_EXTENSIONS, FIGURE_NAMES

config = validate_config(yaml.safe_load(Path("config.yaml").read_text()), "workflow/schemas/config.schema.yaml")
problems: list[str] = []


def check(condition: bool, message: str) -> None:
    if not condition:
        problems.append(message)


records = pd.read_parquet("results/records.parquet")
queries = pd.read_parquet("results/queries.parquet")
report = json.loads(Path("results/ingest_report.json").read_text())
check(records["dataset"].nunique() == 3, "expected 3 datasets")
check(records["model"].nunique() == 11, "expected 11 models")
check(3100 <= len(queries) <= 3164, f"unexpected query count {len(queries)}")
check(len(records) == 11 * len(queries), "every query should have all 11 models under missing: drop-query")
check(not records[["score", "cost"]].isna().any().any(), "NaN in records")
check(report["queries"] == len(queries), "ingest report disagrees with queries.parquet")

seeds, ks, variants = config["split"]["seeds"], config["clustering"]["n_clusters"], config["avengers"]["variants"]
for seed in seeds:
    split = pd.read_parquet(f"results/splits/seed{seed}.parquet")
    check(len(split) == len(queries), f"split seed {seed} does not cover every query")
    for k in ks:
        check(Path(f"results/clusters/k{k}_seed{seed}_centroids.npy").exists(), f"centroids k={k} seed={seed}")
        for variant in variants:
            sweep = pd.read_parquet(f"results/sweep/{variant}/k{k}_seed{seed}.parquet")
            check(sweep["alpha"].nunique() == config["sweep"]["alphas"]["num"], f"sweep {variant} k={k} seed={seed}")

summary = read_summary("results/summary.csv")
best = single_models(summary).sort_values("accuracy").iloc[-1]
check(best["method"] == "gpt-4-1106-preview", f"best single model is {best['method']}")
metrics = read_metrics("results/metrics.json")
main = next(
    m
    for m in metrics
    if m["variant"] == config["plots"]["main"]["variant"]
    and m["n_clusters"] == config["plots"]["main"]["n_clusters"]
    and m["method"] == "avengers-pro"
)
# The reference: the official variant lands near 0.83 at alpha = 1 on this data.
check(0.80 <= main["accuracy_at_alpha1"] <= 0.86, f"main variant accuracy at alpha=1 is {main['accuracy_at_alpha1']}")
# The router families: rows of summary.csv, of the leaderboard and entries of metrics.json, one AIQ.
families = sorted(config["families"])
check(sorted(set(family_rows(summary)["method"])) == families, "summary.csv lacks a router family's rows")
if families:
    leaderboard = read_leaderboard("results/leaderboard.csv").set_index("router")
    check(set(families) <= set(leaderboard.index), "the leaderboard lacks a router family")
    reference = fixed_k_row(config["plots"]["main"])
    check(leaderboard.loc[reference, "aiq_delta_vs_avengers_pro"] == 0, f"the leaderboard lacks {reference}")
    entries = {m["method"]: m for m in metrics if m["method"] in families}
    check(sorted(entries) == families, "metrics.json lacks a router family")
    # metrics.json's aiq is RouterBench's test-hull AIQ (the leaderboard's aiq_test_hull); its
    # aiq_validation_hull is the leaderboard's ranking aiq.
    for family, entry in entries.items():
        check(
            abs(entry["aiq"] - leaderboard.loc[family, "aiq_test_hull"]) < 1e-9
            and abs(entry["aiq_validation_hull"] - leaderboard.loc[family, "aiq"]) < 1e-9,
            f"{family}: metrics.json and leaderboard AIQs differ",
        )
# The per-query oracle: a curve over the alpha grid (summary.csv, metrics.json, the leaderboard), the
# ceiling of every AIQ, and its best-score point.
oracle_rows = summary[summary["method"] == ORACLE]
check(len(oracle_rows) == config["sweep"]["alphas"]["num"], f"summary.csv has {len(oracle_rows)} oracle rows")
check((summary["method"] == BEST_SCORE_ORACLE).sum() == 1, "summary.csv lacks the best-score oracle point")
oracle_entries = [m for m in metrics if m["method"] == ORACLE]
check(len(oracle_entries) == 1, "metrics.json lacks the oracle's entry")
if oracle_entries:
    ceiling = oracle_entries[0]["aiq"]
    check(all(m["aiq"] <= ceiling for m in metrics), "an AIQ of metrics.json exceeds the oracle's")
    if families:
        check(
            abs(ceiling - leaderboard.loc[ORACLE, "aiq_test_hull"]) < 1e-9,
            "oracle: metrics.json and leaderboard AIQs differ",
        )
        check(leaderboard["aiq"].idxmax() == ORACLE, "the oracle is not first on the leaderboard")
        check(leaderboard["aiq"].max() == leaderboard.loc[ORACLE, "aiq"], "the oracle is not first in the leaderboard")
for figure in FIGURE_NAMES:
    for ext in FIGURE_EXTENSIONS:
        check(Path(f"figures/{figure}.{ext}").stat().st_size > 5000, f"figures/{figure}.{ext} missing or empty")
for table in ("results/table.md", "results/table.tex"):
    check("gpt-4-1106-preview" in Path(table).read_text(), f"{table} lacks the single models")
for entry in config["export"]:
    check(Path(f"results/exports/{entry['name']}/manifest.json").exists(), f"exported router {entry['name']} missing")

if problems:
    print("CI output check FAILED:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(
    f"CI output check passed: {len(queries)} queries, {len(summary)} summary rows, {len(metrics)} metric entries, "
    f"{len(families)} router families; "
    f"main variant accuracy at alpha=1 {main['accuracy_at_alpha1']:.4f}, best single {best['method']} {best['accuracy']:.4f}"
)
