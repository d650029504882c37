"""Calibration of the leaderboard's intervals on the real default records (a script, not a test).

Two pseudo-routers of **equal true quality** are built from two real routers of a finished default
run, A and B (default: ``knn`` and ``avengers-pro official (k=25)``): in each simulation a fair coin
per query of the data set (one coin for the query in every seed and at every alpha) decides whether
A' takes A's decision and B' takes B's, or the other way round. A' and B' are exchangeable, so the
true difference is 0. Both are scored on the same alphas (A's validation-hull alphas of each seed),
and each simulation draws its own resamples of the leaderboard's bootstrap
(:mod:`avengers_pro.evaluation.intervals`: one weight per query, shared by every seed and both routers). The
**coverage** is the share of simulations whose 95% interval of the validation-hull ΔAIQ (the
leaderboard's ranking difference) contains 0.

**Power**: A' is then made better by a known amount: on each query and alpha where A' is wrong, its
score is set to 1 with probability p, p chosen so that the expected ΔAIQ (expected scores and costs
of A' and B' under the coin) is ``--delta`` (default +0.005). The power is the share of simulations
whose interval lies above 0.

Usage (after ``snakemake --cores 2`` on the default config)::

    OMP_NUM_THREADS=1 python bench/calibration.py [--simulations 200] [--resamples 1000]
        [--a knn] [--b avengers-pro/official/k25] [--delta 0.005] [--output bench/results/calibration.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import REPO, RESULTS, machine_info, write_json

from avengers_pro.evaluation import intervals
from avengers_pro.evaluation.metrics_json import aiq_cost_range
from avengers_pro.outputs import read_decisions, read_summary, read_sweep


def decisions_path(name: str, seed: int) -> tuple[Path, Path]:
    """(test decisions, validation sweep) of a family name or ``avengers-pro/{variant}/k{k}``."""
    if name.startswith("avengers-pro/"):
        _, variant, k = name.split("/")
        return (
            REPO / f"results/decisions/{variant}/{k}_seed{seed}.parquet",
            REPO / f"results/sweep_validation/{variant}/{k}_seed{seed}.parquet",
        )
    return REPO / f"results/families/{name}/decisions_seed{seed}.parquet", REPO / (
        f"results/families/{name}/validation_seed{seed}.parquet"
    )


def load(a: str, b: str, seeds: list[int]) -> dict[str, Any]:
    """Per seed: the query order, A's and B's (rows, Q) outcomes on A's validation-hull alphas."""
    out: dict[str, Any] = {"ids": {}, "groups": {}, "a": {}, "b": {}, "rows": {}}
    hull = {}
    for seed in seeds:
        test_a, validation_a = decisions_path(a, seed)
        test_b, _ = decisions_path(b, seed)
        frame_a, frame_b = read_decisions(test_a), read_decisions(test_b)
        queries = frame_a[["query_id", "dataset"]].drop_duplicates("query_id").sort_values(["dataset", "query_id"])
        index = pd.Index(queries["query_id"].to_numpy(dtype=object))
        alphas, scores_a, costs_a = intervals.decision_matrix(frame_a, index, str(test_a))
        alphas_b, scores_b, costs_b = intervals.decision_matrix(frame_b, index, str(test_b))
        assert np.array_equal(alphas, alphas_b)
        hull[seed] = intervals.validation_hull_rows(alphas, read_sweep(validation_a), str(validation_a))
        out["ids"][seed], out["groups"][seed] = index.to_numpy(), queries["dataset"].to_numpy(dtype=object)
        out["a"][seed], out["b"][seed] = (scores_a, costs_a), (scores_b, costs_b)
    # Only the alphas some seed's hull uses are kept (one grid for every seed); each seed scores its own.
    kept = np.unique(np.concatenate(list(hull.values())))
    for seed in seeds:
        out["a"][seed] = tuple(values[kept] for values in out["a"][seed])
        out["b"][seed] = tuple(values[kept] for values in out["b"][seed])
        out["rows"][seed] = np.searchsorted(kept, hull[seed])
    out["n_alphas"] = kept.size
    return out


