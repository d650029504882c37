"""The OpenAI-compatible backend: any ``/v1/embeddings`` endpoint (vLLM, TEI, OpenAI, Azure, ...).

Built on the official ``openai`` package with its own retries switched off (``max_retries=0``): this
module retries by itself so that the number of requests is predictable. Retried: 408, 409, 429
(waiting at least ``Retry-After``), 5xx, timeouts, dropped connections and malformed responses.
Failed at once: 401, 403, 404 (with a hint) and other 4xx. The API key comes only from the
environment variable ``EMBEDDING_API_KEY``; it is never put in a message, a log record or the cache.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from avengers_pro.embeddings.settings import API_KEY_ENV, BASE_URL_ENV, OPENAI_BACKEND, EmbeddingSettings
from avengers_pro.embeddings.truncation import Truncator, make_truncator
from avengers_pro.errors import ConfigError, EmbeddingError

log = logging.getLogger(__name__)

#: Upper bound of one wait between attempts, whatever the backoff or ``Retry-After`` asks for.
MAX_WAIT_S = 120.0

# Sent as the bearer token when EMBEDDING_API_KEY is unset: self-hosted servers (vLLM, TEI) accept
# any token unless started with a key, and the openai client refuses to run without one.
_NO_KEY = "no-key"

_RETRY_STATUSES = frozenset({408, 409, 429})
_HINTS = {
    401: f"the server refused the API key: set {API_KEY_ENV} to a valid key",
    403: f"the API key in {API_KEY_ENV} is not allowed to use this model or endpoint",
    404: "check embedding.model (the name the server serves) and embedding.base_url (usually ends in /v1)",
    400: "the request was rejected: input too long for the model (lower embedding.max_tokens), "
    "or embedding.dimensions not supported by this model",
    422: "the request was rejected: input too long for the model (lower embedding.max_tokens), "
    "or embedding.dimensions not supported by this model",
}


def display_url(url: str) -> str:
    """``url`` without user:password and query string, safe to show in a message."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _retry_after_seconds(headers: Any) -> float | None:
    """Seconds a 429/503 response asks to wait (``retry-after-ms``, ``Retry-After`` seconds or date)."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(float(value) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


class _Attempt(Exception):
    """A failed attempt: ``retry`` says whether another one may succeed."""

    def __init__(self, reason: str, *, retry: bool, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.wait = wait


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
            raise ConfigError(f"{source}: expected an http(s) URL such as http://localhost:8000/v1, got {display_url(base_url)!r}")
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
        self._sleep = sleep
        self._random = random.Random()
        self._dim_lock = threading.Lock()
        self._dim: int | None = self.dimensions
        self._truncator: Truncator | None = None
        self._client: Any = None
        self._client_lock = threading.Lock()

    # ---------------------------------------------------------------- set-up

    @property
    def _api_key(self) -> str:
        return os.environ.get(API_KEY_ENV) or _NO_KEY

    def _redact(self, text: str) -> str:
        key = os.environ.get(API_KEY_ENV)
        return text.replace(key, "***") if key else text

    def _get_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import openai

                if not os.environ.get(API_KEY_ENV):
                    log.info("%s is not set: sending no API key to %s", API_KEY_ENV, self.endpoint)
                self._client = openai.OpenAI(
                    api_key=self._api_key,
                    base_url=self.base_url,
                    timeout=self.timeout,
                    max_retries=0,  # we retry ourselves, so request counts are predictable
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

    def _backoff(self, retry_number: int) -> float:
        # Exponential backoff with "equal jitter": half fixed, half random, so parallel workers that
        # failed together do not retry together.
        base = min(MAX_WAIT_S, self.retry_backoff * 2.0**retry_number)
        return base * (0.5 + 0.5 * self._random.random())

    def _attempt(self, inputs: list[str]) -> np.ndarray:
        import openai

        client = self._get_client()
        options: dict[str, Any] = {"model": self.model, "input": inputs, "encoding_format": "float"}
        if self.dimensions is not None:
            options["dimensions"] = self.dimensions
        try:
            response = client.embeddings.create(**options)
        except openai.APITimeoutError:
            raise _Attempt(f"no response within {self.timeout:g} s", retry=True) from None
        except openai.APIConnectionError as err:
            cause = type(err.__cause__).__name__ if err.__cause__ is not None else "connection error"
            raise _Attempt(f"connection failed ({cause})", retry=True) from None
        except openai.APIStatusError as err:
            status = err.status_code
            reason = f"HTTP {status}"
            # The client's message reads "Error code: 500 - <server message>"; keep the server's part.
            message = re.sub(r"^Error code: \d+ - ", "", getattr(err, "message", "") or "")
            if message:
                reason += f": {message[:200]}"
            if status in _HINTS:
                reason += f" ({_HINTS[status]})"
            retry = status in _RETRY_STATUSES or status >= 500
            wait = _retry_after_seconds(err.response.headers) if retry else None
            raise _Attempt(reason, retry=retry, wait=wait) from None
        return self._validate(response, len(inputs))

    def _validate(self, response: Any, n_inputs: int) -> np.ndarray:
        data = list(getattr(response, "data", None) or [])
        if len(data) != n_inputs:
            raise _Attempt(f"invalid response: {len(data)} vectors for {n_inputs} inputs", retry=True)
        indices = [getattr(item, "index", None) for item in data]
        if sorted(i for i in indices if isinstance(i, int)) != list(range(n_inputs)):
            raise _Attempt("invalid response: the 'index' fields are not 0..n-1, each once", retry=True)
        try:
            rows = [np.asarray(item.embedding, dtype=np.float64) for item in data]
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
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            try:
                return self._attempt(inputs)
            except _Attempt as failure:
                reason = self._redact(failure.reason)
                if not failure.retry:
                    raise EmbeddingError(f"embedding endpoint {self.endpoint} (model {self.model!r}): {reason}") from None
                if attempt + 1 == attempts:
                    raise EmbeddingError(
                        f"embedding endpoint {self.endpoint} (model {self.model!r}) failed after "
                        f"{attempts} attempt(s): {reason}"
                    ) from None
                wait = self._backoff(attempt)
                if failure.wait is not None:
                    wait = max(wait, failure.wait)  # honour Retry-After
                wait = min(wait, MAX_WAIT_S)
                log.warning(
                    "embedding endpoint %s: %s; retry %d of %d in %.2f s",
                    self.endpoint, reason, attempt + 1, self.max_retries, wait,
                )
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

