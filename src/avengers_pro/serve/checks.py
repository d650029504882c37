"""Request checks of the server: OpenAI-shaped errors, the body, the ``model`` and the routed text.

Every refusal is a :class:`RequestError`, which becomes ``{"error": {"message", "type", "param",
"code"}}`` with its status: what the openai SDK and LiteLLM parse.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from typing import Any, NoReturn

from starlette.requests import Request
from starlette.responses import JSONResponse


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


def parse_alpha(model: Any, name: str, default: float) -> float:
    """The alpha a request's ``model`` asks for.

    Raises
    ------
    RequestError
        400: ``model`` is not a string, or an alpha that is not a number in [0, 1]; 404
        (``model_not_found``, as OpenAI answers): neither ``name`` nor ``name:alpha=A``.
    """
    if not isinstance(model, str):
        raise RequestError(400, f"'model' must be a string: '{name}' or '{name}:alpha=0.3'", param="model")
    if model == name:
        return default
    prefix = f"{name}:alpha="
    if not model.startswith(prefix):
        raise RequestError(
            404,
            f"The model '{model:.100}' does not exist: this server routes '{name}' "
            f"(or '{name}:alpha=A' with A in [0, 1])",
            param="model",
            code="model_not_found",
            reason="unknown_model",
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


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body.

    Raises
    ------
    RequestError
        Not UTF-8 JSON (``NaN`` and ``Infinity`` included: JSON has no such literals, and an upstream
        would refuse them or worse), nested too deeply to parse, or not an object.
    """
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise RequestError(400, f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise RequestError(400, "the body is not valid JSON: nested too deeply", code="nested_too_deeply") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the body must be a JSON object")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise RequestError(400, "'stream' must be true or false", param="stream")
    return body


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The request body: 413 as soon as it exceeds ``limit`` bytes, 408 when it takes longer than
    ``timeout`` seconds to arrive (a client that sends its headers and then stalls holds nothing
    for long).

    Raises
    ------
    RequestError
        400 (bad Content-Length), 408 or 413.
    starlette.requests.ClientDisconnect
        The client went away before the whole body arrived.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, "bad Content-Length header")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise RequestError(
            408, f"the body did not arrive within {timeout:g} s", code="request_timeout", reason="body_timeout"
        ) from None
    return b"".join(chunks)


def _too_large(limit: int) -> RequestError:
    return RequestError(
        413, f"the body is larger than the limit of {limit} bytes", code="request_too_large", reason="too_large"
    )
