"""`avengers-pro serve`: routing, streaming, retries and fallbacks, errors, auth, metrics, logs.

Every server here is uvicorn on 127.0.0.1 and a free port, in a thread that stops at the end of its
test or module (:class:`avengers_pro.testing.fake_upstreams.ServerThread`); the upstreams are
:class:`avengers_pro.testing.fake_upstreams.FakeUpstream`, deterministic, with faults. Requests go through real
sockets. The router is exported from a small problem and embeds with a fake bag-of-words embedder,
except in the one test that uses the local MiniLM model end to end.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from avengers_pro.cli import main
from avengers_pro.errors import ConfigError
from avengers_pro.export import Router, write_fitted_router
from avengers_pro.io import record_matrix
from avengers_pro.routing import KNNRouter
from avengers_pro.serve.app import (
    ServeSettings,
    create_app,
    last_user_text,
    parse_alpha,
)
from avengers_pro.serve.batcher import EmbedBatcher
from avengers_pro.serve.config import load_upstreams, parse_upstreams
from avengers_pro.testing.fake_upstreams import Behaviour, FakeUpstream, ServerThread, reply_text
from avengers_pro.testing.small_routers import export_small_router

MODELS = ["generalist", "coder", "mathy"]
DIM = 32
EMBEDDING = {"backend": "sentence-transformers", "model": "all-MiniLM-L6-v2", "max_tokens": 256}
TOPICS = {
    "math": "What is {a} plus {b}?",
    "code": "Write a Python function that returns the {a}th Fibonacci number modulo {b}.",
    "words": "Fill in the blank: the {a} dog chased the {b} cat up the ___.",
}
QUESTIONS = [
    "What is 12 plus 30?",
    "Write a Python function that returns the 9th Fibonacci number modulo 7.",
    "Fill in the blank: the lazy dog chased the quick cat up the ___.",
    "What is 5 plus 5?",
]
SECRET = "sk-test-do-not-log-0123456789"
TIMEOUT = 30.0  # seconds any test request may take before the test fails


class FakeEmbedder:
    """Words hashed into DIM buckets: deterministic, instant, and questions of a topic stay close."""

    backend = "sentence-transformers"
    model = cache_model = "fake-bag-of-words"
    batch_size = 64
    max_concurrency = 1

    def __init__(self) -> None:
        self.batches: list[int] = []

    def truncate(self, texts: list[str]) -> list[str]:
        return texts

    def embed(self, texts: list[str]) -> np.ndarray:
        self.batches.append(len(texts))
        vectors = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row, zlib.crc32(word.encode()) % DIM] += 1.0
            vectors[row, DIM - 1] += 0.1  # never a zero vector
        return vectors


def _records() -> pd.DataFrame:
    rows = []
    for topic, template in TOPICS.items():
        for i in range(12):
            query = (
                template.format(a=3 + 7 * i, b=11 + 5 * i)
                if topic != "words"
                else template.format(a=["big", "small", "old", "young"][i % 4], b=["grey", "black", "white"][i % 3])
            )
            for model, right in (("generalist", True), ("coder", topic == "code"), ("mathy", topic == "math")):
                rows.append(
                    {
                        "query_id": f"{topic}-{i:02d}",
                        "dataset": topic,
                        "query": query,
                        "prompt": query,
                        "model": model,
                        "score": float(right),
                        "cost": 0.01 if model == "generalist" else 0.001,
                    }
                )
    return pd.DataFrame(rows)


def _export(out: Path, embed, n_clusters: int = 3) -> Path:
    records = _records()
    vectors = embed(records.drop_duplicates("query_id")["query"].tolist())
    return export_small_router(
        records, vectors, out, embedding=EMBEDDING, n_clusters=n_clusters, alpha=0.6, top_k=2, models=MODELS
    )


def _fake_router(path: Path) -> Router:
    router = Router.load(path)
    router._embedder = FakeEmbedder()  # the router's own embed path (truncate, cache, normalise), fake vectors
    return router


@pytest.fixture(scope="module")
def router_dir(tmp_path_factory) -> Path:
    fake = FakeEmbedder()

    def embed(texts):
        vectors = fake.embed(texts)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return _export(tmp_path_factory.mktemp("router") / "toy", embed)


@pytest.fixture(scope="module")
def family_router_dir(tmp_path_factory) -> Path:
    """A kNN router folder (format version 2) on the same records and fake embeddings."""
    fake = FakeEmbedder()
    records = _records()
    queries = records.drop_duplicates("query_id")
    vectors = fake.embed(queries["query"].tolist())
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    matrix = record_matrix(records, MODELS)
    rows = pd.Index(queries["query_id"]).get_indexer(matrix.query_ids)
    estimator = KNNRouter(n_neighbors=5).fit(vectors[rows], matrix)
    out = tmp_path_factory.mktemp("router") / "knn"
    write_fitted_router(
        out,
        estimator,
        params={"n_neighbors": 5},
        matrix=matrix,
        max_router=1,
        alpha={"default": 0.6, "chosen_by": "fixed", "validation": None},
        selection={"requested": "knn"},
        embedder=EMBEDDING,
        config={},
    )
    return out


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream()
    with ServerThread(fake.app, graceful_timeout=1) as server:
        yield fake, server.url


@pytest.fixture()
def fake(upstream) -> FakeUpstream:
    fake_upstream, _ = upstream
    fake_upstream.behaviours.clear()
    fake_upstream.counts.clear()
    fake_upstream.received.clear()
    return fake_upstream


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(
    url: str,
    *,
    dead: str | None = None,
    slow: str | None = None,
    reference: str | None = "generalist",
    secret: bool = False,
) -> dict:
    prices = {"generalist": (10.0, 30.0), "coder": (0.5, 1.5), "mathy": (0.2, 0.6)}
    models = {}
    for model in MODELS:
        base = f"http://127.0.0.1:{_free_port()}/v1" if model == dead else f"{url}/v1"
        models[model] = {
            "base_url": base,
            "model": f"up-{model}",
            "price": {"input": prices[model][0], "output": prices[model][1]},
        }
        if secret:
            models[model]["api_key_env"] = "TEST_UPSTREAM_KEY"
        if model == slow:
            models[model]["timeout"] = 0.3  # this one times out; the others have all the time a loaded machine needs
    return {"models": models, "reference_model": reference, "timeout": TIMEOUT, "connect_timeout": 5.0}


class Served:
    """A routing server in a thread, with an httpx client on it."""

    def __init__(
        self, router: Router, config: dict, settings: ServeSettings | None = None, environ: dict | None = None
    ) -> None:
        self.router = router
        self.config = parse_upstreams(config, router.models, environ=environ or {})
        self.app = create_app(router, self.config, settings)
        self.server = ServerThread(self.app, graceful_timeout=5)
        self.client = httpx.Client(timeout=TIMEOUT)

    def __enter__(self) -> Self:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def chat(self, text: str, model: str = "avengers-pro", **extra) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
        return self.client.post(f"{self.url}/v1/chat/completions", json=body, headers=extra.pop("headers", None))

    def metrics(self) -> dict[tuple[str, tuple], float]:
        text = self.client.get(f"{self.url}/metrics").text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


def _events(response: httpx.Response) -> list[dict | str]:
    out: list[dict | str] = []
    for block in response.text.split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


# --------------------------------------------------------------------------- Router.rank_embeddings


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.6, 1.0])
def test_rank_embeddings_starts_with_the_routed_model(router_dir, alpha):
    router = _fake_router(router_dir).with_alpha(alpha)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((200, DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ranking = router.rank_embeddings(vectors)
    assert [order[0] for order in ranking] == router.route_embeddings(vectors)
    assert all(sorted(order) == sorted(MODELS) for order in ranking)
    # The order below the first is the aggregated score's: the explanation's scores, descending.
    for order, explanation in zip(ranking[:20], router.explain_embeddings(vectors[:20]), strict=True):
        scores = [explanation["scores"][m] for m in order]
        assert scores == sorted(scores, reverse=True)


# --------------------------------------------------------------------------- routing


@pytest.mark.parametrize("folder", ["router_dir", "family_router_dir"])
def test_routed_model_equals_router_route(folder, request, upstream, fake):
    """Every kind of router folder: an Avengers-Pro one and a kNN one."""
    _, url = upstream
    router = _fake_router(request.getfixturevalue(folder))
    with Served(router, _config(url)) as served:
        seen = set()
        for alpha in (None, 0.0, 1.0):
            model = "avengers-pro" if alpha is None else f"avengers-pro:alpha={alpha}"
            expected_router = router if alpha is None else router.with_alpha(alpha)
            for text in QUESTIONS:
                body = {
                    "model": model,
                    "messages": [
                        {"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "an earlier question about cats"},
                        {"role": "assistant", "content": "an earlier answer"},
                        {"role": "user", "content": text},
                    ],
                    "temperature": 0.25,
                    "max_tokens": 17,
                    "seed": 3,
                }
                response = served.client.post(f"{served.url}/v1/chat/completions", json=body)
                assert response.status_code == 200, response.text
                expected = expected_router.route_embeddings(router.embed([text]))[0]  # the last user message decides
                assert response.headers["x-avengers-pro-model"] == expected
                assert response.headers["x-avengers-pro-routed-model"] == expected
                assert float(response.headers["x-avengers-pro-alpha"]) == expected_router.alpha
                assert "x-avengers-pro-fallback" not in response.headers
                answer = response.json()
                assert answer["model"] == expected
                assert answer["choices"][0]["message"]["content"] == reply_text(f"up-{expected}", text)
                # Forwarded unchanged apart from model, which is the upstream's name.
                received = fake.received[-1]
                assert received["body"] == {**body, "model": f"up-{expected}"}
                seen.add(expected)
        assert len(seen) > 1  # the texts do go to different models, so the check above can fail


def test_content_parts_route_on_their_text():
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is"},
                {"type": "image_url", "image_url": {"url": "data:,"}},
                {"type": "text", "text": "2 plus 2?"},
            ],
        },
        {"role": "tool", "content": "not a user"},
    ]
    assert last_user_text(messages) == "What is\n2 plus 2?"
    assert parse_alpha("avengers-pro", "avengers-pro", 0.6) == 0.6
    assert parse_alpha("avengers-pro:alpha=0.25", "avengers-pro", 0.6) == 0.25


def test_real_minilm_router_end_to_end(tmp_path, upstream, fake):
    """The router's own embedder (the local all-MiniLM-L6-v2) behind the server."""
    from avengers_pro.embeddings import embed_texts, make_embedder

    embedder = make_embedder(EMBEDDING)
    path = _export(
        tmp_path / "minilm",
        lambda texts: embed_texts(texts, EMBEDDING, cache_path=None, progress=False, embedder=embedder),
    )
    router = Router.load(path)
    router._embedder = embedder  # the model loaded above (Router.load would build the same embedder)
    _, url = upstream
    with Served(router, _config(url)) as served:
        for text in QUESTIONS:
            response = served.chat(text)
            assert response.status_code == 200
            assert response.headers["x-avengers-pro-model"] == router.route([text])[0]
        assert {served.chat(q).headers["x-avengers-pro-model"] for q in QUESTIONS[:2]} == {"mathy", "coder"}


