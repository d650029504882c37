"""`avengers-pro serve` under faults and load: malformed and stalled requests, OpenAI-shaped
404/405, compressed upstreams, deadlines, circuit breakers, admission control, the JSON access log
and the length-aware batcher.

The servers, fake upstreams and the toy router are those of ``test_serve.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time

import httpx
import numpy as np
import pytest
from test_serve import (
    QUESTIONS,
    TIMEOUT,
    Served,
    _config,
    _events,
    _fake_router,
    _ranking,
    _write,
    fake,  # noqa: F401 - fixtures
    held_batches,
    router_dir,  # noqa: F401
    upstream,  # noqa: F401
)

from avengers_pro.cli import main
from avengers_pro.serve.app import ServeSettings
from avengers_pro.serve.batcher import EmbedBatcher, _Job, next_batch
from avengers_pro.serve.upstream import Breaker
from avengers_pro.testing.fake_upstreams import Behaviour, reply_text


def _raw_post(url: str, head_extra: bytes, body: bytes) -> socket.socket:
    """Open a connection and send a POST's headers and the start of its body; the socket stays open."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" + head_extra + b"\r\n"
    )
    sock.sendall(body)
    return sock


def _wait_for(predicate, what: str) -> None:
    for _ in range(int(TIMEOUT / 0.02)):  # bounded in count and time
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _access(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "avengers_pro.serve.access"]


# --------------------------------------------------------------------------- malformed requests


@pytest.fixture()
def served(router_dir, upstream):  # noqa: F811
    _, url = upstream
    with Served(_fake_router(router_dir), _config(url), ServeSettings(body_timeout=0.5)) as server:
        yield server


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 200_000,  # nested beyond any parser
        b'{"model": "avengers-pro", "messages": [{"role": "user", "content": "hi"}], "x": '
        + b"[" * 5_000
        + b"]" * 5_000
        + b"}",
        b'{"model": "avengers-pro", "temperature": NaN, "messages": [{"role": "user", "content": "hi"}]}',
        b'{"model": "avengers-pro", "top_p": -Infinity, "messages": [{"role": "user", "content": "hi"}]}',
    ],
    ids=["brackets", "deep-valid-json", "NaN", "-Infinity"],
)
def test_deep_or_non_finite_json_is_an_openai_400(served, fake, body):  # noqa: F811
    served.app.state.routing.settings = ServeSettings(max_body_bytes=1 << 20)
    response = served.client.post(
        f"{served.url}/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert sum(fake.counts.values()) == 0


def test_unknown_paths_methods_and_models_are_openai_shaped(served):
    response = served.client.get(f"{served.url}/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = served.client.get(f"{served.url}/v1/chat/completions")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]
    response = served.chat("hi", model="gpt-4")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": response.json()["error"]["message"],
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    entry = served.client.get(f"{served.url}/v1/models/avengers-pro").json()
    assert entry["id"] == "avengers-pro" and entry["alpha"] == 0.6 and entry["object"] == "model"
    entry = served.client.get(f"{served.url}/v1/models/avengers-pro:alpha=0.25").json()
    assert entry["alpha"] == 0.25
    response = served.client.get(f"{served.url}/v1/models/gpt-4")
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"


def test_a_bug_is_an_openai_shaped_500(served, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(served.app.state.routing.pool, "forward", broken)
    response = served.chat("hi")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error" and "x-request-id" in response.headers


def test_a_stalled_body_gets_408(served, fake):  # noqa: F811
    sock = _raw_post(served.url, b"content-length: 500\r\n", b'{"model": "avengers-pro", ')
    try:
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)  # the server answers once the body timeout (0.5 s) passes
            if not chunk:
                break
            answer += chunk
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    assert sum(fake.counts.values()) == 0


def test_a_client_leaving_mid_body_is_logged_quietly(served, fake, caplog):  # noqa: F811
    caplog.set_level(logging.INFO)
    sock = _raw_post(served.url, b"content-length: 500\r\n", b'{"model": "avengers-pro", ')
    sock.close()
    key = ("avengers_pro_rejected_total", (("reason", "client_gone"),))
    _wait_for(lambda: served.metrics().get(key) == 1, "the disconnect to be counted")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [entry["status"] for entry in _access(caplog) if entry["reason"] == "client_gone"] == [499]
    assert sum(fake.counts.values()) == 0


# --------------------------------------------------------------------------- upstream faults


@pytest.mark.parametrize("stream", [False, True])
def test_a_gzipped_upstream_answer_reaches_the_client_decoded(router_dir, upstream, fake, stream):  # noqa: F811
    _, url = upstream
    router = _fake_router(router_dir)
    text = QUESTIONS[1]
    first = _ranking(router, text)[0]
    fake.behaviours[f"up-{first}"] = Behaviour(gzip=True)
    with Served(router, _config(url)) as served:
        response = served.chat(text, stream=stream)
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        if stream:
            events = _events(response)
            assert events[-1] == "[DONE]"
            words = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1] if isinstance(e, dict))
        else:
            words = response.json()["choices"][0]["message"]["content"]
        assert words == reply_text(f"up-{first}", text)


