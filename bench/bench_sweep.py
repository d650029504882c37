"""Benchmark of the sweep stage on the default data shape (a script, not a test).

Times routing + evaluation (``sweep.run_sweep``) for 101 alphas x cluster counts x seeds x the two
default variants on the RouterBench data (``bench_pipeline.DATA``) with random unit
embeddings (dim 384); clustering is done beforehand and not timed. For comparison it also times the
per-alpha approach (one ``run_sweep`` call per alpha, on one configuration, extrapolated) and,
extrapolated from one alpha of one configuration, the plain per-query Python reference kept in
``avengers_pro.testing.reference_sweep``.

Usage::

    python bench/bench_sweep.py [--output bench/results/sweep.json] [--skip-plain]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import DATA, RESULTS, machine_info, write_json
from sklearn.cluster import KMeans

from avengers_pro.evaluation.sweep import run_sweep
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.scores import Variant
from avengers_pro.testing.reference_sweep import reference_sweep

# (n_clusters, seed, train rows, test rows, train labels, centroids)
Job = tuple[int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
VARIANTS = [Variant("paper", "paper", "paper"), Variant("official", "official", "official")]


def load_routerbench(directory: Path) -> RecordMatrix:
    """Scores and ``<model>|total_cost`` columns of every CSV; rows with any NaN dropped.

    ``sample_id`` is not unique across the files, so a query id is ``<file stem>:<row>``.
    """
    frames = []
    for csv in sorted(directory.glob("*.csv")):
        frame = pd.read_csv(csv)
        models = sorted(c for c in frame.columns if f"{c}|total_cost" in frame.columns)
        cost_columns = [f"{m}|total_cost" for m in models]
        frame = frame.dropna(subset=models + cost_columns)
        frames.append(
            pd.DataFrame(
                {
                    "query_id": [f"{csv.stem}:{i}" for i in frame.index],
                    "dataset": frame["eval_name"].to_numpy(dtype=object),
                    **{f"s|{m}": frame[m].to_numpy(dtype=float) for m in models},
                    **{f"c|{m}": frame[f"{m}|total_cost"].to_numpy(dtype=float) for m in models},
                }
            )
        )
    table = pd.concat(frames, ignore_index=True).sort_values("query_id", ignore_index=True)
    return RecordMatrix(
        query_ids=table["query_id"].to_numpy(dtype=object),
        datasets=table["dataset"].to_numpy(dtype=object),
        models=models,
        scores=table[[f"s|{m}" for m in models]].to_numpy(),
        costs=table[[f"c|{m}" for m in models]].to_numpy(),
    )


def split_rows(datasets: np.ndarray, seed: int, train_ratio: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Per-dataset seeded split: n_train = floor(train_ratio * n); returns (train rows, test rows)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for dataset in sorted(set(datasets)):
        rows = rng.permutation(np.flatnonzero(datasets == dataset))
        n_train = int(np.floor(train_ratio * len(rows)))
        train.append(rows[:n_train])
        test.append(rows[n_train:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(RESULTS / "sweep.json"))
    parser.add_argument("--cluster-counts", type=int, nargs="+", default=[8, 16, 25, 32, 64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n-alphas", type=int, default=101)
    parser.add_argument("--n-init", type=int, default=1, help="KMeans restarts (clustering is not timed)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the timed stage (best is reported)")
    parser.add_argument("--skip-plain", action="store_true", help="skip the plain per-query Python reference")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"data directory {DATA} not found", file=sys.stderr)
        return 1

    matrix = load_routerbench(DATA)
    n_queries, n_models = matrix.scores.shape
    alphas = np.linspace(0.0, 1.0, args.n_alphas)
    rng = np.random.default_rng(12345)
    embeddings = rng.normal(size=(n_queries, 384))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    embeddings = embeddings.astype(np.float32)  # as io.read_embeddings returns them
    print(
        f"{n_queries} queries x {n_models} models, {len(alphas)} alphas; clustering "
        f"{len(args.cluster_counts)} x {len(args.seeds)} (not timed) ...",
        flush=True,
    )

    jobs: list[Job] = []
    for seed in args.seeds:
        train_rows, test_rows = split_rows(matrix.datasets, seed)
        for k in args.cluster_counts:
            kmeans = KMeans(n_clusters=k, random_state=seed, n_init=args.n_init).fit(embeddings[train_rows])
            jobs.append(
                (
                    k,
                    seed,
                    train_rows,
                    test_rows,
                    kmeans.labels_.astype(np.int64),
                    kmeans.cluster_centers_.astype(np.float64),
                )
            )

    def sweep(job: Job, variant: Variant, grid: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        k, seed, train_rows, test_rows, labels, centroids = job
        return run_sweep(
            matrix,
            matrix.query_ids[train_rows],
            labels,
            centroids,
            matrix.query_ids[test_rows],
            embeddings[test_rows],
            variant,
            grid,
            top_k=3,
            beta=9.0,
        )

    # The whole vectorised stage, repeated: the best repeat is the least disturbed by other load.
    totals, per_sweep = [], np.full((args.repeats, len(jobs), len(VARIANTS)), np.nan)
    tables: dict[tuple[int, int, str], pd.DataFrame] = {}
    for repeat in range(args.repeats):
        stage_start = time.perf_counter()
        for j, job in enumerate(jobs):
            for v, variant in enumerate(VARIANTS):
                start = time.perf_counter()
                tables[(job[0], job[1], variant.name)], _ = sweep(job, variant, alphas)
                per_sweep[repeat, j, v] = time.perf_counter() - start
        totals.append(time.perf_counter() - stage_start)
    best_repeat = int(np.argmin(totals))

    records = []
    for j, job in enumerate(jobs):
        for v, variant in enumerate(VARIANTS):
            table = tables[(job[0], job[1], variant.name)]
            n_test = len(job[3])
            records.append(
                {
                    "variant": variant.name,
                    "n_clusters": job[0],
                    "seed": job[1],
                    "n_test": n_test,
                    "vectorised_s": float(per_sweep[best_repeat, j, v]),
                    "cells": n_test * n_models * len(alphas),
                    "accuracy_at_alpha_1": float(table[table["alpha"] == alphas[-1]]["accuracy"].mean()),
                }
            )
    runs = pd.DataFrame(records)

    # One run_sweep call per alpha, on one (k, seed) per variant, extrapolated to the whole stage.
    probe = next((job for job in jobs if job[0] == 25), jobs[0])
    per_alpha_s = 0.0
    for variant in VARIANTS:
        start = time.perf_counter()
        per_alpha = pd.concat(
            [sweep(probe, variant, alphas[i : i + 1])[0] for i in range(len(alphas))], ignore_index=True
        )
        per_alpha_s += time.perf_counter() - start
        # Sanity: both approaches give the same table.
        pd.testing.assert_frame_equal(tables[(probe[0], probe[1], variant.name)], per_alpha)
    per_alpha_total = per_alpha_s / len(VARIANTS) * len(runs)

    plain = None
    if not args.skip_plain:
        k, seed, train_rows, test_rows, labels, centroids = probe
        start = time.perf_counter()
        reference_sweep(
            matrix,
            train_rows,
            labels,
            centroids,
            test_rows,
            embeddings[test_rows].astype(np.float64),
            VARIANTS[1],
            alphas[-1:],
            3,
            9.0,
            1,
        )
        one = time.perf_counter() - start
        plain = {
            "n_clusters": k,
            "seed": seed,
            "one_alpha_s": one,
            "extrapolated_total_s": one * len(alphas) * len(runs),
        }

    table = (
        runs.groupby(["variant", "n_clusters"])
        .agg(
            seeds=("seed", "count"),
            vectorised_s=("vectorised_s", "sum"),
            accuracy_at_alpha_1=("accuracy_at_alpha_1", "mean"),
        )
        .reset_index()
    )
    total_vectorised = float(totals[best_repeat])
    cells_per_s = float(runs["cells"].sum()) / total_vectorised
    pd.set_option("display.width", 120)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(
        f"\nsweep stage, {len(runs)} (variant, k, seed) sweeps of {len(alphas)} alphas "
        f"(routing + evaluation; clustering excluded):"
    )
    print(
        f"  vectorised: {total_vectorised:.2f} s total, best of {args.repeats} "
        f"(all repeats: {', '.join(f'{t:.2f}' for t in totals)}); "
        f"{1000 * total_vectorised / len(runs):.1f} ms per sweep"
    )
    print(
        f"  one run_sweep call per alpha: {per_alpha_s:.2f} s for k={probe[0]}, seed {probe[1]}, both variants; "
        f"~{per_alpha_total:.0f} s extrapolated to the stage ({per_alpha_total / total_vectorised:.0f}x)"
    )
    if plain is not None:
        print(
            f"  plain per-query Python reference: {plain['one_alpha_s']:.2f} s for one alpha "
            f"(k={plain['n_clusters']}),"
            f" ~{plain['extrapolated_total_s']:.0f} s extrapolated to the stage"
        )
    print(f"  throughput: {cells_per_s:,.0f} queries x models x alphas per second")
    print("  (accuracy at alpha 1 uses random embeddings: a timing run, not a result)")

    write_json(
        {
            "machine": machine_info(),
            "shape": {
                "queries": n_queries,
                "models": n_models,
                "alphas": len(alphas),
                "embedding_dim": 384,
                "cluster_counts": args.cluster_counts,
                "seeds": args.seeds,
                "variants": [v.name for v in VARIANTS],
                "top_k": 3,
                "beta": 9.0,
            },
            "total_vectorised_s": total_vectorised,
            "vectorised_repeats_s": totals,
            "per_alpha_probe": {
                "n_clusters": probe[0],
                "seed": probe[1],
                "seconds_both_variants": per_alpha_s,
                "extrapolated_total_s": per_alpha_total,
            },
            "cells_per_second": cells_per_s,
            "plain_reference": plain,
            "runs": runs.to_dict(orient="records"),
        },
        args.output,
    )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
