"""The OpenAI-compatible backend: any ``/v1/embeddings`` endpoint (vLLM, TEI, OpenAI, Azure, ...).

Requests, retries, ``Retry-After``, timeouts and the concurrency cap are the package's one HTTP layer
(:mod:`avengers_pro.http`), shared with the chat collector; this module adds what is particular to
embeddings: the request body, the check of the vectors and the hints per status. Retried: 408, 409,
429 (waiting at least ``Retry-After``), 5xx, timeouts, dropped connections and malformed responses.
Failed at once: 401, 403, 404 (with a hint) and other 4xx. The API key comes only from the
environment variable ``EMBEDDING_API_KEY``; it is never put in a message, a log record or the cache.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from avengers_pro.embeddings.settings import (
    API_KEY_ENV,
    BASE_URL_ENV,
    OPENAI_BACKEND,
    EmbeddingSettings,
)
from avengers_pro.embeddings.truncation import Truncator, make_truncator
from avengers_pro.errors import ConfigError, EmbeddingError
from avengers_pro.http import (
    MAX_WAIT_S,
    JsonEndpoint,
    RequestFailed,
    RetryPolicy,
    call_with_retries,
    display_url,
)
from avengers_pro.http import Attempt as _Attempt
from avengers_pro.http import retry_after_seconds as _retry_after_seconds

__all__ = ["MAX_WAIT_S", "OpenAIEmbedder", "_retry_after_seconds", "display_url"]

_HINTS = {
    401: f"the server refused the API key: set {API_KEY_ENV} to a valid key",
    403: f"the API key in {API_KEY_ENV} is not allowed to use this model or endpoint",
    404: "check embedding.model (the name the server serves) and embedding.base_url (usually ends in /v1)",
    400: "the request was rejected: input too long for the model (lower embedding.max_tokens), "
    "or embedding.dimensions not supported by this model",
    422: "the request was rejected: input too long for the model (lower embedding.max_tokens), "
    "or embedding.dimensions not supported by this model",
}


class OpenAIEmbedder:
    """Embed through an OpenAI-compatible ``/v1/embeddings`` endpoint.

    Parameters
    ----------
    settings
        The validated ``embedding:`` block.
    sleep
        The function that waits between attempts (tests pass a recorder).
    """

    backend = OPENAI_BACKEND

    def __init__(self, settings: EmbeddingSettings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        base_url = settings.base_url or os.environ.get(BASE_URL_ENV)
        if not base_url:
            raise ConfigError(
                f"embedding.base_url: the openai backend needs an endpoint; set embedding.base_url or "
                f"the environment variable {BASE_URL_ENV} (e.g. http://localhost:8000/v1)"
            )
        if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).hostname:
            source = "embedding.base_url" if settings.base_url else BASE_URL_ENV
            raise ConfigError(
                f"{source}: expected an http(s) URL such as http://localhost:8000/v1, got {display_url(base_url)!r}"
            )
        self.base_url = base_url.rstrip("/")
        self.endpoint = display_url(self.base_url) + "/embeddings"
        self.model = settings.model
        self.dimensions = settings.dimensions
        self.query_instruction = settings.query_instruction
        self.batch_size = settings.batch_size
        self.max_concurrency = settings.max_concurrency
        self.timeout = settings.timeout
        self.max_retries = settings.max_retries
        self.retry_backoff = settings.retry_backoff
        self.max_tokens = settings.max_tokens
        self.tokenizer = settings.tokenizer
        # Everything that changes the vector of a given (truncated) text goes into the cache key.
        self.cache_model = self.model
        if self.dimensions is not None:
            self.cache_model += f"|dimensions={self.dimensions}"
        if self.query_instruction:
            digest = hashlib.sha256(self.query_instruction.encode("utf-8")).hexdigest()[:16]
            self.cache_model += f"|instruction={digest}"
        self._policy = RetryPolicy(max_retries=self.max_retries, backoff=self.retry_backoff, sleep=sleep)
        self._dim_lock = threading.Lock()
        self._dim: int | None = self.dimensions
        self._truncator: Truncator | None = None
        self._client: JsonEndpoint | None = None
        self._client_lock = threading.Lock()

    # ---------------------------------------------------------------- set-up

    def _get_client(self) -> JsonEndpoint:
        with self._client_lock:
            if self._client is None:
                self._client = JsonEndpoint(
                    self.base_url,
                    api_key_env=API_KEY_ENV,
                    timeout=self.timeout,
                    max_connections=self.max_concurrency,
                    hints=_HINTS,
                )
            return self._client

    def prepare(self) -> None:
        """Create the HTTP client (no request is sent)."""
        self._get_client()

    def truncate(self, texts: list[str]) -> list[str]:
        """Keep the head of each text, ``max_tokens`` by ``embedding.tokenizer`` (see truncation.py)."""
        if self._truncator is None:
            self._truncator = make_truncator(self.tokenizer, self.max_tokens)
        return self._truncator(texts)

    # ---------------------------------------------------------------- requests

    def _attempt(self, inputs: list[str]) -> np.ndarray:
        options: dict[str, Any] = {"model": self.model, "input": inputs, "encoding_format": "float"}
        if self.dimensions is not None:
            options["dimensions"] = self.dimensions
        return self._validate(self._get_client().post("/embeddings", options), len(inputs))

    def _validate(self, response: Any, n_inputs: int) -> np.ndarray:
        data = response.get("data") if isinstance(response, dict) else None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise _Attempt("invalid response: no list of embeddings under 'data'", retry=True)
        if len(data) != n_inputs:
            raise _Attempt(f"invalid response: {len(data)} vectors for {n_inputs} inputs", retry=True)
        indices = [item.get("index") for item in data]
        if sorted(i for i in indices if isinstance(i, int)) != list(range(n_inputs)):
            raise _Attempt("invalid response: the 'index' fields are not 0..n-1, each once", retry=True)
        try:
            rows = [np.asarray(item.get("embedding"), dtype=np.float64) for item in data]
        except (TypeError, ValueError):
            raise _Attempt("invalid response: an embedding is not a list of numbers", retry=True) from None
        lengths = {row.shape for row in rows}
        if len(lengths) != 1 or len(next(iter(lengths))) != 1:
            raise _Attempt("invalid response: vectors of different lengths", retry=True)
        dim = rows[0].shape[0]
        with self._dim_lock:
            expected = self._dim
            if expected is None:
                self._dim = expected = dim
        if dim != expected:
            raise _Attempt(f"invalid response: vectors of dimension {dim}, expected {expected}", retry=True)
        vectors = np.empty((n_inputs, dim), dtype=np.float64)
        vectors[np.asarray(indices)] = np.stack(rows)  # matched by `index`, not by position
        if not np.isfinite(vectors).all():
            raise _Attempt("invalid response: NaN or infinite values", retry=True)
        return vectors.astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed one batch (one request, retried as needed) → float32 array (n, dim).

        Raises
        ------
        EmbeddingError
            After the last attempt, or at once on a non-retryable status; the message names the
            endpoint, the model and the status, never the key.
        """
        prefix = self.query_instruction or ""
        inputs = [prefix + text for text in texts]
        client = self._get_client()
        try:
            return call_with_retries(
                lambda: self._attempt(inputs),
                self._policy,
                what=f"embedding endpoint {self.endpoint}",
                redact=client.redact,
            )
        except RequestFailed as failure:
            if not failure.retryable:
                raise EmbeddingError(
                    f"embedding endpoint {self.endpoint} (model {self.model!r}): {failure.reason}"
                ) from None
            raise EmbeddingError(
                f"embedding endpoint {self.endpoint} (model {self.model!r}) failed after "
                f"{failure.attempts} attempt(s): {failure.reason}"
            ) from None

    def close(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            self._client.close()
            self._client = None
