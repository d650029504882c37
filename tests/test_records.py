"""Loaders, validation and ingestion policies of avengers_pro.records (no real data needed)."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from avengers_pro.errors import ConfigError, DataError
from avengers_pro.formats.routerbench import strip_shared_blocks
from avengers_pro.formats.table import TOKEN_COLUMNS
from avengers_pro.records import RECORD_COLUMNS, ingest, read_source, summary_line

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODELS = ("model-a", "model-b", "model-c")

# --------------------------------------------------------------------------- builders: made-up data in
# the real files' layouts (RouterBench's few-shot formatting, with invented questions)

ARC_INSTRUCTION = 'Print only a single choice  from "A" or "B" or "C" or "D" without explanation.\nAnswer:'
ARC_EXAMPLES = [
    f"Which tool measures mass?\nA) ruler\nB) balance\nC) thermometer\nD) clock\n{ARC_INSTRUCTION}\nB",
    f"What do plants need for photosynthesis?\nA) sand\nB) salt\nC) light\nD) noise\n{ARC_INSTRUCTION}\nC",
    f"Which is a gas at room temperature?\nA) oxygen\nB) iron\nC) wood\nD) ice\n{ARC_INSTRUCTION}\nA",
]
WINO_HEADER = "Please answer with the letter of the correct answer."
WINO_INSTRUCTION = 'Print only a single choice  from "A" or "B" without explanation. Answer:'
WINO_EXAMPLES = [
    f"Tom lent Bob a pen because _ had two.\nA) Tom\nB) Bob\n{WINO_INSTRUCTION}\nA",
    f"The cup fell off the shelf because _ was slippery.\nA) cup\nB) shelf\n{WINO_INSTRUCTION}\nB",
]


def arc_prompt(question: str) -> str:
    return "\n\n".join([*ARC_EXAMPLES, f"{question}\nA) one\nB) two\nC) three\nD) four\n{ARC_INSTRUCTION}"])


def wino_prompt(sentence: str) -> str:
    blocks = [part for example in WINO_EXAMPLES for part in (WINO_HEADER, example)]
    return "\n\n".join([*blocks, f"{sentence}\nA) Ann\nB) Sue\n{WINO_INSTRUCTION}"])


def wide_frame(rows: list[dict[str, Any]], models: tuple[str, ...] = MODELS) -> pd.DataFrame:
    """RouterBench wide layout. Each row: sample_id, eval_name, text (or prompt), scores, costs."""
    records = []
    for i, row in enumerate(rows):
        prompt = row["prompt"] if "prompt" in row else repr([row["text"]])
        record: dict[str, Any] = {
            "Unnamed: 0": i,
            "sample_id": row["sample_id"],
            "prompt": prompt,
            "eval_name": row["eval_name"],
        }
        for j, model in enumerate(models):
            record[model] = row.get("scores", [1.0] * len(models))[j]
        for j, model in enumerate(models):
            record[f"{model}|model_response"] = "B"
            record[f"{model}|total_cost"] = row.get("costs", [0.001 * (j + 1)] * len(models))[j]
        record["oracle_model_to_route_to"] = models[0]
        records.append(record)
    return pd.DataFrame(records)


def write_wide(tmp_path: Path, rows: list[dict[str, Any]], name: str = "rb.csv", **kwargs: Any) -> dict[str, Any]:
    path = tmp_path / name
    wide_frame(rows, **kwargs).to_csv(path, index=False)
    return {"name": Path(name).stem, "format": "routerbench", "path": str(path)}


def write_jsonl(tmp_path: Path, lines: list[Any], name: str = "av.jsonl") -> dict[str, Any]:
    path = tmp_path / name
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return {"name": Path(name).stem, "format": "avengers-jsonl", "path": str(path)}


def write_records(tmp_path: Path, rows: list[dict[str, Any]], name: str = "rec.csv") -> dict[str, Any]:
    path = tmp_path / name
    frame = pd.DataFrame(rows)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return {"name": Path(name).stem, "format": "records", "path": str(path)}


def long_rows(
    query_id: str,
    scores: dict[str, float | None],
    *,
    dataset: str = "d1",
    query: str | None = None,
    cost: float | None = 0.01,
) -> list[dict[str, Any]]:
    return [
        {
            "query_id": query_id,
            "dataset": dataset,
            "query": query or f"question {query_id}",
            "model": m,
            "score": np.nan if s is None else s,
            "cost": np.nan if cost is None else cost,
        }
        for m, s in scores.items()
    ]


def sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def error_of(excinfo: pytest.ExceptionInfo[DataError]) -> DataError:
    return excinfo.value


# --------------------------------------------------------------------------- routerbench loader


def test_routerbench_csv_long_frame(tmp_path: Path) -> None:
    source = write_wide(
        tmp_path,
        [
            {
                "sample_id": "arc.1",
                "eval_name": "arc",
                "text": arc_prompt("Q one?"),
                "scores": [1.0, 0.0, np.nan],
                "costs": [0.1, 0.2, 0.3],
            },
            {"sample_id": "arc.2", "eval_name": "arc", "text": arc_prompt("Q two?")},
        ],
    )
    frame = read_source(source)
    assert list(frame.columns) == [*RECORD_COLUMNS, "source", "row"]
    assert len(frame) == 6
    first = frame[frame["query_id"] == "arc.1"].set_index("model")
    assert first.loc["model-a", "score"] == 1.0 and first.loc["model-b", "score"] == 0.0
    assert np.isnan(first.loc["model-c", "score"])
    assert first.loc["model-b", "cost"] == pytest.approx(0.2)
    assert set(frame["row"]) == {1, 2} and set(frame["source"]) == {"rb"} and set(frame["dataset"]) == {"arc"}
    assert frame.attrs["notes"]["few_shot_blocks_removed"] == {"arc": 3}


def test_routerbench_real_looking_few_shot_prompts(tmp_path: Path) -> None:
    questions = ["Which planet is largest?", "What melts ice fastest?", "Which animal is a mammal?"]
    sentences = ["Ann gave Sue a gift because _ was generous.", "Ann thanked Sue because _ was kind."]
    mbpp = [
        "Write a function to reverse a string.",
        "Write a function to count vowels.\n\nYour code should handle empty strings.",
    ]
    rows = (
        [
            {"sample_id": f"arc.{i}", "eval_name": "arc-challenge", "text": arc_prompt(q)}
            for i, q in enumerate(questions)
        ]
        + [
            {"sample_id": f"wino.{i}", "eval_name": "winogrande", "text": wino_prompt(s)}
            for i, s in enumerate(sentences)
        ]
        + [{"sample_id": f"mbpp.{i}", "eval_name": "mbpp", "text": t} for i, t in enumerate(mbpp)]
    )
    frame = read_source(write_wide(tmp_path, rows)).drop_duplicates("query_id").set_index("query_id")
    for i, question in enumerate(questions):
        query = frame.loc[f"arc.{i}", "query"]
        assert query.startswith(question) and query.endswith(ARC_INSTRUCTION)
        assert "\n\n" not in query and "Which tool measures mass" not in query
        assert frame.loc[f"arc.{i}", "prompt"].endswith(query)
    for i, sentence in enumerate(sentences):
        query = frame.loc[f"wino.{i}", "query"]
        assert query == f"{sentence}\nA) Ann\nB) Sue\n{WINO_INSTRUCTION}"
    # Zero-shot prompts are kept whole, even one whose question has a blank line in it.
    for i, text in enumerate(mbpp):
        assert frame.loc[f"mbpp.{i}", "query"] == text == frame.loc[f"mbpp.{i}", "prompt"]


def test_strip_shared_blocks_rules() -> None:
    prompts = ["ex\n\nq1", "ex\n\nq2", "ex\n\nq2", "solo\n\nonly"]
    queries, removed = strip_shared_blocks(prompts, ["a", "a", "a", "b"])
    assert queries == ["q1", "q2", "q2", "solo\n\nonly"]  # one distinct prompt: nothing can be told apart
    assert removed == {"a": 1, "b": 0}
    # The last block is never removed, even when one prompt is a prefix of the others.
    queries, _ = strip_shared_blocks(["x\n\ny", "x\n\ny\n\nz"], ["a", "a"])
    assert queries == ["y", "y\n\nz"]
    # Blank lines holding spaces or carriage returns separate blocks too.
    queries, _ = strip_shared_blocks(["ex\r\n\r\nq1", "ex\n  \nq2"], ["a", "a"])
    assert queries == ["q1", "q2"]


def test_routerbench_prompt_lists(tmp_path: Path) -> None:
    rows = [
        {"sample_id": "s1", "eval_name": "t", "prompt": repr(["same", "same"])},
        {"sample_id": "s2", "eval_name": "t", "prompt": "plain text, not a list"},
        {"sample_id": "s3", "eval_name": "t", "prompt": repr(["part one", "part two"])},
    ]
    frame = read_source(write_wide(tmp_path, rows)).drop_duplicates("query_id").set_index("query_id")
    assert frame.loc["s1", "prompt"] == "same"
    assert frame.loc["s2", "prompt"] == "plain text, not a list"
    assert frame.loc["s3", "prompt"] == "part one\n\npart two"
    notes = read_source(write_wide(tmp_path, rows)).attrs["notes"]
    assert notes["multi_part_prompts"] == 2


@pytest.mark.parametrize(
    ("change", "row", "field", "words"),
    [
        ({"scores": [1.0, 1.5, 0.0]}, 2, "model-b", "outside [0, 1]"),
        ({"scores": [1.0, "yes", 0.0]}, 2, "model-b", "expected a number"),
        ({"costs": [0.1, -0.2, 0.1]}, 2, "model-b|total_cost", "negative"),
        ({"costs": [0.1, float("inf"), 0.1]}, 2, "model-b|total_cost", "not finite"),
        ({"prompt": "['unclosed', ]]"}, 2, "prompt", "cannot be parsed"),
        ({"prompt": "[1, 2]"}, 2, "prompt", "list of strings"),
        ({"sample_id": None}, 2, "sample_id", "missing"),
    ],
)
def test_routerbench_bad_values(tmp_path: Path, change: dict[str, Any], row: int, field: str, words: str) -> None:
    good = {"sample_id": "s1", "eval_name": "t", "text": "q1"}
    bad = {"sample_id": "s2", "eval_name": "t", "text": "q2", **change}
    source = write_wide(tmp_path, [good, bad])
    with pytest.raises(DataError) as excinfo:
        read_source(source)
    error = error_of(excinfo)
    assert (error.row, error.field) == (row, field)
    assert words in str(error) and "rb.csv" in str(error)


def test_routerbench_bad_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty file"):
        read_source({"name": "e", "format": "routerbench", "path": str(empty)})
    header_only = tmp_path / "header.csv"
    wide_frame([{"sample_id": "s", "eval_name": "t", "text": "q"}]).iloc[:0].to_csv(header_only, index=False)
    with pytest.raises(DataError, match="empty file"):
        read_source({"name": "h", "format": "routerbench", "path": str(header_only)})
    no_id = tmp_path / "no_id.csv"
    wide_frame([{"sample_id": "s", "eval_name": "t", "text": "q"}]).drop(columns="sample_id").to_csv(no_id)
    with pytest.raises(DataError) as excinfo:
        read_source({"name": "n", "format": "routerbench", "path": str(no_id)})
    assert error_of(excinfo).field == "sample_id" and "missing required column" in str(excinfo.value)
    no_cost = tmp_path / "no_cost.csv"
    wide_frame([{"sample_id": "s", "eval_name": "t", "text": "q"}]).drop(columns="model-c|total_cost").to_csv(
        no_cost, index=False
    )
    with pytest.raises(DataError) as excinfo:
        read_source({"name": "c", "format": "routerbench", "path": str(no_cost)})
    assert error_of(excinfo).field == "model-c|total_cost"


class _Marker:
    """Unpickling this object creates a file: proof that a pickle was (or was not) loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def test_pickle_needs_matching_sha256(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(DataError) as excinfo:
        read_source({"name": "p", "format": "routerbench", "path": str(evil)})
    assert error_of(excinfo).field == "sha256" and "refusing to unpickle" in str(excinfo.value)
    wrong = "0" * 64
    with pytest.raises(DataError) as excinfo:
        read_source({"name": "p", "format": "routerbench", "path": str(evil), "sha256": wrong})
    assert wrong in str(excinfo.value) and sha(evil) in str(excinfo.value) and "evil.pkl" in str(excinfo.value)
    assert not marker.exists()

    good = tmp_path / "routerbench_0shot.pkl"
    wide_frame([{"sample_id": "s1", "eval_name": "t", "text": "q1"}]).to_pickle(good)
    frame = read_source({"name": "p", "format": "routerbench", "path": str(good), "sha256": sha(good).upper()})
    assert len(frame) == len(MODELS) and set(frame["query_id"]) == {"s1"}


def test_sha256_mismatch_on_csv_names_both_digests(tmp_path: Path) -> None:
    source = write_wide(tmp_path, [{"sample_id": "s1", "eval_name": "t", "text": "q1"}])
    wrong = "ab" * 32
    with pytest.raises(DataError) as excinfo:
        read_source({**source, "sha256": wrong})
    message = str(excinfo.value)
    assert wrong in message and sha(source["path"]) in message and "rb.csv" in message
    assert len(read_source({**source, "sha256": sha(source["path"])})) == len(MODELS)


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    source = write_wide(tmp_path, [{"sample_id": "s1", "eval_name": "t", "text": "q1"}])
    with pytest.raises(DataError) as excinfo:
        read_source({**source, "format": "excel"})
    assert error_of(excinfo).field == "format" and "excel" in str(excinfo.value)
    with pytest.raises(DataError, match="file not found.*example.org"):
        read_source(
            {
                "name": "x",
                "format": "routerbench",
                "path": str(tmp_path / "absent.csv"),
                "url": "https://example.org/absent.csv",
            }
        )


def test_relative_paths_resolve_against_base_dir(tmp_path: Path) -> None:
    write_wide(tmp_path, [{"sample_id": "s1", "eval_name": "t", "text": "q1"}])
    frame = read_source({"name": "rb", "format": "routerbench", "path": "rb.csv"}, base_dir=tmp_path)
    assert len(frame) == len(MODELS)


# --------------------------------------------------------------------------- avengers-jsonl loader


def test_jsonl_good(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path,
        [
            {
                "query": "What is 2+2?",
                "records": {"m1": True, "m2": 0.5, "m3": None},
                "usages": {"m1": {"cost": 0.01}, "m2": {"cost": None}},
                "dataset": "math",
                "index": 7,
            },
            "",
            {"query": "Name a colour.", "records": {"m1": False}},
        ],
    )
    frame = read_source(source)
    assert frame["query_id"].tolist() == ["math/7"] * 3 + ["default/3"]
    assert frame["row"].tolist() == [1, 1, 1, 3]
    assert frame["score"].tolist()[:2] == [1.0, 0.5] and np.isnan(frame["score"].iloc[2])
    assert frame["cost"].iloc[0] == 0.01 and frame["cost"].iloc[1:].isna().all()
    assert (frame["prompt"] == frame["query"]).all()


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ('{"query": "q", "records": {"m1": 1', None, "malformed JSON"),
        ("[1, 2]", None, "expected a JSON object"),
        ({"query": "", "records": {"m1": 1}}, "query", "non-empty string"),
        ({"query": 5, "records": {"m1": 1}}, "query", "non-empty string"),
        ({"query": "q", "records": []}, "records", "non-empty object"),
        ({"query": "q", "records": {}}, "records", "non-empty object"),
        ({"query": "q", "records": {"m1": "yes"}}, "records.m1", "expected true/false"),
        ({"query": "q", "records": {"m1": 1.5}}, "records.m1", "outside [0, 1]"),
        ({"query": "q", "records": {"m1": 1}, "usages": {"m1": {"cost": -1}}}, "usages.m1.cost", "negative"),
        (
            {"query": "q", "records": {"m1": 1}, "usages": {"m1": {"cost": "cheap"}}},
            "usages.m1.cost",
            "expected a number",
        ),
        ({"query": "q", "records": {"m1": 1}, "usages": {"m1": 0.1}}, "usages.m1", "expected an object"),
        ({"query": "q", "records": {"m1": 1}, "usages": [1]}, "usages", "expected an object"),
        ({"query": "q", "records": {"m1": 1}, "dataset": 3}, "dataset", "non-empty string"),
        ({"query": "q", "records": {"m1": 1}, "index": 1.5}, "index", "integer"),
    ],
)
def test_jsonl_bad_lines(tmp_path: Path, line: Any, field: str | None, words: str) -> None:
    source = write_jsonl(tmp_path, [{"query": "fine", "records": {"m1": 1}}, line])
    with pytest.raises(DataError) as excinfo:
        read_source(source)
    error = error_of(excinfo)
    assert (error.row, error.field) == (2, field)
    assert words in str(error) and "av.jsonl" in str(error)


