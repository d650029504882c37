"""Ingestion: every input format -> the canonical long records table, with validation and policies.

Formats (``format:`` of a source)
---------------------------------
``avengers-jsonl``
    The official Avengers-Pro JSONL: one JSON object per line with ``query`` (non-empty string),
    ``records`` ({model: bool | number | null}, non-empty), optional ``usages`` ({model: {cost:
    number | null}}), ``dataset`` (default ``"default"``) and ``index``. ``query_id`` is
    ``f"{dataset}/{index}"`` (the 1-based line number when ``index`` is absent); ``prompt`` = ``query``.
    ``true``/``false`` become 1/0; ``null`` (or NaN) is a missing score or cost. Blank lines are skipped.
``routerbench``
    RouterBench's wide table, as CSV or as the official pickle (``.pkl``/``.pickle``, read only after
    its sha256 matched the config; a pickle without a ``sha256`` is refused, because unpickling can run
    code). Columns ``sample_id`` (-> ``query_id``), ``eval_name`` (-> ``dataset``), ``prompt``, one score
    column per model and ``<model>|total_cost`` (USD). ``<model>|model_response``,
    ``oracle_model_to_route_to`` and unnamed index columns are ignored. ``prompt`` holds the text of a
    Python list of strings, parsed with ``ast.literal_eval`` (never ``eval``); exact repeats in the list
    are dropped and the rest joined by a blank line (14 ARC rows of the real data hold the same string
    twice). A prompt that does not look like a list is taken as plain text.
``llmrouterbench``
    LLMRouterBench's results: a ``<dataset>/<split>/<model>/<timestamp>.json`` tree, one such file, or
    the release tarball read without unpacking; the latest file per (dataset, split, model) is kept and
    a null score is missing. See :mod:`avengers_pro.formats.llmrouterbench`.
``records``
    The canonical long table itself (``.parquet``/``.pq`` or ``.csv``) with ``query_id``, ``dataset``,
    ``query``, ``model``, ``score``, ``cost`` and optionally ``prompt`` (missing or empty -> ``query``).

The query text (what gets embedded)
-----------------------------------
RouterBench prompts are few-shot: ARC-Challenge carries five solved examples and Winogrande five
(instruction, example) pairs before the question, identical for every prompt of the task; embedding the
whole prompt would embed mostly those shared examples. The loader therefore splits each prompt into
blocks separated by a blank line and drops the leading blocks that *every distinct prompt of the same
dataset in the same file* shares; the last block is always kept, and a dataset with a single distinct
prompt keeps its prompt whole (nothing can be told apart). On the real files this strips 5 blocks from
ARC-Challenge and 10 from Winogrande, leaving the question with its options and answer instruction, and
nothing from MBPP, whose zero-shot prompts have no shared block (query = prompt). Unlike "take the last
block", the rule never cuts a zero-shot question that itself contains a blank line. The full text stays
in ``prompt``. The number of blocks dropped per dataset is in the ingest report.

Validation
----------
Every problem raises :class:`~avengers_pro.errors.DataError` naming the file, the 1-based row (data rows
of a table, header excluded; lines of a JSONL file) and the field: a file that is missing, empty or not
readable; a malformed JSON line; a missing or mistyped field; a score outside [0, 1]; a negative or
infinite cost; an unknown format; a missing required column; a model in the ``models`` allow-list (or a
dataset in ``datasets``) that the data lacks. A NaN/empty score or cost is *missing*, not invalid; the
policies below decide what happens to it.

Policies (applied by :func:`ingest`, in this order)
---------------------------------------------------
1. **Allow-lists.** Rows of datasets outside ``datasets`` and records of models outside ``models`` are
   left out (counted). Model order is ``models`` when given, else alphabetical.
2. **Same query_id, other prompt.** A row whose (dataset, prompt) differs from the first row with the
   same ``query_id`` (source order, then row order) is dropped: an id reused for another question.
3. **Same prompt, other query_id.** A row whose (dataset, prompt) was first seen under another
   ``query_id`` is dropped: the router sees only the prompt, so two identical prompts are one routing
   input. (Real data: two MBPP tasks share a one-line description, "Write a function to sort a list of
   elements.", one in mbpp_train and one in mbpp_test, with different scores; the first is kept.)
4. **Same query_id, same prompt: merged.** The rows are one query; for each (query, model) the first
   *present* score (with the cost of the same row) is kept, and later present scores are dropped as
   duplicate records. This is "first kept" applied per record rather than per row, because RouterBench
   splits some queries over two rows: 14 ARC sample_ids appear twice (six of them across the train and
   test files), once with gpt-3.5-turbo-1106 missing and once with *only* gpt-3.5-turbo-1106 present.
   Keeping the first row would throw away half of each query; merging recovers all 14 complete.
   Whenever a dropped row or record had a score differing from the kept one, it is counted as a conflict.
5. **A query with no score for any model** is always dropped (counted apart from the policy below).
6. **A query missing some models' scores**, by ``missing``: ``drop-query`` (default) drops the query;
   ``zero`` adds the missing records with score 0 and cost 0 (the paper's behaviour: a free, always
   wrong model that the router can still pick); ``mask`` keeps the query and leaves those (query, model)
   records out of the table, so routing ignores that model for that query only.
7. **A present score without a cost** is an error naming file, row and field, unless ``prices[model]``
   gives a fallback cost (USD per query); each use of a fallback is counted.

Every count is in the report returned by :func:`ingest` (``results/ingest_report.json``) and logged.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.download import verify_sha256
from avengers_pro.errors import ConfigError, DataError, plain

logger = logging.getLogger(__name__)

RECORD_COLUMNS: tuple[str, ...] = ("query_id", "dataset", "query", "prompt", "model", "score", "cost")
QUERY_COLUMNS: tuple[str, ...] = ("query_id", "dataset", "query", "prompt")
SOURCE_COLUMNS: tuple[str, ...] = (*RECORD_COLUMNS, "source", "row")
FORMATS: tuple[str, ...] = ("avengers-jsonl", "routerbench", "records", "llmrouterbench")
MISSING_POLICIES: tuple[str, ...] = ("drop-query", "zero", "mask")

_ROUTERBENCH_KEYS = ("sample_id", "eval_name", "prompt")
_ROUTERBENCH_IGNORED = ("oracle_model_to_route_to",)
_COST_SUFFIX = "|total_cost"
_PICKLE_SUFFIXES = (".pkl", ".pickle")
_PARQUET_SUFFIXES = (".parquet", ".pq")
# A blank line (possibly holding spaces, tabs or a carriage return) separates prompt blocks.
_BLOCK_SEPARATOR = re.compile(r"\n[ \t\r]*\n")


# --------------------------------------------------------------------------- shared validation


def _first_bad(mask: np.ndarray) -> tuple[int, int]:
    """(row, column) position of the first True cell of a 2-D mask, in row-major order."""
    flat = int(np.flatnonzero(mask.ravel())[0])
    return divmod(flat, mask.shape[1])


def _numeric_block(raw: pd.DataFrame, path: Path, rows: np.ndarray, fields: Sequence[str]) -> np.ndarray:
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


def _check_scores(
    scores: np.ndarray, path: Path, rows: np.ndarray, fields: np.ndarray, row_label: str = "row"
) -> None:
    """Scores must lie in [0, 1] where present. ``fields`` has the shape of ``scores``."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(scores) & ((scores < 0) | (scores > 1))
    if bad.any():
        i, j = _first_bad(bad)
        raise DataError(
            f"score {plain(scores[i, j])} is outside [0, 1]",
            file=path,
            row=int(rows[i]),
            field=str(fields[i, j]),
            row_label=row_label,
        )


