"""Benchmark of kNN routing at 100k training queries on precomputed embeddings (a script, not a test).

Training set: 100,000 unit vectors of dimension 384 and 11 models with random 0/1 scores and costs.
By default the vectors are resampled from the real RouterBench MiniLM embeddings that
``bench/compare_routers.py`` caches (each a real embedding plus Gaussian noise, renormalised), so the
inverted file meets the structure of real query embeddings; without that file, clustered synthetic
vectors are used. Queries are drawn the same way.

Measured: the fit (index build) time; routing throughput of ``KNNRouter.choose`` at one alpha
(search + similarity-weighted means + selection; best of ``--repeats``) for the inverted file and,
on a subset, for exact search; the recall of the inverted file's neighbours against exact search;
the index's memory (its arrays), tracemalloc's peak of what routing allocates on top of it, and the
process's peak RSS after routing (data generation and the fit's copies included). Run with
``OMP_NUM_THREADS=1`` (the search threads itself with ``--jobs``).

Usage::

    OMP_NUM_THREADS=1 python bench/bench_knn.py [--train 100000] [--queries 50000] [--lists 512]
        [--probe 3] [--neighbors 20] [--jobs 2] [--output bench/results/knn.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, TracedPeak, machine_info, peak_rss_mib, write_json

from avengers_pro.io import RecordMatrix, read_embeddings
from avengers_pro.routing import KNNRouter

DIM, N_MODELS = 384, 11


def vectors(n: int, rng: np.random.Generator, base: np.ndarray | None) -> np.ndarray:
    """n unit vectors: perturbed resamples of ``base`` rows, or clustered synthetic ones."""
    if base is not None:
        out = base[rng.integers(0, len(base), n)] + rng.normal(scale=0.025, size=(n, base.shape[1])).astype(np.float32)
    else:
        centres = np.random.default_rng(0).normal(size=(500, DIM)).astype(np.float32)
        out = centres[rng.integers(0, len(centres), n)] + rng.normal(scale=0.3, size=(n, DIM)).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50_000)
    parser.add_argument("--lists", type=int, default=512)
    parser.add_argument("--probe", type=int, default=3)
    parser.add_argument("--neighbors", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--exact-queries", type=int, default=2_000)
    parser.add_argument("--embeddings", default=str(RESULTS / "routerbench_minilm.parquet"))
    parser.add_argument("--output", default=str(RESULTS / "knn.json"))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    base = read_embeddings(args.embeddings)[1] if Path(args.embeddings).exists() else None
    train = vectors(args.train, rng, base)
    queries = vectors(args.queries, rng, base)
    matrix = RecordMatrix(
        query_ids=np.array([f"q{i}" for i in range(args.train)], dtype=object),
        datasets=np.full(args.train, "d", dtype=object),
        models=[f"m{j}" for j in range(N_MODELS)],
        scores=(rng.random((args.train, N_MODELS)) < 0.6).astype(np.float64),
        costs=rng.random((args.train, N_MODELS)) * np.linspace(0.1, 3.0, N_MODELS),
    )
    alpha = np.array([0.5])
    rss_before = peak_rss_mib()

    start = time.perf_counter()
    router = KNNRouter(n_neighbors=args.neighbors, n_lists=args.lists, n_probe=args.probe, n_jobs=args.jobs)
    router.fit(train, matrix)
    fit_s = time.perf_counter() - start
    index = router.index_
    index_mb = (
        index.data_.nbytes
        + index.ids_.nbytes
        + index.centroids_.nbytes
        + router.scores_.nbytes
        + router.costs_.nbytes
        + router.recorded_.nbytes
    ) / 2**20

    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        router.choose(queries, alpha)
        times.append(time.perf_counter() - start)
    ivf_qps = args.queries / min(times)
    rss_after = peak_rss_mib()
    # NumPy reports its buffers to tracemalloc: the peak of what routing allocates on top of the index.
    with TracedPeak() as routing_traced:
        router.choose(queries, alpha)

    exact = KNNRouter(n_neighbors=args.neighbors).fit(train, matrix)
    subset = queries[: args.exact_queries]
    start = time.perf_counter()
    exact.choose(subset, alpha)
    exact_qps = len(subset) / (time.perf_counter() - start)
    _, approx_idx = index.search(subset, args.neighbors)
    _, exact_idx = exact.index_.search(subset, args.neighbors)
    recall = float(np.mean([len(np.intersect1d(a, b)) / args.neighbors for a, b in zip(approx_idx, exact_idx)]))
    same = float((router.choose(subset, alpha) == exact.choose(subset, alpha)).mean())

    results = {
        "machine": {**machine_info(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "data": "perturbed RouterBench MiniLM embeddings" if base is not None else "clustered synthetic",
        "n_train": args.train,
        "n_queries": args.queries,
        "dim": int(train.shape[1]),
        "n_models": N_MODELS,
        "n_neighbors": args.neighbors,
        "n_lists": args.lists,
        "n_probe": args.probe,
        "jobs": args.jobs,
        "fit_seconds": fit_s,
        "route_seconds": times,
        "queries_per_second": ivf_qps,
        "exact_queries_per_second": exact_qps,
        "recall_at_k": recall,
        "same_choice_as_exact": same,
        "index_mb": index_mb,
        "routing_traced_peak_mb": routing_traced.mib,
        "peak_rss_mb_before_fit": rss_before,
        "peak_rss_mb_after_routing": rss_after,
    }
    write_json(results, Path(args.output))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
