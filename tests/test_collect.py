"""Collecting records from a chat endpoint: the local fake server, its faults, the cache, the config."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from avengers_pro.collect.benchmarks import (
    DEFAULT_TEMPLATES,
    read_benchmark,
    render_prompt,
)
from avengers_pro.collect.cache import ChatCache
from avengers_pro.collect.client import ChatClient
from avengers_pro.collect.runner import collect
from avengers_pro.collect.settings import collected_sources, endpoint_settings
from avengers_pro.config import validate_config
from avengers_pro.errors import CollectError, ConfigError, DataError
from avengers_pro.formats.llmrouterbench import RESULT_KEYS
from avengers_pro.http import RequestFailed
from avengers_pro.records import ingest
from avengers_pro.testing.fake_chat_server import FakeChatServer

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"

KEY_ENV = "FAKE_CHAT_KEY"
API_KEY = "sk-chat-7e6d5c4b-NEVER-WRITE-ME"
QUESTIONS: list[dict[str, Any]] = [
    {
        "id": i,
        "question": f"Question {i}: which colour is item {i}?",
        "choices": ["red", "green", "blue", "black"],
        "answer": "ABCD"[(i * 7) % 4],
    }
    for i in range(24)
]
ANSWER_KEY = {str(q["question"]): str(q["answer"]) for q in QUESTIONS}


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeChatServer]:
    with FakeChatServer(
        {"small": 0.3, "large": 0.9},
        ANSWER_KEY,
        reports_cost={"large"},
        api_key=API_KEY,
        slow_s=1.5,
        lifetime_s=120,
        max_requests=5000,
    ) as server:
        yield server


@pytest.fixture()
def server(_server: FakeChatServer, monkeypatch: pytest.MonkeyPatch) -> FakeChatServer:
    _server.faults = []
    _server.fail_after = None
    _server.count = 0
    _server.per_model.clear()
    _server.max_in_flight = 0
    _server.auth_headers.clear()
    monkeypatch.setenv(KEY_ENV, API_KEY)
    return _server


@pytest.fixture()
def bench_file(tmp_path: Path) -> Path:
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n")
    return path


def make_config(server: FakeChatServer, bench: Path, tmp_path: Path, **collection: Any) -> dict[str, Any]:
    return validate_config(
        {
            "sources": [],
            "benchmarks": [{"name": "mini", "path": str(bench), "grader": "choice"}],
            "endpoints": [
                {
                    "name": "small-one",
                    "base_url": server.base_url,
                    "model": "small",
                    "api_key_env": KEY_ENV,
                    "price": {"input": 0.5, "output": 1.5},
                },
                {
                    "name": "large-one",
                    "base_url": server.base_url,
                    "model": "large",
                    "api_key_env": KEY_ENV,
                    "cost_from_response": True,
                    "max_concurrency": 3,
                },
            ],
            # A generous timeout: a loaded test machine must not turn a normal answer into a timeout.
            "collection": {
                "cache": str(tmp_path / "cache" / "chat.sqlite"),
                "retry_backoff": 0.001,
                "timeout": 30.0,
                **collection,
            },
        },
        SCHEMA,
    )


def read_run(folder: Path) -> dict[str, Any]:
    """The one result file a collect job wrote to its folder, LLMRouterBench's name checked."""
    (path,) = folder.glob("*.json")
    data = json.loads(path.read_text())
    assert path.name.startswith(f"{data['dataset_name']}-{data['split']}-{data['model_name']}-")
    return data


def run(config: dict[str, Any], endpoint: int, output: Path, waits: list[float] | None = None) -> Any:
    return collect(
        benchmark=config["benchmarks"][0],
        endpoint=config["endpoints"][endpoint],
        collection=config["collection"],
        output=output,
        progress=False,
        sleep=(waits.append if waits is not None else lambda s: None),
    )


# --------------------------------------------------------------------------- the happy path


