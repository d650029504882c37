"""The embedding layer: config block, local offline backend, persistent cache, embed_texts."""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avengers_pro.embeddings import (
    EmbeddingCache,
    embed_texts,
    embedder_id,
    make_embedder,
    parse_settings,
    text_hash,
)
from avengers_pro.embeddings import local as local_backend
from avengers_pro.errors import ConfigError, DataError, EmbeddingError

# --------------------------------------------------------------------------- config block


def test_defaults_fill_every_key() -> None:
    settings = parse_settings({})
    assert settings.backend == "sentence-transformers"
    assert settings.model == "all-MiniLM-L6-v2"
    assert settings.max_tokens == 256 and settings.batch_size == 64


@pytest.mark.parametrize(
    ("block", "key"),
    [
        ({"batch_sise": 3}, "embedding.batch_sise"),
        ({"batch_size": 0}, "embedding.batch_size"),
        ({"batch_size": True}, "embedding.batch_size"),
        ({"max_tokens": "256"}, "embedding.max_tokens"),
        ({"backend": "tfidf"}, "embedding.backend"),
        ({"timeout": 0}, "embedding.timeout"),
        ({"dimensions": 256}, "embedding.dimensions"),  # local models cannot change dimension
    ],
)
def test_bad_config_names_the_key(block: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_settings(block)


def test_api_key_in_config_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings({"backend": "openai", "api_key": "sk-do-not-print-me"})
    assert "EMBEDDING_API_KEY" in str(info.value)
    assert "sk-do-not-print-me" not in str(info.value)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({}, "all-MiniLM-L6-v2"),
        ({"model": "sentence-transformers/all-MiniLM-L6-v2"}, "all-MiniLM-L6-v2"),
        ({"model": "/models/my model/"}, "my-model"),
        ({"backend": "openai", "model": "Qwen/Qwen3-Embedding-8B"}, "openai-Qwen-Qwen3-Embedding-8B"),
        (
            {"backend": "openai", "model": "text-embedding-3-large", "dimensions": 256},
            "openai-text-embedding-3-large-d256",
        ),
    ],
)
def test_embedder_id_is_file_name_safe(block: dict[str, Any], expected: str) -> None:
    assert embedder_id(block) == expected


def test_unknown_local_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="embedding.model"):
        make_embedder({"model": "some-org/some-model-on-the-hub"})
    with pytest.raises(ConfigError, match="tokenizer.json"):
        make_embedder({"model": str(tmp_path)})


def test_max_tokens_beyond_the_models_positions_is_refused() -> None:
    with pytest.raises(ConfigError, match="embedding.max_tokens"):
        make_embedder({"max_tokens": 100_000})


# --------------------------------------------------------------------------- local backend


@pytest.fixture(scope="module")
def local_embedder() -> Iterator[Any]:
    """The packaged MiniLM, loaded with the hub switched off and every outbound connection refused."""
    real_connect = socket.socket.connect

    def refuse_network(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"network is off in this test (tried {address!r})")
        return real_connect(self, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        patch.setattr(socket.socket, "connect", refuse_network)
        patch.setattr(local_backend, "_MODELS", {})  # force a fresh load under these conditions
        embedder = make_embedder({"batch_size": 4})
        embedder.prepare()
        yield embedder


QUESTIONS = [
    "Which gas do plants absorb from the air for photosynthesis?",
    "Write a python function to find the first repeated character in a given string.",
    "The trophy doesn't fit into the brown suitcase because the _ is too large.",
    "Which gas do plants absorb from the air for photosynthesis?",
    "What is the boiling point of water at sea level in degrees Celsius?",
]


def test_local_vectors_are_normalised_384_floats(local_embedder: Any) -> None:
    vectors = embed_texts(QUESTIONS, {"batch_size": 4}, cache_path=None, embedder=local_embedder, progress=False)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[3])  # identical text, identical vector
    assert not np.allclose(vectors[0], vectors[1])
    # A paraphrase is closer than an unrelated text: the real model is at work.
    paraphrase, unrelated = embed_texts(
        ["What gas do plants take in from the atmosphere to photosynthesise?", QUESTIONS[1]],
        {},
        cache_path=None,
        embedder=local_embedder,
        progress=False,
    )
    assert vectors[0] @ paraphrase > vectors[0] @ unrelated + 0.3
    # The same text in another batch, in another call, gives the same vector.
    alone = embed_texts([QUESTIONS[2]], {}, cache_path=None, embedder=local_embedder, progress=False)
    np.testing.assert_allclose(alone[0], vectors[2], atol=1e-5)


