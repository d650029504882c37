"""A local, deterministic stand-in for an OpenAI-compatible chat endpoint (tests, benchmarks, demos).

It answers ``POST /v1/chat/completions`` on 127.0.0.1 for the models it is given, each with an
accuracy: whether a model answers a question right is a fixed function of (model, prompt), so every
run gets the same answers. It knows the right answers from an answer key (question text -> answer)
and recognises a question as the start of the prompt (as every default template puts it). It reports
``usage`` (whitespace-separated words as tokens) and, for models marked so, ``usage.cost``. A reply
longer than the request's ``max_tokens`` words is cut there, with ``finish_reason: length``. The body
of the last request is kept in ``last_body``.

Faults are queued and consumed one per request, in arrival order: ``429`` (with ``Retry-After``),
``500``/``503``/``401``/``404`` (that status; ``fail_after`` = n answers every request after the
n-th with a 500), ``slow`` (answers after ``slow_s``), ``drop`` (closes the
connection without a byte), ``malformed`` (200 with a body that is not JSON) and ``no_usage`` (a
200 without ``usage``).

The server is bounded: it stops by itself after ``lifetime_s`` seconds or ``max_requests`` requests,
whichever comes first. Run it by hand with ``python -m avengers_pro.testing.fake_chat_server``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default listen backlog of 5 resets connections at concurrency 32

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (killed, or gave up at its timeout) is part of the game, not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def _unit(*parts: str) -> float:
    """A number in [0, 1) fixed by ``parts``."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


def wrong_answer(right: str) -> str:
    """A wrong answer of the same kind: the next letter, the number plus one, or another word."""
    text = right.strip()
    if len(text) == 1 and text.isalpha():
        return "B" if text.upper() == "A" else "A"
    try:
        return str(float(text) + 1).removesuffix(".0")
    except ValueError:
        return "something else"


