"""LLMRouterBench's result layout: read a results tree or its release tarball, write one result file.

The layout
----------
LLMRouterBench (arXiv 2601.07206, by the authors of Avengers-Pro) stores one JSON file per
(dataset, split, model) run at
``results/bench/<dataset>/<split>/<model>/<dataset>-<split>-<model>-<YYYYMMDD_HHMMSS>.json``
(its ``ResultsStorage``). Its pre-collected results ship as one archive, ``bench-release.tar.gz``,
that unpacks to that tree. A file is a JSON object with:

- ``dataset_name``, ``split``, ``model_name`` (the run's identity; ``demo: true`` marks a demo run),
  ``performance`` (mean score), ``time_taken``, ``prompt_tokens``, ``completion_tokens``, ``cost``
  (the total in USD), ``counts`` (the number of records), ``extra_metrics`` (an object) and, from its
  writer, ``data_fingerprint``;
- ``records``: one object per question with ``index`` (the 1-based position of the question in its
  dataset, an integer), ``origin_query`` (the bare question), ``prompt`` (what was sent),
  ``prediction`` (the extracted answer), ``raw_output``, ``ground_truth``, ``score`` (usually 0/1;
  may be null), ``prompt_tokens``, ``completion_tokens``, ``cost`` (USD for this call) and
  ``extra_fields`` (an object).

Reading (format ``llmrouterbench`` of a source)
------------------------------------------------
``path`` is a results tree (any folder; every ``*.json`` below it is looked at), a single result
file, or a tarball of the tree (``.tar.gz``, ``.tgz``, ``.tar``...), read member by member from the
archive without unpacking anything to disk. As LLMRouterBench's own loader does:

- the run's identity is the file's ``dataset_name``, ``split`` and ``model_name`` (the folder names
  ``<dataset>/<split>/<model>`` stand in for a missing one);
- of several files of one (dataset, split, model) only the latest is kept: the one with the latest
  ``YYYYMMDD_HHMMSS`` in its name, a file without one counting as older than any with one, then by
  modification time (whole seconds), then by name. Older files are counted in the report;
- demo runs are skipped; JSON files without a ``records`` list (not result files) are skipped and
  counted; with a ``splits`` allow-list, runs of other splits are skipped and counted (a listed split
  that no file has is an error naming the splits found);
- ``query_id`` is ``<dataset>/<split>/<index>``: a dataset released in several splits (``mmlupro``
  has ``test`` and ``test_3000``) never has two questions under one id; the query text (what gets
  embedded) is ``origin_query`` where it is not empty, else ``prompt``; lists and dicts in these
  fields are JSON-encoded.

Unlike that loader, a null score is *missing* (the config's ``missing:`` policy decides, instead of a
silent 0) and so is a missing cost (a ``prices:`` fallback or an error, like every other format). A
score outside [0, 1], a negative cost or a malformed file is a :class:`~avengers_pro.errors.DataError`
naming the file (``archive.tar.gz:member`` inside a tarball), the record (1-based) and the field.

Writing (the collect jobs)
--------------------------
:func:`write_result_file` writes what LLMRouterBench's storage writes, under its file name
(:func:`result_file_name`), with only the top-level keys its loader accepts (it builds its result
object from them and refuses any other): everything of ours beyond its fields goes under
``extra_metrics`` (the run) and ``extra_fields`` (a record). ``data_fingerprint`` is left out: its
loader does not accept it, and its collector then keeps the file as it is.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.formats.table import long_frame
from avengers_pro.io import PathLike, write_json

#: The end of the file name LLMRouterBench gives a run: ``<YYYYMMDD>_<HHMMSS>.json``.
TIMESTAMP = re.compile(r"(\d{8})_(\d{6})\.json$")
#: The top-level keys of a result file that LLMRouterBench's loader accepts (its ``BenchmarkResult``).
RESULT_KEYS: tuple[str, ...] = (
    "performance",
    "time_taken",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "counts",
    "model_name",
    "dataset_name",
    "split",
    "demo",
    "extra_metrics",
    "records",
)

RECORD_FIELDS: tuple[str, ...] = (
    "index",
    "origin_query",
    "prompt",
    "prediction",
    "raw_output",
    "ground_truth",
    "score",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "extra_fields",
)


@dataclass(frozen=True)
class _Member:
    """One JSON file of a tree or tarball."""

    label: str  # where it is, for messages: a path, or "archive:member"
    parts: tuple[str, ...]  # its path, split at "/"
    mtime: int
    data: bytes


def freshness(name: str, mtime: float) -> tuple[int, int, str]:
    """Sort key of a result file: a file name timestamp beats none; then the time; then the name."""
    match = TIMESTAMP.search(name)
    if match:
        return 1, int(match.group(1) + match.group(2)), name
    return 0, int(mtime), name


def _is_tarball(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _members(path: Path) -> Iterator[_Member]:
    """Every ``*.json`` file of a tree, a single file or a tarball (streamed, never unpacked)."""
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            if file.is_file() and not file.name.startswith("._"):
                relative = file.relative_to(path).parts
                yield _Member(str(file), relative, int(file.stat().st_mtime), file.read_bytes())
        return
    if path.suffix.lower() == ".json":
        yield _Member(str(path), path.parts, int(path.stat().st_mtime), path.read_bytes())
        return
    if not _is_tarball(path):
        raise DataError("expected a results folder, a .json result file or a tarball of the results tree", file=path)
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                name = member.name
                base = name.rsplit("/", 1)[-1]
                if not member.isfile() or not base.endswith(".json") or base.startswith("._"):
                    continue
                handle = archive.extractfile(member)
                if handle is None:  # pragma: no cover - isfile() members always have content
                    continue
                parts = tuple(part for part in name.split("/") if part not in ("", "."))
                yield _Member(f"{path}:{name}", parts, int(member.mtime), handle.read())
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(f"not a readable tarball ({type(error).__name__}: {error})", file=path) from None


def _text(value: Any) -> str:
    """A text field as LLMRouterBench's loader turns it into a string (lists and dicts as JSON)."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _number(value: Any, label: str, row: int, name: str) -> float:
    """A score or cost: a finite number, or NaN for null / absent."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    raise DataError(f"expected a number or null, got {value!r}", file=label, row=row, field=name)


def _identity(member: _Member, data: Mapping[str, Any]) -> tuple[str, str, str]:
    """(dataset, split, model) from the file, else from its folders ``<dataset>/<split>/<model>/``."""
    folders = member.parts[:-1]
    names = []
    for key, back in (("dataset_name", 3), ("split", 2), ("model_name", 1)):
        value = data.get(key)
        if value is None or str(value).strip() == "":
            if len(folders) < back:
                raise DataError(
                    "missing, and the file is not in a <dataset>/<split>/<model>/ folder to take it from",
                    file=member.label,
                    field=key,
                )
            value = folders[-back]
        names.append(str(value))
    return names[0], names[1], names[2]


def _parse_records(member: _Member, records: Sequence[Any]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {"index": [], "query": [], "prompt": [], "score": [], "cost": []}
    for row, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise DataError(f"expected an object, got {type(record).__name__}", file=member.label, row=row)
        index = record.get("index")
        if index is None or isinstance(index, bool) or not isinstance(index, (int, str)) or str(index).strip() == "":
            raise DataError(
                f"expected an integer or a non-empty string, got {index!r}", file=member.label, row=row, field="index"
            )
        prompt = _text(record.get("prompt"))
        query = _text(record.get("origin_query"))
        if not query.strip():
            query = prompt
        if not prompt.strip():
            prompt = query
        if not query.strip():
            raise DataError("both origin_query and prompt are empty", file=member.label, row=row, field="origin_query")
        score = _number(record.get("score"), member.label, row, "score")
        if not math.isnan(score) and not 0.0 <= score <= 1.0:
            raise DataError(f"score {score!r} is outside [0, 1]", file=member.label, row=row, field="score")
        cost = _number(record.get("cost"), member.label, row, "cost")
        if cost < 0:
            raise DataError(f"cost {cost!r} is negative (costs are USD >= 0)", file=member.label, row=row, field="cost")
        columns["index"].append(str(index))
        columns["query"].append(query)
        columns["prompt"].append(prompt)
        columns["score"].append(score)
        columns["cost"].append(cost)
    return columns


def read_llmrouterbench(path: PathLike, splits: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a results tree, a result file or the release tarball into the long record format.

    Parameters
    ----------
    path
        The folder, ``.json`` file or tarball.
    splits
        Allow-list of splits (``None``: every split).

    Returns
    -------
    frame : pandas.DataFrame
        The columns of :data:`avengers_pro.formats.table.RECORD_COLUMNS` plus ``source`` (empty; the caller
        names it) and ``row`` (1-based, counted over the kept files in (dataset, split, model) order).
        Score and cost are NaN where null or absent.
    notes : dict
        Counts for the ingest report: files looked at, kept, older, demo, not result files, of
        other splits; null scores; and the kept files by ``dataset/split/model``.

    Raises
    ------
    DataError
        A file that is not JSON, a malformed record or a value out of range, naming file, record and
        field; no result file at all; or a split in ``splits`` that no file has.
    """
    root = Path(path)
    allowed = None if splits is None else set(splits)
    kept: dict[tuple[str, str, str], tuple[tuple[int, int, str], str, dict[str, list[Any]]]] = {}
    counts = {"files_read": 0, "files_older": 0, "files_demo": 0, "files_not_results": 0, "files_other_split": 0}
    seen_splits: set[str] = set()
    for member in _members(root):
        counts["files_read"] += 1
        try:
            data = json.loads(member.data)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataError(f"not a readable JSON file ({error})", file=member.label) from None
        if not isinstance(data, dict) or not isinstance(data.get("records"), list):
            counts["files_not_results"] += 1
            continue
        if data.get("demo"):
            counts["files_demo"] += 1
            continue
        identity = _identity(member, data)
        seen_splits.add(identity[1])
        if allowed is not None and identity[1] not in allowed:
            counts["files_other_split"] += 1
            continue
        key = freshness(member.parts[-1], member.mtime)
        if identity in kept:
            counts["files_older"] += 1
            if kept[identity][0] >= key:
                continue
        kept[identity] = (key, member.label, _parse_records(member, data["records"]))
    absent = sorted((allowed or set()) - seen_splits)
    if absent:
        raise DataError(
            f"split(s) {', '.join(absent)} listed in splits: but in no result file "
            f"(found: {', '.join(sorted(seen_splits)) or 'none'})",
            file=root,
            field="splits",
        )
    if not kept:
        raise DataError(f"no LLMRouterBench result file found (looked at {counts['files_read']} JSON files)", file=root)

    parts: dict[str, list[Any]] = {
        name: [] for name in ("query_id", "dataset", "query", "prompt", "model", "score", "cost")
    }
    for (dataset, split, model), (_key, _label, columns) in sorted(kept.items()):
        n = len(columns["index"])
        parts["query_id"].extend(f"{dataset}/{split}/{index}" for index in columns["index"])
        parts["dataset"].extend([dataset] * n)
        parts["model"].extend([model] * n)
        for name in ("query", "prompt", "score", "cost"):
            parts[name].extend(columns[name])
    scores = np.asarray(parts["score"], dtype=np.float64)
    frame = long_frame(
        query_ids=np.asarray(parts["query_id"], dtype=object),
        datasets=np.asarray(parts["dataset"], dtype=object),
        queries=np.asarray(parts["query"], dtype=object),
        prompts=np.asarray(parts["prompt"], dtype=object),
        rows=np.arange(1, len(scores) + 1, dtype=np.int64),
        models=np.asarray(parts["model"], dtype=object),
        scores=scores,
        costs=np.asarray(parts["cost"], dtype=np.float64),
    )
    notes = {
        **counts,
        "files_kept": len(kept),
        "null_scores": int(np.isnan(scores).sum()),
        "kept_files": {"/".join(identity): label for identity, (_, label, _) in sorted(kept.items())},
    }
    return frame, notes