# --------------------------------------------------------------------------- streaming


def test_stream_passes_events_through_in_order_without_buffering(router_dir, upstream, fake):
    _, url = upstream
    router = _fake_router(router_dir)
    text = "Write a Python function that returns the 9th Fibonacci number modulo 7."
    routed = router.route([text])[0]
    # The fake holds the rest of its stream back until the test has read the first word THROUGH the
    # router: a router that buffered the answer would never deliver it, and the read would time out.
    gate = threading.Event()
    fake.behaviours[f"up-{routed}"] = Behaviour(gate=gate)
    with Served(router, _config(url)) as served:
        body = {
            "model": "avengers-pro",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": text}],
        }
        events: list[dict | str] = []
        with served.client.stream("POST", f"{served.url}/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["x-avengers-pro-model"] == routed
            buffer = ""
            for piece in response.iter_text():
                buffer += piece
                while "\n\n" in buffer:
                    block, buffer = buffer.split("\n\n", 1)
                    data = block[len("data: ") :]
                    events.append(data if data == "[DONE]" else json.loads(data))
                    if len(events) == 2:  # the role event, then the first word
                        assert not gate.is_set()
                        gate.set()
        assert gate.is_set()
        assert events[-1] == "[DONE]"
        chunks = [e for e in events[:-1] if isinstance(e, dict)]
        assert all(chunk["model"] == routed for chunk in chunks)
        content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        assert content == reply_text(f"up-{routed}", text)
        assert chunks[-1]["usage"]["completion_tokens"] == len(content.split())
        metrics = served.metrics()
        assert metrics[("avengers_pro_tokens_total", (("kind", "completion"), ("model", routed)))] == len(
            content.split()
        )


def test_a_stream_that_breaks_off_ends_with_an_error_event(router_dir, upstream, fake):
    _, url = upstream
    router = _fake_router(router_dir)
    text = QUESTIONS[1]
    routed = router.route([text])[0]
    fake.behaviours[f"up-{routed}"] = Behaviour(break_after=2)
    with Served(router, _config(url)) as served:
        response = served.chat(text, stream=True)
        assert response.status_code == 200  # the headers were sent before the upstream broke off
        events = _events(response)
        words = [e["choices"][0]["delta"]["content"] for e in events if isinstance(e, dict) and e.get("choices")]
        assert "".join(words) == " ".join(reply_text(f"up-{routed}", text).split(" ")[:2])
        assert events[-1]["error"]["code"] == "stream_broken"
        assert fake.counts == {f"up-{routed}": 1}  # too late to retry
        metrics = served.metrics()
        assert metrics[("avengers_pro_upstream_attempts_total", (("model", routed), ("outcome", "stream_broken")))] == 1
        assert metrics[("avengers_pro_errors_total", (("model", routed),))] == 1
        assert metrics[("avengers_pro_in_flight", ())] == 0


def test_a_client_that_leaves_mid_stream_is_counted_out(router_dir, upstream, fake):
    _, url = upstream
    router = _fake_router(router_dir)
    text = QUESTIONS[0]
    routed = router.route([text])[0]
    gate = threading.Event()
    fake.behaviours[f"up-{routed}"] = Behaviour(gate=gate)
    with Served(router, _config(url)) as served:
        body = {"model": "avengers-pro", "stream": True, "messages": [{"role": "user", "content": text}]}
        with (
            httpx.Client(timeout=TIMEOUT) as client,
            client.stream("POST", f"{served.url}/v1/chat/completions", json=body) as response,
        ):
            first = next(response.iter_text())
            assert first.startswith("data: ")
        # The client has gone while the upstream holds its answer back: the server stops relaying,
        # closes the upstream stream (no more tokens spent) and counts the request out.
        key = ("avengers_pro_responses_total", (("model", routed), ("status", "499")))
        try:
            for _ in range(int(TIMEOUT / 0.05)):  # bounded wait for the server to notice
                metrics = served.metrics()
                if metrics.get(key) == 1:
                    break
                threading.Event().wait(0.05)
        finally:
            gate.set()
        assert metrics.get(key) == 1
        assert metrics[("avengers_pro_in_flight", ())] == 0


def test_openai_client_calls_it(router_dir, upstream, fake):
    openai = pytest.importorskip("openai")
    _, url = upstream
    router = _fake_router(router_dir)
    with Served(router, _config(url), ServeSettings(auth_token="inbound-token")) as served:
        client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="inbound-token", max_retries=0, timeout=TIMEOUT)
        text = QUESTIONS[0]
        answer = client.chat.completions.create(
            model="avengers-pro:alpha=1", messages=[{"role": "user", "content": text}]
        )
        expected = router.with_alpha(1.0).route_embeddings(router.embed([text]))[0]
        assert answer.model == expected
        assert answer.choices[0].message.content == reply_text(f"up-{expected}", text)
        stream = client.chat.completions.create(
            model="avengers-pro", stream=True, messages=[{"role": "user", "content": text}]
        )
        parts = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
        assert "".join(parts) == reply_text(f"up-{router.route([text])[0]}", text)
        assert [m.id for m in client.models.list()] == ["avengers-pro"]


