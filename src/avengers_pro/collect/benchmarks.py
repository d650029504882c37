r"""Benchmark files (the questions to collect answers to) and the prompts built from them.

A benchmark file is JSONL (``.jsonl``/``.json``, one object per line), CSV or Parquet with the
columns ``id`` (unique, non-empty), ``question`` (non-empty text), ``answer`` and, optionally,
``choices``: a list of option texts (in CSV, a JSON list such as ``["Paris", "Rome"]``). What
``answer`` holds depends on the grader: a letter for ``choice`` (A = the first option; the file must
give ``choices``), a number for ``number`` (``12``, ``"3/4"``, ``"\\frac{3}{4}"``), a string or, in
JSONL and Parquet, a list of accepted strings for ``exact`` and ``regex``. Every problem is a
:class:`~avengers_pro.errors.DataError` naming the file, the 1-based row and the field.

Prompts: the benchmark's ``prompt`` template (``{question}`` and ``{choices}``), or the default of its
grader (:data:`DEFAULT_TEMPLATES`). Options are shown one per line as ``A) text``. Every default asks
the model to end with a line ``Answer: ...``, the cue the graders look for first (LLMRouterBench's
multiple-choice prompts ask for ``Answer: $LETTER`` the same way). The messages of a request
(:func:`render_messages`): the benchmark's ``system_prompt`` as a system message, each ``few_shot``
example as a user turn (its question through the same template) and an assistant turn (its answer,
verbatim), then the question; with neither, the one user message of earlier versions, so answers
cached before these settings existed are found again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from avengers_pro.collect.graders import parse_number
from avengers_pro.errors import DataError
from avengers_pro.io import PathLike

DEFAULT_TEMPLATES: dict[str, str] = {
    "choice": (
        "{question}\n\n{choices}\n\nAnswer with the letter of the correct option. "
        'End your reply with a line of the form "Answer: X", where X is that letter.'
    ),
    "number": (
        "{question}\n\nGive the final answer as a number. "
        'End your reply with a line of the form "Answer: N", where N is that number.'
    ),
    "exact": '{question}\n\nEnd your reply with a line of the form "Answer: <your answer>".',
    "regex": "{question}",
}
_MAX_CHOICES = 26


@dataclass(frozen=True)
class Question:
    """One benchmark question; ``answer`` is a tuple of accepted answers (one, except for lists)."""

    id: int | str
    question: str
    choices: tuple[str, ...] | None
    answer: tuple[str, ...]
    row: int

    @property
    def ground_truth(self) -> str:
        """The answer as LLMRouterBench's ``ground_truth`` field holds it (a list JSON-encoded)."""
        return self.answer[0] if len(self.answer) == 1 else json.dumps(list(self.answer), ensure_ascii=False)


def letter(position: int) -> str:
    """The option letter of a 0-based position: A, B, C..."""
    return chr(ord("A") + position)


def render_choices(choices: Sequence[str] | None) -> str:
    """Options one per line, ``A) first``; empty text when there are none."""
    return "\n".join(f"{letter(i)}) {text}" for i, text in enumerate(choices or ()))


def render_prompt(template: str | None, grader: str, question: Question) -> str:
    """The prompt sent for ``question``: its benchmark's template, else the grader's default."""
    return (template or DEFAULT_TEMPLATES[grader]).format_map(
        {"question": question.question, "choices": render_choices(question.choices)}
    )


def render_messages(benchmark: Mapping[str, Any], question: Question) -> list[dict[str, str]]:
    """The chat messages sent for ``question``: system prompt, few-shot turns, the question."""
    template, grader = benchmark.get("prompt"), str(benchmark["grader"])
    messages: list[dict[str, str]] = []
    if benchmark.get("system_prompt"):
        messages.append({"role": "system", "content": str(benchmark["system_prompt"])})
    for example in benchmark.get("few_shot") or ():
        shown = Question("example", str(example["question"]), tuple(example.get("choices") or ()) or None, ("",), 0)
        messages.append({"role": "user", "content": render_prompt(template, grader, shown)})
        messages.append({"role": "assistant", "content": str(example["answer"])})
    messages.append({"role": "user", "content": render_prompt(template, grader, question)})
    return messages


