"""The canonical long table itself (``.parquet``/``.pq`` or ``.csv``), as a source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.formats.table import (
    TOKEN_COLUMNS,
    check_costs,
    check_scores,
    long_frame,
    numeric_block,
    read_csv,
    require_columns,
    text_column,
)

PARQUET_SUFFIXES = (".parquet", ".pq")


def read_records_table(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a canonical records file (Parquet or CSV) into the long frame."""
    text_columns = ("query_id", "dataset", "query", "prompt", "model")
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        try:
            table = pd.read_parquet(path)
        except Exception as error:  # noqa: BLE001 - pyarrow raises several types for unreadable files
            raise DataError(f"not a readable Parquet file ({type(error).__name__}: {error})", file=path) from None
        if table.empty:
            raise DataError("empty file: no data rows", file=path)
    elif suffix == ".csv":
        table = read_csv(path, text_columns)
    else:
        raise DataError(f"a records file must end in .parquet, .pq or .csv, not {suffix!r}", file=path)
    require_columns(table, ("query_id", "dataset", "query", "model", "score", "cost"), path)

    rows = np.arange(1, len(table) + 1, dtype=np.int64)
    query_ids = text_column(table, "query_id", path, rows)
    datasets = text_column(table, "dataset", path, rows)
    queries = text_column(table, "query", path, rows)
    models = text_column(table, "model", path, rows)
    if "prompt" in table.columns:
        prompt = table["prompt"]
        given = prompt.notna().to_numpy() & (prompt.astype(str).str.strip().str.len() > 0).to_numpy()
        prompts = np.where(given, prompt.astype(str).to_numpy(dtype=object), queries)
    else:
        prompts = queries
    numbers = numeric_block(table[["score", "cost"]], path, rows, ("score", "cost"))
    fields = np.broadcast_to(np.array(["score"], dtype=object), (len(table), 1))
    check_scores(numbers[:, :1], path, rows, fields)
    check_costs(numbers[:, 1:], path, rows, np.broadcast_to(np.array(["cost"], dtype=object), (len(table), 1)))
    # Token counts travel with the records when the file has them (as results/records.parquet does).
    tokens = {
        column: numeric_block(table[[column]], path, rows, (column,))[:, 0]
        for column in TOKEN_COLUMNS
        if column in table.columns
    }
    frame = long_frame(
        query_ids=query_ids,
        datasets=datasets,
        queries=queries,
        prompts=prompts,
        rows=rows,
        models=models,
        scores=numbers[:, 0],
        costs=numbers[:, 1],
        **tokens,
    )
    return frame, {}