def test_local_truncation_keeps_the_head_within_max_tokens(local_embedder: Any) -> None:
    long_text = "The quick brown fox jumps over the lazy dog. " * 200
    short_text = "A short question?"
    cut, unchanged = local_embedder.truncate([long_text, short_text])
    assert unchanged == short_text
    assert len(cut) < len(long_text) and long_text.startswith(cut)
    tokenizer = local_embedder._get_truncator().tokenizer
    n_tokens = len(tokenizer.encode(cut, add_special_tokens=True).ids)
    assert n_tokens <= local_embedder.max_tokens
    assert n_tokens >= local_embedder.max_tokens - 2  # it keeps as much as fits


def test_texts_equal_up_to_max_tokens_share_one_vector(local_embedder: Any, tmp_path: Path) -> None:
    head = "Plants use sunlight, water and carbon dioxide to make sugar. " * 60  # far beyond 256 tokens
    texts = [head + "Tail one.", head + "A completely different ending."]
    vectors = embed_texts(texts, {}, cache_path=tmp_path / "c.sqlite", embedder=local_embedder, progress=False)
    assert np.array_equal(vectors[0], vectors[1])
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        assert cache.count() == 1  # keyed by the truncated text


def test_local_embedding_is_deterministic_across_embedders(local_embedder: Any) -> None:
    other = make_embedder({"model": "sentence-transformers/all-MiniLM-L6-v2"})
    first = local_embedder.embed(QUESTIONS[:3])
    second = other.embed(QUESTIONS[:3])
    np.testing.assert_array_equal(first, second)


# --------------------------------------------------------------------------- cache and embed_texts


class FakeEmbedder:
    """A fast deterministic embedder that counts its calls and can fail after some batches."""

    backend = "fake"

    def __init__(
        self,
        *,
        batch_size: int = 3,
        fail_after: int | None = None,
        dim: int = 6,
        max_concurrency: int = 1,
        model: str = "fake-model",
    ) -> None:
        self.model = model
        self.cache_model = model
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.fail_after = fail_after
        self.dim = dim
        self.batches: list[list[str]] = []
        self.calls = 0
        self.lock = threading.Lock()  # embed runs in worker threads when max_concurrency > 1

    def truncate(self, texts: list[str]) -> list[str]:
        return [text[:40] for text in texts]

    def embed(self, texts: list[str]) -> np.ndarray:
        with self.lock:
            call = self.calls
            self.calls += 1
            if self.fail_after is not None and call >= self.fail_after:
                raise EmbeddingError("simulated crash")
            self.batches.append(list(texts))
        return np.stack([fake_vector(text, self.dim) for text in texts])

    @property
    def embedded(self) -> list[str]:
        return [text for batch in self.batches for text in batch]


def fake_vector(text: str, dim: int = 6) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return (np.random.default_rng(seed).standard_normal(dim) * 3).astype(np.float32)


TEXTS = [f"query number {i}" for i in range(10)]


def expected_vectors(texts: list[str]) -> np.ndarray:
    raw = np.stack([fake_vector(text[:40]) for text in texts])
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def test_rows_in_input_order_normalised_and_deduplicated(tmp_path: Path) -> None:
    texts = ["b", "a", "b", "c", "a"]
    fake = FakeEmbedder()
    vectors = embed_texts(texts, {}, cache_path=tmp_path / "c.sqlite", embedder=fake, progress=False)
    np.testing.assert_allclose(vectors, expected_vectors(texts), rtol=1e-6)
    assert sorted(fake.embedded) == ["a", "b", "c"]  # each distinct text once