def test_the_deadline_bounds_a_slow_upstream(router_dir, upstream, fake):  # noqa: F811
    _, url = upstream
    router = _fake_router(router_dir)
    fake.default = Behaviour(delay=2.0)
    try:
        with Served(router, {**_config(url), "deadline": 0.3}) as served:
            response = served.chat(QUESTIONS[0])
            assert response.status_code == 504
            assert response.json()["error"]["code"] == "deadline_exceeded"
            assert response.headers["x-should-retry"] == "false"
            assert sum(fake.counts.values()) == 1  # no call started once the deadline was spent
    finally:
        fake.default = Behaviour()


def test_a_dead_upstream_is_skipped_until_its_breaker_cools_down(router_dir, upstream, fake):  # noqa: F811
    _, url = upstream
    router = _fake_router(router_dir)
    text = QUESTIONS[0]
    first, second = _ranking(router, text)[:2]
    fake.behaviours[f"up-{first}"] = Behaviour(status=500)
    config = {**_config(url), "breaker": {"failures": 2, "cooldown": 600}}
    with Served(router, config) as served:
        for _ in range(3):
            response = served.chat(text)
            assert response.status_code == 200 and response.headers["x-avengers-pro-model"] == second
        assert fake.counts[f"up-{first}"] == 2  # the first request's call and retry; then skipped
        assert served.client.get(f"{served.url}/health").json()["breakers"][first] == "open"
        metrics = served.metrics()
        assert metrics[("avengers_pro_breaker_state", (("model", first),))] == 1
        assert metrics[("avengers_pro_breaker_state", (("model", second),))] == 0
        assert metrics[("avengers_pro_upstream_attempts_total", (("model", first), ("outcome", "breaker_open")))] == 2


def test_every_breaker_open_is_a_503_that_says_when(router_dir, upstream, fake):  # noqa: F811
    _, url = upstream
    fake.default = Behaviour(status=500)
    config = {**_config(url), "retries": 0, "breaker": {"failures": 1, "cooldown": 600}}
    try:
        with Served(_fake_router(router_dir), config) as served:
            assert served.chat(QUESTIONS[0]).status_code == 502  # three models fail once: all open
            calls = sum(fake.counts.values())
            response = served.chat(QUESTIONS[0])
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "upstreams_unavailable"
            assert 1 <= int(response.headers["retry-after"]) <= 600
            assert response.headers["x-should-retry"] == "false"
            assert sum(fake.counts.values()) == calls  # no upstream was called
    finally:
        fake.default = Behaviour()


def test_the_openai_sdk_does_not_call_again_after_a_final_error(router_dir, upstream, fake):  # noqa: F811
    openai = pytest.importorskip("openai")
    _, url = upstream
    fake.default = Behaviour(status=500)
    try:
        with Served(_fake_router(router_dir), {**_config(url), "max_fallbacks": 1}) as served:
            client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="none", max_retries=2, timeout=TIMEOUT)
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(
                    model="avengers-pro", messages=[{"role": "user", "content": QUESTIONS[0]}]
                )
            # one SDK call, one server request: 2 models x (1 + 1 retry); the SDK's 2 retries not taken
            assert sum(fake.counts.values()) == 4
    finally:
        fake.default = Behaviour()


def test_a_breaker_lets_one_trial_through_after_its_cooldown():
    now = [0.0]
    breaker = Breaker(failures=2, cooldown=10.0, clock=lambda: now[0])
    assert not breaker.record(False) and breaker.state == "closed"
    assert breaker.record(False) and breaker.state == "open" and not breaker.allow()
    now[0] = 10.0
    assert breaker.state == "half_open"
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    assert breaker.record(False) and breaker.state == "open"  # the trial failed: open again
    now[0] = 20.0
    assert breaker.allow()
    breaker.record(True)
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()
    assert breaker.trips == 2


# --------------------------------------------------------------------------- admission control


