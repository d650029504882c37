"""Compare every router family on the real RouterBench data, on the pipeline's splits (a script, not a test).

Data: the default config's six RouterBench CSVs (ARC-Challenge, MBPP, Winogrande; 11 models) read from
``--data`` through the package's ingest, embedded with the local all-MiniLM-L6-v2 (cached in
``bench/results/``, so only the first run embeds). Protocol, per seed of ``split.seeds``: the config's
per-dataset 70/30 split with ``router.validation_ratio`` of train held out; each family's
hyperparameters are chosen on that validation part only (:func:`avengers_pro.routers.select_on_validation`),
the chosen estimator is refitted on all of train and routes the test queries once, over the config's
101 alphas. Reported per family, on seed-averaged test curves: AIQ (cost range ``[0, largest mean cost
of any curve or single model]``), PerfGain and CostSave against the best single model, and the paired
bootstrap (``evaluation.bootstrap_resamples``, within-dataset resampling of test queries) of the AIQ
difference to the dataset router of the same normalisation (official), which reads each test query's
dataset label; plus the wall time of each family (selection + refit + test routing, all seeds).

Usage::

    OMP_NUM_THREADS=1 python bench/compare_routers.py [--data ../shared/data/routerbench]
        [--output bench/results/compare_routers.json] [--resamples 1000] [--families knn,task,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro import metrics
from avengers_pro.baselines import dataset_router, oracle
from avengers_pro.config import alpha_grid, load_config
from avengers_pro.io import read_embeddings, record_matrix, write_embeddings
from avengers_pro.records import ingest
from avengers_pro.router import Variant
from avengers_pro.routers import DEFAULT_GRIDS, fit_and_route, sweep_curve
from avengers_pro.split import split_queries

ROOT = Path(__file__).resolve().parents[1]


def families(config: dict[str, Any]) -> dict[str, tuple[str, dict[str, list[Any]]]]:
    """Row name -> (family, grid). Avengers-Pro's variants come from the config's router.variants."""
    rows: dict[str, tuple[str, dict[str, list[Any]]]] = {}
    variants = dict(config["router"]["variants"])
    for name, spec in config["router"]["variants"].items():
        if spec.get("distance", "dot") == "euclidean":  # its dot-distance twin shows what the distance does
            variants[f"{name}-dot"] = {**spec, "distance": "dot"}
    for name, spec in variants.items():
        grid = {
            "variant": [{"name": name, **spec}],
            **DEFAULT_GRIDS["avengers-pro"],
            "top_k": [config["router"]["top_k"]],
            "beta": [config["router"]["beta"]],
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
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "routerbench"))
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "compare_routers.json"))
    parser.add_argument("--embeddings", default=str(ROOT / "bench" / "results" / "routerbench_minilm.parquet"))
    parser.add_argument("--resamples", type=int, default=None)
    parser.add_argument("--families", default=None, help="comma-separated row names (default: all)")
    args = parser.parse_args()

    config = load_config(args.config)
    alphas = alpha_grid(config)
    seeds = config["split"]["seeds"]
    n_resamples = args.resamples if args.resamples is not None else config["evaluation"]["bootstrap_resamples"]
    rows = families(config)
    if args.families:
        rows = {name: rows[name] for name in args.families.split(",")}

    t0 = time.perf_counter()
    records, queries, vectors = load_data(config, Path(args.data), Path(args.embeddings))
    matrix = record_matrix(records, config["models"] or None)
    emb = vectors[pd.Index(queries["query_id"]).get_indexer(matrix.query_ids)]
    load_s = time.perf_counter() - t0
    official = Variant.from_config("official", config["router"]["variants"]["official"])

    curves: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    outcomes: list[metrics.SeedOutcomes] = []
    chosen: dict[str, list[dict[str, Any]]] = {name: [] for name in rows}
    seconds = dict.fromkeys(rows, 0.0)
    singles_acc, singles_cost, oracle_acc = [], [], []
    for seed in seeds:
        split = split_queries(
            queries,
            train_ratio=config["split"]["train_ratio"],
            seed=seed,
            ood_datasets=config["split"]["ood_datasets"],
            validation_ratio=config["router"]["validation_ratio"],
        )
        split = split.set_index("query_id").loc[matrix.query_ids]
        is_test = (split["split"] == "test").to_numpy()
        train, test = matrix.subset(~is_test), matrix.subset(is_test)
        scores: dict[str, np.ndarray] = {}
        costs: dict[str, np.ndarray] = {}
        for name, (family, grid) in rows.items():
            start = time.perf_counter()
            selection, choices = fit_and_route(
                family, grid, emb, matrix, is_test, split["validation"].to_numpy(bool), alphas, seed=seed
            )
            seconds[name] += time.perf_counter() - start
            scores[name], costs[name], acc, cost = sweep_curve(choices, test)
            curves.setdefault(name, []).append((acc, cost))
            params = {k: (v["name"] if isinstance(v, dict) else v) for k, v in selection.params.items()}
            chosen[name].append(params)
        _, decisions = dataset_router(matrix, train.query_ids, test.query_ids, official, alphas)
        name = "dataset-router"
        scores[name] = decisions["score"].to_numpy().reshape(len(alphas), -1)
        costs[name] = decisions["cost"].to_numpy().reshape(len(alphas), -1)
        acc, cost = metrics.resampled_curve(scores[name], costs[name], test.datasets, np.ones((1, len(test.query_ids))))
        curves.setdefault(name, []).append((acc[0], cost[0]))
        single_acc, single_cost = metrics.resampled_curve(
            test.scores.T, test.costs.T, test.datasets, np.ones((1, len(test.query_ids)))
        )
        singles_acc.append(single_acc[0])
        singles_cost.append(single_cost[0])
        oracle_frame = oracle(test)
        oracle_acc.append(float(oracle_frame["accuracy"].mean()))
        outcomes.append(metrics.SeedOutcomes(seed=int(seed), groups=test.datasets, scores=scores, costs=costs))

    mean_curves = {
        name: (np.mean([c[0] for c in per_seed], axis=0), np.mean([c[1] for c in per_seed], axis=0))
        for name, per_seed in curves.items()
    }
    single_acc, single_cost = np.mean(singles_acc, axis=0), np.mean(singles_cost, axis=0)
    best = int(np.lexsort((single_cost, -single_acc))[0])
    ref_acc, ref_cost = float(single_acc[best]), float(single_cost[best])
    top = max(float(single_cost.max()), *(float(c.max()) for _, c in mean_curves.values()))
    cost_range = (0.0, top)

    def difference(name: str, reference: str):
        def statistic(curves_: dict[str, metrics.Curve]) -> np.ndarray:
            (acc_r, cost_r), (acc_d, cost_d) = curves_[name], curves_[reference]
            return metrics.aiq_rows(cost_r, acc_r, cost_range) - metrics.aiq_rows(cost_d, acc_d, cost_range)

        return statistic

    statistics = {f"{name} - dataset-router": difference(name, "dataset-router") for name in rows}
    if "avengers-pro official" in rows:
        statistics.update(
            {
                f"{name} - avengers-pro official": difference(name, "avengers-pro official")
                for name in rows
                if name != "avengers-pro official"
            }
        )
    start = time.perf_counter()
    intervals = (
        metrics.paired_bootstrap(
            outcomes, statistics, n_resamples=n_resamples, confidence=config["evaluation"]["confidence"], seed=0
        )
        if n_resamples
        else {}
    )
    bootstrap_s = time.perf_counter() - start

    results: dict[str, Any] = {
        "seeds": seeds,
        "n_alphas": len(alphas),
        "n_queries": len(matrix.query_ids),
        "models": matrix.models,
        "best_single": {"model": matrix.models[best], "accuracy": ref_acc, "cost": ref_cost},
        "oracle_accuracy": float(np.mean(oracle_acc)),
        "aiq_cost_range": list(cost_range),
        "load_seconds": load_s,
        "bootstrap_seconds": bootstrap_s,
        "n_resamples": n_resamples,
        "routers": {},
    }
    for name, (acc, cost) in mean_curves.items():
        saved, saved_alpha = metrics.cost_save(alphas, acc, cost, ref_acc, ref_cost)
        entry: dict[str, Any] = {
            "aiq": metrics.aiq(cost, acc, cost_range),
            "best_accuracy": float(acc.max()),
            "perf_gain": metrics.perf_gain(float(acc.max()), ref_acc),
            "cost_save": saved,
            "cost_save_alpha": saved_alpha,
            "seconds": seconds.get(name),
            "hyperparameters": chosen.get(name),
        }
        for key, interval in intervals.items():
            head, _, reference = key.partition(" - ")
            if head == name:
                entry[f"aiq_delta_vs_{reference}"] = interval
        results["routers"][name] = entry
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(render(results))


def render(results: dict[str, Any]) -> str:
    """The markdown table of a results dict."""
    best = results["best_single"]
    header = (
        "| router | AIQ | ΔAIQ vs dataset router [95% CI] | ΔAIQ vs official [95% CI] | PerfGain | CostSave "
        "| time (s) | chosen (per seed) |"
    )
    title = (
        f"best single: {best['model']} accuracy {best['accuracy']:.4f}, cost ${best['cost']:.4f}; oracle accuracy "
        f"{results['oracle_accuracy']:.4f}; AIQ range [0, {results['aiq_cost_range'][1]:.4f}]"
    )
    lines = [title, "", header, "|---|---:|---|---|---:|---:|---:|---|"]

    def interval(entry: dict[str, Any] | None) -> str:
        if not entry:
            return ""
        return f"{entry['estimate']:+.4f} [{entry['lo']:+.4f}, {entry['hi']:+.4f}]"

    for name, entry in sorted(results["routers"].items(), key=lambda item: -item[1]["aiq"]):
        chosen = entry["hyperparameters"]
        chosen_text = (
            "; ".join(
                ",".join(f"{k}={v}" for k, v in p.items() if k not in ("variant", "top_k", "beta")) for p in chosen
            )
            if chosen
            else ""
        )
        save = "n/a" if entry["cost_save"] is None else f"{entry['cost_save']:+.1%}"
        seconds = "" if entry["seconds"] is None else f"{entry['seconds']:.1f}"
        lines.append(
            f"| {name} | {entry['aiq']:.4f} | {interval(entry.get('aiq_delta_vs_dataset-router'))} | "
            f"{interval(entry.get('aiq_delta_vs_avengers-pro official'))} | {entry['perf_gain']:+.2%} | "
            f"{save} | {seconds} | {chosen_text} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