def _rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows = []
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except UnicodeDecodeError as error:
            raise DataError(f"not UTF-8 text ({error.reason} at byte {error.start})", file=path) from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(
                    f"malformed JSON ({error.msg} at column {error.colno})", file=path, row=number
                ) from None
            if not isinstance(item, dict):
                raise DataError(f"expected a JSON object, got {type(item).__name__}", file=path, row=number)
            rows.append({**item, "_row": number})
        return rows
    if suffix == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise DataError("empty file", file=path) from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
            raise DataError(f"not a readable CSV file ({error})", file=path) from None
    elif suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except Exception as error:  # noqa: BLE001 - pyarrow raises several types for unreadable files
            raise DataError(f"not a readable Parquet file ({type(error).__name__}: {error})", file=path) from None
    else:
        raise DataError(f"a benchmark file must end in .jsonl, .json, .csv, .parquet or .pq, not {suffix!r}", file=path)
    records = frame.to_dict(orient="records")
    return [{**record, "_row": number} for number, record in enumerate(records, start=1)]


def _missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _choices(value: Any, path: Path, row: int) -> tuple[str, ...] | None:
    if (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    ):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DataError(
                'expected a JSON list of option texts, such as ["Paris", "Rome"]', file=path, row=row, field="choices"
            ) from None
    if hasattr(value, "tolist"):  # a Parquet list cell arrives as a numpy array
        value = value.tolist()
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(c, (str, int, float)) and str(c).strip() for c in value)
    ):
        raise DataError("expected a non-empty list of option texts", file=path, row=row, field="choices")
    if len(value) > _MAX_CHOICES:
        raise DataError(f"{len(value)} options; at most {_MAX_CHOICES} (A-Z)", file=path, row=row, field="choices")
    return tuple(str(c) for c in value)


def _answers(value: Any, grader: str, choices: tuple[str, ...] | None, path: Path, row: int) -> tuple[str, ...]:
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, list):
        if grader not in ("exact", "regex") or not value:
            raise DataError("expected one answer, not a list", file=path, row=row, field="answer")
        answers = tuple(str(v).strip() for v in value)
    elif _missing(value) or isinstance(value, bool):
        raise DataError("value is missing", file=path, row=row, field="answer")
    else:
        answers = (str(value).strip(),)
    if any(not a for a in answers):
        raise DataError("empty answer", file=path, row=row, field="answer")
    if grader == "choice":
        if choices is None:
            raise DataError(
                "a choice benchmark needs the options of every question", file=path, row=row, field="choices"
            )
        valid = [letter(i) for i in range(len(choices))]
        if answers[0].upper() not in valid:
            raise DataError(
                f"expected the letter of an option ({', '.join(valid)}), got {answers[0]!r}",
                file=path,
                row=row,
                field="answer",
            )
        return (answers[0].upper(),)
    if grader == "number" and parse_number(answers[0]) is None:
        raise DataError(f"expected a number, got {answers[0]!r}", file=path, row=row, field="answer")
    return answers


def read_benchmark(path: PathLike, grader: str) -> list[Question]:
    """Read and check a benchmark file.

    Parameters
    ----------
    path
        JSONL, CSV or Parquet file (see the module docstring).
    grader
        The benchmark's grader, which decides what ``answer`` must hold.

    Returns
    -------
    list[Question]
        In file order.

    Raises
    ------
    DataError
        A missing or unreadable file, a missing column, an empty or duplicate id, an empty question,
        bad choices or an answer the grader cannot use; naming file, row and field.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("benchmark file not found; place it there or fix the benchmark's path in the config", file=path)
    rows = _rows(path)
    if not rows:
        raise DataError("empty file: no questions", file=path)
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for raw in rows:
        row = int(raw["_row"])
        for column in ("id", "question", "answer"):
            if column not in raw:
                raise DataError(
                    f"missing required field (found: {', '.join(k for k in raw if k != '_row')})",
                    file=path,
                    row=row,
                    field=column,
                )
        ident = raw["id"]
        if _missing(ident) or isinstance(ident, (bool, list, dict)):
            raise DataError(f"expected a non-empty id, got {ident!r}", file=path, row=row, field="id")
        if isinstance(ident, float) and ident.is_integer():
            ident = int(ident)
        ident = ident if isinstance(ident, int) else str(ident).strip()
        if str(ident) in seen:
            raise DataError(f"duplicate id {ident!r} (first in row {seen[str(ident)]})", file=path, row=row, field="id")
        seen[str(ident)] = row
        text = raw["question"]
        if not isinstance(text, str) or not text.strip():
            raise DataError("expected a non-empty question text", file=path, row=row, field="question")
        choices = _choices(raw.get("choices"), path, row)
        answers = _answers(raw["answer"], grader, choices, path, row)
        questions.append(Question(ident, text, choices, answers, row))
    return questions
