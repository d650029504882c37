"""RouterBench's wide table (CSV, or the official pickle read only after its sha256 matched).

One row per prompt: ``sample_id``, ``eval_name``, ``prompt`` (the text of a Python list of strings,
parsed with ``ast.literal_eval``, never ``eval``), a score column per model and
``<model>|total_cost``. The few-shot blocks every prompt of a dataset shares are stripped from the
text that is embedded (:func:`strip_shared_blocks`); why and what it does on the real files:
``docs/data.md``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.formats.table import (
    check_costs,
    check_scores,
    long_frame,
    numeric_block,
    read_csv,
    require_columns,
    text_column,
)

ROUTERBENCH_KEYS = ("sample_id", "eval_name", "prompt")
ROUTERBENCH_IGNORED = ("oracle_model_to_route_to",)
COST_SUFFIX = "|total_cost"
PICKLE_SUFFIXES = (".pkl", ".pickle")
# A blank line (possibly holding spaces, tabs or a carriage return) separates prompt blocks.
BLOCK_SEPARATOR = re.compile(r"\n[ \t\r]*\n")


def _parse_prompt(value: Any, path: Path, row: int) -> tuple[str, bool]:
    """RouterBench prompt cell -> (prompt text, whether the list held several strings)."""
    if isinstance(value, (list, tuple)):
        parts: Any = list(value)
    elif isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            try:
                parts = ast.literal_eval(stripped)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise DataError(
                    "looks like a Python list of strings but cannot be parsed",
                    file=path,
                    row=row,
                    field="prompt",
                ) from None
        else:
            parts = [value]
    elif value is None or (isinstance(value, float) and np.isnan(value)):
        raise DataError("value is missing", file=path, row=row, field="prompt")
    else:
        raise DataError(f"expected text, got {type(value).__name__}", file=path, row=row, field="prompt")
    if not isinstance(parts, list) or not parts or not all(isinstance(part, str) for part in parts):
        raise DataError("expected a non-empty list of strings", file=path, row=row, field="prompt")
    # Exact repeats carry nothing new (RouterBench stores some prompts as the same string twice).
    distinct = list(dict.fromkeys(parts))
    text = "\n\n".join(distinct)
    if not text.strip():
        raise DataError("prompt is empty", file=path, row=row, field="prompt")
    return text, len(parts) > 1


def _block_starts(prompt: str) -> list[int]:
    """Character offsets where each blank-line separated block of ``prompt`` begins."""
    return [0, *(match.end() for match in BLOCK_SEPARATOR.finditer(prompt))]


def strip_shared_blocks(prompts: Sequence[str], datasets: Sequence[str]) -> tuple[list[str], dict[str, int]]:
    """Remove the leading prompt blocks that every distinct prompt of a dataset shares.

    Blocks are separated by a blank line. The last block of a prompt is always kept, and a dataset with
    fewer than two distinct prompts is left whole. A prompt with nothing removed is returned unchanged;
    otherwise the remainder is stripped of surrounding whitespace.

    Parameters
    ----------
    prompts
        The full prompts.
    datasets
        The dataset of each prompt (shared blocks are found per dataset).

    Returns
    -------
    tuple[list[str], dict[str, int]]
        The query texts (aligned with ``prompts``) and the number of blocks removed per dataset.
    """
    prompts = list(prompts)
    datasets = list(datasets)
    queries = list(prompts)
    removed: dict[str, int] = {}
    members: dict[str, list[int]] = {}
    for position, dataset in enumerate(datasets):
        members.setdefault(dataset, []).append(position)
    for dataset, positions in members.items():
        distinct = list(dict.fromkeys(prompts[p] for p in positions))
        if len(distinct) < 2:
            removed[dataset] = 0
            continue
        starts = {text: _block_starts(text) for text in distinct}
        # Blocks as text (without their separators), for comparing across prompts.
        blocks = {
            text: [text[s:e].rstrip("\r\n \t") for s, e in zip(bounds, [*bounds[1:], len(text)])]
            for text, bounds in starts.items()
        }
        limit = min(len(b) for b in blocks.values()) - 1  # never remove the last block
        shared = 0
        while shared < limit and len({b[shared] for b in blocks.values()}) == 1:
            shared += 1
        removed[dataset] = shared
        if shared:
            for p in positions:
                queries[p] = prompts[p][starts[prompts[p]][shared] :].strip()
    return queries, removed


def read_routerbench(path: Path, *, verified: bool) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a RouterBench CSV (or a verified pickle) into the long frame, with notes for the report."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        if not verified:
            raise DataError(
                "refusing to unpickle a file without a sha256 in the config (unpickling can run code); "
                "add the file's sha256 to the source",
                file=path,
                field="sha256",
            )
        try:
            wide = pd.read_pickle(path)
        except Exception as error:  # noqa: BLE001 - any unpickling failure means an unreadable file
            raise DataError(f"not a readable pickle ({type(error).__name__}: {error})", file=path) from None
        if not isinstance(wide, pd.DataFrame):
            raise DataError(f"the pickle holds a {type(wide).__name__}, not a pandas DataFrame", file=path)
        if wide.empty:
            raise DataError("empty file: no data rows", file=path)
        wide = wide.reset_index(drop=True)
    else:
        wide = read_csv(path, ROUTERBENCH_KEYS)
    require_columns(wide, ROUTERBENCH_KEYS, path)

    models = [
        column
        for column in wide.columns
        if isinstance(column, str)
        and "|" not in column
        and column not in ROUTERBENCH_KEYS
        and column not in ROUTERBENCH_IGNORED
        and not column.startswith("Unnamed:")
    ]
    if not models:
        raise DataError("no model score columns found", file=path)
    for model in models:
        if model + COST_SUFFIX not in wide.columns:
            raise DataError(f"missing cost column for model '{model}'", file=path, field=model + COST_SUFFIX)

    rows = np.arange(1, len(wide) + 1, dtype=np.int64)
    query_ids = text_column(wide, "sample_id", path, rows)
    datasets = text_column(wide, "eval_name", path, rows)
    parsed = [_parse_prompt(value, path, int(row)) for value, row in zip(wide["prompt"].tolist(), rows)]
    prompts = np.array([text for text, _ in parsed], dtype=object)
    multi_part = int(sum(several for _, several in parsed))
    queries, removed = strip_shared_blocks(prompts.tolist(), datasets.tolist())

    cost_columns = [model + COST_SUFFIX for model in models]
    scores = numeric_block(wide[models], path, rows, models)
    costs = numeric_block(wide[cost_columns], path, rows, cost_columns)
    shape = scores.shape
    check_scores(scores, path, rows, np.broadcast_to(np.array(models, dtype=object), shape))
    check_costs(costs, path, rows, np.broadcast_to(np.array(cost_columns, dtype=object), shape))

    n_models = len(models)
    frame = long_frame(
        query_ids=np.repeat(query_ids, n_models),
        datasets=np.repeat(datasets, n_models),
        queries=np.repeat(np.array(queries, dtype=object), n_models),
        prompts=np.repeat(prompts, n_models),
        rows=np.repeat(rows, n_models),
        models=np.tile(np.array(models, dtype=object), len(wide)),
        scores=scores.ravel(),
        costs=costs.ravel(),
    )
    notes = {"multi_part_prompts": multi_part, "few_shot_blocks_removed": removed}
    return frame, notes
