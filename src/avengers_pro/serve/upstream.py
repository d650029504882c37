"""Upstream calls of the server: retries, fallbacks, a per-request deadline and circuit breakers.

:meth:`UpstreamPool.forward` tries the router's ranking in order. A model whose circuit breaker is
open is skipped (it does not use up a fallback); each model tried gets ``1 + retries`` calls on a
5xx, a timeout or a connection error, a 429 falls back at once (``fallback_on_429``), and any other
4xx is the client's answer. No call starts once the request's ``deadline`` is spent, and each call's
timeout is cut to what is left of it.

A breaker opens after ``breaker.failures`` failed calls in a row (5xx, timeout, connection error;
a 4xx or 429 shows the upstream alive) and stays open ``breaker.cooldown`` seconds; then ONE request
is let through (half open): its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from avengers_pro.serve.access import Call
from avengers_pro.serve.config import Upstream, UpstreamsConfig
from avengers_pro.serve.metrics import ServeMetrics

log = logging.getLogger("avengers_pro.serve")

# httpcore 1.0's pool scans every connection for every queued request, several times per request
# (quadratic: encode/httpcore#1035, encode/httpx#3215); at 32 concurrent upstream calls that was half
# of the event loop's CPU. Requests are spread over this many clients, each with its own small pool.
_CLIENT_SHARDS = 8
#: Breaker states, as the ``avengers_pro_breaker_state`` gauge shows them.
BREAKER_STATES = {"closed": 0, "open": 1, "half_open": 2}
_FAILURES = ("server_error", "timeout", "connection_error")


class Breaker:
    """The circuit breaker of one upstream (see the module docstring).

    Parameters
    ----------
    failures
        Failed calls in a row that open it.
    cooldown
        Seconds it stays open before one trial call.
    clock
        Time source (tests pass a fake one).
    """

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = int(failures)
        self.cooldown = float(cooldown)
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until: float | None = None
        self._trial_since: float | None = None
        self.trips = 0

    @property
    def state(self) -> str:
        """``closed``, ``open`` (calls skipped) or ``half_open`` (cooled down: the next call is a trial)."""
        with self._lock:
            if self._open_until is None:
                return "closed"
            return "open" if self._clock() < self._open_until or self._trial_running() else "half_open"

    def _trial_running(self) -> bool:
        # A trial whose request vanished (client gone, cancelled) would hold the breaker forever:
        # after another cooldown a new trial may start.
        return self._trial_since is not None and self._clock() - self._trial_since < self.cooldown

    def allow(self) -> bool:
        """Whether a call may go to this upstream now (once per cooldown when open: the trial)."""
        with self._lock:
            if self._open_until is None:
                return True
            if self._clock() < self._open_until or self._trial_running():
                return False
            self._trial_since = self._clock()
            return True

    def retry_after(self) -> float:
        """Seconds until a trial call is allowed (0 when closed)."""
        with self._lock:
            return 0.0 if self._open_until is None else max(0.0, self._open_until - self._clock())

    def record(self, ok: bool) -> bool:
        """Count a call's result; True when this failure opened the breaker."""
        with self._lock:
            if ok:
                self._failures, self._open_until, self._trial_since = 0, None, None
                return False
            self._failures += 1
            if self._trial_since is not None or (self._open_until is None and self._failures >= self.threshold):
                self._open_until = self._clock() + self.cooldown
                self._trial_since = None
                self.trips += 1
                return True
            return False


def _state_code(breaker: Breaker) -> Callable[[], float]:
    return lambda: float(BREAKER_STATES[breaker.state])


@dataclass
class Attempt:
    """What one upstream call gave: a response (2xx-4xx, still open when streaming) or a failure."""

    outcome: str
    response: httpx.Response | None
    seconds: float
    content: bytes = b""


def _outcome(status: int, fallback_on_429: bool) -> str:
    if status == 429 and fallback_on_429:
        return "rate_limited"
    return "ok" if status < 400 else "client_error" if status < 500 else "server_error"