def test_jsonl_empty_file(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path, ["", "   "])
    with pytest.raises(DataError, match="empty file"):
        read_source(source)


# --------------------------------------------------------------------------- records loader


@pytest.mark.parametrize("name", ["rec.csv", "rec.parquet"])
def test_records_good(tmp_path: Path, name: str) -> None:
    rows = long_rows("q1", {"a": 1.0, "b": None}) + long_rows("q2", {"a": 0.25}, cost=None)
    rows[0]["prompt"] = "full prompt of q1"
    source = write_records(tmp_path, rows, name)
    frame = read_source(source)
    assert frame["row"].tolist() == [1, 2, 3]
    assert frame["prompt"].tolist() == ["full prompt of q1", "question q1", "question q2"]
    assert frame["score"].iloc[0] == 1.0 and np.isnan(frame["score"].iloc[1]) and np.isnan(frame["cost"].iloc[2])


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"score": 1.5}, "score", "outside [0, 1]"),
        ({"score": "high"}, "score", "expected a number"),
        ({"cost": -0.5}, "cost", "negative"),
        ({"query": ""}, "query", "missing"),  # an empty CSV cell reads back as missing
        ({"model": None}, "model", "missing"),
    ],
)
def test_records_bad_values(tmp_path: Path, change: dict[str, Any], field: str, words: str) -> None:
    rows = long_rows("q1", {"a": 1.0, "b": 0.0})
    rows[1].update(change)
    with pytest.raises(DataError) as excinfo:
        read_source(write_records(tmp_path, rows))
    assert (error_of(excinfo).row, error_of(excinfo).field) == (2, field)
    assert words in str(excinfo.value)


