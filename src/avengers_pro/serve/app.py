"""The ASGI app: an OpenAI-compatible ``/v1/chat/completions`` that routes each request to a model.

One request goes through these steps:

1. bearer auth (when a token is set), a body size limit, JSON and ``model`` checks: any failure is an
   OpenAI-style error JSON (401, 413 or 400) and nothing is routed;
2. the text of the LAST user message is embedded (in the :class:`~.batcher.EmbedBatcher` worker
   thread, batched with concurrent requests) and ranked by the exported router at the request's
   alpha (:meth:`avengers_pro.export.Router.rank_embeddings`: the routing code, asked for every model);
3. the body is forwarded unchanged apart from ``model`` to the first model's upstream. A 5xx, a
   timeout or a connection error is retried ``retries`` times, then the next model of the ranking is
   tried (at most ``max_fallbacks`` further models); a 4xx is the client's answer, passed through;
4. the answer goes back with ``model`` set to the router's name of the model that answered and the
   headers ``x-avengers-pro-model`` (that model), ``x-avengers-pro-routed-model`` (the router's
   first choice), ``x-avengers-pro-alpha``, ``x-avengers-pro-fallback`` (the models given up, comma
   separated; only when there were some) and ``server-timing`` (routing and upstream milliseconds).
   With ``stream: true`` the server-sent events are passed on one event at a time as they arrive
   (each event's ``model`` rewritten); nothing waits for the whole answer.

Why only the last user message: it is what the user is asking now, and it is what the router was
fitted on (one query per record, no conversation). Its limits: a follow-up that leans on earlier turns
("and now in Rust?") is routed on its own few words, the system prompt and earlier turns count for
nothing, and the embedder keeps only the first ``max_tokens`` tokens (256 for all-MiniLM-L6-v2) of a
long message. A conversation drifting between topics is routed turn by turn, possibly to different
models.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..export import Router
from .batcher import EmbedBatcher
from .config import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MODEL_NAME,
    Upstream,
    UpstreamsConfig,
)
from .metrics import CONTENT_TYPE, ServeMetrics

log = logging.getLogger("avengers_pro.serve")
access_log = logging.getLogger("avengers_pro.serve.access")

_ALPHA_CACHE_SIZE = 256
# httpcore 1.0's pool scans every connection for every queued request, several times per request
# (quadratic: encode/httpcore#1035, encode/httpx#3215); at 32 concurrent upstream calls that was half
# of the event loop's CPU. Requests are spread over this many clients, each with its own small pool.
_CLIENT_SHARDS = 8
_SSE_SEPARATOR = b"\n\n"
_Handler = Callable[[Request], Awaitable[Response]]


class RequestError(Exception):
    """A request the server refuses: becomes an OpenAI-style error JSON."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        reason: str = "bad_request",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code, self.reason = (
            status,
            message,
            kind,
            param,
            code,
            reason,
        )

    def response(self, headers: Mapping[str, str] | None = None) -> JSONResponse:
        """The error as an OpenAI-style JSON response."""
        return error_response(
            self.status, self.message, kind=self.kind, param=self.param, code=self.code, headers=headers
        )


def error_response(
    status: int,
    message: str,
    *,
    kind: str,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": code}},
        status_code=status,
        headers=dict(headers or {}),
    )


@dataclass(frozen=True)
class ServeSettings:
    """How the app behaves (the upstreams are in :class:`~.config.UpstreamsConfig`).

    Attributes
    ----------
    model_name
        The ``model`` clients send (``<model_name>:alpha=A`` for another alpha).
    max_body_bytes
        Larger request bodies get 413.
    auth_token
        When set, ``/v1/*`` needs ``Authorization: Bearer <auth_token>`` (``/health`` and
        ``/metrics`` stay open).
    log_prompts
        Put the routed text (the last user message) in the access log.
    max_batch, batch_wait
        Micro-batching of the embedder (see :class:`~.batcher.EmbedBatcher`).
    """

    model_name: str = DEFAULT_MODEL_NAME
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    auth_token: str | None = field(default=None, repr=False)
    log_prompts: bool = False
    max_batch: int = 64
    batch_wait: float = 0.0


# --------------------------------------------------------------------------- request checks


