"""Collection options and what records carry: re-grading from the cache, samples, limit, budget,
system prompt and few-shot turns, truncation, the dry-run estimate, quiet logs."""
# ruff: noqa: F811 - the fixtures of test_collect are imported and requested by name

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_collect import (  # noqa: F401
    QUESTIONS,
    SCHEMA,
    _server,
    bench_file,
    make_config,
    read_run,
    run,
    server,
)

from avengers_pro.collect.cache import ChatCache
from avengers_pro.collect.client import ChatAnswer
from avengers_pro.collect.estimate import estimate_collection, format_estimates, load_merged, main
from avengers_pro.errors import CollectError
from avengers_pro.testing.fake_chat_server import FakeChatServer


def old_cache_key(endpoint_url: str, body: dict[str, Any]) -> str:
    """The cache key as the first version of the collector computed it (one user message)."""
    request = {"endpoint": endpoint_url, "body": body}
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def test_answers_cached_before_the_new_graders_are_regraded_without_a_request(
    server: FakeChatServer, bench_file: Path, tmp_path: Path
) -> None:
    config = make_config(server, bench_file, tmp_path)
    endpoint = config["endpoints"][0]
    # An answer the old grader voided ('A' and 'B' in the clause), stored under the old key format.
    from avengers_pro.collect.benchmarks import read_benchmark, render_prompt

    with ChatCache(config["collection"]["cache"]) as cache:
        for question in read_benchmark(bench_file, "choice"):
            body = {
                "model": endpoint["model"],
                "messages": [{"role": "user", "content": render_prompt(None, "choice", question)}],
                "temperature": 0.0,
                "max_tokens": 2048,
            }
            content = f"Answer: {question.answer[0]} (since the others are wrong, not A or B)"
            key = old_cache_key(f"{server.base_url}/chat/completions", body)
            cache.put(key, "old", endpoint["model"], ChatAnswer(content, 10, 5, None, "stop"))
    result = run(config, 0, tmp_path / "out")
    assert server.count == 0 and result.requested == 0 and result.cached == 24
    records = read_run(tmp_path / "out")["records"]
    assert [r["score"] for r in records] == [1.0] * 24  # the new grader takes the first letter
    assert all(r["extra_fields"]["latency_s"] is None for r in records)  # not stored back then


def test_each_sample_is_its_own_request_and_the_record_is_their_mean(
    server: FakeChatServer, bench_file: Path, tmp_path: Path
) -> None:
    config = make_config(server, bench_file, tmp_path)
    config["benchmarks"][0]["n"] = 3
    config["endpoints"][0]["temperature"] = 0.7
    result = run(config, 0, tmp_path / "out")
    assert server.count == 72 and result.requested == 72
    data = read_run(tmp_path / "out")
    assert data["extra_metrics"]["collector"]["samples"] == 3
    for record in data["records"]:
        samples = record["extra_fields"]["samples"]
        assert len(samples) == 3
        assert record["score"] == pytest.approx(sum(s["score"] for s in samples) / 3)
        assert record["cost"] == pytest.approx(sum(s["cost"] for s in samples) / 3)
    again = run(config, 0, tmp_path / "again")
    assert again.requested == 0 and server.count == 72


def test_limit_asks_the_first_questions_only(server: FakeChatServer, bench_file: Path, tmp_path: Path) -> None:
    config = make_config(server, bench_file, tmp_path)
    config["benchmarks"][0]["limit"] = 5
    run(config, 0, tmp_path / "out")
    data = read_run(tmp_path / "out")
    assert server.count == 5 and data["counts"] == 5
    assert [r["extra_fields"]["id"] for r in data["records"]] == [q["id"] for q in QUESTIONS[:5]]


def test_the_budget_stops_sending_and_the_job_with_one_line(
    server: FakeChatServer, bench_file: Path, tmp_path: Path
) -> None:
    config = make_config(server, bench_file, tmp_path, budget=1e-9)
    config["endpoints"][0]["max_concurrency"] = 1
    with pytest.raises(CollectError) as info:
        run(config, 0, tmp_path / "out")
    message = str(info.value)
    assert server.count == 1  # the first answer spends the budget; nothing more is sent
    assert "\n" not in message and "23 of 24 questions were not sent (budget)" in message
    assert not (tmp_path / "out").exists()
    config["collection"]["on_failure"] = "skip"
    result = run(config, 0, tmp_path / "out")  # the cached answer costs nothing: one more is sent
    assert server.count == 2 and result.unsent == 22
    data = read_run(tmp_path / "out")
    assert data["counts"] == 2 and all("budget" in f["error"] for f in data["extra_metrics"]["failed"])


