"""The ASGI app: an OpenAI-compatible ``/v1/chat/completions`` that routes each request to a model.

One request goes through these steps:

1. admission (at most ``max_in_flight`` requests at once and ``max_queued_embeddings`` texts waiting
   for the embedder, else 503 with ``Retry-After``), bearer auth (when a token is set), a body size
   limit and read timeout, JSON and ``model`` checks: any failure is an OpenAI-style error JSON
   (503, 401, 413, 408, 404 or 400) and nothing is routed;
2. the text of the LAST user message is embedded (in the :class:`~.batcher.EmbedBatcher` worker
   thread, batched with concurrent requests) and ranked by the exported router at the request's
   alpha (:meth:`avengers_pro.export.Router.rank_embeddings`: the routing code, asked for every model);
3. the body is forwarded unchanged apart from ``model`` to the first model's upstream, with retries,
   fallbacks, a deadline and circuit breakers (:mod:`.upstream`); a 4xx is the client's answer,
   passed through; when no upstream answers the client gets 502 (504 once the deadline is spent,
   503 when every model's breaker is open), with ``x-should-retry: false``;
4. the answer goes back with ``model`` set to the router's name of the model that answered and the
   headers ``x-request-id``, ``x-avengers-pro-model`` (that model; absent when none answered), ``x-avengers-pro-routed-model`` (the router's
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

import asyncio
import hmac
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from avengers_pro.embeddings import token_counter
from avengers_pro.export import Router
from avengers_pro.serve.access import Call, RequestIdMiddleware, log_access, request_id
from avengers_pro.serve.batcher import EmbedBatcher, QueueTimeout, rough_token_count
from avengers_pro.serve.checks import RequestError, error_response, last_user_text, parse_alpha, parse_body, read_body
from avengers_pro.serve.config import DEFAULT_MAX_BODY_BYTES, DEFAULT_MODEL_NAME, UpstreamsConfig
from avengers_pro.serve.metrics import CONTENT_TYPE, ServeMetrics
from avengers_pro.serve.upstream import Attempt, UpstreamPool

__all__ = ["RequestError", "RoutingApp", "ServeSettings", "create_app", "last_user_text", "parse_alpha"]

log = logging.getLogger("avengers_pro.serve")

_ALPHA_CACHE_SIZE = 256
_SSE_SEPARATOR = b"\n\n"
#: On a final upstream error: the openai SDK would otherwise call again (twice by default), and each
#: call costs every retry and fallback once more.
_NO_RETRY = {"x-should-retry": "false"}
_Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class ServeSettings:
    """How the app behaves (the upstreams are in :class:`~.config.UpstreamsConfig`).

    Attributes
    ----------
    model_name
        The ``model`` clients send (``<model_name>:alpha=A`` for another alpha).
    max_body_bytes
        Larger request bodies get 413.
    body_timeout
        Seconds a request body may take to arrive (else 408).
    auth_token
        When set, ``/v1/*`` needs ``Authorization: Bearer <auth_token>`` (``/health`` and
        ``/metrics`` stay open).
    log_prompts
        Put the routed text (the last user message) in the access log.
    max_batch, batch_wait, max_batch_tokens
        Micro-batching of the embedder (see :class:`~.batcher.EmbedBatcher`).
    max_in_flight
        Chat completions served at once (streams included); one more gets 503 with ``Retry-After``.
    max_queued_embeddings
        Texts waiting for the embedder; a request that would add one more gets 503 with
        ``Retry-After``.
    max_embed_wait
        Seconds a text may wait for the embedder before its forward pass starts; a request whose
        text waited longer gets 503 with ``Retry-After`` (``None``: no limit). A batch is also kept
        to about this many seconds of work. Together they bound what the embedder adds to a
        request to about twice this, whatever the texts' lengths.
    """

    model_name: str = DEFAULT_MODEL_NAME
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_timeout: float = 30.0
    auth_token: str | None = field(default=None, repr=False)
    log_prompts: bool = False
    max_batch: int = 64
    batch_wait: float = 0.0
    max_batch_tokens: int = 4096
    max_in_flight: int = 512
    max_queued_embeddings: int = 64
    max_embed_wait: float | None = 0.5


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
        self.pool = UpstreamPool(config, self.metrics)
        self.batcher = EmbedBatcher(
            self._embed,
            max_batch=self.settings.max_batch,
            max_wait=self.settings.batch_wait,
            max_batch_tokens=self.settings.max_batch_tokens,
            count_tokens=self._count_tokens,
            max_queue_wait=self.settings.max_embed_wait,
            max_batch_seconds=self.settings.max_embed_wait,
            on_batch=lambda size, _: self.metrics.batch_size.observe(size),
        )
        self.metrics.queue_depth.set_function(lambda: self.batcher.waiting)
        self._counter: Callable[[Sequence[str]], Sequence[int]] | None = None
        self._routers: dict[float, Router] = {router.alpha: router}
        self._in_flight = 0
        self.created = int(time.time())

    # ----------------------------------------------------------------------- life cycle

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        """Start the embed worker and the upstream clients; on shutdown (after the requests in
        flight, streams included, have finished) stop both.
        """
        self.pool.start()
        await asyncio.to_thread(self._count_tokens, ["warm-up"])  # load the tokenizer before the first request
        self.batcher.start()
        try:
            yield
        finally:
            self.batcher.stop()
            await self.pool.close()

    def _embed(self, texts: Any) -> np.ndarray:
        return self.router.embed(list(texts))

    def _count_tokens(self, texts: Sequence[str]) -> Sequence[int]:
        if self._counter is None:  # built in the worker thread: it may load a tokenizer
            self._counter = token_counter(self.router.embedding) or rough_token_count
        return self._counter(texts)

    def _at_alpha(self, alpha: float) -> Router:
        router = self._routers.get(alpha)
        if router is None:
            if len(self._routers) >= _ALPHA_CACHE_SIZE:  # bounded: clients choose the alphas
                self._routers = {self.router.alpha: self.router}
            router = self._routers[alpha] = self.router.with_alpha(alpha)
        return router

    # ----------------------------------------------------------------------- small handlers

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

    def _model_entry(self, model_id: str, alpha: float) -> dict[str, Any]:
        return {
            "id": model_id,
            "object": "model",
            "created": self.created,
            "owned_by": "avengers-pro",
            "alpha": alpha,
            "models": list(self.router.models),
        }

    async def models(self, request: Request) -> Response:
        """``GET /v1/models``: the one routed model, with the router's models and default alpha."""
        started = time.perf_counter()
        try:
            self._check_auth(request)
        except RequestError as error:
            return self._refuse(request, started, error)
        return JSONResponse(
            {"object": "list", "data": [self._model_entry(self.settings.model_name, self.router.alpha)]}
        )

    async def model(self, request: Request) -> Response:
        """``GET /v1/models/{id}``: the routed model, or ``<name>:alpha=A`` with that alpha; else 404."""
        started = time.perf_counter()
        model_id = request.path_params["model_id"]
        try:
            self._check_auth(request)
            alpha = parse_alpha(model_id, self.settings.model_name, self.router.alpha)
        except RequestError as error:
            return self._refuse(request, started, error)
        return JSONResponse(self._model_entry(model_id, alpha))

    async def health(self, _: Request) -> Response:
        """``GET /health``: up, with the router it serves and each upstream's circuit breaker (no
        upstream is called); ``status`` is ``degraded`` while a breaker is not closed.
        """
        name = None if self.router.path is None else self.router.path.name
        breakers = self.pool.breaker_states()
        return JSONResponse(
            {
                "status": "ok" if all(state == "closed" for state in breakers.values()) else "degraded",
                "router": name,
                "alpha": self.router.alpha,
                "models": list(self.router.models),
                "breakers": breakers,
                "in_flight": self._in_flight,
                "embed_queue": self.batcher.waiting,
            }
        )

    async def prometheus(self, _: Request) -> Response:
        """``GET /metrics``: Prometheus text."""
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    async def http_error(self, request: Request, error: Exception) -> Response:
        """Starlette's 404 and 405 (no such path, wrong method), OpenAI-shaped."""
        status = getattr(error, "status_code", 500)
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        detail = getattr(error, "detail", "") or ""
        refusal = RequestError(status, f"{request.method} {request.url.path:.200}: {detail}", code=code, reason=code)
        response = self._refuse(request, time.perf_counter(), refusal)
        for key, value in (getattr(error, "headers", None) or {}).items():  # Allow, on a 405
            response.headers[key] = value
        return response

    async def internal_error(self, request: Request, _: Exception) -> Response:
        """A bug of the server: an OpenAI-shaped 500 (the traceback is still logged). Starlette answers
        it outside the middleware, so the request id header is set here.
        """
        ident = request_id(request.scope)
        log_access(ident, request.method, request.url.path, 500, time.perf_counter(), reason="internal_error")
        return error_response(
            500, "internal server error", kind="server_error", code="internal_error", headers={"x-request-id": ident}
        )

    def _refuse(self, request: Request, started: float, error: RequestError) -> Response:
        self.metrics.rejected.labels(error.reason).inc()
        log_access(
            request_id(request.scope), request.method, request.url.path, error.status, started, reason=error.reason
        )
        headers = {"www-authenticate": "Bearer"} if error.status == 401 else {}
        if error.status == 503:
            headers["retry-after"] = "1"
        return error.response(headers)

    # ----------------------------------------------------------------------- chat completions

    def _overloaded(self, what: str, reason: str) -> RequestError:
        return RequestError(
            503, f"the server is at its limit of {what}; try again shortly", kind="server_error",
            code="server_overloaded", reason=reason,
        )  # fmt: skip

    async def chat_completions(self, request: Request) -> Response:
        """``POST /v1/chat/completions``: route, forward, answer (see the module docstring)."""
        started = time.perf_counter()
        if self._in_flight >= self.settings.max_in_flight:
            error = self._overloaded(f"{self.settings.max_in_flight} requests in flight", "overloaded")
            return self._refuse(request, started, error)
        self._in_flight += 1
        self.metrics.in_flight.inc()
        streaming = False
        try:
            try:
                self._check_auth(request)
                raw = await read_body(request, self.settings.max_body_bytes, self.settings.body_timeout)
                body = parse_body(raw)
                alpha = parse_alpha(body.get("model"), self.settings.model_name, self.router.alpha)
                text = last_user_text(body.get("messages"))
                if self.batcher.waiting >= self.settings.max_queued_embeddings:
                    limit = self.settings.max_queued_embeddings
                    raise self._overloaded(f"{limit} texts waiting for the embedder", "queue_full")
            except RequestError as error:
                return self._refuse(request, started, error)
            except ClientDisconnect:  # gone before its body arrived: nobody to answer, nothing to report
                self.metrics.rejected.labels("client_gone").inc()
                log_access(request_id(request.scope), "POST", request.url.path, 499, started, reason="client_gone")
                return Response(status_code=499)
            try:
                vector = await self.batcher.embed(text)
                ranking = self._at_alpha(alpha).rank_embeddings(vector[None, :])[0]
            except QueueTimeout:
                wait = f"{self.settings.max_embed_wait or 0:g} s of wait for the embedder"
                return self._refuse(request, started, self._overloaded(wait, "queue_timeout"))
            except Exception as error:  # noqa: BLE001 - whatever the embedder raised, the answer is 503
                log.error("routing failed: %s", error)
                return self._refuse(
                    request,
                    started,
                    RequestError(
                        503, "the router could not embed the request", kind="server_error",
                        code="routing_failed", reason="routing_failed",
                    ),
                )  # fmt: skip
            routing_seconds = time.perf_counter() - started
            self.metrics.routing_seconds.observe(routing_seconds)
            call = Call(
                request_id=request_id(request.scope),
                routed=ranking[0],
                alpha=alpha,
                stream=bool(body.get("stream")),
                text=text,
                routing_seconds=routing_seconds,
                started=started,
            )
            self.metrics.requests.labels(call.routed).inc()
            try:
                result = await self.pool.forward(body, list(ranking), call)
            except RecursionError:  # parsed, but too deep to write again for the upstream
                too_deep = RequestError(400, "the body is not valid JSON: nested too deeply", code="nested_too_deeply")
                return self._refuse(request, started, too_deep)
            response = self._no_answer(call) if result is None else self._answer(*result, call)
            streaming = isinstance(response, _RelayResponse)
            return response
        finally:
            if not streaming:  # a stream is counted out when it ends
                self._in_flight -= 1
                self.metrics.in_flight.dec()

    def _no_answer(self, call: Call) -> Response:
        """The final error when no upstream answered: 503 (every breaker open), 504 (deadline) or 502."""
        self.metrics.errors.labels(call.routed).inc()
        headers = {**call.headers(None), **_NO_RETRY}
        if not call.attempts:
            status, code = 503, "upstreams_unavailable"
            message = f"every model's upstream is failing ({len(call.skipped)} circuit breaker(s) open)"
            headers["retry-after"] = str(max(1, math.ceil(self.pool.retry_after())))
        elif self.pool.deadline_spent(call):
            status, code = 504, "deadline_exceeded"
            message = (
                f"no upstream answered within the deadline of {self.config.deadline:g} s ({call.attempts} call(s))"
            )
        else:
            status, code = 502, "upstream_failed"
            message = f"no upstream answered ({len(call.failed)} model(s) tried, {call.attempts} call(s))"
        last = call.failed[-1] if call.failed else call.routed
        self.metrics.responses.labels(last, str(status)).inc()
        log_access(call.request_id, "POST", "/v1/chat/completions", status, call.started, call=call, reason=code,
                   prompt=self.settings.log_prompts)  # fmt: skip
        return error_response(status, message, kind="upstream_error", code=code, headers=headers)

    def _answer(self, name: str, attempt: Attempt, call: Call) -> Response:
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
        content = attempt.content  # decoded: httpx undid any content-encoding
        media_type = response.headers.get("content-type", "application/json")
        if status >= 400:
            self.metrics.errors.labels(call.routed).inc()
            if "retry-after" in response.headers:
                headers["retry-after"] = response.headers["retry-after"]
        else:
            try:
                data = json.loads(content)
            except (ValueError, RecursionError):
                data = None
            if isinstance(data, dict):
                data["model"] = name
                self.metrics.count_usage(name, data.get("usage"))
                content = json.dumps(data, ensure_ascii=False).encode()
                media_type = "application/json"
            else:
                self.metrics.unpriced.labels(name).inc()
        log_access(call.request_id, "POST", "/v1/chat/completions", status, call.started, call=call, model=name,
                   reason=None if status < 400 else "upstream_client_error", prompt=self.settings.log_prompts)  # fmt: skip
        return Response(content, status_code=status, media_type=media_type, headers=headers)

    async def _relay(self, name: str, response: httpx.Response, state: _StreamState) -> AsyncIterator[bytes]:
        """Pass a stream on event by event, each event's ``model`` set to ``name``.

        The bytes are read decoded (``aiter_bytes``): an upstream that compresses its stream (it may,
        httpx asks for gzip) is unpacked here, and the client gets plain events without a
        ``content-encoding`` it would have to undo.
        """
        try:
            buffer = b""
            async for chunk in response.aiter_bytes():
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

    async def _close_stream(self, name: str, response: httpx.Response, call: Call, state: _StreamState) -> None:
        """Close the upstream stream and count it out, however the relay ended (also never started)."""
        await response.aclose()
        self._in_flight -= 1
        self.metrics.in_flight.dec()
        reason = None
        if state.outcome == "ok":
            status = response.status_code
            self.metrics.count_usage(name, state.usage)
        elif state.outcome == "stream_broken":
            status, reason = 502, "stream_broken"
            self.metrics.attempts.labels(name, "stream_broken").inc()
            self.metrics.errors.labels(call.routed).inc()
        else:  # the client went away before the end: nobody got a whole answer
            status, reason = 499, "client_gone"
        self.metrics.responses.labels(name, str(status)).inc()
        log_access(call.request_id, "POST", "/v1/chat/completions", status, call.started, call=call, model=name,
                   reason=reason, prompt=self.settings.log_prompts)  # fmt: skip


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
        except (ValueError, RecursionError):
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
        With the :class:`RoutingApp` as ``app.state.routing``; every response carries ``x-request-id``.
    """
    state = RoutingApp(router, config, settings)
    routes: list[tuple[str, _Handler, list[str]]] = [
        ("/v1/chat/completions", state.chat_completions, ["POST"]),
        ("/v1/models", state.models, ["GET"]),
        ("/v1/models/{model_id:path}", state.model, ["GET"]),
        ("/health", state.health, ["GET"]),
        ("/metrics", state.prometheus, ["GET"]),
    ]
    app = Starlette(
        routes=[Route(path, endpoint, methods=methods) for path, endpoint, methods in routes],
        lifespan=state.lifespan,
        exception_handlers={HTTPException: state.http_error, Exception: state.internal_error},
    )
    app.add_middleware(RequestIdMiddleware)
    app.state.routing = state
    return app
