"""The static embedding backend: token vectors distilled from the packaged MiniLM, cached on disk.

The whole vocabulary takes a minute or two to distil, so the tests distil a few tokens with the real
model (the distillation's steps), and check the embedder on a small table written where it looks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avengers_pro.embeddings import embed_texts, embedder_id, make_embedder, token_counter
from avengers_pro.embeddings import static as static_backend
from avengers_pro.embeddings.static import StaticEmbedder, reduce_and_weight, token_vectors
from avengers_pro.errors import ConfigError

STATIC = {"backend": "static", "max_tokens": 8}


@pytest.fixture()
def small_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[StaticEmbedder, np.ndarray]:
    """A static embedder whose table (random, 16 columns) is already on disk: nothing is distilled."""
    monkeypatch.setenv(static_backend.STATIC_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(static_backend, "_TABLES", {})
    embedder = make_embedder({**STATIC, "dimensions": 16})
    assert isinstance(embedder, StaticEmbedder)
    vocab = embedder._get_truncator().tokenizer.get_vocab_size()
    table = np.random.default_rng(0).standard_normal((vocab, 16)).astype(np.float32)
    embedder.table_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(embedder.table_path, table)

    def no_distil(self: Any) -> np.ndarray:
        raise AssertionError("distilled although the table is on disk")

    monkeypatch.setattr(StaticEmbedder, "_distil", no_distil)
    return embedder, table


def test_a_text_is_the_mean_of_its_token_vectors(small_table) -> None:
    embedder, table = small_table
    tokenizer = embedder._get_truncator().tokenizer
    texts = ["the dog barks", "write a python function that sorts a long list of numbers quickly"]
    vectors = embedder.embed(embedder.truncate(texts))
    assert vectors.shape == (2, 16) and vectors.dtype == np.float32
    ids = tokenizer.encode("the dog barks", add_special_tokens=False).ids
    np.testing.assert_allclose(vectors[0], table[ids].mean(axis=0), rtol=1e-5)
    long_ids = tokenizer.encode(texts[1], add_special_tokens=False).ids
    assert len(long_ids) > 8  # cut to max_tokens, the head kept
    np.testing.assert_allclose(vectors[1], table[long_ids[:8]].mean(axis=0), rtol=1e-5)
    assert embedder.token_counts(texts) == [len(ids), 8]


def test_the_pipeline_path_normalises_and_caches(small_table, tmp_path: Path) -> None:
    embedder, _ = small_table
    cache = tmp_path / "cache.sqlite"
    texts = ["What is 12 plus 30?", "Sort a list in Python", "What is 12 plus 30?"]
    first = embed_texts(texts, {**STATIC, "dimensions": 16}, cache_path=cache, embedder=embedder, progress=False)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first[0], first[2])
    again = embed_texts(texts, {**STATIC, "dimensions": 16}, cache_path=cache, progress=False)
    np.testing.assert_array_equal(first, again)  # read back through a new embedder, same table file


def test_settings_name_and_count_tokens() -> None:
    assert embedder_id({"backend": "static"}) == "static-all-MiniLM-L6-v2"
    assert embedder_id({"backend": "static", "dimensions": 64}) == "static-all-MiniLM-L6-v2-d64"
    with pytest.raises(ConfigError, match="embedding.dimensions"):
        make_embedder({"dimensions": 64})  # the local backend has the model's own dimension
    a = make_embedder({"backend": "static", "dimensions": 64})
    b = make_embedder({"backend": "static", "dimensions": 128})
    assert a.cache_model != b.cache_model and a.table_path != b.table_path  # type: ignore[attr-defined]
    counter = token_counter({"backend": "static"})
    assert counter is not None and counter(["hello world"]) == [2]
    assert token_counter({"backend": "openai", "model": "x", "base_url": "http://127.0.0.1:9/v1"}) is None


def test_pca_keeps_the_leading_directions_and_sif_damps_frequent_tokens() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((500, 12)) * np.linspace(5, 0.1, 12)
    reduced = reduce_and_weight(vectors.astype(np.float32), 3)
    assert reduced.shape == (500, 3)
    # rows are weighted by rank: the first (most frequent) tokens are shrunk the most
    raw = reduce_and_weight(vectors.astype(np.float32), 12)
    norms = np.linalg.norm(raw, axis=1) / np.linalg.norm(vectors - vectors.mean(axis=0), axis=1)
    assert np.all(np.diff(norms) > -1e-6) and norms[0] < norms[-1]


def test_a_token_vector_is_what_the_model_gives_the_one_token_sentence() -> None:
    local = make_embedder({})
    model = local._get_model()  # type: ignore[attr-defined]
    tokenizer = local._get_truncator().tokenizer  # type: ignore[attr-defined]
    ids = np.array([tokenizer.token_to_id(word) for word in ("dog", "python", "prime")])
    rows = token_vectors(model, ids, tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]"), batch=2)
    expected = local.embed(["dog", "python", "prime"])
    np.testing.assert_allclose(rows, expected, atol=1e-5)


def test_a_distilled_table_is_written_once_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a table on disk the embedder distils one and writes it atomically where it looks."""
    monkeypatch.setenv(static_backend.STATIC_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(static_backend, "_TABLES", {})
    embedder = make_embedder({**STATIC, "dimensions": 16})
    assert isinstance(embedder, StaticEmbedder)
    vocab = embedder._get_truncator().tokenizer.get_vocab_size()
    table = np.random.default_rng(1).standard_normal((vocab, 16)).astype(np.float32)
    calls: list[int] = []

    def distil(self: Any) -> np.ndarray:
        calls.append(1)
        return table

    monkeypatch.setattr(StaticEmbedder, "_distil", distil)
    assert not embedder.table_path.exists()
    assert embedder.dimension == 16
    np.testing.assert_array_equal(np.load(embedder.table_path), table)
    assert [p.name for p in embedder.table_path.parent.iterdir()] == [embedder.table_path.name]  # no temp left
    monkeypatch.setattr(static_backend, "_TABLES", {})
    again = make_embedder({**STATIC, "dimensions": 16})
    assert isinstance(again, StaticEmbedder) and again.dimension == 16 and calls == [1]  # read, not distilled
