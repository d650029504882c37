"""Request ids and the JSON access log of the server.

Every response carries ``x-request-id``: the client's own (when it sent a short, plain one) or a new
random id. The access log (logger ``avengers_pro.serve.access``, at INFO) gets ONE JSON object per
request, refused ones included, with the fields

``request_id``, ``method``, ``path``, ``status``, ``model`` (the model that answered, null when none
did), ``routed`` (the router's first choice), ``alpha``, ``fallbacks`` (models given up),
``skipped`` (models passed over because their circuit breaker was open), ``stream``, ``attempts``
(upstream calls), ``routing_ms`` (embedding, its queue included, and ranking), ``upstream_ms``
(the answering call, to its first byte when streaming), ``total_ms`` (to the end of the answer) and
``reason`` (why it was refused or failed, null when answered).

Never the prompt (unless the server runs with ``--log-prompts``: then ``prompt``, its first 2,000
characters) and never a key.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("avengers_pro.serve.access")

REQUEST_ID_HEADER = "x-request-id"
_SCOPE_KEY = "avengers_pro.request_id"
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(scope: Scope) -> str:
    """The id :class:`RequestIdMiddleware` gave this request (a new one outside it)."""
    value = scope.get(_SCOPE_KEY)
    return value if isinstance(value, str) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Give each HTTP request an id (the client's ``x-request-id`` when it is short and plain, else a
    random one) and return it in the ``x-request-id`` response header.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        ident = given if _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex
        scope[_SCOPE_KEY] = ident

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", ident.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


@dataclass
class Call:
    """One routed request, for headers, metrics and the access log."""

    request_id: str
    routed: str
    alpha: float
    stream: bool
    text: str
    routing_seconds: float
    started: float
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    upstream_seconds: float = 0.0
    attempts: int = 0

    def headers(self, model: str | None) -> dict[str, str]:
        """The ``x-avengers-pro-*`` and ``server-timing`` headers; ``model`` is the one that answered
        (``None`` when none did: then no ``x-avengers-pro-model`` header).
        """
        headers = {
            "x-avengers-pro-routed-model": self.routed,
            "x-avengers-pro-alpha": f"{self.alpha:g}",
            "server-timing": f"routing;dur={self.routing_seconds * 1e3:.2f}, upstream;dur={self.upstream_seconds * 1e3:.2f}",
        }
        if model is not None:
            headers["x-avengers-pro-model"] = model
        if self.failed:
            headers["x-avengers-pro-fallback"] = ",".join(self.failed)
        return headers


def log_access(
    ident: str,
    method: str,
    path: str,
    status: int,
    started: float,
    *,
    call: Call | None = None,
    model: str | None = None,
    reason: str | None = None,
    prompt: bool = False,
) -> None:
    """Write one access log line (a JSON object; see the module docstring)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    entry: dict[str, Any] = {"request_id": ident, "method": method, "path": path, "status": status, "model": model}
    if call is not None:
        entry.update(
            routed=call.routed,
            alpha=call.alpha,
            fallbacks=call.failed,
            skipped=call.skipped,
            stream=call.stream,
            attempts=call.attempts,
            routing_ms=round(call.routing_seconds * 1e3, 2),
            upstream_ms=round(call.upstream_seconds * 1e3, 2),
        )
    entry["total_ms"] = round((time.perf_counter() - started) * 1e3, 2)
    entry["reason"] = reason
    if prompt and call is not None:
        entry["prompt"] = call.text[:2000]
    access_log.info("%s", json.dumps(entry, ensure_ascii=False))