def test_records_are_graded_priced_and_written_in_the_llmrouterbench_layout(
    server: FakeChatServer, bench_file: Path, tmp_path: Path
) -> None:
    config = make_config(server, bench_file, tmp_path)
    output = tmp_path / "out" / "small"
    result = run(config, 0, output)
    assert (result.questions, result.requested, result.cached, result.failed) == (24, 24, 0, 0)
    data = read_run(output)
    assert (data["dataset_name"], data["split"], data["model_name"], data["counts"]) == (
        "mini",
        "test",
        "small-one",
        24,
    )
    record = data["records"][0]
    assert set(record) == {
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
    }
    assert [r["index"] for r in data["records"]] == list(range(1, 25))  # 1-based positions, as LLMRouterBench
    assert record["extra_fields"]["id"] == QUESTIONS[0]["id"]
    assert record["extra_fields"]["finish_reason"] == "stop"
    assert record["extra_fields"]["latency_s"] >= 0
    assert set(data) == set(RESULT_KEYS)  # nothing its loader would refuse
    assert data["extra_metrics"]["collector"]["served_model"]
    assert record["origin_query"] == QUESTIONS[0]["question"]
    assert "A) red\nB) green" in record["prompt"]
    for record, question in zip(data["records"], QUESTIONS, strict=True):
        assert record["ground_truth"] == question["answer"]
        assert record["score"] == float(record["prediction"] == question["answer"])
        # tokens x price per 1M tokens, since this endpoint reports no cost
        assert record["cost"] == pytest.approx(
            (record["prompt_tokens"] * 0.5 + record["completion_tokens"] * 1.5) / 1e6
        )
    assert data["performance"] == pytest.approx(sum(r["score"] for r in data["records"]) / 24)
    assert data["cost"] == pytest.approx(sum(r["cost"] for r in data["records"]))
    assert 0 < data["performance"] < 1  # the profile of 'small' gets some right, some wrong


def test_provider_reported_cost_wins(server: FakeChatServer, bench_file: Path, tmp_path: Path) -> None:
    config = make_config(server, bench_file, tmp_path)
    output = tmp_path / "large"
    run(config, 1, output)
    records = read_run(output)["records"]
    for record in records:
        assert record["cost"] == pytest.approx(
            (record["prompt_tokens"] + record["completion_tokens"]) * server.cost_per_token
        )
    assert server.max_in_flight <= 3  # the endpoint's own concurrency cap


def test_rerun_sends_nothing_and_a_changed_parameter_asks_again(
    server: FakeChatServer, bench_file: Path, tmp_path: Path
) -> None:
    config = make_config(server, bench_file, tmp_path)
    first = tmp_path / "a"
    run(config, 0, first)
    assert server.count == 24
    again = run(config, 0, tmp_path / "b")
    assert again.requested == 0 and again.cached == 24 and server.count == 24
    assert read_run(first)["records"] == read_run(tmp_path / "b")["records"]
    config["endpoints"][0]["max_tokens"] = 99  # a generation parameter is part of the cache key
    run(config, 0, tmp_path / "c")
    assert server.count == 48