# --------------------------------------------------------------------------- retries and fallbacks


def _ranking(router: Router, text: str) -> list[str]:
    return router.rank_embeddings(router.embed([text]))[0]


def test_fallback_on_500_after_one_retry(router_dir, upstream, fake):
    _, url = upstream
    router = _fake_router(router_dir)
    text = QUESTIONS[0]
    first, second = _ranking(router, text)[:2]
    fake.behaviours[f"up-{first}"] = Behaviour(status=500)
    with Served(router, _config(url)) as served:
        response = served.chat(text)
        assert response.status_code == 200
        assert response.headers["x-avengers-pro-model"] == second
        assert response.headers["x-avengers-pro-routed-model"] == first
        assert response.headers["x-avengers-pro-fallback"] == first
        assert response.json()["model"] == second
        assert fake.counts == {f"up-{first}": 2, f"up-{second}": 1}  # tried, retried once, then fell back
        metrics = served.metrics()
        assert metrics[("avengers_pro_fallbacks_total", (("from_model", first), ("to_model", second)))] == 1
        assert metrics[("avengers_pro_upstream_attempts_total", (("model", first), ("outcome", "server_error")))] == 2


def test_a_retry_that_succeeds_is_no_fallback(router_dir, upstream, fake):
    _, url = upstream
    router = _fake_router(router_dir)
    text = QUESTIONS[1]
    first = _ranking(router, text)[0]
    fake.behaviours[f"up-{first}"] = Behaviour(status=503, fail_first=1)
    with Served(router, _config(url)) as served:
        response = served.chat(text, stream=True)
        assert response.status_code == 200
        assert response.headers["x-avengers-pro-model"] == first
        assert "x-avengers-pro-fallback" not in response.headers
        assert fake.counts == {f"up-{first}": 2}
        assert _events(response)[-1] == "[DONE]"