def test_records_bad_files(tmp_path: Path) -> None:
    rows = long_rows("q1", {"a": 1.0})
    with pytest.raises(DataError) as excinfo:
        read_source(write_records(tmp_path, [{k: v for k, v in r.items() if k != "cost"} for r in rows]))
    assert error_of(excinfo).field == "cost"
    with pytest.raises(DataError, match="must end in"):
        read_source(write_records(tmp_path, rows, "rec.txt"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty file"):
        read_source({"name": "e", "format": "records", "path": str(tmp_path / "empty.csv")})
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="not a readable Parquet"):
        read_source({"name": "b", "format": "records", "path": str(tmp_path / "broken.parquet")})


@pytest.mark.parametrize(
    ("name", "fmt", "queries", "models", "score_sum", "probe"),
    [
        # 4 arc-challenge x 3 models (2 queries all right) + 3 mbpp x 3 (model-c wrong on the third):
        # 2*3 + 3 + 3 + 2 = 14 right answers; model-c costs 0.006 a query on mbpp.
        (
            "routerbench_tiny.csv",
            "routerbench",
            [f"arc-challenge.test.{i}" for i in range(4)] + [f"mbpp.test.{i}" for i in range(3)],
            ["model-a", "model-b", "model-c"],
            14.0,
            ("mbpp.test.2", "model-c", 0.0, 0.006),
        ),
        # "true"/"false" read as 1/0, a float kept: 1 + 0 + 1 + 0.5 + 1 + 1 = 4.5.
        (
            "avengers_tiny.jsonl",
            "avengers-jsonl",
            ["qa/0", "math/0", "math/1"],
            ["m1", "m2"],
            4.5,
            ("math/0", "m2", 0.5, 0.002),
        ),
        ("records_tiny.csv", "records", ["q1", "q2", "q3"], ["big", "small"], 4.0, ("q2", "small", 1.0, 0.001)),
    ],
)
def test_fixture_files_load(
    name: str, fmt: str, queries: list[str], models: list[str], score_sum: float, probe: tuple[str, str, float, float]
) -> None:
    """Every fixture reads to one record per query and model, with the scores and costs its file holds."""
    frame = read_source({"name": name, "format": fmt, "path": str(FIXTURES / name)})
    assert list(dict.fromkeys(frame["query_id"])) == queries
    assert sorted(set(frame["model"])) == models
    assert len(frame) == len(queries) * len(models)
    assert frame["score"].sum() == pytest.approx(score_sum)
    query_id, model, score, cost = probe
    row = frame[(frame["query_id"] == query_id) & (frame["model"] == model)].iloc[0]
    assert (row["score"], row["cost"]) == (pytest.approx(score), pytest.approx(cost))


# --------------------------------------------------------------------------- ingest: policies


def test_ingest_canonical_output(tmp_path: Path) -> None:
    rows = long_rows("q2", {"b": 1.0, "a": 0.0}) + long_rows("q1", {"a": 0.5, "b": 1.0}, dataset="d2")
    records, queries, report = ingest([write_records(tmp_path, rows)])
    assert list(records.columns) == list(RECORD_COLUMNS)
    assert records[["query_id", "model"]].values.tolist() == [
        ["q1", "a"],
        ["q1", "b"],
        ["q2", "a"],
        ["q2", "b"],
    ]
    assert records["score"].dtype == np.float64 and records["cost"].dtype == np.float64
    # Token counts are null where the format has none; nothing else may be.
    assert not records.drop(columns=list(TOKEN_COLUMNS)).isna().any().any()
    assert records[list(TOKEN_COLUMNS)].isna().all().all()
    assert list(queries.columns) == ["query_id", "dataset", "query", "prompt"]
    assert queries["query_id"].tolist() == ["q1", "q2"]
    assert report["models"] == ["a", "b"] and report["datasets"] == ["d1", "d2"]
    assert report["queries_per_dataset"] == {"d1": 1, "d2": 1}
    assert report["sources"]["rec"]["rows"] == 4
    json.dumps(report, allow_nan=False)  # JSON-able


def test_ingest_model_order_and_allow_lists(tmp_path: Path) -> None:
    rows = long_rows("q1", {"a": 1.0, "b": 0.0, "c": 1.0}) + long_rows(
        "q2", {"a": 1.0, "b": 0.0, "c": 1.0}, dataset="d2"
    )
    source = write_records(tmp_path, rows)
    records, queries, report = ingest([source], models=["c", "a"], datasets=["d1"])
    assert records["model"].tolist() == ["c", "a"] and queries["query_id"].tolist() == ["q1"]
    assert report["models"] == ["c", "a"]
    assert report["dropped"]["rows_outside_datasets"] == 3 and report["dropped"]["records_outside_models"] == 1
    with pytest.raises(DataError) as excinfo:
        ingest([source], models=["a", "gpt-9"])
    assert error_of(excinfo).field == "models" and "'gpt-9'" in str(excinfo.value)
    with pytest.raises(DataError) as excinfo:
        ingest([source], datasets=["nope"])
    assert error_of(excinfo).field == "datasets" and "'nope'" in str(excinfo.value)


def test_duplicates_same_id_same_prompt_are_merged(tmp_path: Path) -> None:
    # RouterBench's split rows: one row lacks model-b, the other has only model-b (here across two files).
    train = write_wide(
        tmp_path,
        [
            {"sample_id": "s1", "eval_name": "t", "text": "q1", "scores": [1.0, np.nan, 0.0]},
            {"sample_id": "s2", "eval_name": "t", "text": "q2", "scores": [1.0, 1.0, 1.0]},
        ],
        name="train.csv",
    )
    test = write_wide(
        tmp_path,
        [
            {
                "sample_id": "s1",
                "eval_name": "t",
                "prompt": repr(["q1", "q1"]),
                "scores": [np.nan, 1.0, np.nan],
                "costs": [9.0, 0.5, 9.0],
            },
            {
                "sample_id": "s2",
                "eval_name": "t",
                "text": "q2",
                "scores": [1.0, 0.0, 1.0],
            },  # conflicting repeat
        ],
        name="test.csv",
    )
    records, queries, report = ingest([train, test])
    s1 = records[records["query_id"] == "s1"].set_index("model")
    assert s1["score"].tolist() == [1.0, 1.0, 0.0]
    assert s1.loc["model-b", "cost"] == 0.5 and s1.loc["model-a", "cost"] == pytest.approx(0.001)
    s2 = records[records["query_id"] == "s2"]
    assert s2["score"].tolist() == [1.0, 1.0, 1.0]  # first kept
    assert report["merged"]["queries_from_several_rows"] == 2
    assert report["dropped"]["records_duplicate"] == 3 and report["conflicting"]["records_duplicate"] == 1
    assert report["queries"] == 2 and report["dropped"]["queries_missing_some_models"] == 0


def test_duplicates_other_prompt_or_other_id_are_dropped(tmp_path: Path) -> None:
    first = write_records(tmp_path, long_rows("q1", {"a": 1.0, "b": 1.0}, query="same text"), "first.csv")
    rows = (
        long_rows("q1", {"a": 0.0, "b": 1.0}, query="another question")  # id reused: dropped, conflicting
        + long_rows("q9", {"a": 1.0, "b": 1.0}, query="same text")  # same prompt, other id: dropped, equal
        + long_rows("q5", {"a": 1.0, "b": 1.0}, query="same text", dataset="d2")  # other dataset: kept
    )
    second = write_records(tmp_path, rows, "second.csv")
    records, queries, report = ingest([first, second])
    assert queries["query_id"].tolist() == ["q1", "q5"]
    assert queries.set_index("query_id").loc["q1", "query"] == "same text"
    assert records[records["query_id"] == "q1"]["score"].tolist() == [1.0, 1.0]
    assert report["dropped"]["rows_duplicate_id_other_prompt"] == 2
    assert report["conflicting"]["rows_duplicate_id_other_prompt"] == 1
    assert report["dropped"]["rows_duplicate_prompt_other_id"] == 2
    assert report["conflicting"]["rows_duplicate_prompt_other_id"] == 0
    # Source order decides which one is first.
    _, queries, _ = ingest([second, first])
    assert queries.set_index("query_id").loc["q1", "query"] == "another question"


def missing_data(tmp_path: Path) -> dict[str, Any]:
    rows = (
        long_rows("full", {"a": 1.0, "b": 0.0, "c": 1.0})
        + long_rows("gap", {"a": 1.0, "b": None, "c": 0.0})
        + long_rows("lacks-c", {"a": 0.0, "b": 1.0})  # no row at all for c
        + long_rows("empty", {"a": None, "b": None, "c": None})
    )
    return write_records(tmp_path, rows)


def test_missing_drop_query(tmp_path: Path) -> None:
    records, queries, report = ingest([missing_data(tmp_path)], missing="drop-query")
    assert queries["query_id"].tolist() == ["full"] and len(records) == 3
    assert report["dropped"]["queries_missing_some_models"] == 2
    assert report["dropped"]["queries_missing_all_models"] == 1
    assert report["missing_records_per_model"] == {"a": 0, "b": 1, "c": 1}


def test_missing_zero(tmp_path: Path) -> None:
    records, queries, report = ingest([missing_data(tmp_path)], missing="zero")
    assert queries["query_id"].tolist() == ["full", "gap", "lacks-c"]
    filled = records.set_index(["query_id", "model"])
    assert filled.loc[("gap", "b"), ["score", "cost"]].tolist() == [0.0, 0.0]
    assert filled.loc[("lacks-c", "c"), ["score", "cost"]].tolist() == [0.0, 0.0]
    assert len(records) == 9 and not records.drop(columns=list(TOKEN_COLUMNS)).isna().any().any()
    assert report["changed"]["records_zero_filled"] == 2 and report["dropped"]["queries_missing_all_models"] == 1


def test_missing_mask(tmp_path: Path) -> None:
    records, queries, report = ingest([missing_data(tmp_path)], missing="mask")
    assert queries["query_id"].tolist() == ["full", "gap", "lacks-c"]
    assert len(records) == 7 and ("gap", "b") not in set(zip(records["query_id"], records["model"]))
    assert report["changed"]["records_masked"] == 2 and report["dropped"]["queries_missing_all_models"] == 1


def test_unknown_missing_policy(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing"):
        ingest([missing_data(tmp_path)], missing="guess")


def test_missing_cost_error_and_price_fallback(tmp_path: Path) -> None:
    source = write_wide(
        tmp_path,
        [
            {"sample_id": "s1", "eval_name": "t", "text": "q1"},
            {"sample_id": "s2", "eval_name": "t", "text": "q2", "costs": [0.1, np.nan, 0.1]},
        ],
    )
    with pytest.raises(DataError) as excinfo:
        ingest([source])
    error = error_of(excinfo)
    assert (error.row, error.field) == (2, "model-b|total_cost") and "rb.csv" in str(error)
    assert "prices" in str(error)
    records, _, report = ingest([source], prices={"model-b": 0.25})
    assert records.set_index(["query_id", "model"]).loc[("s2", "model-b"), "cost"] == 0.25
    assert report["changed"]["records_price_fallback"] == {"model-b": 1}
    with pytest.raises(ConfigError, match="prices.model-b"):
        ingest([source], prices={"model-b": -1.0})


def test_missing_cost_with_missing_score_is_not_an_error(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path, [{"query": "q", "records": {"m1": 1, "m2": None}, "usages": {"m1": {"cost": 0.1}}}])
    records, _, _ = ingest([source], missing="mask")
    assert records["model"].tolist() == ["m1"]


def test_jsonl_missing_cost_names_line_and_field(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path, [{"query": "q", "records": {"m1": 1}, "usages": {}}])
    with pytest.raises(DataError) as excinfo:
        ingest([source])
    assert (error_of(excinfo).row, error_of(excinfo).field) == (1, "usages.m1.cost")


def test_nothing_left_is_an_error(tmp_path: Path) -> None:
    source = write_records(tmp_path, long_rows("q1", {"a": None, "b": None}))
    with pytest.raises(DataError, match="no query left"):
        ingest([source])


def test_duplicate_source_names(tmp_path: Path) -> None:
    source = write_records(tmp_path, long_rows("q1", {"a": 1.0}))
    with pytest.raises(ConfigError, match="unique"):
        ingest([source, source])


def test_ingest_logs_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="avengers_pro.records"):
        ingest([missing_data(tmp_path)])
    text = caplog.text
    assert "queries_missing_all_models: 1" in text and "queries_missing_some_models: 2" in text
    assert "kept 1 queries" in text


# --------------------------------------------------------------------------- what the console shows


def test_jsonl_trailing_text_names_the_line(tmp_path: Path) -> None:
    good = {"query": "q1", "records": {"m1": 1, "m2": 0}, "usages": {"m1": {"cost": 0.1}, "m2": {"cost": 0.2}}}
    source = write_jsonl(tmp_path, [good, json.dumps({**good, "query": "q2"}) + " trailing words"])
    with pytest.raises(DataError) as excinfo:
        read_source(source)
    assert str(excinfo.value).startswith(f"{source['path']}: line 2: malformed JSON (Extra data")


def test_out_of_range_values_read_as_plain_numbers(tmp_path: Path) -> None:
    line = {"query": "q1", "records": {"m1": 1.7}, "usages": {"m1": {"cost": 0.1}}}
    with pytest.raises(DataError) as excinfo:
        read_source(write_jsonl(tmp_path, [line]))
    assert str(excinfo.value).endswith("line 1: field 'records.m1': score 1.7 is outside [0, 1]")
    rows = long_rows("q1", {"model-a": 1.0}, cost=-2.5)
    with pytest.raises(DataError) as excinfo:
        read_source(write_records(tmp_path, rows))
    assert "cost -2.5 is negative" in str(excinfo.value) and "np." not in str(excinfo.value)


def _jsonl_costs(tmp_path: Path, costs: list[dict[str, float]]) -> dict[str, Any]:
    lines = [
        {
            "query": f"question {i}",
            "records": {model: 1 for model in cost},
            "dataset": "d",
            "usages": {model: {"cost": value} for model, value in cost.items()},
        }
        for i, cost in enumerate(costs)
    ]
    return write_jsonl(tmp_path, lines)


def test_ingest_warns_when_costs_cannot_tell_models_apart(tmp_path: Path) -> None:
    zero = _jsonl_costs(tmp_path, [{"m1": 0.0, "m2": 0.0}, {"m1": 0.0, "m2": 0.0}])
    _, _, report = ingest([zero])
    assert len(report["warnings"]) == 1 and "every recorded cost is 0" in report["warnings"][0]
    equal = _jsonl_costs(tmp_path, [{"m1": 0.1, "m2": 0.1}, {"m1": 0.3, "m2": 0.3}])
    _, _, report = ingest([equal])
    assert len(report["warnings"]) == 1 and "same cost on each query" in report["warnings"][0]
    one_free = _jsonl_costs(tmp_path, [{"m1": 0.0, "m2": 0.1, "m3": 0.2}, {"m1": 0.0, "m2": 0.3, "m3": 0.1}])
    _, _, report = ingest([one_free])
    assert len(report["warnings"]) == 1 and "m1 cost 0 on every query" in report["warnings"][0]
    priced = _jsonl_costs(tmp_path, [{"m1": 0.2, "m2": 0.1}, {"m1": 0.1, "m2": 0.3}])
    _, _, report = ingest([priced])
    assert report["warnings"] == []


def test_ingest_summary_line_says_what_was_kept_and_dropped(tmp_path: Path) -> None:
    rows = [*long_rows("q1", {"model-a": 1.0, "model-b": 0.0}), *long_rows("q2", {"model-a": 1.0, "model-b": None})]
    _, _, report = ingest([write_records(tmp_path, rows)])
    line = summary_line(report)
    assert "\n" not in line
    assert line.startswith("ingest: 1 queries, 2 models, 1 datasets (2 records)")
    assert "dropped 1 queries missing some models" in line
    _, _, report = ingest([write_records(tmp_path, rows)], missing="zero")
    assert "zero-filled 1 missing records (missing: zero)" in summary_line(report)