def test_a_price_change_reprices_from_the_cache(server: FakeChatServer, bench_file: Path, tmp_path: Path) -> None:
    config = make_config(server, bench_file, tmp_path)
    run(config, 0, tmp_path / "a")
    config["endpoints"][0]["price"] = {"input": 5.0, "output": 15.0}
    run(config, 0, tmp_path / "b")
    assert server.count == 24
    cost_a = read_run(tmp_path / "a")["cost"]
    cost_b = read_run(tmp_path / "b")["cost"]
    assert cost_b == pytest.approx(10 * cost_a)


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("fault", ["429", "500", "503", "slow", "drop", "malformed", "no_usage"])
def test_each_fault_is_retried_and_changes_nothing(
    server: FakeChatServer, bench_file: Path, tmp_path: Path, fault: str
) -> None:
    config = make_config(server, bench_file, tmp_path / "clean")
    run(config, 0, tmp_path / "clean")
    server.count = 0
    server.retry_after = 2.0
    server.faults = [fault]
    waits: list[float] = []
    # Only the slow fault needs a timeout shorter than its delay (server.slow_s = 1.5 s).
    config = make_config(server, bench_file, tmp_path / "faulty", timeout=1.0 if fault == "slow" else 30.0)
    run(config, 0, tmp_path / "faulty", waits)
    server.retry_after = 0.0
    assert server.count == 25  # one more request for the fault
    assert len(waits) == 1
    if fault == "429":
        assert waits[0] >= 2.0  # Retry-After honoured
    clean = read_run(tmp_path / "clean")["records"]
    faulty = read_run(tmp_path / "faulty")["records"]
    for record in clean + faulty:
        record["extra_fields"].pop("latency_s")  # the one field a retry changes
    assert faulty == clean


def test_client_parses_every_answer_field(server: FakeChatServer) -> None:
    settings = endpoint_settings(
        {
            "name": "x",
            "base_url": server.base_url,
            "model": "large",
            "api_key_env": KEY_ENV,
            "price": None,
            "extra": {"top_p": 1},
        },
        validate_config({"sources": [{"name": "s", "format": "records", "path": "x.csv"}]}, SCHEMA)["collection"],
    )
    client = ChatClient(settings, max_retries=0, retry_backoff=0.0)
    try:
        body = client.body("hello")
        assert body["temperature"] == 0.0 and body["max_tokens"] == 2048 and body["top_p"] == 1
        answer = client.complete(QUESTIONS[0]["question"])
        assert (
            answer.content.startswith("Let me think") and answer.prompt_tokens > 0 and answer.reported_cost is not None
        )
        server.faults = ["no_usage"]
        with pytest.raises(RequestFailed, match="no 'usage'"):
            client.complete("hello")
    finally:
        client.close()


def test_failures_after_retries_fail_the_job_with_one_line_and_keep_the_answers(
    server: FakeChatServer, bench_file: Path, tmp_path: Path
) -> None:
    config = make_config(server, bench_file, tmp_path, max_retries=1, max_concurrency=1)
    server.fail_after = 10  # the endpoint dies after ten answers
    output = tmp_path / "out"
    with pytest.raises(CollectError) as info:
        run(config, 0, output)
    message = str(info.value)
    assert "\n" not in message and "14 of 24 questions failed" in message and "HTTP 500" in message
    assert not output.exists()  # nothing is written: no failed answer is ever scored 0
    with ChatCache(config["collection"]["cache"]) as cache:
        assert len(cache) == 10  # the answers received survive: a rerun asks only for the rest
    server.fail_after = None
    server.count = 0
    result = run(config, 0, output)
    assert result.requested == 14 and server.count == 14 and result.cached == 10


def test_on_failure_skip_leaves_failed_records_out_for_the_missing_policy(
    server: FakeChatServer, bench_file: Path, tmp_path: Path
) -> None:
    config = make_config(server, bench_file, tmp_path, max_retries=0, max_concurrency=1, on_failure="skip")
    run(config, 1, tmp_path / "large")
    server.count = 0
    server.fail_after = 20
    run(config, 0, tmp_path / "small")
    data = read_run(tmp_path / "small")
    assert data["counts"] == 20 and len(data["extra_metrics"]["failed"]) == 4
    assert {item["id"] for item in data["extra_metrics"]["failed"]} == {q["id"] for q in QUESTIONS[20:]}
    assert all("HTTP 500" in item["error"] for item in data["extra_metrics"]["failed"])
    sources = [{"name": n, "format": "llmrouterbench", "path": str(tmp_path / n)} for n in ("small", "large")]
    records, _, report = ingest(sources, missing="drop-query")
    assert report["dropped"]["queries_missing_some_models"] == 4 and records["query_id"].nunique() == 20
    records, _, report = ingest(sources, missing="zero")
    assert report["changed"]["records_zero_filled"] == 4 and records["query_id"].nunique() == 24