def test_fallback_on_timeout_and_on_connection_error(router_dir, upstream, fake):
    _, url = upstream
    router = _fake_router(router_dir)
    text = QUESTIONS[0]
    first, second, third = _ranking(router, text)
    fake.behaviours[f"up-{first}"] = Behaviour(delay=3.0)  # past the 0.3 s timeout
    # The second choice's upstream is a port nothing listens on: connection refused.
    with Served(router, _config(url, dead=second, slow=first)) as served:
        response = served.chat(text)
        assert response.status_code == 200
        assert response.headers["x-avengers-pro-model"] == third
        assert response.headers["x-avengers-pro-fallback"] == f"{first},{second}"
        metrics = served.metrics()
        assert metrics[("avengers_pro_upstream_attempts_total", (("model", first), ("outcome", "timeout")))] == 2
        assert (
            metrics[("avengers_pro_upstream_attempts_total", (("model", second), ("outcome", "connection_error")))] == 2
        )


def test_every_upstream_failing_is_a_502(router_dir, upstream, fake):
    _, url = upstream
    router = _fake_router(router_dir)
    fake.default = Behaviour(status=500)
    try:
        with Served(router, {**_config(url), "max_fallbacks": 1}) as served:
            response = served.chat(QUESTIONS[0], stream=True)
            assert response.status_code == 502
            assert response.json()["error"]["type"] == "upstream_error"
            assert response.headers["x-should-retry"] == "false"  # the SDK would pay all of it again
            assert "x-avengers-pro-model" not in response.headers  # no model answered
            assert sum(fake.counts.values()) == 4  # two models, each tried twice
            routed = response.headers["x-avengers-pro-routed-model"]
            assert served.metrics()[("avengers_pro_errors_total", (("model", routed),))] == 1
    finally:
        fake.default = Behaviour()


