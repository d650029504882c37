"""What every reader shares: the long frame's columns and the checks of scores, costs and text fields.

Every reader returns the same long frame (:data:`SOURCE_COLUMNS` without ``source``), one row per
(file row, model), with NaN for a missing score or cost; bad values are a
:class:`~avengers_pro.errors.DataError` naming the file, the row (or line) and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError, plain

# Token counts are known only for records priced by tokens (``prices: {model: {input, output}}``);
# elsewhere they are null. They sit in the records so that a price change needs no counting again.
TOKEN_COLUMNS: tuple[str, ...] = ("input_tokens", "output_tokens")
RECORD_COLUMNS: tuple[str, ...] = ("query_id", "dataset", "query", "prompt", "model", "score", "cost", *TOKEN_COLUMNS)
QUERY_COLUMNS: tuple[str, ...] = ("query_id", "dataset", "query", "prompt")
SOURCE_COLUMNS: tuple[str, ...] = (*RECORD_COLUMNS, "source", "row")


def first_bad(mask: np.ndarray) -> tuple[int, int]:
    """(row, column) position of the first True cell of a 2-D mask, in row-major order."""
    flat = int(np.flatnonzero(mask.ravel())[0])
    return divmod(flat, mask.shape[1])


def numeric_block(raw: pd.DataFrame, path: Path, rows: np.ndarray, fields: Sequence[str]) -> np.ndarray:
    """Convert columns to float64 (NaN = missing); a non-numeric value is a DataError."""
    values = np.empty(raw.shape, dtype=np.float64)
    for j, column in enumerate(raw.columns):
        series = raw[column]
        if pd.api.types.is_bool_dtype(series):
            series = series.astype(np.float64)
        numbers = pd.to_numeric(series, errors="coerce")
        bad = (numbers.isna() & series.notna()).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"expected a number, got {plain(series.iloc[i])!r}", file=path, row=int(rows[i]), field=fields[j]
            )
        values[:, j] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def check_scores(scores: np.ndarray, path: Path, rows: np.ndarray, fields: np.ndarray, row_label: str = "row") -> None:
    """Scores must lie in [0, 1] where present. ``fields`` has the shape of ``scores``."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(scores) & ((scores < 0) | (scores > 1))
    if bad.any():
        i, j = first_bad(bad)
        raise DataError(
            f"score {plain(scores[i, j])} is outside [0, 1]",
            file=path,
            row=int(rows[i]),
            field=str(fields[i, j]),
            row_label=row_label,
        )


def check_costs(costs: np.ndarray, path: Path, rows: np.ndarray, fields: np.ndarray, row_label: str = "row") -> None:
    """Costs must be finite and >= 0 where present. ``fields`` has the shape of ``costs``."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(costs) & (~np.isfinite(costs) | (costs < 0))
    if bad.any():
        i, j = first_bad(bad)
        what = "negative" if costs[i, j] < 0 else "not finite"
        raise DataError(
            f"cost {plain(costs[i, j])} is {what} (costs are USD >= 0)",
            file=path,
            row=int(rows[i]),
            field=str(fields[i, j]),
            row_label=row_label,
        )


def text_column(frame: pd.DataFrame, column: str, path: Path, rows: np.ndarray) -> np.ndarray:
    """A required text column as an object array of non-empty strings."""
    series = frame[column]
    missing = series.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise DataError("value is missing", file=path, row=int(rows[i]), field=column)
    text = series.astype(str)
    values = text.to_numpy(dtype=object)
    empty = (text.str.strip().str.len() == 0).to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise DataError("value is empty", file=path, row=int(rows[i]), field=column)
    return values


def require_columns(frame: pd.DataFrame, required: Sequence[str], path: Path) -> None:
    """A :class:`DataError` naming the first required column the file lacks."""
    for column in required:
        if column not in frame.columns:
            raise DataError(
                f"missing required column (found: {', '.join(map(str, frame.columns[:12]))})",
                file=path,
                field=column,
            )


def read_csv(path: Path, text_columns: Sequence[str]) -> pd.DataFrame:
    """Read a CSV, turning pandas' parse errors into DataError."""
    try:
        frame = pd.read_csv(path, dtype={column: str for column in text_columns})
    except pd.errors.EmptyDataError:
        raise DataError("empty file", file=path) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"not a readable CSV file ({error})", file=path) from None
    if frame.empty:
        raise DataError("empty file: no data rows", file=path)
    return frame


def long_frame(
    *,
    query_ids: np.ndarray,
    datasets: np.ndarray,
    queries: np.ndarray,
    prompts: np.ndarray,
    rows: np.ndarray,
    models: np.ndarray,
    scores: np.ndarray,
    costs: np.ndarray,
    input_tokens: np.ndarray | None = None,
    output_tokens: np.ndarray | None = None,
) -> pd.DataFrame:
    """Assemble the long frame; per-query arrays are repeated to match the per-record ones.

    Token counts are NaN where a reader has none.
    """
    unknown = np.full(len(rows), np.nan)
    return pd.DataFrame(
        {
            "query_id": pd.array(query_ids, dtype="str"),
            "dataset": pd.array(datasets, dtype="str"),
            "query": pd.array(queries, dtype="str"),
            "prompt": pd.array(prompts, dtype="str"),
            "model": pd.array(models, dtype="str"),
            "score": np.asarray(scores, dtype=np.float64),
            "cost": np.asarray(costs, dtype=np.float64),
            "input_tokens": unknown if input_tokens is None else np.asarray(input_tokens, dtype=np.float64),
            "output_tokens": unknown if output_tokens is None else np.asarray(output_tokens, dtype=np.float64),
            "source": pd.array(np.full(len(rows), "", dtype=object), dtype="str"),
            "row": np.asarray(rows, dtype=np.int64),
        }
    )