def test_a_refused_key_stops_the_job_at_once(
    server: FakeChatServer, bench_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "wrong-key")
    config = make_config(server, bench_file, tmp_path, on_failure="skip")
    with pytest.raises(CollectError, match=f"HTTP 401.*set {KEY_ENV} to a valid key"):
        run(config, 0, tmp_path / "out")
    assert server.count <= config["collection"]["max_concurrency"]  # no more than the first wave


def test_the_key_reaches_no_file_log_or_message(
    server: FakeChatServer, bench_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = make_config(server, bench_file, tmp_path, max_retries=4)  # one request may meet all four faults
    server.faults = ["429", "500", "drop", "malformed"]
    run(config, 0, tmp_path / "out" / "small")
    assert server.auth_headers == {f"Bearer {API_KEY}"}  # the key was used, from the environment
    server.fail_after = 0
    with pytest.raises(CollectError) as info:
        run(config, 1, tmp_path / "out" / "large")
    assert API_KEY not in str(info.value)
    assert API_KEY not in caplog.text
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "chat.sqlite" for p in files)
    for path in files:
        assert API_KEY.encode() not in path.read_bytes(), path


# --------------------------------------------------------------------------- benchmark files and prompts


def test_benchmark_formats_agree(tmp_path: Path) -> None:
    rows = [
        {"id": "q1", "question": "2+2?", "choices": ["3", "4"], "answer": "b"},
        {"id": "q2", "question": "Capital of France?", "choices": ["Paris", "Rome"], "answer": "A"},
    ]
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows))
    csv = tmp_path / "b.csv"
    pd.DataFrame([{**r, "choices": json.dumps(r["choices"])} for r in rows]).to_csv(csv, index=False)
    parquet = tmp_path / "b.parquet"
    pd.DataFrame(rows).to_parquet(parquet)
    read = [read_benchmark(p, "choice") for p in (jsonl, csv, parquet)]
    assert read[0] == read[1] == read[2]
    assert read[0][0].answer == ("B",) and read[0][0].choices == ("3", "4")


@pytest.mark.parametrize(
    ("line", "grader", "message"),
    [
        ({"question": "x", "answer": "A"}, "exact", "field 'id'"),
        ({"id": 1, "question": " ", "answer": "A"}, "exact", "field 'question'"),
        ({"id": 1, "question": "x", "answer": "A"}, "choice", "field 'choices'"),
        ({"id": 1, "question": "x", "choices": ["a", "b"], "answer": "C"}, "choice", "letter of an option"),
        ({"id": 1, "question": "x", "answer": "many"}, "number", "expected a number"),
        ({"id": 1, "question": "x", "choices": "not json", "answer": "A"}, "choice", "JSON list"),
    ],
)
def test_bad_benchmark_rows_name_file_row_and_field(
    tmp_path: Path, line: dict[str, Any], grader: str, message: str
) -> None:
    path = tmp_path / "b.jsonl"
    first = {"id": 0, "question": "fine", "choices": ["a", "b"], "answer": "7" if grader == "number" else "A"}
    path.write_text(json.dumps(first) + "\n" + json.dumps(line))
    with pytest.raises(DataError, match=message) as info:
        read_benchmark(path, grader)
    assert "row 2" in str(info.value) and str(path) in str(info.value)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(json.dumps({"id": 7, "question": f"q{i}", "answer": "x"}) for i in range(2)))
    with pytest.raises(DataError, match="duplicate id 7"):
        read_benchmark(path, "exact")


def test_prompt_templates(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps({"id": 1, "question": "Pick {one}", "choices": ["x", "y"], "answer": "A"}))
    (question,) = read_benchmark(path, "choice")
    default = render_prompt(None, "choice", question)
    assert default.startswith("Pick {one}\n\nA) x\nB) y") and "Answer: X" in default  # braces in data are safe
    assert render_prompt("Q: {question}\n{choices}", "choice", question) == "Q: Pick {one}\nA) x\nB) y"
    assert set(DEFAULT_TEMPLATES) == {"choice", "exact", "number", "regex"}