def result_file_name(dataset: str, split: str, model: str, when: datetime.datetime) -> str:
    """LLMRouterBench's name of a run's file: ``<dataset>-<split>-<model>-<YYYYMMDD_HHMMSS>.json``."""
    return f"{dataset}-{split}-{model}-{when.strftime('%Y%m%d_%H%M%S')}.json"


def write_result_file(
    folder: PathLike,
    *,
    dataset: str,
    split: str,
    model: str,
    records: Sequence[Mapping[str, Any]],
    time_taken: float,
    extra_metrics: Mapping[str, Any] | None = None,
    when: datetime.datetime | None = None,
) -> Path:
    """Write one run as LLMRouterBench's storage does (atomically), totals computed from ``records``.

    The file is ``folder/<dataset>-<split>-<model>-<YYYYMMDD_HHMMSS>.json``; the folder's other result
    files of the same run (earlier collections) are removed once it is written, so the folder holds one.

    Parameters
    ----------
    folder
        The run's folder, ``.../<dataset>/<split>/<model>/`` in LLMRouterBench's tree.
    dataset, split, model
        The run's identity (``dataset_name``, ``split``, ``model_name``).
    records
        One mapping per question with the fields of :data:`RECORD_FIELDS` (``index`` a 1-based integer).
    time_taken
        Seconds the run took.
    extra_metrics
        Everything else about the run (LLMRouterBench's loader accepts no other top-level key).
    when
        The time in the file name (default: now, local time, as LLMRouterBench's writer).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    scores = [float(r["score"]) for r in records if r.get("score") is not None]
    payload: dict[str, Any] = {
        "performance": sum(scores) / len(scores) if scores else 0.0,
        "time_taken": round(float(time_taken), 3),
        "prompt_tokens": int(sum(int(r.get("prompt_tokens") or 0) for r in records)),
        "completion_tokens": int(sum(int(r.get("completion_tokens") or 0) for r in records)),
        "cost": float(sum(float(r.get("cost") or 0.0) for r in records)),
        "counts": len(records),
        "model_name": model,
        "dataset_name": dataset,
        "split": split,
        "demo": False,
        "extra_metrics": dict(extra_metrics or {}),
        "records": [
            {name: record.get(name, {} if name == "extra_fields" else None) for name in RECORD_FIELDS}
            for record in records
        ],
    }
    folder = Path(folder)
    path = folder / result_file_name(dataset, split, model, when or datetime.datetime.now())
    write_json(payload, path)
    for older in folder.glob(f"{dataset}-{split}-{model}-*.json"):
        if older != path and TIMESTAMP.search(older.name):
            older.unlink()
    return path