def test_requests_beyond_the_in_flight_limit_get_503(router_dir, upstream, fake):  # noqa: F811
    _, url = upstream
    gate = threading.Event()
    fake.default = Behaviour(gate=gate)  # a stream holds after its first word
    try:
        with Served(_fake_router(router_dir), _config(url), ServeSettings(max_in_flight=1)) as served:
            with served.client.stream(
                "POST",
                f"{served.url}/v1/chat/completions",
                json={"model": "avengers-pro", "stream": True, "messages": [{"role": "user", "content": "a b"}]},
            ) as held:
                assert held.status_code == 200
                refused = httpx.post(
                    f"{served.url}/v1/chat/completions",
                    json={"model": "avengers-pro", "messages": [{"role": "user", "content": "hi"}]},
                    timeout=TIMEOUT,
                )
                gate.set()
                held.read()
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "server_overloaded"
            assert refused.headers["retry-after"] == "1"
            assert served.chat("hi").status_code == 200  # the slot is free again
    finally:
        gate.set()
        fake.default = Behaviour()


@contextlib.contextmanager
def _one_in_the_pass_one_queued(router_dir, url: str, settings: ServeSettings):  # noqa: F811
    """A server whose (fake) embedder holds its first forward pass: one request's text is in that
    pass, a second one's waits in the queue. Yields ``(served, release, results)``: set ``release``
    to let the pass finish; both requests' responses land in ``results`` (they are joined on exit).
    """
    router = _fake_router(router_dir)
    embedder = router._embedder
    original = embedder.embed
    busy, release = threading.Event(), threading.Event()

    def held(texts):
        if not busy.is_set():
            busy.set()
            release.wait(TIMEOUT)
        return original(texts)

    embedder.embed = held
    results: list[httpx.Response] = []
    with Served(router, _config(url), settings) as served:

        def send(text: str) -> threading.Thread:
            body = {"model": "avengers-pro", "messages": [{"role": "user", "content": text}]}
            thread = threading.Thread(
                target=lambda: results.append(
                    httpx.post(f"{served.url}/v1/chat/completions", json=body, timeout=TIMEOUT)
                )
            )
            thread.start()
            return thread

        threads = [send("first")]
        assert busy.wait(TIMEOUT)  # the first text is in a forward pass
        threads.append(send("second"))
        depth = ("avengers_pro_embed_queue_depth", ())
        _wait_for(lambda: served.metrics().get(depth) == 1, "the second text to queue")
        try:
            yield served, release, results
        finally:
            release.set()
            for thread in threads:
                thread.join(TIMEOUT)


def test_texts_beyond_the_embedding_queue_limit_get_503(router_dir, upstream, fake):  # noqa: F811
    _, url = upstream
    settings = ServeSettings(max_queued_embeddings=1)
    with _one_in_the_pass_one_queued(router_dir, url, settings) as (served, release, results):
        response = served.chat("one too many")
        release.set()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "server_overloaded"
    assert "retry-after" in response.headers
    assert sorted(r.status_code for r in results) == [200, 200]
    assert _rejected(served, "queue_full") == 1


def test_a_text_that_waited_too_long_for_the_embedder_gets_503(router_dir, upstream, fake):  # noqa: F811
    _, url = upstream
    settings = ServeSettings(max_embed_wait=0.05)
    with _one_in_the_pass_one_queued(router_dir, url, settings) as (served, release, results):
        time.sleep(0.2)  # the second text has now waited longer than 0.05 s
        release.set()
    assert sorted(r.status_code for r in results) == [200, 503]
    refused = next(r for r in results if r.status_code == 503)
    assert refused.json()["error"]["code"] == "server_overloaded" and refused.headers["retry-after"] == "1"
    assert _rejected(served, "queue_timeout") == 1
    assert served.app.state.routing.batcher.waiting == 0


def _rejected(served: Served, reason: str) -> float | None:
    registry = served.app.state.routing.metrics.registry
    return registry.get_sample_value("avengers_pro_rejected_total", {"reason": reason})


# --------------------------------------------------------------------------- access log and request ids