class FakeChatServer:
    """The fake endpoint, started on a free port of 127.0.0.1.

    Parameters
    ----------
    models
        Served model id -> accuracy in [0, 1].
    answer_key
        Question text -> right answer.
    reports_cost
        Served model ids whose responses carry ``usage.cost`` (USD per word: ``cost_per_token``).
    api_key
        When set, requests without ``Authorization: Bearer <api_key>`` get a 401.
    slow_s, retry_after
        Delay of a ``slow`` fault; ``Retry-After`` seconds of a ``429`` fault.
    latency_s
        Delay of every answer (a stand-in for generation time).
    lifetime_s, max_requests
        Bounds after which the server stops by itself.
    """

    def __init__(
        self,
        models: Mapping[str, float],
        answer_key: Mapping[str, str] | None = None,
        *,
        reports_cost: frozenset[str] | set[str] = frozenset(),
        cost_per_token: float = 1e-6,
        api_key: str | None = None,
        slow_s: float = 2.0,
        retry_after: float = 0.0,
        latency_s: float = 0.0,
        lifetime_s: float = 300.0,
        max_requests: int = 1_000_000,
        port: int = 0,
    ) -> None:
        self.models = dict(models)
        self.answer_key = dict(answer_key or {})
        self.reports_cost = set(reports_cost)
        self.cost_per_token = cost_per_token
        self.api_key = api_key
        self.slow_s = slow_s
        self.retry_after = retry_after
        self.latency_s = latency_s
        self.max_requests = max_requests
        self.lifetime_s = lifetime_s
        self.faults: list[str] = []
        self.fail_after: int | None = None  # every request after this many gets a 500 (a dying endpoint)
        self.lock = threading.Lock()
        self.count = 0
        self.per_model: Counter[str] = Counter()
        self.auth_headers: set[str] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.last_body: dict[str, Any] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in one write, without Nagle's delay: otherwise every keep-alive
            # request waits for the client's delayed ACK (~40 ms).
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with server.lock:
                    server.count += 1
                    number = server.count
                    fault = server.faults.pop(0) if server.faults else ""
                    if server.fail_after is not None and number > server.fail_after:
                        fault = "500"
                    server.auth_headers.add(self.headers.get("Authorization", ""))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(raw, fault)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): nothing to do
                finally:
                    with server.lock:
                        server.in_flight -= 1
                if number >= server.max_requests:
                    threading.Thread(target=server.stop, daemon=True).start()

            def _answer(self, raw: bytes, fault: str) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if server.api_key is not None and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._send(401, {"error": {"message": "invalid api key"}})
                if fault == "drop":
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return None
                if fault == "slow":
                    time.sleep(server.slow_s)
                if fault == "429":
                    return self._send(
                        429, {"error": {"message": "rate limited"}}, {"Retry-After": f"{server.retry_after:g}"}
                    )
                if fault.isdigit():
                    return self._send(int(fault), {"error": {"message": f"injected {fault}"}})
                if fault == "malformed":
                    return self._send_bytes(200, b'{"choices": [{"message": ')
                try:
                    body = json.loads(raw)
                    model = body["model"]
                    prompt = body["messages"][-1]["content"]
                except (ValueError, KeyError, IndexError, TypeError):
                    return self._send(400, {"error": {"message": "bad request body"}})
                if model not in server.models:
                    return self._send(404, {"error": {"message": f"model {model!r} not found"}})
                with server.lock:
                    server.per_model[model] += 1
                    server.last_body = body
                if server.latency_s:
                    time.sleep(server.latency_s)
                content = server.reply(model, prompt)
                finish = "stop"
                limit = body.get("max_tokens")
                if isinstance(limit, int) and len(content.split()) > limit:
                    content, finish = " ".join(content.split()[:limit]), "length"
                usage: dict[str, Any] = {
                    "prompt_tokens": len(prompt.split()),
                    "completion_tokens": len(content.split()),
                }
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                if model in server.reports_cost:
                    usage["cost"] = usage["total_tokens"] * server.cost_per_token
                payload: dict[str, Any] = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [
                        {"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": content}}
                    ],
                }
                if fault != "no_usage":
                    payload["usage"] = usage
                return self._send(200, payload)

            def _send(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
                self._send_bytes(status, json.dumps(payload).encode("utf-8"), headers)

            def _send_bytes(self, status: int, raw: bytes, headers: Mapping[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = _QuietServer(("127.0.0.1", port), Handler)
        self.port = int(self.httpd.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._timer = threading.Timer(lifetime_s, self.stop)
        self._timer.daemon = True
        self._stopped = threading.Event()

    def reply(self, model: str, prompt: str) -> str:
        """The text ``model`` answers ``prompt`` with (deterministic)."""
        right = self.answer_key.get(prompt.split("\n\n", 1)[0])
        if right is None:
            right = next((answer for question, answer in self.answer_key.items() if prompt.startswith(question)), "A")
        correct = _unit(model, prompt) < self.models[model]
        return f"Let me think about it.\nAnswer: {right if correct else wrong_answer(right)}"

    def start(self) -> Self:
        """Serve in a background thread until :meth:`stop` or a bound is reached."""
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait(self) -> None:
        """Block until the server has stopped."""
        self._stopped.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Command line: serve until a bound is reached; print the base URL first."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", action="append", default=[], metavar="NAME=ACCURACY", help="served model and its accuracy"
    )
    parser.add_argument("--answers", help="benchmark file (JSONL with question and answer) to take the answer key from")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every answer takes")
    parser.add_argument("--lifetime", type=float, default=600.0, help="seconds before the server stops by itself")
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    models = {name: float(accuracy) for name, accuracy in (spec.split("=", 1) for spec in args.model)} or {"fake": 0.7}
    answer_key: dict[str, str] = {}
    if args.answers:
        with open(args.answers, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    item = json.loads(line)
                    answer_key[str(item["question"])] = str(item["answer"])
    server = FakeChatServer(
        models,
        answer_key,
        port=args.port,
        latency_s=args.latency,
        lifetime_s=args.lifetime,
        max_requests=args.max_requests,
    )
    print(server.base_url, flush=True)
    server.start()
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