class UpstreamPool:
    """The HTTP clients, breakers and forwarding of one server.

    Parameters
    ----------
    config
        The upstreams.
    metrics
        Where calls, fallbacks and breaker states are counted.
    """

    def __init__(self, config: UpstreamsConfig, metrics: ServeMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.breakers = {name: Breaker(config.breaker_failures, config.breaker_cooldown) for name in config.upstreams}
        for name, breaker in self.breakers.items():
            metrics.breaker_state.labels(name).set_function(_state_code(breaker))
        self._clients: list[httpx.AsyncClient] = []
        self._shard = itertools.cycle(range(_CLIENT_SHARDS))

    def start(self) -> None:
        """Open the clients."""
        timeout = httpx.Timeout(self.config.timeout, connect=self.config.connect_timeout)
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=32)
        tls = httpx.create_ssl_context()  # one for all shards: loading the CA bundle takes ~40 ms each
        self._clients = [
            httpx.AsyncClient(timeout=timeout, limits=limits, verify=tls, follow_redirects=False)
            for _ in range(_CLIENT_SHARDS)
        ]

    async def close(self) -> None:
        """Close the clients."""
        for client in self._clients:
            await client.aclose()
        self._clients = []

    def breaker_states(self) -> dict[str, str]:
        """Each model's breaker state."""
        return {name: breaker.state for name, breaker in self.breakers.items()}

    async def send(self, upstream: Upstream, payload: bytes, stream: bool, budget: float) -> Attempt:
        """One upstream call of at most ``budget`` seconds (to the first byte of a stream); the
        response is left open (to stream) only for a 2xx of a streaming request.
        """
        assert self._clients, "the pool was not started"
        client = self._clients[next(self._shard)]
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            **upstream.headers,
        }
        if upstream.api_key:
            headers["authorization"] = f"Bearer {upstream.api_key}"
        limit = min(upstream.timeout or self.config.timeout, budget)
        timeout = httpx.Timeout(limit, connect=min(self.config.connect_timeout, limit))
        request = client.build_request("POST", upstream.chat_url, content=payload, headers=headers, timeout=timeout)
        started = time.perf_counter()
        response: httpx.Response | None = None
        try:
            async with asyncio.timeout(limit):
                response = await client.send(request, stream=True)
                if stream and response.status_code < 300:
                    return Attempt("ok", response, time.perf_counter() - started)  # left open: the relay reads it
                content = await response.aread()
        except (TimeoutError, httpx.TimeoutException):
            return Attempt("timeout", None, time.perf_counter() - started)
        except httpx.TransportError as error:
            log.warning("upstream %s: %s", upstream.name, type(error).__name__)
            return Attempt("connection_error", None, time.perf_counter() - started)
        finally:
            if response is not None and not (stream and response.status_code < 300 and not response.is_closed):
                await response.aclose()
        outcome = _outcome(response.status_code, self.config.fallback_on_429)
        return Attempt(outcome, response, time.perf_counter() - started, content)

    async def forward(self, body: dict[str, object], ranking: list[str], call: Call) -> tuple[str, Attempt] | None:
        """Try the ranking in order (see the module docstring).

        Returns
        -------
        (str, Attempt) or None
            The model that answered and its attempt (a 2xx, a 4xx, or the last 429 when no model
            was left to fall back to); None when no upstream answered, or none could be tried.
        """
        tried = 0
        last_429: tuple[str, Attempt] | None = None
        deadline = call.started + self.config.deadline
        for name in ranking:
            if tried > self.config.max_fallbacks:
                break
            breaker = self.breakers[name]
            if not breaker.allow():
                call.skipped.append(name)
                self.metrics.attempts.labels(name, "breaker_open").inc()
                continue
            if tried:
                self.metrics.fallbacks.labels(call.failed[-1], name).inc()
            tried += 1
            upstream = self.config.upstreams[name]
            payload = json.dumps({**body, "model": upstream.model}, ensure_ascii=False).encode()
            for retry in range(1 + self.config.retries):
                budget = deadline - time.perf_counter()
                if budget <= 0 or (retry and not breaker.allow()):
                    break
                attempt = await self.send(upstream, payload, call.stream, budget)
                call.attempts += 1
                call.upstream_seconds = attempt.seconds
                self.metrics.attempts.labels(name, attempt.outcome).inc()
                self.metrics.upstream_seconds.labels(name).observe(attempt.seconds)
                if attempt.outcome != "rate_limited" and breaker.record(attempt.outcome not in _FAILURES):
                    log.warning("upstream %s: circuit breaker open for %g s", name, breaker.cooldown)
                if attempt.outcome in ("ok", "client_error"):
                    return name, attempt
                if attempt.outcome == "rate_limited":
                    last_429 = (name, attempt)
                    break
            call.failed.append(name)
            if time.perf_counter() >= deadline:
                break
        return last_429

    def deadline_spent(self, call: Call) -> bool:
        """Whether ``call`` has used up its deadline."""
        return time.perf_counter() >= call.started + self.config.deadline

    def retry_after(self) -> float:
        """Seconds until the first open breaker lets a trial through."""
        waits = [b.retry_after() for b in self.breakers.values() if b.state != "closed"]
        return min(waits) if waits else 0.0