@pytest.mark.parametrize("stream", [False, True])
def test_a_4xx_is_passed_through(router_dir, upstream, fake, stream):
    _, url = upstream
    router = _fake_router(router_dir)
    text = QUESTIONS[2]
    first = _ranking(router, text)[0]
    fake.behaviours[f"up-{first}"] = Behaviour(status=422)
    with Served(router, _config(url)) as served:
        response = served.chat(text, stream=stream)
        assert response.status_code == 422
        assert response.json() == {
            "error": {"message": "fake upstream error 422", "type": "fake_error", "param": None, "code": "422"}
        }
        assert response.headers["x-avengers-pro-model"] == first
        assert fake.counts == {f"up-{first}": 1}  # neither retried nor fallen back
        assert served.metrics()[("avengers_pro_errors_total", (("model", first),))] == 1


@pytest.mark.parametrize("fallback", [True, False])
def test_a_429_falls_back_unless_told_not_to(router_dir, upstream, fake, fallback):
    _, url = upstream
    router = _fake_router(router_dir)
    text = QUESTIONS[2]
    first, second = _ranking(router, text)[:2]
    fake.behaviours[f"up-{first}"] = Behaviour(status=429)
    with Served(router, {**_config(url), "fallback_on_429": fallback}) as served:
        response = served.chat(text)
        if fallback:
            assert response.status_code == 200
            assert response.headers["x-avengers-pro-model"] == second
            assert fake.counts == {f"up-{first}": 1, f"up-{second}": 1}  # not retried: another model at once
        else:
            assert response.status_code == 429
            assert response.headers["x-avengers-pro-model"] == first
            assert fake.counts == {f"up-{first}": 1}


# --------------------------------------------------------------------------- refusals


