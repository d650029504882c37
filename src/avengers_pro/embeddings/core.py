"""The embedding interface and :func:`embed_texts`, which the pipeline's embedding rule calls."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol, runtime_checkable

import numpy as np

from avengers_pro.console import Progress, say
from avengers_pro.embeddings.cache import EmbeddingCache
from avengers_pro.embeddings.settings import LOCAL_BACKEND, OPENAI_BACKEND, STATIC_BACKEND, parse_settings
from avengers_pro.errors import DataError, EmbeddingError
from avengers_pro.http import bounded_map

log = logging.getLogger("avengers_pro.embeddings")


@runtime_checkable
class Embedder(Protocol):
    """What every backend provides.

    Attributes
    ----------
    backend, model
        The backend name and the model name, as configured.
    cache_model
        The model name plus every setting that changes the vector of a text (e.g. ``dimensions``);
        the cache key is (backend, cache_model, sha256 of the truncated text).
    batch_size
        Texts per call of :meth:`embed`.
    max_concurrency
        How many :meth:`embed` calls may run at once (1 for the local model).

    A backend may also have ``prepare()`` (load the model; called before the progress bar starts)
    and ``close()`` (release connections; called when :func:`embed_texts` built the embedder).
    """

    backend: str
    model: str
    cache_model: str
    batch_size: int
    max_concurrency: int

    def truncate(self, texts: list[str]) -> list[str]:
        """Cut each text to ``max_tokens`` tokens, keeping the head."""
        ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed one batch → float32 array (n, dim), not yet normalised."""
        ...


def make_embedder(config: dict[str, Any] | None) -> Embedder:
    """Build the embedder an ``embedding:`` config block describes (nothing is loaded yet).

    Parameters
    ----------
    config
        The ``embedding:`` block.

    Returns
    -------
    Embedder
        A :class:`~avengers_pro.embeddings.local.SentenceTransformerEmbedder`, a
        :class:`~avengers_pro.embeddings.static.StaticEmbedder` or an
        :class:`~avengers_pro.embeddings.openai_backend.OpenAIEmbedder`.

    Raises
    ------
    ConfigError
        A bad key or value, an unknown local model, a missing endpoint.
    """
    settings = parse_settings(config)
    if settings.backend == LOCAL_BACKEND:
        from avengers_pro.embeddings.local import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(settings)
    if settings.backend == STATIC_BACKEND:
        from avengers_pro.embeddings.static import StaticEmbedder

        return StaticEmbedder(settings)
    from avengers_pro.embeddings.openai_backend import OpenAIEmbedder

    return OpenAIEmbedder(settings)


def token_counter(config: dict[str, Any] | None) -> Callable[[Sequence[str]], Sequence[int]] | None:
    """Texts → the tokens the embedder of ``config`` sees for each (its ``token_counts``), or None
    when the backend cannot say (a remote model). Loads a tokenizer at most, never a model.
    """
    if parse_settings(config).backend == OPENAI_BACKEND:
        return None
    counts = getattr(make_embedder(config), "token_counts", None)
    return counts if callable(counts) else None


def text_hash(text: str) -> str:
    """The cache key of a (truncated) text: its sha256, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_texts(texts: list[str]) -> list[str]:
    """The texts as a list; a non-string or blank text raises :class:`DataError` naming its row."""
    texts = list(texts)
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"expected a text, got {type(text).__name__}", row=row, field="query")
        if not text.strip():
            raise DataError("empty text cannot be embedded", row=row, field="query")
    return texts


def _run_batches(embedder: Embedder, batches: list[list[str]]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(batch number, vectors)`` as batches finish, at most ``max_concurrency`` in flight.

    A new batch is sent only after a finished one was handed to the caller (who stores it), so a
    killed run loses at most the batches in flight. On an error, batches already running are
    allowed to finish and are yielded before the error is raised: their vectors are not wasted.
    """
    return bounded_map(embedder.embed, batches, int(getattr(embedder, "max_concurrency", 1)))