def _check_costs(
    costs: np.ndarray, path: Path, rows: np.ndarray, fields: np.ndarray, row_label: str = "row"
) -> None:
    """Costs must be finite and >= 0 where present. ``fields`` has the shape of ``costs``."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(costs) & (~np.isfinite(costs) | (costs < 0))
    if bad.any():
        i, j = _first_bad(bad)
        what = "negative" if costs[i, j] < 0 else "not finite"
        raise DataError(
            f"cost {plain(costs[i, j])} is {what} (costs are USD >= 0)",
            file=path,
            row=int(rows[i]),
            field=str(fields[i, j]),
            row_label=row_label,
        )


def _text_column(frame: pd.DataFrame, column: str, path: Path, rows: np.ndarray) -> np.ndarray:
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


def _require_columns(frame: pd.DataFrame, required: Sequence[str], path: Path) -> None:
    for column in required:
        if column not in frame.columns:
            raise DataError(
                f"missing required column (found: {', '.join(map(str, frame.columns[:12]))})",
                file=path,
                field=column,
            )


def _read_csv(path: Path, text_columns: Sequence[str]) -> pd.DataFrame:
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


def _long_frame(
    *,
    query_ids: np.ndarray,
    datasets: np.ndarray,
    queries: np.ndarray,
    prompts: np.ndarray,
    rows: np.ndarray,
    models: np.ndarray,
    scores: np.ndarray,
    costs: np.ndarray,
) -> pd.DataFrame:
    """Assemble the long frame; per-query arrays are repeated to match the per-record ones."""
    return pd.DataFrame(
        {
            "query_id": pd.array(query_ids, dtype="str"),
            "dataset": pd.array(datasets, dtype="str"),
            "query": pd.array(queries, dtype="str"),
            "prompt": pd.array(prompts, dtype="str"),
            "model": pd.array(models, dtype="str"),
            "score": np.asarray(scores, dtype=np.float64),
            "cost": np.asarray(costs, dtype=np.float64),
            "source": pd.array(np.full(len(rows), "", dtype=object), dtype="str"),
            "row": np.asarray(rows, dtype=np.int64),
        }
    )


# --------------------------------------------------------------------------- query extraction


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
    return [0, *(match.end() for match in _BLOCK_SEPARATOR.finditer(prompt))]


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


# --------------------------------------------------------------------------- loaders


def _read_routerbench(path: Path, *, verified: bool) -> tuple[pd.DataFrame, dict[str, Any]]:
    if path.suffix.lower() in _PICKLE_SUFFIXES:
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
        wide = _read_csv(path, _ROUTERBENCH_KEYS)
    _require_columns(wide, _ROUTERBENCH_KEYS, path)

    models = [
        column
        for column in wide.columns
        if isinstance(column, str)
        and "|" not in column
        and column not in _ROUTERBENCH_KEYS
        and column not in _ROUTERBENCH_IGNORED
        and not column.startswith("Unnamed:")
    ]
    if not models:
        raise DataError("no model score columns found", file=path)
    for model in models:
        if model + _COST_SUFFIX not in wide.columns:
            raise DataError(f"missing cost column for model '{model}'", file=path, field=model + _COST_SUFFIX)

    rows = np.arange(1, len(wide) + 1, dtype=np.int64)
    query_ids = _text_column(wide, "sample_id", path, rows)
    datasets = _text_column(wide, "eval_name", path, rows)
    parsed = [_parse_prompt(value, path, int(row)) for value, row in zip(wide["prompt"].tolist(), rows)]
    prompts = np.array([text for text, _ in parsed], dtype=object)
    multi_part = int(sum(several for _, several in parsed))
    queries, removed = strip_shared_blocks(prompts.tolist(), datasets.tolist())

    cost_columns = [model + _COST_SUFFIX for model in models]
    scores = _numeric_block(wide[models], path, rows, models)
    costs = _numeric_block(wide[cost_columns], path, rows, cost_columns)
    shape = scores.shape
    _check_scores(scores, path, rows, np.broadcast_to(np.array(models, dtype=object), shape))
    _check_costs(costs, path, rows, np.broadcast_to(np.array(cost_columns, dtype=object), shape))

    n_models = len(models)
    frame = _long_frame(
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
        row=line, row_label="line",
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
            row=line, row_label="line",
            field=f"usages.{model}",
        )
    cost = usage.get("cost")
    if cost is None:
        return np.nan
    if isinstance(cost, bool) or not isinstance(cost, (int, float)):
        raise DataError(
            f"expected a number or null, got {type(cost).__name__} {cost!r}",
            file=path,
            row=line, row_label="line",
            field=f"usages.{model}.cost",
        )
    return float(cost)


def _read_avengers_jsonl(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
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
                f"malformed JSON ({error.msg} at column {error.colno}); each line must hold exactly one "
                "JSON object",
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
            raise DataError("expected an object {model: {cost: number}}", file=path, row=line, row_label="line", field="usages")
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
                row=line, row_label="line",
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
    _check_scores(
        score_array, path, record_lines, np.char.add("records.", model_array.astype(str))[:, None], "line"
    )
    _check_costs(
        cost_array,
        path,
        record_lines,
        np.char.add(np.char.add("usages.", model_array.astype(str)), ".cost")[:, None],
        "line",
    )
    query_array = np.array(queries, dtype=object)
    frame = _long_frame(
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


def _read_records(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    text_columns = ("query_id", "dataset", "query", "prompt", "model")
    suffix = path.suffix.lower()
    if suffix in _PARQUET_SUFFIXES:
        try:
            table = pd.read_parquet(path)
        except Exception as error:  # noqa: BLE001 - pyarrow raises several types for unreadable files
            raise DataError(
                f"not a readable Parquet file ({type(error).__name__}: {error})", file=path
            ) from None
        if table.empty:
            raise DataError("empty file: no data rows", file=path)
    elif suffix == ".csv":
        table = _read_csv(path, text_columns)
    else:
        raise DataError(f"a records file must end in .parquet, .pq or .csv, not {suffix!r}", file=path)
    _require_columns(table, ("query_id", "dataset", "query", "model", "score", "cost"), path)

    rows = np.arange(1, len(table) + 1, dtype=np.int64)
    query_ids = _text_column(table, "query_id", path, rows)
    datasets = _text_column(table, "dataset", path, rows)
    queries = _text_column(table, "query", path, rows)
    models = _text_column(table, "model", path, rows)
    if "prompt" in table.columns:
        prompt = table["prompt"]
        given = prompt.notna().to_numpy() & (prompt.astype(str).str.strip().str.len() > 0).to_numpy()
        prompts = np.where(given, prompt.astype(str).to_numpy(dtype=object), queries)
    else:
        prompts = queries
    numbers = _numeric_block(table[["score", "cost"]], path, rows, ("score", "cost"))
    fields = np.broadcast_to(np.array(["score"], dtype=object), (len(table), 1))
    _check_scores(numbers[:, :1], path, rows, fields)
    _check_costs(
        numbers[:, 1:], path, rows, np.broadcast_to(np.array(["cost"], dtype=object), (len(table), 1))
    )
    frame = _long_frame(
        query_ids=query_ids,
        datasets=datasets,
        queries=queries,
        prompts=prompts,
        rows=rows,
        models=models,
        scores=numbers[:, 0],
        costs=numbers[:, 1],
    )
    return frame, {}


def _source_path(source: Mapping[str, Any], base_dir: Path) -> Path:
    raw = source.get("path")
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"sources: source {source.get('name')!r} needs a 'path'")
    path = Path(raw)
    return path if path.is_absolute() else Path(base_dir) / path


def read_source(source: Mapping[str, Any], base_dir: Path = Path(".")) -> pd.DataFrame:
    """Read and validate one source file into the long record format.

    Parameters
    ----------
    source
        One entry of the config's ``sources``: ``{name, format, path, url?, sha256?}``.
    base_dir
        Folder that relative paths are resolved against.

    Returns
    -------
    pandas.DataFrame
        Columns ``RECORD_COLUMNS`` plus ``source`` (the source's name) and ``row`` (1-based data row, or
        line for JSONL). ``score``/``cost`` are NaN where missing; present values are validated. One
        row per (file row, model) for the wide formats. ``frame.attrs["notes"]`` holds format-specific
        counts for the ingest report.

    Raises
    ------
    DataError
        On any bad input (see the module docstring), naming file, row and field.
    """
    name = str(source.get("name", source.get("path", "?")))
    path = _source_path(source, base_dir)
    fmt = source.get("format")
    if fmt not in FORMATS:
        raise DataError(
            f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})", file=path, field="format"
        )
    if not path.is_file() and not (fmt == "llmrouterbench" and path.is_dir()):
        hint = (
            f"download it from {source['url']} or place it there by hand"
            if source.get("url")
            else "place the file there or fix 'path' in the config"
        )
        raise DataError(f"file not found; {hint}", file=path)
    sha256 = source.get("sha256")
    if sha256 and path.is_dir():
        raise ConfigError(f"sources: {name}: sha256 applies to a file, and {path} is a folder")
    if sha256:
        # Always before reading, so that no unverified bytes (above all, no pickle) are ever parsed.
        verify_sha256(path, sha256)
    if fmt == "routerbench":
        frame, notes = _read_routerbench(path, verified=bool(sha256))
    elif fmt == "avengers-jsonl":
        frame, notes = _read_avengers_jsonl(path)
    elif fmt == "llmrouterbench":
        from avengers_pro.formats.llmrouterbench import read_llmrouterbench

        frame, notes = read_llmrouterbench(path)
    else:
        frame, notes = _read_records(path)
    frame["source"] = pd.array(np.full(len(frame), name, dtype=object), dtype="str")
    frame = frame[list(SOURCE_COLUMNS)]
    frame.attrs["notes"] = notes
    return frame


# --------------------------------------------------------------------------- ingestion


def _check_allow_list(allowed: list[str] | None, found: Sequence[str], key: str) -> None:
    if not allowed:
        return
    if len(set(allowed)) != len(allowed):
        raise ConfigError(f"{key}: names must be unique, got {allowed}")
    absent = [name for name in allowed if name not in set(found)]
    if absent:
        raise DataError(
            f"{', '.join(repr(n) for n in absent)} listed in the config but absent from the data "
            f"(found: {', '.join(found)})",
            field=key,
        )


def _check_prices(prices: Mapping[str, Any] | None) -> dict[str, float]:
    checked: dict[str, float] = {}
    for model, price in (prices or {}).items():
        if (
            isinstance(price, bool)
            or not isinstance(price, (int, float))
            or not np.isfinite(price)
            or price < 0
        ):
            raise ConfigError(f"prices.{model}: expected a cost in USD >= 0, got {price!r}")
        checked[str(model)] = float(price)
    return checked


def _key(frame: pd.DataFrame, columns: Sequence[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[list(columns)])


def _conflicting(
    dropped: pd.DataFrame, kept: pd.DataFrame, *, by: str = "query_id", per: Sequence[str] = ("source", "row")
) -> int:
    """How many units (``per``) of ``dropped`` have a present score differing from the kept record.

    ``dropped[by]`` names the kept query each dropped record is compared with.
    """
    present = dropped[dropped["score"].notna()]
    if present.empty or kept.empty:
        return 0
    pairs = present.merge(
        kept[["query_id", "model", "score"]].rename(columns={"query_id": by, "score": "kept_score"}),
        on=[by, "model"],
        how="inner",
    )
    differs = pairs[pairs["score"] != pairs["kept_score"]]
    return int(len(differs.drop_duplicates(list(per))))


def ingest(
    sources: list[dict[str, Any]],
    *,
    models: list[str] | None = None,
    datasets: list[str] | None = None,
    missing: str = "drop-query",
    prices: dict[str, float] | None = None,
    base_dir: Path = Path("."),
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Read every source, apply the policies, and return the canonical tables and the ingest report.

    Parameters
    ----------
    sources
        The config's ``sources`` list, read in order (earlier sources win duplicates).
    models
        Allow-list of models, also the model order; ``None``/empty = every model found, alphabetically.
    datasets
        Allow-list of datasets; ``None``/empty = every dataset found.
    missing
        Policy for a query missing some models' scores: ``drop-query``, ``zero`` or ``mask``.
    prices
        Per-model fallback cost (USD per query) for a present score without a cost.
    base_dir
        Folder that relative source paths are resolved against.

    Returns
    -------
    records : pandas.DataFrame
        ``RECORD_COLUMNS``, one row per (query, model), no NaN, sorted by ``query_id`` then model order.
    queries : pandas.DataFrame
        ``query_id``, ``dataset``, ``query``, ``prompt``; one row per kept query, sorted by ``query_id``.
    report : dict
        JSON-able counts: rows read per source, rows and records dropped per reason, conflicts, merges,
        changed records, kept queries and records, models, datasets, queries per dataset.

    Raises
    ------
    DataError
        On bad input (see :func:`read_source`), an allow-listed name absent from the data, a present
        score without cost or price fallback, or no query left.
    ConfigError
        On an unknown ``missing`` policy, duplicate source names or a bad price.
    """
    if missing not in MISSING_POLICIES:
        raise ConfigError(f"missing: {missing!r} is not one of {', '.join(MISSING_POLICIES)}")
    if not sources:
        raise ConfigError("sources: at least one source is required")
    names = [str(source.get("name", source.get("path"))) for source in sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"sources: names must be unique, got {names}")
    fallback_prices = _check_prices(prices)
    model_list = list(models) if models else None
    dataset_list = list(datasets) if datasets else None

    report: dict[str, Any] = {"missing_policy": missing, "sources": {}}
    frames: list[pd.DataFrame] = []
    paths: dict[str, Path] = {}
    formats: dict[str, str] = {}
    for source, name in zip(sources, names):
        frame = read_source(source, base_dir)
        notes = frame.attrs.get("notes", {})
        paths[name] = _source_path(source, base_dir)
        formats[name] = str(source["format"])
        report["sources"][name] = {
            "path": str(source["path"]),
            "format": formats[name],
            "rows": int(frame["row"].nunique()),
            "records": int(len(frame)),
            **notes,
        }
        logger.info(
            "%s: read %d rows, %d records from %s", name, frame["row"].nunique(), len(frame), source["path"]
        )
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)  # source order, then row order: "first" means this order
    data.attrs = {}

    dropped: dict[str, int] = {}
    conflicts: dict[str, int] = {}

    # 1. Allow-lists.
    found_datasets = sorted(data["dataset"].unique().tolist())
    _check_allow_list(dataset_list, found_datasets, "datasets")
    in_datasets = data["dataset"].isin(dataset_list) if dataset_list else pd.Series(True, index=data.index)
    dropped["rows_outside_datasets"] = int(len(data.loc[~in_datasets, ["source", "row"]].drop_duplicates()))
    data = data[in_datasets]
    found_models = sorted(data["model"].unique().tolist())
    _check_allow_list(model_list, found_models, "models")
    model_order = model_list or found_models
    in_models = data["model"].isin(model_order)
    dropped["records_outside_models"] = int((~in_models).sum())

    # Units that are one row of one file; a records-format file holds one query over many rows.
    rows = data.drop_duplicates(["source", "row"])[
        ["source", "row", "query_id", "dataset", "query", "prompt"]
    ]

    # 2. Same query_id as an earlier row, other (dataset, prompt): dropped.
    by_id = rows.groupby("query_id", sort=False)
    other_text = (rows["dataset"] != by_id["dataset"].transform("first")) | (
        rows["prompt"] != by_id["prompt"].transform("first")
    )
    rows_other_text = rows[other_text]
    rows = rows[~other_text]
    # 3. Same (dataset, prompt) as an earlier row, other query_id: dropped (compared with the first id).
    first_id = rows.groupby(["dataset", "prompt"], sort=False)["query_id"].transform("first")
    other_id = rows["query_id"] != first_id
    rows_other_id = rows[other_id].assign(kept_id=first_id[other_id])
    rows = rows[~other_id]
    dropped["rows_duplicate_id_other_prompt"] = int(len(rows_other_text))
    dropped["rows_duplicate_prompt_other_id"] = int(len(rows_other_id))

    # 4. Same query_id and prompt: merged, first present score per (query, model) kept.
    records = data[in_models & _key(data, ["source", "row"]).isin(_key(rows, ["source", "row"]))]
    present = records[records["score"].notna()]
    repeated = present.duplicated(["query_id", "model"], keep="first")
    kept = present[~repeated]
    dropped["records_duplicate"] = int(repeated.sum())
    conflicts["records_duplicate"] = _conflicting(present[repeated], kept, per=("source", "row", "model"))
    dropped_other_text = data[
        in_models & _key(data, ["source", "row"]).isin(_key(rows_other_text, ["source", "row"]))
    ]
    conflicts["rows_duplicate_id_other_prompt"] = _conflicting(dropped_other_text, kept)
    dropped_other_id = data[in_models].merge(
        rows_other_id[["source", "row", "kept_id"]], on=["source", "row"]
    )
    conflicts["rows_duplicate_prompt_other_id"] = _conflicting(dropped_other_id, kept, by="kept_id")
    # A query is "merged" when its kept rows come from more than one unit of input (one row of a wide
    # or JSONL file; all rows of one query in one records file or LLMRouterBench source).
    long_formats = rows["source"].map(formats).isin(["records", "llmrouterbench"]).to_numpy()
    unit_row = np.where(long_formats, -1, rows["row"].to_numpy())
    units = pd.DataFrame({"query_id": rows["query_id"], "source": rows["source"], "unit": unit_row})
    units_per_query = units.drop_duplicates().groupby("query_id").size()
    merged = {"queries_from_several_rows": int((units_per_query > 1).sum())}

    # 5.-6. Missing scores, on the dense (query x model) grid.
    query_table = rows.drop_duplicates("query_id")[list(QUERY_COLUMNS)].reset_index(drop=True)
    query_ids = query_table["query_id"].to_numpy(dtype=object)
    q_pos = pd.Index(query_ids).get_indexer(kept["query_id"].to_numpy(dtype=object))
    m_pos = pd.Index(model_order).get_indexer(kept["model"].to_numpy(dtype=object))
    has = np.zeros((len(query_ids), len(model_order)), dtype=bool)
    has[q_pos, m_pos] = True
    n_present = has.sum(axis=1)
    all_missing = n_present == 0
    some_missing = ~all_missing & (n_present < len(model_order))
    missing_per_model = (~has[~all_missing]).sum(axis=0)
    dropped["queries_missing_all_models"] = int(all_missing.sum())
    drop_query = all_missing | (some_missing if missing == "drop-query" else False)
    dropped["queries_missing_some_models"] = int(some_missing.sum()) if missing == "drop-query" else 0
    changed: dict[str, Any] = {"records_zero_filled": 0, "records_masked": 0, "records_price_fallback": {}}
    if missing == "zero":
        changed["records_zero_filled"] = int((~has[some_missing]).sum())
    elif missing == "mask":
        changed["records_masked"] = int((~has[some_missing]).sum())

    kept_queries = query_table[~drop_query].reset_index(drop=True)
    final = kept[~drop_query[q_pos]].copy()

    # 7. Present score without cost: price fallback or error.
    no_cost = final["cost"].isna().to_numpy()
    if no_cost.any():
        has_price = final["model"].isin(list(fallback_prices)).to_numpy()
        unpriced = no_cost & ~has_price
        if unpriced.any():
            bad = final.iloc[int(np.flatnonzero(unpriced)[0])]
            model = str(bad["model"])
            field = {
                "routerbench": model + _COST_SUFFIX,
                "avengers-jsonl": f"usages.{model}.cost",
                "records": "cost",
                "llmrouterbench": "cost",
            }[formats[bad["source"]]]
            raise DataError(
                f"model '{model}' has a score but no cost; "
                f"give a fallback with prices: {{{model!r}: <USD per query>}}",
                file=paths[bad["source"]],
                row=int(bad["row"]),
                field=field,
            )
        final.loc[no_cost, "cost"] = final.loc[no_cost, "model"].map(fallback_prices).to_numpy()
        used = final.loc[no_cost, "model"].value_counts()
        changed["records_price_fallback"] = {str(m): int(n) for m, n in used.sort_index().items()}

    if missing == "zero":
        fill_q, fill_m = np.nonzero(~has & (some_missing & ~drop_query)[:, None])
        zeros = (
            query_table.iloc[fill_q]
            .reset_index(drop=True)
            .assign(
                model=pd.array(np.array(model_order, dtype=object)[fill_m], dtype="str"), score=0.0, cost=0.0
            )
        )
        final = pd.concat([final, zeros], ignore_index=True)

    if kept_queries.empty:
        raise DataError(
            f"no query left after ingestion (dropped: {json.dumps(dropped, sort_keys=True)})", field="sources"
        )
    model_rank = pd.Index(model_order).get_indexer(final["model"].to_numpy(dtype=object))
    final = (
        final.assign(_model_rank=model_rank)
        .sort_values(["query_id", "_model_rank"], kind="stable")
        .reset_index(drop=True)[list(RECORD_COLUMNS)]
    )
    final["score"] = final["score"].astype(np.float64)
    final["cost"] = final["cost"].astype(np.float64)
    kept_queries = kept_queries.sort_values("query_id", kind="stable").reset_index(drop=True)

    per_dataset = kept_queries.groupby("dataset").size()
    report["warnings"] = cost_warnings(final, model_order)
    report.update(
        {
            "dropped": dropped,
            "conflicting": conflicts,
            "merged": merged,
            "changed": changed,
            "missing_records_per_model": {m: int(n) for m, n in zip(model_order, missing_per_model)},
            "queries": int(len(kept_queries)),
            "records": int(len(final)),
            "models": list(model_order),
            "datasets": sorted(per_dataset.index.tolist()),
            "queries_per_dataset": {str(d): int(n) for d, n in per_dataset.items()},
        }
    )
    for section in ("dropped", "conflicting", "merged"):
        for reason, count in report[section].items():
            logger.info("%s %s: %d", section, reason, count)
    logger.info("changed: %s", json.dumps(changed, sort_keys=True))
    logger.info(
        "kept %d queries, %d records, %d models, datasets %s",
        len(kept_queries),
        len(final),
        len(model_order),
        report["queries_per_dataset"],
    )
    return final, kept_queries, report