def test_second_run_is_all_hits_and_new_texts_only_are_embedded(tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    first = FakeEmbedder()
    embed_texts(TEXTS, {}, cache_path=cache, embedder=first, progress=False)
    assert len(first.batches) == 4 and sorted(first.embedded) == sorted(TEXTS)

    again = FakeEmbedder()
    vectors = embed_texts(TEXTS, {}, cache_path=cache, embedder=again, progress=False)
    assert again.batches == []
    np.testing.assert_allclose(vectors, expected_vectors(TEXTS), rtol=1e-6)

    more = ["a new query", *TEXTS, "another new query"]
    grown = FakeEmbedder()
    vectors = embed_texts(more, {}, cache_path=cache, embedder=grown, progress=False)
    assert sorted(grown.embedded) == ["a new query", "another new query"]
    np.testing.assert_allclose(vectors, expected_vectors(more), rtol=1e-6)


def test_other_model_is_a_miss(tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    embed_texts(TEXTS, {}, cache_path=cache, embedder=FakeEmbedder(), progress=False)
    other = FakeEmbedder(model="fake-model|dimensions=6")
    embed_texts(TEXTS, {}, cache_path=cache, embedder=other, progress=False)
    assert len(other.embedded) == len(TEXTS)


@pytest.mark.parametrize("max_concurrency", [1, 3])
def test_killed_run_resumes_where_it_stopped(tmp_path: Path, max_concurrency: int) -> None:
    cache = tmp_path / "c.sqlite"
    crashing = FakeEmbedder(fail_after=2, max_concurrency=max_concurrency)
    with pytest.raises(EmbeddingError, match="simulated crash"):
        embed_texts(TEXTS, {}, cache_path=cache, embedder=crashing, progress=False)
    done = crashing.embedded
    assert len(crashing.batches) == 2 and len(done) == 6

    # What the first run finished is in the cache file, committed.
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == len(done)

    rerun = FakeEmbedder(max_concurrency=max_concurrency)
    vectors = embed_texts(TEXTS, {}, cache_path=cache, embedder=rerun, progress=False)
    assert sorted(rerun.embedded) == sorted(set(TEXTS) - set(done))
    np.testing.assert_allclose(vectors, expected_vectors(TEXTS), rtol=1e-6)


def test_cache_roundtrip_and_keys(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.sqlite"
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    with EmbeddingCache(path) as cache:
        cache.put("b", "m", ["h1", "h2"], vectors)
        assert cache.count("b", "m") == 2 and cache.count("b", "other") == 0
    with EmbeddingCache(path) as cache:
        found = cache.get("b", "m", ["h2", "h3", "h1"])
    assert set(found) == {"h1", "h2"}
    np.testing.assert_array_equal(found["h2"], vectors[1])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_text_hash_is_sha256_of_utf8() -> None:
    assert text_hash("é") == hashlib.sha256("é".encode()).hexdigest()


def test_corrupt_cache_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(EmbeddingError, match="delete the file"):
        embed_texts(TEXTS, {}, cache_path=path, embedder=FakeEmbedder(), progress=False)


def test_cached_vectors_of_another_length_are_an_error(tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    embed_texts(TEXTS[:3], {}, cache_path=cache, embedder=FakeEmbedder(dim=6), progress=False)
    with pytest.raises(EmbeddingError, match="different lengths"):
        embed_texts(TEXTS, {}, cache_path=cache, embedder=FakeEmbedder(dim=5), progress=False)


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_bad_text_names_the_row(bad: Any) -> None:
    with pytest.raises(DataError, match="row 1"):
        embed_texts(["fine", bad], {}, cache_path=None, embedder=FakeEmbedder(), progress=False)


def test_zero_vector_is_an_error() -> None:
    class ZeroEmbedder(FakeEmbedder):
        def embed(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts), 4), dtype=np.float32)

    with pytest.raises(EmbeddingError, match="zero vector"):
        embed_texts(["x"], {}, cache_path=None, embedder=ZeroEmbedder(), progress=False)


def test_progress_lines_go_to_the_console(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    embed_texts(TEXTS, {}, cache_path=tmp_path / "c.sqlite", embedder=FakeEmbedder(), progress=True)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == ""
    assert lines[0] == f"embedding (fake-model): {len(set(TEXTS))} texts to embed, 0 from the cache"
    assert lines[-1].startswith(f"embedding (fake-model): {len(set(TEXTS))}/{len(set(TEXTS))} texts (100%)")
    # A rerun embeds nothing and says nothing.
    embed_texts(TEXTS, {}, cache_path=tmp_path / "c.sqlite", embedder=FakeEmbedder(), progress=True)
    assert capsys.readouterr().err == ""
