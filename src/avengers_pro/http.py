"""One HTTP layer for every OpenAI-compatible endpoint the package calls: embeddings and chat.

What lives here, once, for both callers:

- :class:`JsonEndpoint` posts JSON to one base URL over a pooled, thread-safe ``httpx`` client, with
  the bearer key read from an environment variable at start (never from a file) and redacted from
  every reason it reports. One call is one attempt: a failure raises :class:`Attempt`, which says
  whether another attempt may succeed and how long the server asked to wait.
- :func:`call_with_retries` retries a call by a :class:`RetryPolicy`: exponential backoff with
  jitter, at least the ``Retry-After`` a 429/503 asks for, every wait capped at :data:`MAX_WAIT_S`.
  Retried: 408, 409, 429, 5xx, timeouts, dropped connections and responses that are not valid JSON
  (or that the caller's own check rejects). Failed at once: 401, 403, 404 and other 4xx.
- :func:`bounded_map` runs calls on a thread pool with at most ``max_concurrency`` in flight and
  hands each result back as soon as it arrives, so the caller can store it before the next call
  starts: a killed run loses at most the calls in flight.

Callers turn :class:`RequestFailed` into their own error (the embedding backend raises
``EmbeddingError``; the collector records a failed answer) and add hints per status code.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Upper bound of one wait between attempts, whatever the backoff or ``Retry-After`` asks for.
MAX_WAIT_S = 120.0

#: Statuses worth another attempt besides every 5xx.
RETRY_STATUSES = frozenset({408, 409, 429})

# Sent as the bearer token when the key's variable is unset: self-hosted servers (vLLM, TEI) accept
# any token unless started with a key.
NO_KEY = "no-key"


def display_url(url: str) -> str:
    """``url`` without user:password and query string, safe to show in a message."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def retry_after_seconds(headers: Any) -> float | None:
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
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


