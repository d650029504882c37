"""What could a label-free router gain on the MMLU-Pro study? Exploratory probes (a script, not a test).

Reads a finished run of ``config/mmlu-pro.yaml`` (``results/records.parquet``, ``queries.parquet``,
the MiniLM embeddings and the splits) and, for the first ``--seeds`` splits, fits each probe on the
train split with FIXED settings and scores it on the test split: AIQ over [0, the most expensive
single model's test cost] of the category-averaged accuracy against total cost, and the best
accuracy, each next to the dataset router (the category label's per-category means). The probes:

* ``knn`` with 100 to 800 neighbours (the pipeline's default grid stops at 400);
* ``blend``: the mean of the task router's and kNN's predictions (category signal + per-question);
* ``mlp``: a one-hidden-layer network predicting every model's correctness at once (a trained head
  on the frozen embedding, scikit-learn's ``MLPClassifier``);
* ``numeric``: the embedding with two surface features of the question appended (3+ digits in the
  question; share of options holding a digit), since computation questions flip the best model in
  several categories;
* ``task x numeric``: the task router's predicted categories, each split by the numeric feature.

These settings are not chosen on validation, so the numbers are a look at headroom, not a result;
the routers the pipeline ships choose their hyperparameters on validation. Results and their
reading: docs/results-mmlu-pro.md.

Usage::

    python bench/mmlu_pro_probes.py [--results results] [--seeds 3]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from _common import REPO, RESULTS, machine_info, write_json

from avengers_pro.evaluation import metrics
from avengers_pro.io import RecordMatrix, read_embeddings, read_record_matrix
from avengers_pro.routing import KNNRouter, TaskRouter, select_models

ALPHAS = np.linspace(0.0, 1.0, 101)
Prediction = tuple[np.ndarray, np.ndarray]


def numeric_features(texts: pd.Series) -> np.ndarray:
    """(n, 2): 3+ digits in the question line; share of the option lines holding a digit."""
    lines = texts.str.split("\n")
    question = lines.str[0]
    options = lines.str[1:]
    digits = (question.str.count(r"\d") >= 3).astype(float).to_numpy()
    share = options.map(lambda o: float(np.mean([bool(re.search(r"\d", x)) for x in o])) if len(o) else 0.0)
    return np.column_stack([digits, share.to_numpy(dtype=float)])


def group_means(codes: np.ndarray, train: np.ndarray, matrix: RecordMatrix) -> Prediction:
    """(G, M) mean score and cost of each group over the training rows (the overall mean for an empty group)."""
    n_groups = int(codes.max()) + 1
    score = np.tile(matrix.scores[train].mean(axis=0), (n_groups, 1))
    cost = np.tile(matrix.costs[train].mean(axis=0), (n_groups, 1))
    for group in range(n_groups):
        rows = train[codes[train] == group]
        if rows.size:
            score[group], cost[group] = matrix.scores[rows].mean(axis=0), matrix.costs[rows].mean(axis=0)
    return score, cost


def probes(
    embeddings: np.ndarray, features: np.ndarray, matrix: RecordMatrix, categories: np.ndarray, seed: int
) -> dict[str, Callable[[np.ndarray, np.ndarray], Prediction]]:
    """Name -> function(train rows, test rows) -> the test queries' (expected score, expected cost)."""

    def dataset_router(train: np.ndarray, test: np.ndarray) -> Prediction:
        score, cost = group_means(categories, train, matrix)
        return score[categories[test]], cost[categories[test]]

    def knn(n: int, data: np.ndarray = embeddings) -> Callable[[np.ndarray, np.ndarray], Prediction]:
        return lambda train, test: KNNRouter(n_neighbors=n).fit(data[train], matrix.subset(train)).predict(data[test])

    def blend(train: np.ndarray, test: np.ndarray) -> Prediction:
        task = TaskRouter(C=10.0).fit(embeddings[train], matrix.subset(train)).predict(embeddings[test])
        near = KNNRouter(n_neighbors=400).fit(embeddings[train], matrix.subset(train)).predict(embeddings[test])
        return (task[0] + near[0]) / 2, (task[1] + near[1]) / 2

    def mlp(train: np.ndarray, test: np.ndarray) -> Prediction:
        from sklearn.neural_network import MLPClassifier

        head = MLPClassifier(hidden_layer_sizes=(256,), alpha=1e-3, early_stopping=True, random_state=seed)
        head.fit(embeddings[train], (matrix.scores[train] > 0.5).astype(int))
        score = head.predict_proba(embeddings[test])
        return score, np.broadcast_to(matrix.costs[train].mean(axis=0), score.shape).copy()

    with_features = np.hstack([embeddings, 0.3 * features])
    with_features /= np.linalg.norm(with_features, axis=1, keepdims=True)
    flag = (features[:, 1] >= 0.5).astype(int)

    def task_by_numeric(train: np.ndarray, test: np.ndarray) -> Prediction:
        score, cost = group_means(categories * 2 + flag, train, matrix)
        task = TaskRouter(C=10.0).fit(embeddings[train], matrix.subset(train))
        weights = task.task_probabilities(embeddings[test])  # (n, D), categories in sorted order
        n_models = score.shape[1]
        cells = score.reshape(-1, 2, n_models), cost.reshape(-1, 2, n_models)
        picked = [c[:, flag[test], :].transpose(1, 0, 2) for c in cells]  # (n, D, M)
        return np.einsum("nd,ndm->nm", weights, picked[0]), np.einsum("nd,ndm->nm", weights, picked[1])

    return {
        "dataset router (reads the category)": dataset_router,
        **{f"knn, {n} neighbours": knn(n) for n in (100, 200, 400, 800)},
        "blend: (task + knn 400) / 2": blend,
        "mlp head (256 units)": mlp,
        "knn 400 + numeric features": knn(400, with_features),
        "task x numeric": task_by_numeric,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--output", type=Path, default=RESULTS / "mmlu_pro_probes.json")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    root = args.results
    embedding_file = next(iter(sorted((root / "embeddings").glob("*.parquet"))), None)
    if embedding_file is None:
        print(f"no embeddings under {root}/embeddings: run the MMLU-Pro study first", file=sys.stderr)
        return 1
    query_ids, vectors = read_embeddings(embedding_file)
    matrix = read_record_matrix(root / "records.parquet")
    embeddings = vectors[pd.Index(query_ids).get_indexer(matrix.query_ids)]
    queries = pd.read_parquet(root / "queries.parquet").set_index("query_id").loc[matrix.query_ids]
    features = numeric_features(queries["query"])
    categories = pd.factorize(pd.Series(matrix.datasets), sort=True)[0]
    results: dict[str, list[tuple[float, float]]] = {}
    for seed in range(args.seeds):
        split = pd.read_parquet(root / "splits" / f"seed{seed}.parquet").set_index("query_id").loc[matrix.query_ids]
        train = np.flatnonzero((split["split"] == "train").to_numpy())
        test = np.flatnonzero((split["split"] == "test").to_numpy())
        top = float(matrix.costs[test].sum(axis=0).max())
        rows = np.arange(test.size)
        for name, probe in probes(embeddings, features, matrix, categories, seed).items():
            choices = select_models(*probe(train, test), ALPHAS)
            outcome = matrix.scores[test][rows, choices]  # (A, n)
            accuracy = np.array([pd.Series(o).groupby(categories[test]).mean().mean() for o in outcome])
            cost = matrix.costs[test][rows, choices].sum(axis=1)
            results.setdefault(name, []).append((metrics.aiq(cost, accuracy, (0.0, top)), float(accuracy.max())))
        print(f"seed {seed} done", flush=True)
    reference = np.array(results["dataset router (reads the category)"])[:, 0]
    print(f"\n{'probe':40s} {'AIQ':>7s} {'Δ vs dataset router (per seed)':>40s} {'best acc.':>9s}")
    for name, values in results.items():
        table = np.array(values)
        delta = table[:, 0] - reference
        per_seed = ", ".join(f"{d:+.4f}" for d in delta)
        print(f"{name:40s} {table[:, 0].mean():7.4f} {per_seed:>40s} {table[:, 1].mean():9.4f}")
    write_json(
        {
            "machine": machine_info(),
            "results": str(root),
            "probes": {
                name: {"aiq": [v[0] for v in values], "best_accuracy": [v[1] for v in values]}
                for name, values in results.items()
            },
        },
        args.output,
    )
    # Why the numeric features were tried: inside a category, the better of the two strong models
    # depends on whether the question computes (all queries, no split).
    strong = [m for m in ("Llama-3.1-70B-Instruct", "DeepSeek-Coder-V2") if m in list(matrix.models)]
    if len(strong) == 2:
        columns = [list(matrix.models).index(m) for m in strong]
        table = pd.DataFrame(matrix.scores[:, columns], columns=strong)
        table["category"], table["3+ digits"] = matrix.datasets, features[:, 0] > 0
        print("\naccuracy of the two strong models by category and 3+ digits in the question (all queries)")
        print(table.groupby(["category", "3+ digits"])[strong].mean().round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
