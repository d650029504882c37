"""A client of any OpenAI-compatible ``/v1/chat/completions`` endpoint, on the package's HTTP layer.

Requests, retries (429 with ``Retry-After``, 5xx, timeouts, dropped connections, bodies that are not
JSON), backoff and the connection pool are :mod:`avengers_pro.http`, shared with the embedding
backend. This module builds the request and checks the answer. A 200 response is retried as invalid
when it has no ``choices``, or no ``usage`` with integer ``prompt_tokens`` and ``completion_tokens``
(the cost of an answer without them would be unknown). ``content: null`` (a reasoning model that
spent every token thinking) is an empty answer, not a failure: it was produced and paid for.

httpx logs one INFO line per request; the client sets its logger to WARNING, so a job's log holds the
collector's own lines, not one line per question.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from avengers_pro.http import (
    Attempt,
    JsonEndpoint,
    RetryPolicy,
    call_with_retries,
    display_url,
)


@dataclass(frozen=True)
class ChatAnswer:
    """One answer: its text, token counts, the cost the provider reported (``None``: not given)."""

    content: str
    prompt_tokens: int
    completion_tokens: int
    reported_cost: float | None
    finish_reason: str | None
    #: Seconds from the first attempt to the answer (retries included); ``None`` for answers cached
    #: before latencies were stored.
    latency: float | None = None


def _count(usage: Mapping[str, Any], name: str) -> int:
    value = usage.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Attempt(f"invalid response: usage.{name} is {value!r}, not a token count", retry=True)
    return value


def parse_answer(body: Any, *, need_cost: bool) -> ChatAnswer:
    """Check a chat completion body and take out the answer.

    Raises
    ------
    Attempt
        Retryable when the body lacks ``choices`` or ``usage``; not retryable when ``need_cost``
        and the body carries no ``usage.cost``.
    """
    if not isinstance(body, dict):
        raise Attempt("invalid response: not a JSON object", retry=True)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Attempt("invalid response: no 'choices'", retry=True)
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise Attempt("invalid response: no 'message' in choices[0]", retry=True)
    content = message.get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise Attempt(f"invalid response: message.content is a {type(content).__name__}", retry=True)
    usage = body.get("usage")
    if not isinstance(usage, dict):
        raise Attempt("invalid response: no 'usage' (token counts), so the cost is unknown", retry=True)
    cost = usage.get("cost")
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost < 0:
        cost = None
    if need_cost and cost is None:
        raise Attempt("the response carries no usage.cost and the endpoint has no price", retry=False)
    finish = choices[0].get("finish_reason")
    return ChatAnswer(
        content,
        _count(usage, "prompt_tokens"),
        _count(usage, "completion_tokens"),
        None if cost is None else float(cost),
        finish if isinstance(finish, str) else None,
    )


class ChatClient:
    """Ask one endpoint, one prompt per request.

    Parameters
    ----------
    endpoint
        One ``endpoints:`` entry with its null settings filled from ``collection:``
        (:func:`avengers_pro.collect.settings.endpoint_settings`).
    max_retries, retry_backoff
        From ``collection:``; see :class:`avengers_pro.http.RetryPolicy`.
    sleep
        The function that waits between attempts (tests pass a recorder).
    """

    def __init__(
        self,
        endpoint: Mapping[str, Any],
        *,
        max_retries: int,
        retry_backoff: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = str(endpoint["name"])
        self.model = str(endpoint["model"])
        self.base_url = str(endpoint["base_url"]).rstrip("/")
        self.endpoint = display_url(self.base_url) + "/chat/completions"
        self.max_concurrency = int(endpoint["max_concurrency"])
        self.need_cost = endpoint.get("price") is None
        self.parameters: dict[str, Any] = {
            "temperature": endpoint["temperature"],
            "max_tokens": endpoint["max_tokens"],
            **dict(endpoint.get("extra") or {}),
        }
        key_env = endpoint.get("api_key_env")
        where = f"endpoints.{self.name}"
        hints = {
            401: f"the server refused the key: set {key_env} to a valid key"
            if key_env
            else f"the server wants a key: put it in an environment variable and name it in {where}.api_key_env",
            403: "the key is not allowed to use this model or endpoint",
            404: f"check {where}.model (the name the server serves) and {where}.base_url (usually ends in /v1)",
            400: "the request was rejected: prompt too long for the model, or a field of extra it does not accept",
            422: "the request was rejected: prompt too long for the model, or a field of extra it does not accept",
        }
        self._http = JsonEndpoint(
            self.base_url,
            api_key_env=key_env,
            timeout=float(endpoint["timeout"]),
            max_connections=self.max_concurrency,
            hints=hints,
        )
        self._policy = RetryPolicy(max_retries=max_retries, backoff=retry_backoff, sleep=sleep)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise

    def body(self, messages: str | list[dict[str, str]]) -> dict[str, Any]:
        """The request body for ``messages`` (a text is one user message). ``extra`` may not set
        ``messages`` or ``model`` (the config check refuses it).
        """
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        return {"model": self.model, "messages": messages, **self.parameters}

    def cache_key(self, messages: str | list[dict[str, str]], sample: int = 0) -> str:
        """sha256 of the endpoint URL (no credentials), the whole request body and, for every sample
        after the first, its number (so that each of ``n`` samples is asked and cached on its own).
        """
        request: dict[str, Any] = {"endpoint": self.endpoint, "body": self.body(messages)}
        if sample:
            request["sample"] = sample
        return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()

    def redact(self, text: str) -> str:
        """``text`` with the key replaced by ``***``."""
        return self._http.redact(text)

    def complete(self, messages: str | list[dict[str, str]]) -> ChatAnswer:
        """Ask once (retried as configured); the answer carries the seconds it took.

        Raises
        ------
        avengers_pro.http.RequestFailed
            After the last attempt, or at once for a non-retryable status; the reason never holds the key.
        """
        body = self.body(messages)
        started = time.perf_counter()
        answer = call_with_retries(
            lambda: parse_answer(self._http.post("/chat/completions", body), need_cost=self.need_cost),
            self._policy,
            what=f"chat endpoint {self.endpoint} ({self.name})",
            redact=self._http.redact,
        )
        return dataclasses.replace(answer, latency=time.perf_counter() - started)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()
