"""Compare every router family on the real RouterBench data, on the pipeline's splits (a script, not a test).

Data: the default config's six RouterBench CSVs (ARC-Challenge, MBPP, Winogrande; 11 models) read from
``--data`` through the package's ingest, embedded with the local all-MiniLM-L6-v2 (cached in
``bench/results/``, so only the first run embeds). Protocol: the pipeline's own code,
:func:`avengers_pro.evaluation.leaderboard.run_family` per family (hyperparameters chosen on the validation part of
each seed's train split, test routed once) and :func:`avengers_pro.evaluation.leaderboard.build_leaderboard`
(AIQ over ``[0, largest mean test cost of any single model or baseline]``, PerfGain and CostSave against
the best single model, paired bootstrap of the AIQ difference to the dataset router and to Avengers-Pro
official, official normalisation). Avengers-Pro's variants run here as the ``avengers-pro`` family (k chosen on
validation), each with a dot-distance twin where the config's variant is Euclidean. Reported with the
wall time of each family (selection + refit + test routing, all seeds).

Usage::

    OMP_NUM_THREADS=1 python bench/compare_routers.py [--data FOLDER_OF_THE_SIX_CSVS]
        [--output bench/results/compare_routers.json] [--resamples 1000] [--families knn,task,...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import DATA, REPO, RESULTS, write_json

from avengers_pro.config import alpha_grid, load_config
from avengers_pro.evaluation.baselines import run_baselines
from avengers_pro.evaluation.family_runs import aligned_embeddings, hyperparameters_text, run_family, split_flags
from avengers_pro.evaluation.leaderboard import Entry, baseline_entry, build_leaderboard, oracle_decisions
from avengers_pro.evaluation.leaderboard_markdown import leaderboard_markdown
from avengers_pro.evaluation.metrics_json import aiq_cost_range, best_single_model
from avengers_pro.evaluation.pipeline_rows import dataset_router_validation_sweeps, single_model_decisions
from avengers_pro.evaluation.split import split_queries
from avengers_pro.evaluation.summary import summarize
from avengers_pro.io import read_embeddings, record_matrix, write_embeddings
from avengers_pro.outputs import DATASET_ROUTER, ROUTER, json_ready
from avengers_pro.records import ingest
from avengers_pro.routing import DEFAULT_GRIDS
from avengers_pro.routing.scores import Variant

OFFICIAL = "avengers-pro official"


def families(config: dict[str, Any]) -> dict[str, tuple[str, dict[str, list[Any]]]]:
    """Row name -> (family, grid). Avengers-Pro's variants come from the config's avengers.variants."""
    rows: dict[str, tuple[str, dict[str, list[Any]]]] = {}
    variants = dict(config["avengers"]["variants"])
    for name, spec in config["avengers"]["variants"].items():
        if spec.get("distance", "dot") == "euclidean":  # its dot-distance twin shows what the distance does
            variants[f"{name}-dot"] = {**spec, "distance": "dot"}
    for name, spec in variants.items():
        grid = {
            "variant": [{"name": name, **spec}],
            **DEFAULT_GRIDS["avengers-pro"],
            "top_k": [config["avengers"]["top_k"]],
            "beta": [config["avengers"]["beta"]],
        }
        rows[f"avengers-pro {name}"] = ("avengers-pro", grid)
    for family in ("knn", "logistic", "task", "shrinkage"):
        rows[family] = (family, DEFAULT_GRIDS[family])
    return rows


def load_data(config: dict[str, Any], data_dir: Path, cache: Path) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Records and queries through the package's ingest, and the (cached) MiniLM embeddings."""
    sources = [
        {**{k: v for k, v in s.items() if k != "url"}, "path": str(data_dir / Path(s["path"]).name)}
        for s in config["sources"]
    ]
    records, queries, _ = ingest(
        sources,
        models=config["models"] or None,
        datasets=config["datasets"] or None,
        missing=config["missing"],
        prices=config["prices"],
    )
    if cache.exists():
        ids, vectors = read_embeddings(cache)
        if list(ids) == queries["query_id"].tolist():
            return records, queries, vectors
    from avengers_pro.embeddings import embed_texts

    start = time.perf_counter()
    vectors = embed_texts(queries["query"].tolist(), config["embedding"], cache_path=None, progress=False)
    print(f"embedded {len(vectors)} queries in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    write_embeddings(cache, queries["query_id"].to_numpy(), vectors)
    return records, queries, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "config.yaml"))
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--output", default=str(RESULTS / "compare_routers.json"))
    parser.add_argument("--embeddings", default=str(RESULTS / "routerbench_minilm.parquet"))
    parser.add_argument("--resamples", type=int, default=None)
    parser.add_argument("--families", default=None, help="comma-separated row names (default: all)")
    args = parser.parse_args()

    config = load_config(args.config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    alphas = alpha_grid(config["sweep"]["alphas"])
    seeds = config["split"]["seeds"]
    n_resamples = args.resamples if args.resamples is not None else config["evaluation"]["bootstrap_resamples"]
    rows = families(config)
    if args.families:
        rows = {name: rows[name] for name in args.families.split(",")}

    t0 = time.perf_counter()
    records, queries, vectors = load_data(config, Path(args.data), Path(args.embeddings))
    matrix = record_matrix(records, config["models"] or None)
    emb = aligned_embeddings(queries["query_id"].to_numpy(), vectors, matrix)
    splits = {
        int(seed): split_queries(
            queries,
            train_ratio=config["split"]["train_ratio"],
            seed=seed,
            ood_datasets=config["split"]["ood_datasets"],
            validation_ratio=config["split"]["validation_ratio"],
        )
        for seed in seeds
    }
    load_s = time.perf_counter() - t0

    entries, seconds = [], {}
    for name, (family, grid) in rows.items():
        start = time.perf_counter()
        runs = run_family(family, grid, emb, matrix, splits, alphas)
        seconds[name] = time.perf_counter() - start
        entries.append(
            Entry(
                name,
                ROUTER,
                family,
                {r.seed: r.decisions for r in runs},
                hyperparameters_text({r.seed: shown(r.params) for r in runs}),
                {r.seed: r.validation_sweep for r in runs},
            )
        )
    official = Variant.from_config("official", config["avengers"]["variants"]["official"])
    baselines, router_decisions = [], {}
    for seed, split in splits.items():
        frame, decisions = run_baselines(matrix, split, [official], alphas, seed=seed)
        baselines.append((seed, frame))
        router_decisions[seed] = decisions["official"]
    validation = dataset_router_validation_sweeps(
        matrix, splits, {"official": config["avengers"]["variants"]["official"]}, alphas
    )
    entries.append(baseline_entry(DATASET_ROUTER, router_decisions, {s: validation[("official", s)] for s in splits}))
    entries.append(
        baseline_entry(
            "oracle",
            {
                seed: oracle_decisions(matrix.subset(split_flags(split, matrix, seed)[0]), alphas)
                for seed, split in splits.items()
            },
        )
    )
    summary = summarize([], baselines)
    best = best_single_model(summary)
    cost_range = aiq_cost_range(summary)
    start = time.perf_counter()
    # With Avengers-Pro official among the rows, the same statistic against it (the same resamples).
    table = build_leaderboard(
        entries,
        DATASET_ROUTER,
        best,
        cost_range,
        n_resamples,
        config["evaluation"]["confidence"],
        avengers_pro=OFFICIAL if OFFICIAL in seconds else None,
        single=single_model_decisions(matrix, splits, best["model"]),
    )
    leaderboard_s = time.perf_counter() - start
    table["seconds"] = table["router"].map(seconds)

    results: dict[str, Any] = {
        "seeds": seeds,
        "n_alphas": len(alphas),
        "n_queries": len(matrix.query_ids),
        "models": matrix.models,
        "best_single": best,
        "aiq_cost_range": list(cost_range),
        "load_seconds": load_s,
        "leaderboard_seconds": leaderboard_s,
        "n_resamples": n_resamples,
        "leaderboard": json_ready(table.to_dict(orient="records")),
    }
    write_json(results, Path(args.output))
    print(
        leaderboard_markdown(
            table,
            cost_range,
            best,
            config["evaluation"]["confidence"],
            reference=DATASET_ROUTER,
            avengers_pro=OFFICIAL if OFFICIAL in seconds else None,
        )
    )
    print(
        "time (s): "
        + ", ".join(f"{name} {value:.1f}" for name, value in seconds.items())
        + f"; load {load_s:.1f}; leaderboard and bootstrap {leaderboard_s:.1f}"
    )


def shown(params: dict[str, Any]) -> dict[str, Any]:
    """The chosen hyperparameters without the settings every candidate shares (variant, top_k, beta)."""
    return {k: v for k, v in params.items() if k not in ("variant", "top_k", "beta")}


if __name__ == "__main__":
    main()