class Attempt(Exception):
    """A failed attempt: ``retry`` says whether another one may succeed; ``status`` is the HTTP status."""

    def __init__(self, reason: str, *, retry: bool, wait: float | None = None, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.wait = wait
        self.status = status


class RequestFailed(Exception):
    """The last attempt failed (``retryable``: it failed for a reason that retries could have fixed).

    The reason is already redacted; ``attempts`` is how many requests were sent.
    """

    def __init__(self, reason: str, *, attempts: int, retryable: bool, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.retryable = retryable
        self.status = status


@dataclass
class RetryPolicy:
    """How often and how patiently a request is retried.

    Parameters
    ----------
    max_retries
        Retries after the first attempt.
    backoff
        First wait in seconds, doubled on each retry, with "equal jitter" (half fixed, half random,
        so parallel workers that failed together do not retry together); a ``Retry-After`` wins when
        it is longer; every wait is capped at :data:`MAX_WAIT_S`.
    sleep
        The function that waits (tests pass a recorder).
    """

    max_retries: int = 5
    backoff: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    random: random.Random = field(default_factory=random.Random)

    def wait(self, retry_number: int, asked: float | None) -> float:
        """Seconds to wait before retry ``retry_number`` (0-based); ``asked`` is the Retry-After."""
        base = min(MAX_WAIT_S, self.backoff * 2.0**retry_number)
        seconds = base * (0.5 + 0.5 * self.random.random())
        if asked is not None:
            seconds = max(seconds, asked)
        return min(seconds, MAX_WAIT_S)


def call_with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    redact: Callable[[str], str] = lambda text: text,
) -> T:
    """Run ``call`` until it returns, retrying each :class:`Attempt` marked ``retry``.

    Parameters
    ----------
    call
        One attempt; raises :class:`Attempt` on failure.
    policy
        Number of retries and waits.
    what
        Names the endpoint in the warning logged before each retry.
    redact
        Applied to every reason before it is logged or raised (removes the key).

    Raises
    ------
    RequestFailed
        At once for a non-retryable failure, else after the last attempt.
    """
    attempts = policy.max_retries + 1
    for attempt in range(attempts):
        try:
            return call()
        except Attempt as failure:
            reason = redact(failure.reason)
            if not failure.retry or attempt + 1 == attempts:
                raise RequestFailed(
                    reason, attempts=attempt + 1, retryable=failure.retry, status=failure.status
                ) from None
            seconds = policy.wait(attempt, failure.wait)
            log.warning("%s: %s; retry %d of %d in %.2f s", what, reason, attempt + 1, policy.max_retries, seconds)
            policy.sleep(seconds)
    raise AssertionError("unreachable")  # pragma: no cover


def _server_message(response: httpx.Response) -> str:
    """The server's own words about an error status: ``error.message`` of a JSON body, else the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:200]
        if isinstance(error, str):
            return error[:200]
        if isinstance(body.get("message"), str):
            return str(body["message"])[:200]
    return json.dumps(body)[:200]


class JsonEndpoint:
    """POST JSON to paths under one OpenAI-compatible base URL; thread-safe.

    Parameters
    ----------
    base_url
        For example ``http://localhost:8000/v1`` (credentials in it are never shown).
    api_key_env
        Name of the environment variable holding the key; read once, here. ``None`` or unset: the
        placeholder token :data:`NO_KEY` is sent (what self-hosted servers without a key accept).
    timeout
        Seconds to wait for the connection and for each read before the attempt is abandoned.
    max_connections
        Size of the connection pool (the number of requests in flight the caller allows).
    hints
        Text added to the reason of a given status (e.g. which config key to check on a 404).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key_env: str | None,
        timeout: float,
        max_connections: int,
        hints: Mapping[int, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.display = display_url(self.base_url)
        self.timeout = float(timeout)
        self.hints = dict(hints or {})
        self._key = os.environ.get(api_key_env) if api_key_env else None
        if api_key_env and not self._key:
            log.info("%s is not set: sending no API key to %s", api_key_env, self.display)
        # Imported here: the embedding settings are read on every snakemake call, which needs no client.
        import httpx

        limits = httpx.Limits(
            max_connections=max(1, max_connections), max_keepalive_connections=max(1, max_connections)
        )
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout),
            limits=limits,
            headers={"Authorization": f"Bearer {self._key or NO_KEY}", "Content-Type": "application/json"},
        )

    def redact(self, text: str) -> str:
        """``text`` with the key replaced by ``***`` (a proxy may echo the Authorization header)."""
        return text.replace(self._key, "***") if self._key else text

    def post(self, path: str, payload: Mapping[str, Any]) -> Any:
        """One attempt: POST ``payload`` to ``base_url + path`` and return the decoded JSON body.

        Raises
        ------
        Attempt
            On a timeout, a dropped connection, an error status or a body that is not JSON.
        """
        import httpx  # already loaded by __init__; a name for the exceptions below

        content = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            response = self._client.post(self.base_url + path, content=content)
        except httpx.TimeoutException:
            raise Attempt(f"no response within {self.timeout:g} s", retry=True) from None
        except httpx.TransportError as err:
            raise Attempt(f"connection failed ({type(err).__name__})", retry=True) from None
        status = response.status_code
        if status >= 400:
            reason = f"HTTP {status}"
            message = _server_message(response)
            if message:
                reason += f": {message}"
            if status in self.hints:
                reason += f" ({self.hints[status]})"
            retry = status in RETRY_STATUSES or status >= 500
            wait = retry_after_seconds(response.headers) if retry else None
            raise Attempt(reason, retry=retry, wait=wait, status=status)
        try:
            return response.json()
        except ValueError:
            raise Attempt(f"invalid response: HTTP {status} with a body that is not JSON", retry=True) from None

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()


def bounded_map(fn: Callable[[T], R], items: Sequence[T], max_concurrency: int) -> Iterator[tuple[int, R]]:
    """Yield ``(position, fn(item))`` as calls finish, at most ``max_concurrency`` in flight.

    A new call starts only after a finished one was handed to the caller (who stores it), so a
    killed run loses at most the calls in flight. On an error, calls already running are allowed to
    finish and are yielded before the error is raised: their results are not wasted.
    """
    workers = max(1, int(max_concurrency))
    if workers == 1 or len(items) <= 1:
        for position, item in enumerate(items):
            yield position, fn(item)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="request")
    in_flight: dict[Future[R], int] = {}
    next_item = 0
    failure: BaseException | None = None
    try:
        while next_item < len(items) and len(in_flight) < workers:
            in_flight[pool.submit(fn, items[next_item])] = next_item
            next_item += 1
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                position = in_flight.pop(future)
                error = future.exception()
                if error is not None:
                    failure = failure or error
                else:
                    yield position, future.result()
            if failure is None:
                while next_item < len(items) and len(in_flight) < workers:
                    in_flight[pool.submit(fn, items[next_item])] = next_item
                    next_item += 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if failure is not None:
        raise failure