def parse_alpha(model: Any, name: str, default: float) -> float:
    """The alpha a request's ``model`` asks for.

    Raises
    ------
    RequestError
        ``model`` is not ``name`` or ``name:alpha=A`` with A a number in [0, 1].
    """
    if not isinstance(model, str):
        raise RequestError(400, f"'model' must be a string: '{name}' or '{name}:alpha=0.3'", param="model")
    if model == name:
        return default
    prefix = f"{name}:alpha="
    if not model.startswith(prefix):
        raise RequestError(
            400,
            f"The model '{model:.100}' does not exist: this server routes '{name}' "
            f"(or '{name}:alpha=A' with A in [0, 1])",
            param="model",
            code="model_not_found",
        )
    text = model[len(prefix) :]
    try:
        alpha = float(text)
    except ValueError:
        alpha = math.nan
    if not 0.0 <= alpha <= 1.0:  # NaN fails too
        raise RequestError(
            400, f"alpha must be a number in [0, 1], got '{text:.40}'", param="model", code="invalid_alpha"
        )
    return alpha


def last_user_text(messages: Any) -> str:
    """The text of the last user message (text parts joined by newlines), which the router embeds.

    Raises
    ------
    RequestError
        ``messages`` is not a non-empty list of objects, or the last user message has no text.
    """
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise RequestError(400, "'messages' must be a non-empty array of message objects", param="messages")
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):  # content parts: route on the text ones
            text = "\n".join(
                part["text"]
                for part in content
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            )
        else:
            text = ""
        if not text.strip():
            raise RequestError(400, "the last user message has no text to route on", param="messages")
        return text
    raise RequestError(400, "'messages' holds no user message to route on", param="messages")


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body.

    Raises
    ------
    RequestError
        Not UTF-8 JSON, or not an object.
    """
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(400, f"the body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the body must be a JSON object")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise RequestError(400, "'stream' must be true or false", param="stream")
    return body


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, "bad Content-Length header")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> RequestError:
    return RequestError(
        413, f"the body is larger than the limit of {limit} bytes", code="request_too_large", reason="too_large"
    )


# --------------------------------------------------------------------------- upstream calls


@dataclass
class _Attempt:
    """What one upstream call gave: a response (2xx-4xx, still open when streaming) or a failure."""

    outcome: str
    response: httpx.Response | None
    seconds: float
    content: bytes = b""


@dataclass
class _Call:
    """One routed request, for headers, metrics and the access log."""

    routed: str
    alpha: float
    stream: bool
    text: str
    routing_seconds: float
    started: float
    failed: list[str] = field(default_factory=list)
    upstream_seconds: float = 0.0
    attempts: int = 0

    def headers(self, model: str) -> dict[str, str]:
        headers = {
            "x-avengers-pro-model": model,
            "x-avengers-pro-routed-model": self.routed,
            "x-avengers-pro-alpha": f"{self.alpha:g}",
            "server-timing": f"routing;dur={self.routing_seconds * 1e3:.2f}, upstream;dur={self.upstream_seconds * 1e3:.2f}",
        }
        if self.failed:
            headers["x-avengers-pro-fallback"] = ",".join(self.failed)
        return headers


@dataclass
class _StreamState:
    """How a relayed stream went: ``outcome`` stays None while it runs (and if the client leaves)."""

    outcome: str | None = None
    usage: Any = None


class _RelayResponse(StreamingResponse):
    """A streaming response that runs ``on_close`` however it ends: done, broken, the client gone, or
    never started (then the generator's own ``finally`` would never run).
    """

    def __init__(self, content: AsyncIterator[bytes], on_close: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._on_close()


def _outcome(status: int) -> str:
    return "ok" if status < 400 else "client_error" if status < 500 else "server_error"


class RoutingApp:
    """State and handlers of one server; :func:`create_app` wraps it in a Starlette app.

    Parameters
    ----------
    router
        The exported router (its embedder loaded or not; it is used from the embed thread only).
    config
        The upstreams.
    settings
        Server behaviour.
    """

    def __init__(self, router: Router, config: UpstreamsConfig, settings: ServeSettings | None = None) -> None:
        self.router = router
        self.config = config
        self.settings = settings or ServeSettings()
        self.metrics = ServeMetrics(config)
        self.batcher = EmbedBatcher(
            self._embed,
            max_batch=self.settings.max_batch,
            max_wait=self.settings.batch_wait,
            on_batch=lambda size, _: self.metrics.batch_size.observe(size),
        )
        self._clients: list[httpx.AsyncClient] = []
        self._shard = itertools.cycle(range(_CLIENT_SHARDS))
        self._routers: dict[float, Router] = {router.alpha: router}
        self.created = int(time.time())

    # ----------------------------------------------------------------------- life cycle

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        """Start the embed worker and the upstream client; on shutdown (after the requests in
        flight, streams included, have finished) stop both.
        """
        timeout = httpx.Timeout(self.config.timeout, connect=self.config.connect_timeout)
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=32)
        tls = httpx.create_ssl_context()  # one for all shards: loading the CA bundle takes ~40 ms each
        self._clients = [
            httpx.AsyncClient(timeout=timeout, limits=limits, verify=tls, follow_redirects=False)
            for _ in range(_CLIENT_SHARDS)
        ]
        self.batcher.start()
        try:
            yield
        finally:
            self.batcher.stop()
            for client in self._clients:
                await client.aclose()
            self._clients = []

    def _embed(self, texts: Any) -> np.ndarray:
        return self.router.embed(list(texts))

    def _at_alpha(self, alpha: float) -> Router:
        router = self._routers.get(alpha)
        if router is None:
            if len(self._routers) >= _ALPHA_CACHE_SIZE:  # bounded: clients choose the alphas
                self._routers = {self.router.alpha: self.router}
            router = self._routers[alpha] = self.router.with_alpha(alpha)
        return router

    # ----------------------------------------------------------------------- handlers

    def _check_auth(self, request: Request) -> None:
        token = self.settings.auth_token
        if token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise RequestError(
                401,
                "missing or wrong bearer token (Authorization: Bearer ...)",
                kind="authentication_error",
                code="invalid_api_key",
                reason="unauthorized",
            )

    async def models(self, request: Request) -> Response:
        """``GET /v1/models``: the one routed model, with the router's models and default alpha."""
        try:
            self._check_auth(request)
        except RequestError as error:
            return self._refuse(request, error)
        entry = {
            "id": self.settings.model_name,
            "object": "model",
            "created": self.created,
            "owned_by": "avengers-pro",
            "alpha": self.router.alpha,
            "models": list(self.router.models),
        }
        return JSONResponse({"object": "list", "data": [entry]})

    async def health(self, _: Request) -> Response:
        """``GET /health``: up, with the router it serves (no upstream is called)."""
        name = None if self.router.path is None else self.router.path.name
        return JSONResponse(
            {"status": "ok", "router": name, "alpha": self.router.alpha, "models": list(self.router.models)}
        )

    async def prometheus(self, _: Request) -> Response:
        """``GET /metrics``: Prometheus text."""
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    def _refuse(self, request: Request, error: RequestError) -> Response:
        self.metrics.rejected.labels(error.reason).inc()
        access_log.info("%s %s %d refused: %s", request.method, request.url.path, error.status, error.reason)
        headers = {"www-authenticate": "Bearer"} if error.status == 401 else None
        return error.response(headers)

    async def chat_completions(self, request: Request) -> Response:
        """``POST /v1/chat/completions``: route, forward, answer (see the module docstring)."""
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        streaming = False
        try:
            try:
                self._check_auth(request)
                body = parse_body(await read_body(request, self.settings.max_body_bytes))
                alpha = parse_alpha(body.get("model"), self.settings.model_name, self.router.alpha)
                text = last_user_text(body.get("messages"))
            except RequestError as error:
                return self._refuse(request, error)
            try:
                vector = await self.batcher.embed(text)
                ranking = self._at_alpha(alpha).rank_embeddings(vector[None, :])[0]
            except Exception as error:  # noqa: BLE001 - whatever the embedder raised, the answer is 503
                log.error("routing failed: %s", error)
                self.metrics.rejected.labels("routing_failed").inc()
                return error_response(
                    503, "the router could not embed the request", kind="server_error", code="routing_failed"
                )
            routing_seconds = time.perf_counter() - started
            self.metrics.routing_seconds.observe(routing_seconds)
            call = _Call(
                routed=ranking[0],
                alpha=alpha,
                stream=bool(body.get("stream")),
                text=text,
                routing_seconds=routing_seconds,
                started=started,
            )
            self.metrics.requests.labels(call.routed).inc()
            response = await self._forward(body, ranking[: 1 + self.config.max_fallbacks], call)
            streaming = isinstance(response, _RelayResponse)
            return response
        finally:
            if not streaming:  # a stream is counted out when it ends
                self.metrics.in_flight.dec()

    async def _send(self, upstream: Upstream, payload: bytes, stream: bool) -> _Attempt:
        """One upstream call; the response is open (to stream) only for a 2xx of a streaming request."""
        assert self._clients, "the app's lifespan has not started"
        client = self._clients[next(self._shard)]
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            **upstream.headers,
        }
        if upstream.api_key:
            headers["authorization"] = f"Bearer {upstream.api_key}"
        timeout = httpx.Timeout(upstream.timeout or self.config.timeout, connect=self.config.connect_timeout)
        request = client.build_request("POST", upstream.chat_url, content=payload, headers=headers, timeout=timeout)
        started = time.perf_counter()
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException:
            return _Attempt("timeout", None, time.perf_counter() - started)
        except httpx.TransportError as error:
            log.warning("upstream %s: %s", upstream.name, type(error).__name__)
            return _Attempt("connection_error", None, time.perf_counter() - started)
        if stream and response.status_code < 300:
            return _Attempt("ok", response, time.perf_counter() - started)  # left open: _relay reads it
        try:
            content = await response.aread()
        except httpx.TimeoutException:
            return _Attempt("timeout", None, time.perf_counter() - started)
        except httpx.TransportError as error:
            log.warning("upstream %s: %s", upstream.name, type(error).__name__)
            return _Attempt("connection_error", None, time.perf_counter() - started)
        finally:
            await response.aclose()
        return _Attempt(_outcome(response.status_code), response, time.perf_counter() - started, content)

    async def _forward(self, body: dict[str, Any], candidates: list[str], call: _Call) -> Response:
        """Try the candidates in order, each ``1 + retries`` times; answer with the first non-5xx."""
        last: _Attempt | None = None
        for position, name in enumerate(candidates):
            upstream = self.config.upstreams[name]
            payload = json.dumps({**body, "model": upstream.model}, ensure_ascii=False).encode()
            for _ in range(1 + self.config.retries):
                attempt = await self._send(upstream, payload, call.stream)
                call.attempts += 1
                call.upstream_seconds = attempt.seconds
                self.metrics.attempts.labels(name, attempt.outcome).inc()
                self.metrics.upstream_seconds.labels(name).observe(attempt.seconds)
                last = attempt
                if attempt.response is not None and attempt.outcome in ("ok", "client_error"):
                    return self._answer(name, attempt, call)
            call.failed.append(name)
            if position + 1 < len(candidates):
                self.metrics.fallbacks.labels(name, candidates[position + 1]).inc()
                log.warning(
                    "falling back from %s to %s after %s", name, candidates[position + 1], last.outcome if last else "?"
                )
        self.metrics.errors.labels(call.routed).inc()
        answered = candidates[-1]
        self.metrics.responses.labels(answered, "502").inc()
        self._log_access(call, answered, 502)
        return error_response(
            502,
            f"no upstream answered ({len(candidates)} model(s) tried, last: {last.outcome if last else 'none'})",
            kind="upstream_error",
            code="upstream_failed",
            headers=call.headers(answered),
        )

    def _answer(self, name: str, attempt: _Attempt, call: _Call) -> Response:
        response = attempt.response
        assert response is not None
        headers = call.headers(name)
        status = response.status_code
        if call.stream and attempt.outcome == "ok":
            state = _StreamState()
            return _RelayResponse(
                self._relay(name, response, state),
                lambda: self._close_stream(name, response, call, state),
                status_code=status,
                media_type=response.headers.get("content-type", "text/event-stream"),
                headers={**headers, "cache-control": "no-cache", "x-accel-buffering": "no"},
            )
        self.metrics.responses.labels(name, str(status)).inc()
        content = attempt.content
        media_type = response.headers.get("content-type", "application/json")
        if attempt.outcome == "client_error":
            self.metrics.errors.labels(call.routed).inc()
        else:
            try:
                data = json.loads(content)
            except ValueError:
                data = None
            if isinstance(data, dict):
                data["model"] = name
                self.metrics.count_usage(name, data.get("usage"))
                content = json.dumps(data, ensure_ascii=False).encode()
                media_type = "application/json"
            else:
                self.metrics.unpriced.labels(name).inc()
        self._log_access(call, name, status)
        return Response(content, status_code=status, media_type=media_type, headers=headers)

    async def _relay(self, name: str, response: httpx.Response, state: _StreamState) -> AsyncIterator[bytes]:
        """Pass a stream on event by event, each event's ``model`` set to ``name``."""
        try:
            buffer = b""
            async for chunk in response.aiter_raw():
                buffer += chunk.replace(b"\r\n", b"\n") if b"\r" in chunk else chunk
                while True:
                    end = buffer.find(_SSE_SEPARATOR)
                    if end < 0:
                        break
                    event, buffer = buffer[:end], buffer[end + 2 :]
                    event, found = _rewrite_event(event, name)
                    state.usage = found if found is not None else state.usage
                    yield event + _SSE_SEPARATOR
            if buffer:
                yield buffer
            state.outcome = "ok"
        except httpx.HTTPError as error:  # too late to fall back: tell the client the answer broke off
            state.outcome = "stream_broken"
            log.warning("upstream %s: the stream broke off (%s)", name, type(error).__name__)
            message = {
                "error": {
                    "message": "the upstream's stream broke off",
                    "type": "upstream_error",
                    "param": None,
                    "code": "stream_broken",
                }
            }
            yield b"data: " + json.dumps(message).encode() + _SSE_SEPARATOR

    async def _close_stream(self, name: str, response: httpx.Response, call: _Call, state: _StreamState) -> None:
        """Close the upstream stream and count it out, however the relay ended (also never started)."""
        await response.aclose()
        self.metrics.in_flight.dec()
        if state.outcome == "ok":
            status = response.status_code
            self.metrics.count_usage(name, state.usage)
        elif state.outcome == "stream_broken":
            status = 502
            self.metrics.attempts.labels(name, "stream_broken").inc()
            self.metrics.errors.labels(call.routed).inc()
        else:  # the client went away before the end: nobody got a whole answer
            status = 499
        self.metrics.responses.labels(name, str(status)).inc()
        self._log_access(call, name, status)

    def _log_access(self, call: _Call, model: str, status: int) -> None:
        prompt = f" prompt={call.text[:2000]!r}" if self.settings.log_prompts else ""
        access_log.info(
            "POST /v1/chat/completions %d model=%s routed=%s alpha=%g fallback=%s stream=%d attempts=%d "
            "routing_ms=%.1f upstream_ms=%.1f total_ms=%.1f%s",
            status,
            model,
            call.routed,
            call.alpha,
            ",".join(call.failed) or "-",
            call.stream,
            call.attempts,
            call.routing_seconds * 1e3,
            call.upstream_seconds * 1e3,
            (time.perf_counter() - call.started) * 1e3,
            prompt,
        )


