"""The MMLU-Pro authors' published per-question outputs of one model (format ``mmlu-pro-outputs``).

The authors of MMLU-Pro (Wang et al., 2024) publish, for each model they evaluated, a zip holding one
JSON file: a list with one object per question (``question_id``, ``question``, ``options``,
``answer``, ``category``, ``pred`` and the model's output text, named ``generated_text`` or
``model_outputs``). This reader takes the zip (read without unpacking) or the JSON inside it.

* One query per ``question_id``: ``query_id`` = ``mmlu-pro/<question_id>``, ``dataset`` =
  ``mmlu-pro/<category>``, and the text routed and embedded (``query`` = ``prompt``) is the question
  followed by its lettered options, one per line (``A. ...``).
* Score = ``pred == answer``. A null ``pred`` (the authors' answer extraction found no letter) is
  wrong by default (``null_pred: wrong``); ``null_pred: random-guess`` scores it 1 / the number of
  options, the expected score of the random letter the authors' ``compute_accuracy.py`` draws.
* Cost is left empty: these outputs carry no usage. ``input_tokens`` (the routed text) and
  ``output_tokens`` (the output text) are counted with :data:`avengers_pro.tokens.TOKENIZER`, and
  ingestion prices them with ``prices: {model: {input, output}}``.
* Entries that are not objects (one published file holds 43 plain strings) are skipped and counted
  (``entries_not_records``); any other malformed entry is a :class:`DataError` naming the file, the
  entry (1-based position in the list) and the field.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.formats.table import long_frame
from avengers_pro.tokens import count_tokens

NULL_PRED_POLICIES: tuple[str, ...] = ("wrong", "random-guess")
OUTPUT_FIELDS: tuple[str, ...] = ("generated_text", "model_outputs")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Every model's file holds the same questions: their token counts are kept for the next file.
_QUESTION_TOKENS: dict[str, int] = {}
_FILE_NAME = re.compile(r"^model_outputs_(?P<model>.+?)_\d+shots$")


def model_from_file_name(path: Path) -> str | None:
    """The model named by the authors' file name (``model_outputs_<model>_5shots.zip``), or None."""
    match = _FILE_NAME.match(Path(path.name).stem)
    return match.group("model") if match else None


def question_text(question: str, options: list[str]) -> str:
    """The text routed and embedded: the question, then each option on its own line as ``A. text``."""
    lines = [question.strip(), *(f"{LETTERS[i]}. {str(option).strip()}" for i, option in enumerate(options))]
    return "\n".join(lines)