def test_system_prompt_and_few_shot_turns_come_before_the_question(
    server: FakeChatServer, bench_file: Path, tmp_path: Path
) -> None:
    config = make_config(server, bench_file, tmp_path)
    config["benchmarks"][0].update(
        system_prompt="You are precise.",
        few_shot=[{"question": "Which is a colour?", "choices": ["dog", "red"], "answer": "Answer: B"}],
        limit=1,
    )
    run(config, 0, tmp_path / "out")
    messages = server.last_body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "You are precise." and "B) red" in messages[1]["content"]
    assert messages[2]["content"] == "Answer: B" and messages[3]["content"].startswith(QUESTIONS[0]["question"])
    record = read_run(tmp_path / "out")["records"][0]
    assert json.loads(record["prompt"]) == messages  # what was sent, whole


def test_truncated_answers_are_counted_and_warned_about(
    server: FakeChatServer, bench_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(server, bench_file, tmp_path)
    config["endpoints"][0]["max_tokens"] = 3  # the fake replies with 7 words
    caplog.set_level(logging.INFO)
    result = run(config, 0, tmp_path / "out")
    data = read_run(tmp_path / "out")
    assert result.truncated == 24 and data["extra_metrics"]["truncated"] == 24
    assert {r["extra_fields"]["finish_reason"] for r in data["records"]} == {"length"}
    assert any("24 of 24 answers were cut at max_tokens" in r.getMessage() for r in caplog.records)
    assert not any(r.name.startswith("httpx") for r in caplog.records)  # no line per request


def test_the_dry_run_counts_requests_and_prices_them_without_sending(
    server: FakeChatServer, bench_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(server, bench_file, tmp_path)
    config["benchmarks"][0]["limit"] = 10
    run(config, 0, tmp_path / "out")  # 10 answers of endpoint 0 cached
    config["benchmarks"][0]["limit"] = 20
    count = server.count
    small, large = estimate_collection(config)
    assert server.count == count  # nothing sent
    assert (small.requests, small.cached, small.to_send, small.completion_basis) == (20, 10, 10, "cached mean")
    assert small.completion_tokens == 10 * 7  # the fake's replies are 7 words
    price = config["endpoints"][0]["price"]
    assert small.cost == pytest.approx((small.prompt_tokens * price["input"] + 70 * price["output"]) / 1e6)
    assert (large.to_send, large.completion_basis, large.cost) == (20, "max_tokens", None)  # priced by responses
    table = format_estimates([small, large])
    assert "total: 30 requests to send (10 answers cached)" in table and "unknown" in table


def test_the_dry_run_command_reads_config_and_overlays(
    server: FakeChatServer, bench_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    base = {
        "sources": [],
        "benchmarks": [{"name": "mini", "path": str(bench_file), "grader": "choice"}],
        "endpoints": [
            {"name": "e", "base_url": server.base_url, "model": "small", "price": {"input": 1.0, "output": 2.0}}
        ],
        "collection": {"cache": str(tmp_path / "chat.sqlite")},
        "families": {"knn": {"n_neighbors": [5]}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(base))
    trial = {"benchmarks": [{"name": "mini", "path": str(bench_file), "grader": "choice", "limit": 4}]}
    (tmp_path / "trial.yaml").write_text(yaml.safe_dump(trial))
    (tmp_path / "off.yaml").write_text("families: {}\n")
    merged = load_merged(tmp_path / "config.yaml", [tmp_path / "off.yaml"], SCHEMA)
    assert merged["families"] == {}  # an empty mapping in an overlay empties
    status = main(["--configfile", "trial.yaml", "--schema", str(SCHEMA)])
    output = capsys.readouterr().out
    assert status == 0 and server.count == 0
    assert "total: 4 requests to send (0 answers cached)" in output
    assert main(["--base", "missing.yaml", "--schema", str(SCHEMA)]) == 1
    assert capsys.readouterr().err.startswith("Error: missing.yaml: not a readable YAML file")