def cost_warnings(records: pd.DataFrame, models: Sequence[str]) -> list[str]:
    """What the costs of the final records cannot tell the router (one sentence each; [] when fine).

    * every cost is 0 (data without recorded usage, like the official code's example file): the
      cost term of the score is the same for every model, and cost-based metrics are undefined;
    * costs differ by query but every model costs the same on each query: the same for routing;
    * some models cost 0 on every query while others are priced: those look free to the router.
    """
    costs = records["cost"].to_numpy(dtype=np.float64)
    if not (costs > 0).any():
        return [
            "every recorded cost is 0 (no usage recorded?): the cost term cannot tell models apart, so "
            "alpha only matters at 0 and the cost-based metrics (AIQ, CostSave, cost at 90%) are null"
        ]
    per_query = records.groupby("query_id", sort=False)["cost"].agg(["min", "max"])
    if (per_query["min"] == per_query["max"]).all():
        return [
            "every model has the same cost on each query: the cost term cannot tell models apart, so "
            "routing depends on accuracy alone at every alpha"
        ]
    priced = records.groupby("model", sort=False)["cost"].max()
    free = [str(model) for model in models if model in priced.index and not priced[model] > 0]
    if free:
        return [
            f"model(s) {', '.join(free)} cost 0 on every query while other models are priced: the router "
            "treats them as free (check that their usage was recorded)"
        ]
    return []


def summary_line(report: Mapping[str, Any]) -> str:
    """One line for the console: what ingestion kept, and what it dropped, merged or changed and why."""
    parts = [
        f"ingest: {report['queries']:,} queries, {len(report['models'])} models, "
        f"{len(report['datasets'])} datasets ({report['records']:,} records)"
    ]
    dropped = {reason: n for reason, n in report["dropped"].items() if n}
    if dropped:
        parts.append("dropped " + ", ".join(f"{n:,} {reason.replace('_', ' ')}" for reason, n in dropped.items()))
    merged = report["merged"].get("queries_from_several_rows", 0)
    if merged:
        parts.append(f"merged {merged:,} queries from several rows")
    changed = report["changed"]
    if changed["records_zero_filled"]:
        parts.append(f"zero-filled {changed['records_zero_filled']:,} missing records (missing: zero)")
    if changed["records_masked"]:
        parts.append(f"masked {changed['records_masked']:,} missing records (missing: mask)")
    fallback = sum(changed["records_price_fallback"].values())
    if fallback:
        parts.append(f"priced {fallback:,} records from prices:")
    return "; ".join(parts) + " (details: results/ingest_report.json)"
