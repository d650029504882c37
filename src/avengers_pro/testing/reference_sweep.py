"""The plain per-query reference of the sweep: per alpha, per query, then per dataset, written out
with Python lists and loops, so that the vectorised :func:`avengers_pro.evaluation.sweep.run_sweep`
can be checked (tests/test_sweep.py) and timed (bench/bench_sweep.py) against it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from avengers_pro.io import RecordMatrix
from avengers_pro.routing.scores import Variant


def reference_cluster_scores(
    labels: list[int],
    scores: list[list[float]],
    costs: list[list[float]],
    n_clusters: int,
    alpha: float,
    normalisation: str,
) -> tuple[list[list[float]], list[list[float]]]:
    """x[cluster][model] for one alpha and the raw accuracy acc[cluster][model] (0 without a record),
    written out with Python lists and loops.
    """
    n_models = len(scores[0])
    table: list[list[float]] = []
    accuracies: list[list[float]] = []
    for cluster in range(n_clusters):
        acc: list[float] = []
        cost: list[float] = []
        has: list[bool] = []
        for m in range(n_models):
            values = [scores[i][m] for i in range(len(labels)) if labels[i] == cluster and not math.isnan(scores[i][m])]
            paid = [costs[i][m] for i in range(len(labels)) if labels[i] == cluster and not math.isnan(scores[i][m])]
            has.append(len(values) > 0)
            acc.append(sum(values) / len(values) if values else 0.0)
            cost.append(sum(paid) / len(paid) if paid else 0.0)
        present = [m for m in range(n_models) if has[m]]
        row: list[float] = []
        for m in range(n_models):
            if not has[m]:
                row.append(0.0)
                continue
            lo = min(acc[k] for k in present)
            hi = max(acc[k] for k in present)
            acc_norm = 1.0 if hi == lo else (acc[m] - lo) / (hi - lo)
            if normalisation == "paper":
                c_lo = min(cost[k] for k in present)
                c_hi = max(cost[k] for k in present)
                cost_term = 1.0 if c_hi == c_lo else 1.0 - (cost[m] - c_lo) / (c_hi - c_lo)
            else:
                c_hi = max(cost[k] for k in present)
                cost_term = 1.0 if c_hi == 0 else 1.0 - cost[m] / c_hi
            row.append(alpha * acc_norm + (1.0 - alpha) * cost_term)
        table.append(row)
        accuracies.append(acc)
    return table, accuracies


def reference_route_one(
    x: list[list[float]],
    acc: list[list[float]],
    embedding: list[float],
    centroids: list[list[float]],
    available: list[bool],
    variant: Variant,
    top_k: int,
    beta: float,
    max_router: int,
) -> list[int]:
    """The chosen models of one query for one alpha (paper aggregation: ties to the higher accuracy over
    the same clusters, then the earlier model; official: ties to the earlier model).
    """
    n_models = len(x[0])
    distance = [1.0 - sum(e * c for e, c in zip(embedding, centroid)) for centroid in centroids]
    nearest = sorted(range(len(centroids)), key=lambda j: distance[j])[:top_k]
    exps = [math.exp(-beta * distance[j]) for j in nearest]
    weights = [e / sum(exps) for e in exps]
    total = [0.0] * n_models
    tie = [0.0] * n_models
    for j, w in zip(nearest, weights):
        if variant.aggregation == "official":
            order = sorted(range(n_models), key=lambda m: -x[j][m])
            for rank, m in enumerate(order):
                total[m] += w * (1.0 / (rank + 1))
        elif variant.weighted:
            for m in range(n_models):
                total[m] += w * x[j][m]
                tie[m] += w * acc[j][m]
        else:
            for m in range(n_models):
                total[m] += x[j][m]
                tie[m] += acc[j][m]
    candidates = sorted((m for m in range(n_models) if available[m]), key=lambda m: (-total[m], -tie[m]))
    return candidates[:max_router] + [-1] * (max_router - len(candidates[:max_router]))


def reference_sweep(
    matrix: RecordMatrix,
    train_rows: np.ndarray,
    labels: np.ndarray,
    centroids: np.ndarray,
    eval_rows: np.ndarray,
    embeddings: np.ndarray,
    variant: Variant,
    alphas: np.ndarray,
    top_k: int,
    beta: float,
    max_router: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Per alpha, per query, then per dataset: the sweep rows and the first choices."""
    train_scores = matrix.scores[train_rows].tolist()
    train_costs = matrix.costs[train_rows].tolist()
    rows: list[dict[str, object]] = []
    first_choices: list[list[int]] = []
    for alpha in alphas:
        x, acc = reference_cluster_scores(
            labels.tolist(), train_scores, train_costs, len(centroids), float(alpha), variant.normalisation
        )
        per_dataset: dict[str, list[tuple[float, float, int]]] = {}
        firsts: list[int] = []
        for q, row in enumerate(eval_rows):
            chosen = reference_route_one(
                x,
                acc,
                embeddings[q].tolist(),
                centroids.tolist(),
                (~np.isnan(matrix.scores[row])).tolist(),
                variant,
                top_k,
                beta,
                max_router,
            )
            picked = [m for m in chosen if m >= 0]
            score = max(matrix.scores[row, m] for m in picked)
            cost = sum(matrix.costs[row, m] for m in picked)
            per_dataset.setdefault(matrix.datasets[row], []).append((score, cost, chosen[0]))
            firsts.append(chosen[0])
        first_choices.append(firsts)
        for dataset in sorted(per_dataset):
            outcomes = per_dataset[dataset]
            rows.append(
                {
                    "alpha": float(alpha),
                    "dataset": dataset,
                    "accuracy": sum(o[0] for o in outcomes) / len(outcomes),
                    "cost": sum(o[1] for o in outcomes),
                    "n_queries": len(outcomes),
                    **{
                        f"routed[{model}]": sum(1 for o in outcomes if o[2] == m)
                        for m, model in enumerate(matrix.models)
                    },
                }
            )
    return pd.DataFrame(rows), np.array(first_choices)
