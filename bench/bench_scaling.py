"""Scaling of split, clustering and the alpha sweep with the number of queries (a script, not a test).

The records are SYNTHETIC (:mod:`avengers_pro.testing.synthetic`: latent topics, model skills and prices),
generated at each size (default 10k, 100k and 1M queries x 20 models). Each stage runs in a
subprocess of its own so that its peak memory is its own:

* ``generate``: the synthetic records and embeddings, written to Parquet / .npy (not a target);
* ``split``: ``split.split_queries`` (seed 0, the config's train and validation ratios);
* ``cluster``: ``cluster.fit_clusters`` on the train embeddings (k = 25, the config's ``n_init`` and
  ``minibatch_above``: ``MiniBatchKMeans`` above that many train queries);
* ``pivot``: ``io.read_record_matrix`` on records.parquet (what every sweep and baselines job does first);
* ``sweep``: ``evaluate.run_sweep`` on the test split for both default variants, 101 alphas;
* ``sweep_job`` (on request: ``--stages split cluster sweep_job``): two (k, seed) runs of a sweep job
  end to end in one process: pivot, test and validation sweeps of the official variant, Parquet written.

Reported per stage: wall seconds of the stage's call only (inputs are loaded before the clock
starts), the resident memory of the loaded inputs, and the peak resident memory of the process
during the stage (the kernel's peak counter is reset after loading) and over its whole life.
Native thread pools are capped at ``--threads`` (1, as the pipeline's rules declare).

Usage::

    python bench/bench_scaling.py [--sizes 10000 100000 1000000] [--models 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from _common import (
    REPO,
    RESULTS,
    lifetime_peak_mib,
    load_average,
    machine_info,
    peak_rss_mib,
    print_table,
    reset_peak,
    rss_mib,
    write_json,
)

STAGES = ["split", "cluster", "pivot", "sweep"]
GIB = 2**30


# --------------------------------------------------------------------------- settings


def pipeline_settings(config_path: Path) -> dict[str, Any]:
    """The config values the stages use (schema defaults where the file leaves a key out)."""
    config = yaml.safe_load(config_path.read_text()) or {}
    split = config.get("split", {})
    clustering = config.get("clustering", {})
    avengers, sweep = config.get("avengers", {}), config.get("sweep", {})
    return {
        "train_ratio": split.get("train_ratio", 0.7),
        "validation_ratio": split.get("validation_ratio", 0.2),
        "n_init": clustering.get("n_init", 10),
        "minibatch_above": clustering.get("minibatch_above", 200_000),
        "alphas": sweep.get("alphas", {"start": 0.0, "stop": 1.0, "num": 101}),
        "top_k": avengers.get("top_k", 3),
        "beta": avengers.get("beta", 9.0),
        "max_router": sweep.get("max_router", 1),
        "variants": avengers.get(
            "variants",
            {
                "paper": {"normalisation": "paper", "aggregation": "paper"},
                "official": {"normalisation": "official", "aggregation": "official"},
            },
        ),
    }


# --------------------------------------------------------------------------- the stages (in a child)


def stage_generate(data: Path, args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    from avengers_pro.testing.synthetic import synthetic_queries, synthetic_records

    start = time.perf_counter()
    synthetic = synthetic_records(args.size, args.models, n_topics=args.topics, seed=args.seed)
    seconds = time.perf_counter() - start
    data.mkdir(parents=True, exist_ok=True)
    synthetic.records.to_parquet(data / "records.parquet", index=False)
    synthetic_queries(synthetic.records).to_parquet(data / "queries.parquet", index=False)
    np.save(data / "embeddings.npy", synthetic.embeddings)
    return {"seconds": seconds, "rows": len(synthetic.records)}


def stage_split(data: Path, args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    from avengers_pro.evaluation.split import split_queries

    queries = pd.read_parquet(data / "queries.parquet")
    inputs = rss_mib()
    reset_peak()
    start = time.perf_counter()
    split = split_queries(
        queries, train_ratio=settings["train_ratio"], seed=args.seed, validation_ratio=settings["validation_ratio"]
    )
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    split.to_parquet(data / "split.parquet", index=False)
    return {
        "seconds": seconds,
        "inputs_rss_mib": inputs,
        "stage_peak_mib": peak,
        "n_train": int((split["split"] == "train").sum()),
        "n_test": int((split["split"] == "test").sum()),
    }


def stage_cluster(data: Path, args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    from avengers_pro.routing.geometry import fit_clusters

    split = pd.read_parquet(data / "split.parquet", columns=["split"])
    # Split rows follow query_id order, as the embeddings do (the generator sorts both).
    train_rows = np.flatnonzero(split["split"].to_numpy() == "train")
    train_embeddings = np.load(data / "embeddings.npy", mmap_mode="r")[train_rows]
    inputs = rss_mib()
    reset_peak()
    start = time.perf_counter()
    clustering = fit_clusters(
        train_embeddings, args.k, seed=args.seed, n_init=settings["n_init"], minibatch_above=settings["minibatch_above"]
    )
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    np.save(data / "labels.npy", clustering.labels)
    np.save(data / "centroids.npy", clustering.centroids)
    algorithm = "MiniBatchKMeans" if len(train_rows) > settings["minibatch_above"] else "KMeans"
    return {
        "seconds": seconds,
        "inputs_rss_mib": inputs,
        "stage_peak_mib": peak,
        "algorithm": algorithm,
        "n_train": len(train_rows),
    }


def stage_pivot(data: Path, args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    from avengers_pro.io import read_record_matrix

    inputs = rss_mib()
    reset_peak()
    start = time.perf_counter()
    # what the sweep and baselines scripts do: only the five columns the matrix needs
    matrix = read_record_matrix(data / "records.parquet")
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    np.savez(
        data / "matrix.npz",
        query_ids=matrix.query_ids.astype(str),
        datasets=matrix.datasets.astype(str),
        models=np.asarray(matrix.models, dtype=str),
        scores=matrix.scores,
        costs=matrix.costs,
    )
    return {"seconds": seconds, "inputs_rss_mib": inputs, "stage_peak_mib": peak}


def stage_sweep(data: Path, args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    from avengers_pro.config import alpha_grid
    from avengers_pro.evaluation.sweep import run_sweep
    from avengers_pro.io import RecordMatrix
    from avengers_pro.routing.scores import Variant

    saved = np.load(data / "matrix.npz")
    matrix = RecordMatrix(
        query_ids=saved["query_ids"].astype(object),
        datasets=saved["datasets"].astype(object),
        models=saved["models"].tolist(),
        scores=saved["scores"],
        costs=saved["costs"],
    )
    split = pd.read_parquet(data / "split.parquet", columns=["split"])["split"].to_numpy()
    train_rows, test_rows = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
    test_embeddings = np.load(data / "embeddings.npy", mmap_mode="r")[test_rows]
    labels, centroids = np.load(data / "labels.npy"), np.load(data / "centroids.npy")
    alphas = alpha_grid(settings["alphas"])
    variants = [Variant.from_config(name, spec) for name, spec in settings["variants"].items()]
    inputs = rss_mib()
    reset_peak()
    per_variant = {}
    rows = 0
    start = time.perf_counter()
    for variant in variants:
        variant_start = time.perf_counter()
        sweep, decisions = run_sweep(
            matrix,
            matrix.query_ids[train_rows],
            labels,
            centroids,
            matrix.query_ids[test_rows],
            test_embeddings,
            variant,
            alphas,
            top_k=settings["top_k"],
            beta=settings["beta"],
            max_router=settings["max_router"],
        )
        per_variant[variant.name] = time.perf_counter() - variant_start
        rows = len(decisions)
        del sweep, decisions
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    cells = len(test_rows) * len(matrix.models) * len(alphas)
    return {
        "seconds": seconds,
        "inputs_rss_mib": inputs,
        "stage_peak_mib": peak,
        "per_variant_s": per_variant,
        "n_test": len(test_rows),
        "alphas": len(alphas),
        "decision_rows": rows,
        "cells_per_s_per_variant": cells * len(variants) / seconds,
    }


def stage_sweep_job(data: Path, args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    """Two (k, seed) runs of a sweep job, end to end in one process, as ``workflow/scripts/sweep.py``
    does them, for the official variant: the pivot (``io.read_record_matrix``), the embeddings, then per
    run the test sweep with its per-query decisions, the validation sweep and the three Parquet files,
    each run's tables freed before the next. The peak covers the second run, so memory held over from
    one run to the next shows. (Both runs reuse the one KMeans of the data, fitted on all train
    queries, also for the validation sweep instead of a fit on train minus validation: the same sizes.)"""
    from avengers_pro.config import alpha_grid
    from avengers_pro.evaluation.sweep import run_sweep
    from avengers_pro.io import read_record_matrix, release_arrow_memory, write_parquet
    from avengers_pro.routing.scores import Variant

    inputs = rss_mib()
    reset_peak()
    start = time.perf_counter()
    matrix = read_record_matrix(data / "records.parquet")
    pivot_s = time.perf_counter() - start
    split = pd.read_parquet(data / "split.parquet", columns=["split", "validation"])
    is_train = split["split"].to_numpy() == "train"
    is_validation = split["validation"].to_numpy(dtype=bool)
    embeddings = np.load(data / "embeddings.npy")
    labels, centroids = np.load(data / "labels.npy"), np.load(data / "centroids.npy")
    variant = Variant.from_config("official", settings["variants"]["official"])
    alphas = alpha_grid(settings["alphas"])
    options = {"top_k": settings["top_k"], "beta": settings["beta"], "max_router": settings["max_router"]}
    train_rows, test_rows = np.flatnonzero(is_train), np.flatnonzero(~is_train)
    fit_rows, validation_rows = np.flatnonzero(is_train & ~is_validation), np.flatnonzero(is_validation)
    fit_labels = labels[np.isin(train_rows, fit_rows)]
    run_seconds = []
    for run in range(2):
        run_start = time.perf_counter()
        test_sweep, decisions = run_sweep(
            matrix,
            matrix.query_ids[train_rows],
            labels,
            centroids,
            matrix.query_ids[test_rows],
            embeddings[test_rows],
            variant,
            alphas,
            **options,
        )
        write_parquet(test_sweep, data / f"job_sweep{run}.parquet")
        write_parquet(decisions, data / f"job_decisions{run}.parquet")
        decision_rows = len(decisions)
        del decisions
        release_arrow_memory()
        validation_sweep, _ = run_sweep(
            matrix,
            matrix.query_ids[fit_rows],
            fit_labels,
            centroids,
            matrix.query_ids[validation_rows],
            embeddings[validation_rows],
            variant,
            alphas,
            **options,
            with_decisions=False,
        )
        write_parquet(validation_sweep, data / f"job_sweep_validation{run}.parquet")
        del test_sweep, validation_sweep
        run_seconds.append(time.perf_counter() - run_start)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "inputs_rss_mib": inputs,
        "stage_peak_mib": peak_rss_mib(),
        "pivot_s": pivot_s,
        "per_k_and_seed_s": run_seconds,
        "decision_rows": decision_rows,
        "n_test": len(test_rows),
        "n_validation": len(validation_rows),
    }


STAGE_FUNCTIONS = {
    "generate": stage_generate,
    "split": stage_split,
    "cluster": stage_cluster,
    "pivot": stage_pivot,
    "sweep": stage_sweep,
    "sweep_job": stage_sweep_job,
}


def run_child(args: argparse.Namespace) -> int:
    """Run one stage in this process and print its measurements as one JSON line."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=args.threads)
    settings = pipeline_settings(args.config)
    result = STAGE_FUNCTIONS[args.stage](args.data, args, settings)
    result["lifetime_peak_mib"] = lifetime_peak_mib()
    print("RESULT " + json.dumps(result))
    return 0