def _rewrite_event(event: bytes, model: str) -> tuple[bytes, Any]:
    """One SSE event with ``model`` set in its JSON data, and the ``usage`` it carries (or None)."""
    lines = event.split(b"\n")
    usage = None
    for i, line in enumerate(lines):
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]" or not data:
            continue
        try:
            chunk = json.loads(data)
        except ValueError:
            continue  # not ours to judge: passed on as it came
        if isinstance(chunk, dict):
            if "model" in chunk:
                chunk["model"] = model
            if chunk.get("usage"):
                usage = chunk["usage"]
            lines[i] = b"data: " + json.dumps(chunk, ensure_ascii=False).encode()
    return b"\n".join(lines), usage


def create_app(router: Router, config: UpstreamsConfig, settings: ServeSettings | None = None) -> Starlette:
    """The Starlette app serving ``router`` over ``config``'s upstreams.

    Parameters
    ----------
    router
        An exported router (:meth:`avengers_pro.export.Router.load`).
    config
        The checked ``upstreams.yaml`` (:func:`~.config.load_upstreams`).
    settings
        Server behaviour (default :class:`ServeSettings`).

    Returns
    -------
    starlette.applications.Starlette
        With the :class:`RoutingApp` as ``app.state.routing``.
    """
    state = RoutingApp(router, config, settings)
    routes: list[tuple[str, _Handler, list[str]]] = [
        ("/v1/chat/completions", state.chat_completions, ["POST"]),
        ("/v1/models", state.models, ["GET"]),
        ("/health", state.health, ["GET"]),
        ("/metrics", state.prometheus, ["GET"]),
    ]
    app = Starlette(
        routes=[Route(path, endpoint, methods=methods) for path, endpoint, methods in routes], lifespan=state.lifespan
    )
    app.state.routing = state
    return app
