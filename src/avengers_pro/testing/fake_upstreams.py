"""A fake OpenAI-compatible upstream and a uvicorn server in a thread, for tests and benchmarks.

:class:`FakeUpstream` answers ``POST /v1/chat/completions`` deterministically: the reply is
``"[<model>] <last user text>"``, streamed one word per event when asked, with ``usage`` counted
in words. Per upstream model it can wait, fail with a status (always, or only the first n times),
pace its stream or gzip its answer. It records what it received (bounded), so tests can check what was forwarded.

:class:`ServerThread` runs any ASGI app with uvicorn on 127.0.0.1 and a free port, in a daemon
thread, and stops it on exit (a bounded wait, then the thread is left to die with the process).
"""

from __future__ import annotations

import asyncio
import collections
import gzip
import json
import socket
import threading
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Behaviour:
    """How the fake answers one upstream model.

    Attributes
    ----------
    status
        The HTTP status of the answer (an error JSON unless 2xx).
    fail_first
        With a ``status`` >= 400: only the first ``fail_first`` requests fail, later ones get 200
        (``None``: every request fails).
    delay
        Seconds before the answer starts.
    chunk_delay
        Seconds between two events of a stream.
    break_after
        A stream breaks off (the connection is dropped) after this many words.
    gate
        A stream stops after its first word until this event is set (for at most 60 s): lets a
        test see that the first word went through before the upstream sent the rest.
    gzip
        Answer with ``content-encoding: gzip`` (a stream is compressed event by event, flushed).
    """

    status: int = 200
    fail_first: int | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    break_after: int | None = None
    gate: threading.Event | None = None
    gzip: bool = False


def reply_text(model: str, text: str) -> str:
    """The fake's answer to ``text`` as ``model``."""
    return f"[{model}] {text}"


class FakeUpstream:
    """A deterministic OpenAI-compatible chat completions server with faults.

    Parameters
    ----------
    behaviours
        Per upstream model name (the ``model`` the fake receives); others answer 200 at once.
    default
        The behaviour of models not in ``behaviours``.
    keep
        How many received requests are kept in :attr:`received` (the counts are kept for all).
    """

    def __init__(
        self, behaviours: dict[str, Behaviour] | None = None, default: Behaviour | None = None, keep: int = 1000
    ) -> None:
        self.behaviours = dict(behaviours or {})
        self.default = default or Behaviour()
        self.received: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])

    def _behaviour(self, model: str, number: int) -> tuple[Behaviour, int]:
        behaviour = self.behaviours.get(model, self.default)
        failing = behaviour.status >= 400 and (behaviour.fail_first is None or number <= behaviour.fail_first)
        return behaviour, behaviour.status if failing or behaviour.status < 400 else 200

    async def _chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        model = str(body.get("model"))
        with self._lock:
            self.counts[model] += 1
            number = self.counts[model]
            self.received.append({"model": model, "body": body, "headers": dict(request.headers)})
        behaviour, status = self._behaviour(model, number)
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        if status >= 400:
            return JSONResponse(
                {
                    "error": {
                        "message": f"fake upstream error {status}",
                        "type": "fake_error",
                        "param": None,
                        "code": str(status),
                    }
                },
                status_code=status,
            )
        user = [m for m in body.get("messages", []) if m.get("role") == "user"]
        text = reply_text(model, str(user[-1]["content"]) if user else "")
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(text.split()),
            "total_tokens": prompt_tokens + len(text.split()),
        }
        created = 1_700_000_000
        if not body.get("stream"):
            answer: Response = JSONResponse(
                {
                    "id": f"chatcmpl-fake-{number}",
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": usage,
                }
            )
            if behaviour.gzip:
                answer = Response(
                    gzip.compress(answer.body), media_type="application/json", headers={"content-encoding": "gzip"}
                )
            return answer
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = self._events(model, number, text, usage if with_usage else None, behaviour)
        if behaviour.gzip:
            return StreamingResponse(
                _gzipped(events), media_type="text/event-stream", headers={"content-encoding": "gzip"}
            )
        return StreamingResponse(events, media_type="text/event-stream")

    async def _events(
        self, model: str, number: int, text: str, usage: dict[str, int] | None, behaviour: Behaviour
    ) -> AsyncIterator[bytes]:
        def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            chunk = {
                "id": f"chatcmpl-fake-{number}",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return b"data: " + json.dumps(chunk).encode() + b"\n\n"

        words = text.split(" ")
        yield event({"role": "assistant", "content": ""})
        for i, word in enumerate(words):
            if behaviour.break_after is not None and i >= behaviour.break_after:
                raise ConnectionAbortedError("the fake upstream breaks its stream off")  # uvicorn drops the connection
            if behaviour.chunk_delay:
                await asyncio.sleep(behaviour.chunk_delay)
            yield event({"content": word if i == 0 else " " + word})
            if i == 0 and behaviour.gate is not None:
                await asyncio.to_thread(behaviour.gate.wait, 60.0)
        yield event({}, "stop")
        if usage is not None:
            chunk = {
                "id": f"chatcmpl-fake-{number}",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": model,
                "choices": [],
                "usage": usage,
            }
            yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"


async def _gzipped(events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A gzip stream of ``events``, flushed after each one (as a compressing proxy would send it)."""
    packer = zlib.compressobj(wbits=31)
    async for event in events:
        yield packer.compress(event) + packer.flush(zlib.Z_SYNC_FLUSH)
    yield packer.flush()


class ServerThread:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (a free port) in a thread.

    Parameters
    ----------
    app
        The ASGI app (its lifespan runs).
    start_timeout
        Seconds to wait for the server to start.
    graceful_timeout
        Seconds uvicorn waits for requests in flight when stopping.

    Examples
    --------
    >>> with ServerThread(app) as server:   # doctest: +SKIP
    ...     httpx.get(server.url + "/health")
    """

    def __init__(self, app: Any, *, start_timeout: float = 60.0, graceful_timeout: float = 5.0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=int(max(1, graceful_timeout)),
        )
        self.server = uvicorn.Server(config)
        self._start_timeout = start_timeout
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, name=f"uvicorn-{self.port}", daemon=True
        )

    def start(self) -> Self:
        """Start and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask uvicorn to shut down (gracefully) and wait at most ``timeout`` seconds for it."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
