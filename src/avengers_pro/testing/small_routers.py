"""Small routers for tests: hand-made records and embeddings (:func:`tiny`), and exporting a small
Avengers-Pro router for the tests that need a router folder (:func:`export_small_router`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.export import export_router
from avengers_pro.io import RecordMatrix
from avengers_pro.routing.geometry import l2_normalise


def export_config(
    *,
    embedding: dict[str, Any],
    variant: str = "official",
    kind: str = "official",
    top_k: int = 1,
    n_alphas: int = 11,
    validation_ratio: float = 0.2,
    n_clusters: Sequence[int] = (),
    n_init: int = 3,
    minibatch_above: int = 200_000,
    families: dict[str, Any] | None = None,
    models: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The config keys an export reads, for small test data: one variant ``variant`` with the ``kind``
    normalisation and aggregation, the first split seed 0, and (for a ``family:`` entry) the
    ``families`` grids and the Avengers-Pro cluster counts ``n_clusters``.
    """
    config: dict[str, Any] = {
        "avengers": {
            "variants": {variant: {"normalisation": kind, "aggregation": kind}},
            "top_k": top_k,
            "beta": 9.0,
        },
        "sweep": {"alphas": {"start": 0.0, "stop": 1.0, "num": n_alphas}, "max_router": 1},
        "families": dict(families or {}),
        "clustering": {"n_clusters": list(n_clusters), "n_init": n_init, "minibatch_above": minibatch_above},
        "split": {"seeds": [0], "validation_ratio": validation_ratio},
        "embedding": embedding,
    }
    if models is not None:
        config["models"] = list(models)
    return config


def export_small_router(
    records: pd.DataFrame,
    vectors: np.ndarray,
    out: Path,
    *,
    embedding: dict[str, Any],
    n_clusters: int,
    alpha: float,
    variant: str = "official",
    kind: str = "official",
    top_k: int = 1,
    n_alphas: int = 11,
    n_init: int = 3,
    minibatch_above: int = 200_000,
    models: Sequence[str] | None = None,
) -> Path:
    """Export a router named ``out.name`` into ``out``: variant ``variant`` with the ``kind``
    normalisation and aggregation, fitted on ``records`` and the query ``vectors`` (rows in the order
    of the records' first appearance of each query).
    """
    queries = records.drop_duplicates("query_id")
    config = export_config(
        embedding=embedding,
        variant=variant,
        kind=kind,
        top_k=top_k,
        n_alphas=n_alphas,
        n_init=n_init,
        minibatch_above=minibatch_above,
        models=models,
    )
    export_router(
        records,
        queries["query_id"].to_numpy(),
        vectors,
        config,
        {"name": out.name, "variant": variant, "n_clusters": n_clusters, "alpha": alpha},
        out,
    )
    return out


def tiny(
    n: int = 60, n_models: int = 4, dim: int = 6, seed: int = 0, missing: bool = True, n_datasets: int = 3
) -> tuple[np.ndarray, RecordMatrix]:
    """Random clustered unit embeddings, 0/1 scores that depend on the dataset, distinct costs."""
    rng = np.random.default_rng(seed)
    datasets = np.array([f"d{i}" for i in rng.integers(0, n_datasets, n)], dtype=object)
    centres = rng.normal(size=(n_datasets, dim)) * 3
    codes = np.array([int(d[1:]) for d in datasets])
    embeddings = l2_normalise(centres[codes] + rng.normal(size=(n, dim)))
    skill = rng.uniform(0.1, 0.9, size=(n_datasets, n_models))
    scores = (rng.random((n, n_models)) < skill[codes]).astype(float)
    costs = rng.uniform(0.5, 1.5, size=(n, n_models)) * np.linspace(1, 10, n_models)
    if missing:
        holes = rng.random((n, n_models)) < 0.1
        holes[:, 0] = False  # every query keeps a record
        scores[holes] = np.nan
        costs[holes] = np.nan
    matrix = RecordMatrix(
        query_ids=np.array([f"q{i:03d}" for i in range(n)], dtype=object),
        datasets=datasets,
        models=[f"m{j}" for j in range(n_models)],
        scores=scores,
        costs=costs,
    )
    return embeddings.astype(np.float32), matrix
