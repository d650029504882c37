#!/usr/bin/env python
"""Serve the local sentence-transformers model as an OpenAI-compatible /v1/embeddings endpoint.

For comparing embedding backends on this machine: the pipeline's ``openai`` backend talks to this
server exactly as it would to vLLM, TEI or OpenAI. Only 127.0.0.1 by default; nothing is downloaded.

    python bench/serve_local_embeddings.py --port 8000
    # config.yaml:
    #   embedding: {backend: openai, model: all-MiniLM-L6-v2, base_url: http://127.0.0.1:8000/v1}

Implements POST /v1/embeddings (``input`` a string or a list of strings, ``encoding_format`` float
or base64, ``dimensions`` only if equal to the model's) and GET /v1/models. With ``--require-key``
the server accepts only ``Authorization: Bearer $EMBEDDING_API_KEY``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import numpy as np


class BatchEmbedder(Protocol):
    def truncate(self, texts: list[str]) -> list[str]: ...
    def embed(self, texts: list[str]) -> np.ndarray: ...


def make_server(
    embedder: BatchEmbedder,
    *,
    served_names: set[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
) -> ThreadingHTTPServer:
    """An HTTP server (not yet started) that answers /v1/embeddings with ``embedder``.

    Parameters
    ----------
    embedder
        Anything with ``truncate`` and ``embed`` (the package's local embedder).
    served_names
        Model names the server answers to; the first (sorted) is listed by /v1/models.
    host, port
        Where to listen (port 0: any free port).
    api_key
        When given, requests must carry ``Authorization: Bearer <api_key>``.
    """
    model_lock = threading.Lock()  # one forward pass at a time: torch already uses every core

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per request is noise
            pass

        def send_json(self, status: int, payload: Any) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def error(self, status: int, message: str) -> None:
            self.send_json(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

        def authorised(self) -> bool:
            if api_key is None or self.headers.get("Authorization") == f"Bearer {api_key}":
                return True
            self.error(401, "invalid API key")
            return False

        def do_GET(self) -> None:
            if not self.authorised():
                return
            if self.path.rstrip("/") != "/v1/models":
                return self.error(404, f"no route {self.path}")
            name = sorted(served_names)[0]
            self.send_json(200, {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "local"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not self.authorised():
                return
            if self.path.rstrip("/") != "/v1/embeddings":
                return self.error(404, f"no route {self.path}")
            try:
                body = json.loads(raw)
                texts = body["input"]
                texts = [texts] if isinstance(texts, str) else list(texts)
                if not texts or not all(isinstance(t, str) and t for t in texts):
                    raise ValueError("input must be a non-empty string or a list of non-empty strings")
                model = body.get("model")
                encoding = body.get("encoding_format", "float")
                if encoding not in ("float", "base64"):
                    raise ValueError(f"unknown encoding_format {encoding!r}")
            except (ValueError, KeyError, TypeError) as err:
                return self.error(400, f"bad request: {err}")
            if model not in served_names:
                return self.error(404, f"model {model!r} not served here (serving {sorted(served_names)})")
            with model_lock:
                # Like a real server, cut what exceeds the model's window instead of refusing it.
                vectors = np.asarray(embedder.embed(embedder.truncate(texts)), dtype=np.float32)
            dimensions = body.get("dimensions")
            if dimensions is not None and dimensions != vectors.shape[1]:
                return self.error(400, f"this model has {vectors.shape[1]} dimensions, not {dimensions}")
            data = []
            for index, vector in enumerate(vectors):
                embedding: Any = (
                    base64.b64encode(vector.astype("<f4").tobytes()).decode()
                    if encoding == "base64" else vector.tolist()
                )
                data.append({"object": "embedding", "index": index, "embedding": embedding})
            n_chars = sum(len(t) for t in texts)
            self.send_json(200, {
                "object": "list", "data": data, "model": model,
                "usage": {"prompt_tokens": n_chars // 4, "total_tokens": n_chars // 4},
            })

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="all-MiniLM-L6-v2 or a local model folder")
    parser.add_argument("--max-tokens", type=int, default=256, help="the server cuts longer inputs (default 256)")
    parser.add_argument("--require-key", action="store_true", help="accept only Bearer $EMBEDDING_API_KEY")
    args = parser.parse_args()

    from avengers_pro.embeddings import make_embedder

    api_key = None
    if args.require_key:
        api_key = os.environ.get("EMBEDDING_API_KEY")
        if not api_key:
            parser.error("--require-key needs the environment variable EMBEDDING_API_KEY")
    embedder = make_embedder({"model": args.model, "max_tokens": args.max_tokens})
    embedder.prepare()  # type: ignore[attr-defined]  # load before the first request
    names = {args.model}
    if args.model in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        names |= {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
    server = make_server(embedder, served_names=names, host=args.host, port=args.port, api_key=api_key)
    print(f"serving {args.model} at http://{args.host}:{server.server_address[1]}/v1 (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