def pair(
    data: dict[str, Any], design: intervals.Design, coin: np.ndarray, improve: dict[int, np.ndarray] | None
) -> tuple[intervals.RouterCurve, intervals.RouterCurve]:
    """A' and B' for one coin per query (True: A' takes B's decisions); ``improve``: A's extra points."""
    curves: dict[str, tuple[dict[int, np.ndarray], dict[int, np.ndarray]]] = {"a": ({}, {}), "b": ({}, {})}
    for seed in design.seeds:
        swap = coin[design.positions[seed]][None, :]
        (sa, ca), (sb, cb) = data["a"][seed], data["b"][seed]
        score_a, cost_a = np.where(swap, sb, sa), np.where(swap, cb, ca)
        if improve is not None:
            score_a = np.where(improve[seed], 1.0, score_a)
        curves["a"][0][seed], curves["a"][1][seed] = score_a, cost_a
        curves["b"][0][seed], curves["b"][1][seed] = np.where(swap, sa, sb), np.where(swap, ca, cb)
    grid = np.arange(data["n_alphas"], dtype=np.float64)
    return (
        intervals.RouterCurve(grid, *curves["a"], data["rows"]),
        intervals.RouterCurve(grid, *curves["b"], data["rows"]),
    )


def expected_delta(data: dict[str, Any], design: intervals.Design, p: float, cost_range: tuple[float, float]) -> float:
    """The true ΔAIQ of A' over B' at flip probability ``p``: their expected scores and costs under the coin."""
    mean_a: dict[int, np.ndarray] = {}
    mean_b: dict[int, np.ndarray] = {}
    costs: dict[int, np.ndarray] = {}
    for seed in design.seeds:
        (sa, ca), (sb, cb) = data["a"][seed], data["b"][seed]
        mixed = (sa + sb) / 2
        mean_b[seed], mean_a[seed], costs[seed] = mixed, mixed + p * (1 - mixed), (ca + cb) / 2
    grid = np.arange(data["n_alphas"], dtype=np.float64)
    a = intervals.curve_values(intervals.RouterCurve(grid, mean_a, costs, data["rows"]), design, cost_range)
    b = intervals.curve_values(intervals.RouterCurve(grid, mean_b, costs, data["rows"]), design, cost_range)
    return float(a.validation_hull[0] - b.validation_hull[0])


def simulate(
    data: dict[str, Any],
    design: intervals.Design,
    cost_range: tuple[float, float],
    n_simulations: int,
    n_resamples: int,
    p: float,
    seed: int,
) -> list[tuple[float, float, float]]:
    """Every simulation's estimate and interval of the validation-hull ΔAIQ."""
    found: list[tuple[float, float, float]] = []
    for sim in range(n_simulations):
        rng = np.random.default_rng([seed, sim])
        coin = rng.random(design.query_ids.size) < 0.5
        improve = None
        if p > 0:
            improve = {s: rng.random(data["a"][s][0].shape) < p for s in design.seeds}
        a, b = pair(data, design, coin, improve)
        counts = design.counts(n_resamples, seed=10_000 + sim)
        result = intervals.aiq_differences(
            intervals.evaluate(a, design, cost_range, counts), intervals.evaluate(b, design, cost_range, counts), 0.95
        )
        value = result["aiq_difference"]
        found.append((value["estimate"], value["lo"], value["hi"]))
    return found


def summarise(rows: list[tuple[float, float, float]], truth: float) -> dict[str, Any]:
    values = np.asarray(rows, dtype=np.float64)
    covered = (values[:, 1] <= truth) & (truth <= values[:, 2])
    n = len(values)
    rate = float(covered.mean())
    return {
        "n": n,
        "truth": truth,
        "coverage": rate,
        "coverage_se": float(np.sqrt(rate * (1 - rate) / n)),
        "above_zero": float((values[:, 1] > 0).mean()),
        "below_zero": float((values[:, 2] < 0).mean()),
        "mean_estimate": float(values[:, 0].mean()),
        "sd_estimate": float(values[:, 0].std(ddof=1)),
        "mean_width": float((values[:, 2] - values[:, 1]).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", default="knn")
    parser.add_argument("--b", default="avengers-pro/official/k25")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--simulations", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--delta", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(RESULTS / "calibration.json"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    data = load(args.a, args.b, seeds)
    design = intervals.Design({s: (data["ids"][s], data["groups"][s]) for s in seeds})
    cost_range = aiq_cost_range(read_summary(REPO / "results/summary.csv"))
    per_unit = expected_delta(data, design, 1.0, cost_range)
    p = args.delta / per_unit
    null = simulate(data, design, cost_range, args.simulations, args.resamples, 0.0, args.seed)
    alternative = simulate(data, design, cost_range, args.simulations, args.resamples, p, args.seed + 1)
    truth = expected_delta(data, design, p, cost_range)
    results = {
        "machine": machine_info(),
        "a": args.a,
        "b": args.b,
        "seeds": seeds,
        "n_queries": int(design.query_ids.size),
        "n_resamples": args.resamples,
        "cost_range": list(cost_range),
        "flip_probability": p,
        "equal_quality": summarise(null, 0.0),
        "power": summarise(alternative, truth),
        "seconds": time.perf_counter() - start,
    }
    write_json(results, Path(args.output))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
