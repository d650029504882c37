"""Exporting a small router from hand-made records, for the tests that need a router folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.export import export_router


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
    of the records' first appearance of each query)."""
    queries = records.drop_duplicates("query_id")
    config: dict[str, Any] = {
        "router": {
            "variants": {variant: {"normalisation": kind, "aggregation": kind}},
            "alphas": {"start": 0.0, "stop": 1.0, "num": n_alphas},
            "top_k": top_k,
            "beta": 9.0,
            "max_router": 1,
            "validation_ratio": 0.2,
        },
        "clustering": {"n_init": n_init, "minibatch_above": minibatch_above},
        "split": {"seeds": [0]},
        "embedding": embedding,
    }
    if models is not None:
        config["models"] = list(models)
    export_router(
        records,
        queries["query_id"].to_numpy(),
        vectors,
        config,
        {"name": out.name, "variant": variant, "n_clusters": n_clusters, "alpha": alpha},
        out,
    )
    return out
