"""Benchmark of routing with an exported router (a script, not a test).

Measures, for a router of the default shape (25 clusters, 11 models, 384 dimensions, top_k 3):

1. throughput on precomputed embeddings: ``Router.route_indices`` / ``route_embeddings`` on 200,000
   unit vectors, with the time split into the input check, ``cluster.nearest_clusters`` and
   ``router.route`` (best of 3 runs), for both default variants;
2. end to end with the local embedder (all-MiniLM-L6-v2 on the CPU): ``Router.route`` on distinct
   texts, with an empty cache and again with every text in a persistent cache;
3. peak memory while streaming 1M synthetic unit vectors through ``route_embeddings`` in chunks
   (100,000, and 10,000), each run in a fresh subprocess (peak RSS = VmHWM, and tracemalloc's peak of
   traced allocations), against 100,000 vectors to show it is flat in the input size.

By default the router is exported from synthetic records (clustered random embeddings, so the
timings do not depend on any data); ``--router DIR`` benchmarks an exported router instead.

Usage::

    python bench/bench_routing.py [--router results/exports/default] [--output bench/results/routing.json]
                                  [--queries 200000] [--texts 512] [--skip-embedder]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import RESULTS, TracedPeak, best_of, machine_info, peak_rss_mib, rss_mib, write_json

from avengers_pro.export import Router, export_router
from avengers_pro.routing.geometry import nearest_clusters
from avengers_pro.routing.scores import route

DIM = 384
N_MODELS = 11
N_CLUSTERS = 25
EMBEDDING = {"backend": "sentence-transformers", "model": "all-MiniLM-L6-v2", "max_tokens": 256}


def unit_vectors(n: int, rng: np.random.Generator, centres: np.ndarray | None = None) -> np.ndarray:
    """float32 unit vectors; around ``centres`` (clustered, like real embeddings) when given."""
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    if centres is not None:
        vectors = centres[rng.integers(len(centres), size=n)] + 0.05 * vectors
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def synthetic_router(folder: Path, variant: str, n_queries: int = 3000) -> Path:
    """Export a router of the default shape from synthetic records (official or paper variant)."""
    rng = np.random.default_rng(0)
    centres = unit_vectors(40, rng)
    vectors = unit_vectors(n_queries, rng, centres)
    ids = np.asarray([f"q{i:06d}" for i in range(n_queries)], dtype=object)
    models = [f"model-{m:02d}" for m in range(N_MODELS)]
    skill = rng.uniform(0.2, 0.95, size=(40, N_MODELS))
    price = rng.uniform(0.0001, 0.02, size=N_MODELS)
    topic = np.argmax(vectors @ centres.T, axis=1)
    records = pd.DataFrame(
        {
            "query_id": np.repeat(ids, N_MODELS),
            "dataset": np.repeat(np.where(topic % 3 == 0, "a", "b"), N_MODELS),
            "query": np.repeat(ids, N_MODELS),
            "model": np.tile(models, n_queries),
            "score": (rng.random((n_queries, N_MODELS)) < skill[topic]).astype(float).ravel(),
            "cost": np.tile(price, n_queries) * rng.uniform(0.5, 1.5, n_queries * N_MODELS),
        }
    )
    config = {
        "avengers": {
            "variants": {
                "official": {"normalisation": "official", "aggregation": "official"},
                "paper": {"normalisation": "paper", "aggregation": "paper"},
            },
            "top_k": 3,
            "beta": 9.0,
        },
        "sweep": {"alphas": {"start": 0.0, "stop": 1.0, "num": 101}, "max_router": 1},
        "clustering": {"n_init": 2, "minibatch_above": 200_000},
        "split": {"seeds": [0]},
        "embedding": EMBEDDING,
    }
    out = folder / variant
    export_router(
        records,
        ids,
        vectors,
        config,
        {"name": variant, "variant": variant, "n_clusters": N_CLUSTERS, "alpha": 0.53},
        out,
    )
    return out


def throughput(router: Router, n: int, repeats: int = 3) -> dict[str, float]:
    """Queries per second of each routing step on ``n`` precomputed unit vectors."""
    rng = np.random.default_rng(1)
    vectors = unit_vectors(n, rng, router.centroids / np.linalg.norm(router.centroids, axis=1, keepdims=True))
    router.route_indices(vectors[:1000])  # warm-up
    idx, weights = nearest_clusters(vectors, router.centroids, router.top_k, router.beta)
    x = router.estimator.cluster_scores([router.alpha])
    seconds = {
        "route_indices": best_of(repeats, lambda: router.route_indices(vectors)),
        "route_embeddings": best_of(repeats, lambda: router.route_embeddings(vectors)),
        # The input check and the normalisation every estimator applies (geometry.unit_queries).
        "check_embeddings": best_of(repeats, lambda: router.estimator.queries(router._check_embeddings(vectors))),
        "nearest_clusters": best_of(
            repeats, lambda: nearest_clusters(vectors, router.centroids, router.top_k, router.beta)
        ),
        "route": best_of(repeats, lambda: route(x, idx, weights, router.variant, max_router=router.max_router)),
    }
    return {f"{step}_qps": n / s for step, s in seconds.items()} | {"n_queries": n}


def end_to_end(router_dir: Path, n_texts: int) -> dict[str, float]:
    """Router.route with the local embedder: texts per second, cold (new texts) and cached."""
    subjects = [
        "the French Revolution",
        "binary search",
        "photosynthesis",
        "a Python decorator",
        "the Krebs cycle",
        "compound interest",
        "a haiku about rain",
        "TCP congestion control",
    ]
    texts = [
        f"Question {i}: explain {subjects[i % len(subjects)]} to a {10 + i % 50}-year-old in "
        f"{1 + i % 7} sentences, then give {i % 5 + 1} examples."
        for i in range(n_texts)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        router = Router.load(router_dir, cache_path=Path(tmp) / "cache.sqlite")
        start = time.perf_counter()
        router.prepare()
        load_seconds = time.perf_counter() - start
        start = time.perf_counter()
        first = router.route(texts)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        second = router.route(texts)
        cached = time.perf_counter() - start
        router.close()
    assert first == second
    return {
        "n_texts": n_texts,
        "model_load_seconds": load_seconds,
        "cold_qps": n_texts / cold,
        "cached_qps": n_texts / cached,
    }


def stream(router_dir: Path, n: int, chunk: int) -> dict[str, float]:
    """Route ``n`` synthetic vectors in chunks (run in a fresh process); memory and time."""
    router = Router.load(router_dir)
    rng = np.random.default_rng(2)
    router.route_embeddings(unit_vectors(chunk, rng))  # warm-up: allocations of one chunk
    baseline_mb = rss_mib()
    routed = 0
    routing_seconds = 0.0
    counts = np.zeros(len(router.models), dtype=np.int64)
    with TracedPeak() as traced:
        for start in range(0, n, chunk):
            vectors = unit_vectors(min(chunk, n - start), rng)
            began = time.perf_counter()
            names = router.route_embeddings(vectors)
            routing_seconds += time.perf_counter() - began
            counts += np.bincount(pd.Index(router.models).get_indexer(names), minlength=len(router.models))
            routed += len(names)
            del vectors, names  # else the next chunk is drawn while this one is still alive
    assert routed == n == counts.sum()
    return {
        "n_queries": n,
        "chunk": chunk,
        "routing_qps": n / routing_seconds,
        "rss_before_mb": baseline_mb,
        "peak_rss_mb": peak_rss_mib(),
        "tracemalloc_peak_mb": traced.mib,
    }


def stream_in_subprocess(router_dir: Path, n: int, chunk: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--stream", str(n), "--chunk", str(chunk), "--router", str(router_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--router", type=Path, help="an exported router folder (default: a synthetic one)")
    parser.add_argument("--output", type=Path, default=RESULTS / "routing.json")
    parser.add_argument("--queries", type=int, default=200_000, help="vectors for the throughput runs")
    parser.add_argument("--texts", type=int, default=512, help="texts for the end-to-end run")
    parser.add_argument("--skip-embedder", action="store_true", help="no end-to-end run with the local model")
    parser.add_argument("--stream", type=int, help=argparse.SUPPRESS)  # the subprocess of the memory run
    parser.add_argument("--chunk", type=int, default=100_000, help="chunk size of the streaming run")
    args = parser.parse_args()
    if args.stream:
        print(json.dumps(stream(args.router, args.stream, args.chunk)))
        return

    results: dict[str, object] = {"machine": machine_info()}
    with tempfile.TemporaryDirectory() as tmp:
        if args.router:
            routers = {Router.load(args.router).variant.name: args.router}
        else:
            routers = {variant: synthetic_router(Path(tmp), variant) for variant in ("official", "paper")}
        first = next(iter(routers.values()))
        shape = Router.load(first)
        results["router"] = {
            "clusters": len(shape.centroids),
            "models": len(shape.models),
            "dim": int(shape.centroids.shape[1]),
            "top_k": shape.top_k,
            "synthetic": args.router is None,
        }
        results["streaming"] = [
            stream_in_subprocess(first, n, chunk)
            for n, chunk in ((100_000, args.chunk), (1_000_000, args.chunk), (1_000_000, args.chunk // 10))
        ]
        results["throughput"] = {name: throughput(Router.load(path), args.queries) for name, path in routers.items()}
        if not args.skip_embedder and shape.centroids.shape[1] == DIM:
            results["end_to_end"] = end_to_end(first, args.texts)

    print(f"machine: {results['machine']}")
    print(f"router: {results['router']}")
    print(f"\n{'variant':<10} {'step':<18} {'queries/s':>12}")
    for name, numbers in results["throughput"].items():
        for step in ("route_indices", "route_embeddings", "check_embeddings", "nearest_clusters", "route"):
            print(f"{name:<10} {step:<18} {numbers[f'{step}_qps']:>12,.0f}")
    print(f"\n{'streamed':>10} {'chunk':>8} {'queries/s':>10} {'RSS before':>11} {'peak RSS':>9} {'traced peak':>12}")
    for row in results["streaming"]:
        print(
            f"{row['n_queries']:>10,} {row['chunk']:>8,} {row['routing_qps']:>10,.0f} {row['rss_before_mb']:>8.0f} MB"
            f" {row['peak_rss_mb']:>6.0f} MB {row['tracemalloc_peak_mb']:>9.0f} MB"
        )
    if "end_to_end" in results:
        e2e = results["end_to_end"]
        print(
            f"\nend to end ({EMBEDDING['model']}, {e2e['n_texts']} texts): {e2e['cold_qps']:,.0f} queries/s "
            f"embedding, {e2e['cached_qps']:,.0f} queries/s from the cache; model load {e2e['model_load_seconds']:.1f} s"
        )
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_json(results, args.output)
    print(f"\nwritten: {args.output}")


if __name__ == "__main__":
    main()
