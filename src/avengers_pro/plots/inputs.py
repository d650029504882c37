"""What the figures and Table 3 select from the validated result files."""

from __future__ import annotations

import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.io import PathLike, sweep_key
from avengers_pro.outputs import ROUTER_METHOD


def router_rows(summary: pd.DataFrame, variant: str, n_clusters: int, source: PathLike = "summary") -> pd.DataFrame:
    """The Avengers-Pro rows of one (variant, n_clusters), sorted by alpha.

    Raises
    ------
    DataError
        When the summary holds no such rows (the message lists what it holds).
    """
    is_router = summary["method"] == ROUTER_METHOD
    rows = summary[is_router & (summary["variant"] == variant) & (summary["n_clusters"] == n_clusters)]
    if rows.empty:
        present = sorted(
            {f"{v}/k={int(k)}" for v, k in summary.loc[is_router, ["variant", "n_clusters"]].itertuples(index=False)}
        )
        raise DataError(
            f"no {ROUTER_METHOD} rows for variant '{variant}' and n_clusters {n_clusters} "
            f"(config plots.main); present: {', '.join(present) or 'none'}",
            file=source,
            field="variant",
        )
    return rows.sort_values("alpha", kind="stable")


def parse_sweep_path(path: PathLike) -> tuple[str, int, int]:
    """``(variant, n_clusters, seed)`` from a path ``.../sweep/{variant}/k{k}_seed{seed}.parquet``."""
    try:
        return sweep_key(path)
    except ValueError:
        raise DataError("not a sweep file name (expected sweep/{variant}/k{k}_seed{seed}.parquet)", file=path) from None