# --------------------------------------------------------------------------- config


@pytest.fixture()
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding the benchmark file b.jsonl of :func:`base_config`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b.jsonl").write_text(json.dumps(QUESTIONS[0]) + "\n")
    return tmp_path


def base_config(**endpoint: Any) -> dict[str, Any]:
    return {
        "sources": [],
        "benchmarks": [{"name": "b", "path": "b.jsonl", "grader": "choice"}],
        "endpoints": [{"name": "m", "base_url": "http://127.0.0.1:8000/v1", "model": "x", **endpoint}],
    }


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: None, r"endpoints\[0\].price: required"),  # no price, no reported cost: refused before any request
        (
            lambda c: c["endpoints"][0].update(api_key="sk-1"),
            r"endpoints\[0\].api_key: keys are never read from the config",
        ),
        (lambda c: c["endpoints"][0].update(base_url="https://u:p@host/v1", cost_from_response=True), "credentials"),
        (lambda c: c["benchmarks"][0].update(prompt="{question}"), r"benchmarks\[0\].prompt: a choice benchmark"),
        (lambda c: c["benchmarks"][0].update(prompt="{question} {answer}"), r"unknown field\(s\) \{answer\}"),
        (lambda c: c["benchmarks"][0].update(grader="regex"), r"benchmarks\[0\].pattern: required"),
        (lambda c: c["benchmarks"][0].update(grader="regex", pattern="("), "not a valid regular expression"),
        (lambda c: c.update(endpoints=[]), "endpoints: empty"),
        (lambda c: c.update(benchmarks=[], endpoints=[]), "sources: empty"),
        (lambda c: c["endpoints"].append(dict(c["endpoints"][0])), "endpoints: duplicate name"),
        (lambda c: c.update(collection={"on_failure": "ignore"}), "collection.on_failure"),
        (
            lambda c: c["endpoints"][0].update(cost_from_response=True, extra={"messages": []}),
            r"endpoints\[0\].extra.messages: set by the collector",
        ),
        (
            lambda c: c["endpoints"][0].update(cost_from_response=True, extra={"model": "other", "top_p": 1}),
            r"endpoints\[0\].extra.model: set by the collector",
        ),
        (
            lambda c: c["benchmarks"][0].update(path="missing.jsonl"),
            r"^config: benchmarks\[0\].path: missing.jsonl: no such file",
        ),
        (lambda c: c["benchmarks"][0].update(n=0), r"benchmarks\[0\].n"),
        (lambda c: c.update(collection={"budget": 0}), r"collection.budget"),
        (
            lambda c: c.update(
                sources=[{"name": "s", "format": "records", "path": "x.csv", "splits": ["test"]}],
                benchmarks=[],
                endpoints=[],
            ),
            r"sources\[0\].splits: only the llmrouterbench format",
        ),
    ],
)
@pytest.mark.usefixtures("in_tmp")
def test_bad_collection_config_names_the_key(mutate: Any, message: str) -> None:
    config = base_config()
    mutate(config)
    with pytest.raises(ConfigError, match=message):
        validate_config(config, SCHEMA)


@pytest.mark.usefixtures("in_tmp")
def test_a_config_of_only_benchmarks_and_endpoints_is_valid() -> None:
    config = validate_config(base_config(price={"input": 1, "output": 2}), SCHEMA)
    assert config["collection"]["on_failure"] == "fail" and config["collection"]["temperature"] == 0.0
    assert collected_sources(config) == [
        {"name": "collected.b.m", "format": "llmrouterbench", "path": "results/collected/bench/b/test/m"}
    ]
    validate_config(base_config(cost_from_response=True), SCHEMA)  # a reported cost stands in for the price