def _load_entries(path: Path) -> list[Any]:
    """The JSON list of a zip (its single ``.json`` member) or of a JSON file."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = [name for name in archive.namelist() if name.endswith(".json")]
                if len(members) != 1:
                    raise DataError(f"expected one .json file in the zip, found {len(members)}", file=path)
                raw = archive.read(members[0])
        elif path.suffix == ".zip":
            raise DataError("not a readable zip file (truncated or damaged download?)", file=path)
        else:
            raw = path.read_bytes()
    except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as error:
        raise DataError(f"not a readable zip file ({error})", file=path) from None
    try:
        entries = json.loads(raw)
    except UnicodeDecodeError as error:
        raise DataError(f"not UTF-8 text ({error.reason} at byte {error.start})", file=path) from None
    except json.JSONDecodeError as error:
        raise DataError(
            f"malformed JSON ({error.msg} at line {error.lineno} column {error.colno})", file=path
        ) from None
    if not isinstance(entries, list):
        raise DataError(f"expected a JSON list of question records, got {type(entries).__name__}", file=path)
    return entries


def _record(entry: dict[str, Any], path: Path, position: int, null_pred: str) -> tuple[int, str, str, float, str]:
    """(question_id, category, routed text, score, output text) of one record; DataError if malformed."""

    def bad(field: str, message: str) -> DataError:
        return DataError(message[:200], file=path, row=position, row_label="entry", field=field)

    def required(name: str, kind: type) -> Any:
        value = entry.get(name)
        if value is None:
            raise bad(name, "value is missing")
        if isinstance(value, bool) or not isinstance(value, kind):
            raise bad(name, f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return value

    def nonempty_text(name: str) -> str:
        value = str(required(name, str)).strip()
        if not value:
            raise bad(name, "value is empty")
        return value

    question_id = required("question_id", int)
    question = nonempty_text("question")
    options = required("options", list)
    if not 1 <= len(options) <= len(LETTERS):
        raise bad("options", f"expected 1 to {len(LETTERS)} options, got {len(options)}")
    category = nonempty_text("category")
    answer = str(required("answer", str)).strip()
    if answer not in tuple(LETTERS[: len(options)]):  # one letter: "" and "AB" are substrings, not letters
        raise bad("answer", f"expected one of the {len(options)} option letters, got {answer!r}")
    pred = entry.get("pred")
    if pred is None:
        score = 1.0 / len(options) if null_pred == "random-guess" else 0.0
    elif isinstance(pred, str):
        score = 1.0 if pred.strip() == answer else 0.0
    else:
        raise bad("pred", f"expected a letter or null, got {type(pred).__name__} {pred!r}")
    name = next((field for field in OUTPUT_FIELDS if field in entry), None)
    if name is None:
        raise bad(OUTPUT_FIELDS[0], f"no output text ({' or '.join(OUTPUT_FIELDS)})")
    output = entry[name]
    if output is None:
        output = ""
    if not isinstance(output, str):
        raise bad(name, f"expected text, got {type(output).__name__}")
    return question_id, category, question_text(question, [str(option) for option in options]), score, output


def read_mmlu_pro_outputs(
    path: Path, *, model: str | None = None, null_pred: str = "wrong"
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read one model's published MMLU-Pro outputs into the long frame (one record per question).

    Parameters
    ----------
    path
        The authors' zip (``model_outputs_<model>_5shots.zip``) or the JSON file inside it.
    model
        The model's name in the records; by default the ``<model>`` part of the authors' file name.
    null_pred
        ``wrong`` (score 0) or ``random-guess`` (score 1 / number of options) for a null ``pred``.

    Returns
    -------
    frame, notes
        The long frame (``row`` = the entry's 1-based position in the JSON list) and counts for the
        ingest report: ``entries_not_records``, ``null_pred`` (records whose ``pred`` was null) and
        ``tokenizer``; ``warnings`` holds a sentence when entries were skipped.
    """
    if null_pred not in NULL_PRED_POLICIES:
        raise DataError(f"null_pred: expected one of {', '.join(NULL_PRED_POLICIES)}, got {null_pred!r}", file=path)
    name = model or model_from_file_name(path)
    if not name:
        raise DataError(
            "cannot tell the model from the file name (model_outputs_<model>_5shots.zip); give the source a 'model'",
            file=path,
            field="model",
        )
    entries = _load_entries(path)
    positions: list[int] = []
    fields: list[tuple[int, str, str, float, str]] = []
    null_count = 0
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            continue
        record = _record(entry, path, position, null_pred)
        null_count += entry.get("pred") is None
        positions.append(position)
        fields.append(record)
    skipped = len(entries) - len(positions)
    if not fields:
        raise DataError("no question records in the file", file=path)
    question_ids, categories, texts, scores, outputs = zip(*fields)
    n = len(fields)
    frame = long_frame(
        query_ids=np.array([f"mmlu-pro/{qid}" for qid in question_ids], dtype=object),
        datasets=np.array([f"mmlu-pro/{category}" for category in categories], dtype=object),
        queries=np.array(texts, dtype=object),
        prompts=np.array(texts, dtype=object),
        rows=np.array(positions, dtype=np.int64),
        models=np.full(n, name, dtype=object),
        scores=np.array(scores, dtype=np.float64),
        costs=np.full(n, np.nan),
        input_tokens=count_tokens(texts, _QUESTION_TOKENS),
        output_tokens=count_tokens(outputs),
    )
    notes: dict[str, Any] = {"model": name, "entries_not_records": skipped, "null_pred": null_count}
    if skipped:
        notes["warnings"] = [
            f"{path.name}: skipped {skipped} entries that are not question records (plain "
            f"{', '.join(sorted({type(e).__name__ for e in entries if not isinstance(e, dict)}))})"
        ]
    return frame, notes