def embed_texts(
    texts: list[str],
    config: dict[str, Any] | None,
    *,
    cache_path: str | os.PathLike[str] | None,
    progress: bool = True,
    embedder: Embedder | None = None,
) -> np.ndarray:
    """Embed texts through the persistent cache → L2-normalised float32 rows in input order.

    Each text is truncated, hashed and looked up in the cache; identical texts are embedded once;
    the misses are embedded in batches of ``batch_size`` (shortest texts first, so a batch holds
    texts of similar length) and every batch is committed to the cache as soon as it arrives, so a
    killed run resumes where it stopped and a rerun embeds nothing. With ``progress``, progress lines
    (done/total, texts/s and ETA) go to the console and the log; without it (a server embedding one
    micro-batch per call), nothing is logged above DEBUG.

    Parameters
    ----------
    texts
        The texts (non-empty strings).
    config
        The ``embedding:`` config block.
    cache_path
        The SQLite cache file (``None``: an in-memory cache, nothing persists).
    progress
        Report progress on the console (:class:`avengers_pro.console.Progress`).
    embedder
        Use this embedder instead of building one from ``config`` (tests, or to reuse a loaded model).

    Returns
    -------
    numpy.ndarray
        float32 array of shape (len(texts), dim), each row of unit length.

    Raises
    ------
    DataError
        A text is not a string or is empty (the row is its position in ``texts``).
    ConfigError
        A bad ``embedding:`` block.
    EmbeddingError
        The backend failed, returned a zero vector, or the cache holds vectors of another length.
    """
    parse_settings(config)  # fail on a bad block even when an embedder is passed in
    own_embedder = embedder is None
    if embedder is None:
        embedder = make_embedder(config)
    texts = check_texts(texts)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    try:
        return _embed_through_cache(texts, embedder, cache_path, progress)
    finally:
        if own_embedder and hasattr(embedder, "close"):
            embedder.close()


def _embed_through_cache(
    texts: list[str], embedder: Embedder, cache_path: str | os.PathLike[str] | None, progress: bool
) -> np.ndarray:
    truncated = embedder.truncate(texts)
    if len(truncated) != len(texts):
        raise EmbeddingError(f"{embedder.backend}: truncate returned {len(truncated)} texts for {len(texts)}")
    hashes = np.asarray([text_hash(text) for text in truncated], dtype=object)
    unique_hashes, first_row, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    n_cut = sum(a != b for a, b in zip(texts, truncated, strict=True))
    backend, cache_model = embedder.backend, embedder.cache_model
    level = logging.INFO if progress else logging.DEBUG

    with EmbeddingCache(":memory:" if cache_path is None else cache_path) as cache:
        found = cache.get(backend, cache_model, list(unique_hashes))
        missing = np.flatnonzero([h not in found for h in unique_hashes])
        # Shortest first: batches of similar length waste less padding (local) and time (remote).
        lengths = np.fromiter((len(truncated[first_row[i]]) for i in missing), dtype=np.int64, count=len(missing))
        missing = missing[np.argsort(lengths, kind="stable")]
        batch_size = max(1, int(embedder.batch_size))
        batches = [missing[start : start + batch_size] for start in range(0, len(missing), batch_size)]
        log.log(
            level,
            "%s %s: %d texts, %d distinct, %d cut to max_tokens, %d cached, %d to embed in %d batch(es)",
            backend,
            embedder.model,
            len(texts),
            len(unique_hashes),
            n_cut,
            len(unique_hashes) - len(missing),
            len(missing),
            len(batches),
        )
        if len(missing) and hasattr(embedder, "prepare"):
            embedder.prepare()  # load the model before the bar starts, so texts/s means texts/s
        started = time.perf_counter()
        if progress and len(missing):
            say(
                f"embedding ({embedder.model}): {len(missing):,} texts to embed, "
                f"{len(unique_hashes) - len(missing):,} from the cache"
            )
        bar_context: AbstractContextManager[Progress | None] = (
            Progress(f"embedding ({embedder.model})", len(missing), "texts") if progress else nullcontext()
        )
        with bar_context as bar:
            batch_texts = [[truncated[first_row[i]] for i in batch] for batch in batches]
            for number, vectors in _run_batches(embedder, batch_texts):
                positions = batches[number]
                vectors = np.asarray(vectors, dtype=np.float32)
                if vectors.ndim != 2 or len(vectors) != len(positions):
                    raise EmbeddingError(
                        f"{backend} {embedder.model}: expected {len(positions)} vectors, got shape {vectors.shape}"
                    )
                batch_hashes = [str(unique_hashes[i]) for i in positions]
                cache.put(backend, cache_model, batch_hashes, vectors)
                found.update(zip(batch_hashes, vectors, strict=True))
                if bar is not None:
                    bar.update(len(positions))
        if len(missing):
            seconds = time.perf_counter() - started
            log.log(
                level,
                "embedded %d texts in %.1f s (%.1f texts/s)",
                len(missing),
                seconds,
                len(missing) / max(seconds, 1e-9),
            )

    dims = {found[h].shape[0] for h in unique_hashes}
    if len(dims) != 1:
        raise EmbeddingError(
            f"{backend} {embedder.model}: vectors of different lengths {sorted(dims)} (the cache "
            f"{cache_path} holds vectors from another setting of this model; delete its entries or the file)"
        )
    matrix = np.stack([found[h] for h in unique_hashes]).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] == 0)
    if len(zero):
        raise EmbeddingError(f"{backend} {embedder.model}: zero vector for the text in row {int(first_row[zero[0]])}")
    return (matrix / norms)[inverse].astype(np.float32)