# --------------------------------------------------------------------------- the parent


def run_stage(stage: str, size: int, data: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--stage",
        stage,
        "--data",
        str(data),
        "--size",
        str(size),
        "--models",
        str(args.models),
        "--topics",
        str(args.topics),
        "--k",
        str(args.k),
        "--seed",
        str(args.seed),
        "--threads",
        str(args.threads),
        "--config",
        str(args.config),
    ]
    load = load_average()[0]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"stage {stage} at {size} queries failed:\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result.update({"stage": stage, "queries": size, "process_wall_s": wall, "load_before": load})
    return result


def growth_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per stage: seconds and peak at each size, and the time ratio between successive sizes."""
    rows = []
    for stage, group in results.groupby("stage", sort=False):
        group = group.sort_values("queries")
        previous = None
        for record in group.itertuples():
            ratio = None if previous is None else record.seconds / max(previous.seconds, 1e-9)
            size_ratio = None if previous is None else record.queries / previous.queries
            rows.append(
                {
                    "stage": stage,
                    "queries": record.queries,
                    "seconds": record.seconds,
                    "us_per_query": 1e6 * record.seconds / record.queries,
                    "time_x": ratio,
                    "size_x": size_ratio,
                    "stage_peak_gib": record.stage_peak_mib / 1024,
                    "lifetime_peak_gib": record.lifetime_peak_mib / 1024,
                }
            )
            previous = record
    return pd.DataFrame(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--topics", type=int, default=32, help="latent topics of the synthetic generator")
    parser.add_argument("--k", type=int, default=25, help="number of clusters")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="cap on BLAS/OpenMP threads (the rules declare 1)")
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml")
    parser.add_argument(
        "--stages",
        nargs="+",
        default=STAGES,
        choices=[*STAGES, "sweep_job"],
        help="sweep_job (not in the default): two (k, seed) runs of a whole sweep job; needs split and cluster first",
    )
    parser.add_argument("--workdir", type=Path, default=RESULTS / "scaling_data")
    parser.add_argument("--keep-data", action="store_true", help="keep the generated files")
    parser.add_argument("--output", type=Path, default=RESULTS / "scaling.json")
    # Internal: run one stage in this process (the parent calls the script again with these).
    parser.add_argument("--stage", choices=list(STAGE_FUNCTIONS), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        return run_child(args)

    machine = machine_info()
    print(f"machine: {machine}")
    print(f"settings: {pipeline_settings(args.config)}, k={args.k}, threads={args.threads}")
    results = []
    generated = []
    for size in args.sizes:
        data = args.workdir / f"n{size}"
        generated.append(run_stage("generate", size, data, args))
        print(f"{size:>9,} queries: generated in {generated[-1]['seconds']:.1f} s", flush=True)
        for stage in args.stages:
            result = run_stage(stage, size, data, args)
            results.append(result)
            print(
                f"{size:>9,} queries: {stage:<8} {result['seconds']:8.2f} s, stage peak "
                f"{result['stage_peak_mib'] / 1024:6.2f} GiB, lifetime peak {result['lifetime_peak_mib'] / 1024:6.2f} GiB "
                f"(load {result['load_before']:.2f})",
                flush=True,
            )
        if not args.keep_data:
            shutil.rmtree(data)

    frame = pd.DataFrame(results)
    growth = growth_table(frame)
    print_table(
        growth,
        f"scaling, synthetic records x {args.models} models (time_x: time ratio to the previous "
        f"size, size_x: size ratio; linear growth has time_x ~ size_x)",
    )
    sweeps = frame[frame["stage"] == "sweep"]
    for record in sweeps.itertuples():
        per_variant = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in record.per_variant_s.items())
        print(
            f"sweep at {record.queries:,} queries ({int(record.n_test):,} test x {args.models} models x "
            f"{int(record.alphas)} alphas): {record.seconds:.1f} s for both variants ({per_variant}), "
            f"stage peak {record.stage_peak_mib / 1024:.2f} GiB"
        )
    write_json(
        {
            "machine": machine,
            "load_average_after": load_average(),
            "models": args.models,
            "k": args.k,
            "threads": args.threads,
            "settings": pipeline_settings(args.config),
            "generate": generated,
            "stages": results,
            "growth": growth.to_dict(orient="records"),
        },
        args.output,
    )
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
