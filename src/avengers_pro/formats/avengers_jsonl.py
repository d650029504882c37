"""The official Avengers-Pro JSONL: one object per line with ``query``, ``records`` and ``usages``.

``query_id`` is ``{dataset}/{index}`` (the line number without an ``index``); ``true``/``false`` are
1/0 and ``null`` is missing. Errors name the line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.formats.table import check_costs, check_scores, long_frame


def _json_score(value: Any, path: Path, line: int, model: str) -> float:
    """A JSONL record value -> float score (NaN = missing)."""
    if value is None:
        return np.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    raise DataError(
        f"expected true/false, a number or null, got {type(value).__name__} {value!r}",
        file=path,
        row=line,
        row_label="line",
        field=f"records.{model}",
    )


def _json_cost(usage: Any, path: Path, line: int, model: str) -> float:
    """A JSONL usage entry -> float cost (NaN = missing)."""
    if usage is None:
        return np.nan
    if not isinstance(usage, dict):
        raise DataError(
            f'expected an object {{"cost": number}}, got {type(usage).__name__}',
            file=path,
            row=line,
            row_label="line",
            field=f"usages.{model}",
        )
    cost = usage.get("cost")
    if cost is None:
        return np.nan
    if isinstance(cost, bool) or not isinstance(cost, (int, float)):
        raise DataError(
            f"expected a number or null, got {type(cost).__name__} {cost!r}",
            file=path,
            row=line,
            row_label="line",
            field=f"usages.{model}.cost",
        )
    return float(cost)


def read_avengers_jsonl(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read an Avengers-Pro JSONL file into the long frame (errors name the line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"not UTF-8 text ({error.reason} at byte {error.start})", file=path) from None
    query_ids: list[str] = []
    datasets: list[str] = []
    queries: list[str] = []
    lines: list[int] = []
    models: list[str] = []
    scores: list[float] = []
    costs: list[float] = []
    records_per_line: list[int] = []
    # Split on "\n" only: str.splitlines would also split on U+2028 etc., which JSON strings may hold.
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as error:
            raise DataError(
                f"malformed JSON ({error.msg} at column {error.colno}); each line must hold exactly one JSON object",
                file=path,
                row=line,
                row_label="line",
            ) from None
        if not isinstance(item, dict):
            raise DataError(f"expected a JSON object, got {type(item).__name__}", file=path, row=line, row_label="line")
        query = item.get("query")
        if not isinstance(query, str) or not query.strip():
            raise DataError("expected a non-empty string", file=path, row=line, row_label="line", field="query")
        records = item.get("records")
        if not isinstance(records, dict) or not records:
            raise DataError(
                "expected a non-empty object {model: score}", file=path, row=line, row_label="line", field="records"
            )
        usages = item.get("usages")
        if usages is None:
            usages = {}
        elif not isinstance(usages, dict):
            raise DataError(
                "expected an object {model: {cost: number}}", file=path, row=line, row_label="line", field="usages"
            )
        dataset = item.get("dataset", "default")
        if not isinstance(dataset, str) or not dataset.strip():
            raise DataError("expected a non-empty string", file=path, row=line, row_label="line", field="dataset")
        index = item.get("index")
        if index is None:
            index = line
        if isinstance(index, bool) or not isinstance(index, (int, str)) or str(index).strip() == "":
            raise DataError(
                f"expected an integer or a non-empty string, got {index!r}",
                file=path,
                row=line,
                row_label="line",
                field="index",
            )
        for model, value in records.items():
            if not model.strip():
                raise DataError("empty model name", file=path, row=line, row_label="line", field="records")
            models.append(model)
            scores.append(_json_score(value, path, line, model))
            costs.append(_json_cost(usages.get(model), path, line, model))
        query_ids.append(f"{dataset}/{index}")
        datasets.append(dataset)
        queries.append(query)
        lines.append(line)
        records_per_line.append(len(records))
    if not lines:
        raise DataError("empty file: no JSON lines", file=path)

    counts = np.array(records_per_line)
    record_lines = np.repeat(np.array(lines, dtype=np.int64), counts)
    score_array = np.array(scores, dtype=np.float64)[:, None]
    cost_array = np.array(costs, dtype=np.float64)[:, None]
    model_array = np.array(models, dtype=object)
    check_scores(score_array, path, record_lines, np.char.add("records.", model_array.astype(str))[:, None], "line")
    check_costs(
        cost_array,
        path,
        record_lines,
        np.char.add(np.char.add("usages.", model_array.astype(str)), ".cost")[:, None],
        "line",
    )
    query_array = np.array(queries, dtype=object)
    frame = long_frame(
        query_ids=np.repeat(np.array(query_ids, dtype=object), counts),
        datasets=np.repeat(np.array(datasets, dtype=object), counts),
        queries=np.repeat(query_array, counts),
        prompts=np.repeat(query_array, counts),
        rows=record_lines,
        models=model_array,
        scores=score_array.ravel(),
        costs=cost_array.ravel(),
    )
    return frame, {}