def test_the_access_log_is_one_json_object_per_request(router_dir, upstream, fake, caplog):  # noqa: F811
    _, url = upstream
    router = _fake_router(router_dir)
    text = QUESTIONS[0]
    first = _ranking(router, text)[0]
    fake.behaviours[f"up-{first}"] = Behaviour(status=503)
    caplog.set_level(logging.INFO)
    with Served(router, _config(url)) as served:
        answered = served.chat(text, headers={"x-request-id": "client-id-42"})
        refused = served.chat(text, model="nope", headers={"x-request-id": "bad id with spaces"})
        missing = served.client.get(f"{served.url}/nowhere")
    assert answered.headers["x-request-id"] == "client-id-42"
    assert refused.headers["x-request-id"] != "bad id with spaces" and len(refused.headers["x-request-id"]) == 32
    entries = {entry["request_id"]: entry for entry in _access(caplog)}
    assert set(entries) == {r.headers["x-request-id"] for r in (answered, refused, missing)}
    entry = entries["client-id-42"]
    assert entry["status"] == 200 and entry["routed"] == first and entry["fallbacks"] == [first]
    assert entry["model"] == answered.headers["x-avengers-pro-model"] and entry["alpha"] == 0.6
    assert entry["attempts"] == 3 and entry["reason"] is None
    assert all(isinstance(entry[key], float) for key in ("routing_ms", "upstream_ms", "total_ms"))
    assert entries[refused.headers["x-request-id"]]["reason"] == "unknown_model"
    assert entries[missing.headers["x-request-id"]]["status"] == 404
    assert text not in caplog.text


def test_the_embedder_logs_nothing_at_info_per_batch(router_dir, caplog):  # noqa: F811
    router = _fake_router(router_dir)
    caplog.set_level(logging.INFO)
    router.embed(QUESTIONS)
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]


# --------------------------------------------------------------------------- length-aware batching


def _jobs(tokens: list[int]) -> list[_Job]:
    loop = asyncio.new_event_loop()
    try:
        return [_Job(f"t{i}", loop, loop.create_future(), n) for i, n in enumerate(tokens)]
    finally:
        loop.close()


def test_a_batch_holds_texts_of_one_length_within_the_padded_token_cap():
    jobs = _jobs([10, 250, 12, 200, 11, 9, 240])
    batch = next_batch(jobs, max_batch=64, max_tokens=1024)
    assert [job.tokens for job in batch] == [10, 12, 11, 9]  # the oldest's bucket; no long text padded in
    batch = next_batch(jobs, max_batch=64, max_tokens=1024)
    assert [job.tokens for job in batch] == [250, 200, 240]  # 3 x 250 = 750 padded tokens <= 1024
    jobs = _jobs([250, 250, 250, 250, 250, 12])
    batch = next_batch(jobs, max_batch=64, max_tokens=1024)
    assert len(batch) == 4 and [job.tokens for job in jobs] == [250, 12]  # 5 x 250 would pass the cap
    assert [len(next_batch(_jobs([5000]), 64, 1024))] == [1]  # a text over the cap still goes alone


def test_the_batcher_keeps_long_texts_out_of_short_batches():
    texts = ["s" * 10, "L" * 200, "s" * 12, "L" * 220, "s" * 11]
    batches, vectors = held_batches(
        texts, max_batch=64, max_batch_tokens=512, count_tokens=lambda ts: [len(t) for t in ts]
    )
    assert batches[1:] == [["s" * 10, "s" * 12, "s" * 11], ["L" * 200, "L" * 220]]
    assert [v[0] for v in vectors] == [1.0, 10.0, 200.0, 12.0, 220.0, 11.0]


def test_batches_shrink_to_the_time_budget_the_last_batches_measured():
    batcher = EmbedBatcher(lambda texts: np.zeros((len(texts), 2)), max_batch_tokens=4096, max_batch_seconds=0.5)
    assert batcher.token_budget() == 4096  # nothing measured yet
    batcher._learn(seconds=2.0, padded_tokens=1000)  # a busy CPU: 2 ms a padded token
    assert batcher.token_budget() == 250  # 0.5 s of work
    batcher._learn(seconds=0.01, padded_tokens=1000)  # faster again: the running mean follows
    assert 250 < batcher.token_budget() < 4096
    assert EmbedBatcher(lambda texts: np.zeros((len(texts), 2)), max_batch_tokens=4096).token_budget() == 4096


# --------------------------------------------------------------------------- the command


def test_a_port_in_use_fails_in_one_line_before_the_model_loads(router_dir, tmp_path, capsys, monkeypatch):  # noqa: F811
    from avengers_pro.export import Router

    def no_load(*args, **kwargs):
        raise AssertionError("the router was loaded although the port is taken")

    monkeypatch.setattr(Router, "load", no_load)
    path = _write(tmp_path, _config("http://127.0.0.1:9"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        status = main(["serve", "--router", str(router_dir), "--upstreams", str(path), "--port", str(port)])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1 and f"--port {port}: cannot listen" in err