def test_auth_is_refused_without_the_token(router_dir, upstream, fake):
    _, url = upstream
    with Served(_fake_router(router_dir), _config(url), ServeSettings(auth_token="let-me-in")) as served:
        for headers in (
            {},
            {"authorization": "Bearer wrong"},
            {"authorization": "let-me-in"},
            {"authorization": "Basic let-me-in"},
        ):
            response = served.chat(QUESTIONS[0], headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["type"] == "authentication_error"
            assert served.client.get(f"{served.url}/v1/models", headers=headers).status_code == 401
        assert sum(fake.counts.values()) == 0  # nothing reached an upstream
        assert served.chat(QUESTIONS[0], headers={"authorization": "Bearer let-me-in"}).status_code == 200
        assert served.client.get(f"{served.url}/health").status_code == 200


BAD_BODIES = {
    "not JSON": b"{'model': 'avengers-pro'",
    "not UTF-8": b"\xff\xfe{}",
    "not an object": b"[1, 2]",
    "no model": b'{"messages": [{"role": "user", "content": "hi"}]}',
    "model not a string": b'{"model": 3, "messages": [{"role": "user", "content": "hi"}]}',
    "alpha above 1": b'{"model": "avengers-pro:alpha=1.5", "messages": [{"role": "user", "content": "hi"}]}',
    "alpha below 0": b'{"model": "avengers-pro:alpha=-0.1", "messages": [{"role": "user", "content": "hi"}]}',
    "alpha not a number": b'{"model": "avengers-pro:alpha=high", "messages": [{"role": "user", "content": "hi"}]}',
    "alpha NaN": b'{"model": "avengers-pro:alpha=nan", "messages": [{"role": "user", "content": "hi"}]}',
    "no messages": b'{"model": "avengers-pro"}',
    "empty messages": b'{"model": "avengers-pro", "messages": []}',
    "no user message": b'{"model": "avengers-pro", "messages": [{"role": "system", "content": "hi"}]}',
    "empty user message": b'{"model": "avengers-pro", "messages": [{"role": "user", "content": "  "}]}',
    "stream not a bool": b'{"model": "avengers-pro", "stream": "yes", "messages": [{"role": "user", "content": "hi"}]}',
}


@pytest.fixture(scope="module")
def plain_server(router_dir, upstream) -> Iterator[Served]:
    _, url = upstream
    with Served(_fake_router(router_dir), _config(url), ServeSettings(max_body_bytes=4096)) as served:
        yield served


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_bodies_get_an_openai_style_400(plain_server, fake, case):
    response = plain_server.client.post(
        f"{plain_server.url}/v1/chat/completions",
        content=BAD_BODIES[case],
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert sum(fake.counts.values()) == 0


def test_bodies_over_the_limit_get_413(plain_server, fake):
    body = {"model": "avengers-pro", "messages": [{"role": "user", "content": "x" * 5000}]}
    response = plain_server.client.post(f"{plain_server.url}/v1/chat/completions", json=body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"

    def chunks():  # no Content-Length: the limit holds while reading
        yield json.dumps(body).encode()

    response = plain_server.client.post(f"{plain_server.url}/v1/chat/completions", content=chunks())
    assert response.status_code == 413
    assert sum(fake.counts.values()) == 0


def test_models_and_health(plain_server):
    models = plain_server.client.get(f"{plain_server.url}/v1/models").json()
    assert [entry["id"] for entry in models["data"]] == ["avengers-pro"]
    assert models["data"][0]["models"] == MODELS
    health = plain_server.client.get(f"{plain_server.url}/health").json()
    assert health["status"] == "ok" and health["alpha"] == 0.6


# --------------------------------------------------------------------------- metrics


def test_metrics_count_the_requests_sent(router_dir, upstream, fake):
    _, url = upstream
    router = _fake_router(router_dir)
    texts = QUESTIONS * 3
    with Served(router, _config(url)) as served:
        expected_models: dict[str, int] = {}
        spend = reference = 0.0
        usage_tokens = {"prompt": 0, "completion": 0}
        for i, text in enumerate(texts):
            stream = i % 2 == 1
            extra = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
            response = served.chat(text, **extra)
            assert response.status_code == 200
            model = response.headers["x-avengers-pro-model"]
            expected_models[model] = expected_models.get(model, 0) + 1
            usage = (_events(response)[-2] if stream else response.json())["usage"]
            price = served.config.upstreams[model].price
            spend += price.cost(usage["prompt_tokens"], usage["completion_tokens"])
            reference += served.config.upstreams["generalist"].price.cost(
                usage["prompt_tokens"], usage["completion_tokens"]
            )
            usage_tokens["prompt"] += usage["prompt_tokens"]
            usage_tokens["completion"] += usage["completion_tokens"]
        served.chat("no usage asked", stream=True)  # a stream without usage: answered, not priced
        assert served.chat("x", model="nope").status_code == 404
        metrics = served.metrics()
    unpriced_model = router.route(["no usage asked"])[0]
    expected_models[unpriced_model] = expected_models.get(unpriced_model, 0) + 1
    for model in MODELS:
        assert metrics[("avengers_pro_requests_total", (("model", model),))] == expected_models.get(model, 0)
    assert sum(v for (name, _), v in metrics.items() if name == "avengers_pro_responses_total") == len(texts) + 1
    assert metrics[("avengers_pro_rejected_total", (("reason", "unknown_model"),))] == 1
    assert metrics[("avengers_pro_unpriced_responses_total", (("model", unpriced_model),))] == 1
    assert metrics[("avengers_pro_routing_seconds_count", ())] == len(texts) + 1
    assert sum(v for (name, _), v in metrics.items() if name == "avengers_pro_upstream_seconds_count") == len(texts) + 1
    assert (
        sum(
            v
            for (name, labels), v in metrics.items()
            if name == "avengers_pro_tokens_total" and ("kind", "completion") in labels
        )
        == usage_tokens["completion"]
    )
    measured_spend = sum(v for (name, _), v in metrics.items() if name == "avengers_pro_spend_usd_total")
    assert measured_spend == pytest.approx(spend)
    assert metrics[("avengers_pro_reference_spend_usd_total", ())] == pytest.approx(reference)
    assert metrics[("avengers_pro_saving_usd", ())] == pytest.approx(reference - spend)
    assert reference > spend > 0  # the cheap specialists took some questions
    assert sum(v for (name, _), v in metrics.items() if name == "avengers_pro_embed_batch_size_sum") == len(texts) + 1


# --------------------------------------------------------------------------- logs and keys


def test_the_key_is_in_no_log_and_prompts_only_when_asked(router_dir, upstream, fake, caplog):
    _, url = upstream
    router = _fake_router(router_dir)
    text = QUESTIONS[0]
    first = _ranking(router, text)[0]
    fake.behaviours[f"up-{first}"] = Behaviour(status=500)  # warnings and fallbacks get logged too
    caplog.set_level(logging.DEBUG)
    environ = {"TEST_UPSTREAM_KEY": SECRET}
    config = _config(url, secret=True)
    with Served(router, config, environ=environ) as served:
        assert served.chat(text).status_code == 200
        assert served.chat(text, stream=True).status_code == 200
        assert served.chat(text, model="unknown").status_code == 404
        assert SECRET not in repr(served.config)
    # The key did reach the upstreams...
    assert all(item["headers"]["authorization"] == f"Bearer {SECRET}" for item in fake.received)
    # ...and nowhere else: not in a log record, nor in a message.
    assert SECRET not in caplog.text
    access = [r.getMessage() for r in caplog.records if r.name == "avengers_pro.serve.access"]
    entries = [json.loads(line) for line in access]
    assert any(entry["model"] != first and entry.get("fallbacks") == [first] for entry in entries)
    assert all(text not in line for line in access)
    caplog.clear()
    with Served(router, config, ServeSettings(log_prompts=True), environ=environ) as served:
        assert served.chat(text).status_code == 200
    prompts = [
        json.loads(r.getMessage()).get("prompt") for r in caplog.records if r.name == "avengers_pro.serve.access"
    ]
    assert text in prompts
    assert SECRET not in caplog.text


# --------------------------------------------------------------------------- shutdown


def _wait_until_refused(url: str) -> bool:
    """Poll (bounded) until the server refuses new connections, i.e. its shutdown has begun."""
    for _ in range(int(TIMEOUT / 0.02)):
        try:
            httpx.get(f"{url}/health", timeout=1)
        except httpx.TransportError:
            return True
        threading.Event().wait(0.02)
    return False


def test_shutdown_lets_streams_in_flight_finish(router_dir, upstream, fake):
    _, url = upstream
    router = _fake_router(router_dir)
    text = QUESTIONS[1]
    routed = router.route([text])[0]
    gate = threading.Event()
    fake.behaviours[f"up-{routed}"] = Behaviour(gate=gate)
    served = Served(router, _config(url))
    served.server.start()
    body = {"model": "avengers-pro", "stream": True, "messages": [{"role": "user", "content": text}]}
    received, refused = "", False
    try:
        with served.client.stream("POST", f"{served.url}/v1/chat/completions", json=body) as response:
            for piece in response.iter_text():
                received += piece
                if not gate.is_set() and received.count("\n\n") >= 2:
                    served.server.server.should_exit = True  # shutdown asked while the answer is half sent
                    refused = _wait_until_refused(served.url)
                    gate.set()  # ...and, new connections refused, the rest of the answer still arrives
    finally:
        gate.set()
        served.client.close()
        served.server.stop()
    assert refused
    assert received.endswith("data: [DONE]\n\n")
    content = "".join(
        e["choices"][0]["delta"].get("content", "")
        for e in _events(httpx.Response(200, text=received))
        if isinstance(e, dict) and e["choices"]
    )
    assert content == reply_text(f"up-{routed}", text)
    with pytest.raises(httpx.ConnectError):  # and the server is gone
        httpx.get(f"{served.url}/health", timeout=5)


# --------------------------------------------------------------------------- micro-batching


def held_batches(texts: list[str], **options) -> tuple[list[list[str]], list[np.ndarray]]:
    """Embed "x" and then ``texts`` through an :class:`EmbedBatcher` (``options``) whose first forward
    pass is held until all of ``texts`` are queued; the batches it made and each caller's row
    (the first column is the text's length).
    """
    import asyncio

    started, release = threading.Event(), threading.Event()
    batches: list[list[str]] = []

    def embed(texts):
        batches.append(list(texts))
        if len(batches) == 1:
            started.set()
            release.wait(TIMEOUT)  # hold the first pass until the others are queued
        return np.array([[float(len(t)), 1.0] for t in texts])

    batcher = EmbedBatcher(embed, **options)

    async def scenario():
        first = asyncio.ensure_future(batcher.embed("x"))
        await asyncio.to_thread(started.wait, TIMEOUT)
        others = [asyncio.ensure_future(batcher.embed(text)) for text in texts]
        for _ in range(int(TIMEOUT / 0.001)):  # bounded wait until all are queued
            if batcher.waiting >= len(others):
                break
            await asyncio.sleep(0.001)
        release.set()
        return await asyncio.wait_for(asyncio.gather(first, *others), TIMEOUT)

    batcher.start()
    try:
        vectors = asyncio.run(scenario())
    finally:
        batcher.stop()
    assert batcher.waiting == 0
    return batches, vectors


def test_concurrent_requests_share_forward_passes():
    batches, vectors = held_batches(["b" * n for n in range(2, 8)], max_batch=4)
    assert [len(b) for b in batches] == [1, 4, 2]  # the six waiting texts shared two passes of at most 4
    assert [v[0] for v in vectors] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]  # each caller got its own row


def test_an_embedder_failure_is_a_503_and_the_worker_lives_on(router_dir, upstream, fake):
    _, url = upstream
    router = _fake_router(router_dir)
    embedder = router._embedder
    original = embedder.embed
    calls = {"n": 0}

    def flaky(texts):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("out of memory")
        return original(texts)

    embedder.embed = flaky
    with Served(router, _config(url)) as served:
        response = served.chat(QUESTIONS[0])
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "routing_failed"
        assert served.chat(QUESTIONS[0]).status_code == 200


# --------------------------------------------------------------------------- upstreams.yaml and the command


def _write(tmp_path: Path, config: dict) -> Path:
    import yaml

    path = tmp_path / "upstreams.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["models"].pop("coder"), "no upstream for the router's model 'coder'"),
        (lambda c: c["models"].__setitem__("gpt-9", c["models"]["coder"]), "'gpt-9' is not a model of the router"),
        (lambda c: c["models"]["mathy"].pop("price"), "models.mathy.price: expected"),
        (lambda c: c["models"]["mathy"]["price"].__setitem__("input", -1), "models.mathy.price.input: must be >= 0"),
        (lambda c: c["models"]["mathy"].__setitem__("base_url", "127.0.0.1:9000"), "models.mathy.base_url"),
        (
            lambda c: c["models"]["mathy"].__setitem__("api_key_env", "NOT_SET_ANYWHERE"),
            "the environment variable NOT_SET_ANYWHERE is not set",
        ),
        (lambda c: c["models"]["mathy"].__setitem__("apikey", "x"), "models.mathy: unknown key(s) apikey"),
        (lambda c: c.__setitem__("reference_model", "gpt-9"), "reference_model: 'gpt-9' is not one of the models"),
        (lambda c: c.__setitem__("retries", -1), "retries: expected an integer >= 0"),
    ],
)
def test_bad_upstreams_files_fail_in_one_line(tmp_path, change, message):
    config = _config("http://127.0.0.1:9")
    change(config)
    path = _write(tmp_path, config)
    with pytest.raises(ConfigError) as error:
        load_upstreams(path, MODELS, environ={})
    assert message in str(error.value)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_the_documented_example_loads():
    import yaml

    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "docs" / "upstreams.example.yaml").read_text())
    names = {entry["api_key_env"] for entry in data["models"].values() if "api_key_env" in entry}
    config = parse_upstreams(data, list(data["models"]), "upstreams.example.yaml", environ=dict.fromkeys(names, "k"))
    assert len(config.upstreams) == 11 and config.reference_model == "gpt-4-1106-preview"
    assert all(u.api_key is None for u in config.upstreams.values() if u.base_url.endswith(":11434/v1"))


def test_the_serve_command_fails_in_one_line_on_an_unmapped_model(router_dir, tmp_path, capsys):
    config = _config("http://127.0.0.1:9")
    del config["models"]["mathy"]
    path = _write(tmp_path, config)
    status = main(["serve", "--router", str(router_dir), "--upstreams", str(path), "--port", "0"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1 and "no upstream for the router's model 'mathy'" in err
    status = main(["serve", "--router", str(router_dir), "--upstreams", str(path), "--auth-token-env", "NO_SUCH_VAR"])
    assert status == 1 and "NO_SUCH_VAR is not set" in capsys.readouterr().err
