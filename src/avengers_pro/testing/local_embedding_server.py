"""Serve a local embedder as an OpenAI-compatible /v1/embeddings endpoint (for tests and benchmarks).

For comparing embedding backends on this machine: the pipeline's ``openai`` backend talks to this
server exactly as it would to vLLM, TEI or OpenAI. Only 127.0.0.1 by default; nothing is downloaded.

    python -m avengers_pro.testing.local_embedding_server --port 8000                  # the local all-MiniLM-L6-v2
    python -m avengers_pro.testing.local_embedding_server --port 8000 --model hashing  # a bag-of-words stand-in
    # config.yaml:
    #   embedding: {backend: openai, model: all-MiniLM-L6-v2, base_url: http://127.0.0.1:8000/v1}

``--model hashing`` is NOT a real embedder: word 1-2 grams hashed into 2**15 buckets
(scikit-learn's HashingVectorizer, lower-cased, L2-normalised), times a fixed Gaussian matrix
seeded by ``--seed``, down to ``--dim`` (384) dimensions. It needs no weights, is deterministic (the
vector of a text depends on that text and the seed only, never on the rest of the batch, the
machine or the numpy version) and knows nothing of meaning beyond shared words. It exists so the
pipeline can be run end to end through the ``openai`` backend with a genuinely different embedder.

Implements POST /v1/embeddings (``input`` a string or a list of strings, ``encoding_format`` float
or base64, ``dimensions`` only if equal to the model's) and GET /v1/models. With ``--require-key``
the server accepts only ``Authorization: Bearer $EMBEDDING_API_KEY``. On exit (Ctrl-C or SIGTERM)
it prints how many requests and texts it served.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import numpy as np


class BatchEmbedder(Protocol):
    """What the server needs of a model: cutting texts to its limit, and embedding a batch."""

    def truncate(self, texts: list[str]) -> list[str]:
        """The texts as the model will see them."""
        ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """One row per text."""
        ...


#: The name the bag-of-words stand-in is served under (``--model hashing``).
HASHING_MODEL = "hashing"


class HashingEmbedder:
    """A deterministic bag-of-words stand-in for an embedding model; a test/bench tool, not an embedder.

    Word unigrams and bigrams (lower-cased; single characters count as words, so answer letters
    such as "A" are kept) are hashed into ``n_features`` buckets with scikit-learn's
    ``HashingVectorizer`` (MurmurHash3, no fitting, so no state shared between texts), the counts
    are L2-normalised and multiplied by a fixed Gaussian matrix (``n_features`` x ``dim``, scaled by
    1/sqrt(dim)) drawn from the legacy ``numpy.random.RandomState(seed)``, whose stream numpy keeps
    unchanged across versions. Random projection keeps inner products approximately
    (Johnson-Lindenstrauss), so cosine similarity roughly measures shared words and bigrams.

    Parameters
    ----------
    dim
        Length of the returned vectors.
    seed
        Seed of the projection matrix; a different seed gives a different (equally valid) embedder.
    n_features
        Hash buckets before the projection.
    """

    def __init__(self, dim: int = 384, seed: int = 0, n_features: int = 2**15) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        if dim < 1 or n_features < 1:
            raise ValueError("dim and n_features must be positive")
        words_and_bigrams = HashingVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b").build_analyzer()

        def analyse(text: str) -> list[str]:
            # A text without any word character (e.g. "?!") would hash to the zero vector, which
            # the client rightly refuses; the whole text as one feature keeps it deterministic.
            return words_and_bigrams(text) or [text]

        self.vectorizer = HashingVectorizer(analyzer=analyse, n_features=n_features, alternate_sign=False, norm="l2")
        # float64 draw, then float32: 2**15 x 384 is 50 MB, made once at start-up.
        self.projection = (np.random.RandomState(seed).standard_normal((n_features, dim)) / np.sqrt(dim)).astype(
            np.float32
        )

    def truncate(self, texts: list[str]) -> list[str]:
        """No window: a bag of words takes any length, so nothing is cut."""
        return list(texts)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Hash and project each text (row-wise: a text's vector ignores the rest of the batch)."""
        counts = self.vectorizer.transform(texts)  # sparse (n, n_features), rows of unit length
        return np.asarray(counts @ self.projection, dtype=np.float32)


class ServerStats:
    """What a server has answered so far (updated under the server's lock).

    A plain class, not a dataclass: tests load this file with importlib without registering it in
    ``sys.modules``, which dataclasses need.
    """

    def __init__(self) -> None:
        self.requests = 0  # every HTTP request, refused ones included
        self.embedded = 0  # POST /v1/embeddings answered with vectors
        self.texts = 0  # texts in those answers
        self.refused = 0  # answered with an HTTP error (401, 400, 404)


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

    Returns
    -------
    ThreadingHTTPServer
        With a ``stats`` attribute (:class:`ServerStats`) counting what it answered.
    """
    model_lock = threading.Lock()  # one forward pass at a time: torch already uses every core
    stats = ServerStats()
    stats_lock = threading.Lock()

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
            with stats_lock:
                stats.refused += 1
            self.send_json(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

        def authorised(self) -> bool:
            with stats_lock:
                stats.requests += 1  # every request passes here first, once
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
                    if encoding == "base64"
                    else vector.tolist()
                )
                data.append({"object": "embedding", "index": index, "embedding": embedding})
            n_chars = sum(len(t) for t in texts)
            with stats_lock:
                stats.embedded += 1
                stats.texts += len(texts)
            self.send_json(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": model,
                    "usage": {"prompt_tokens": n_chars // 4, "total_tokens": n_chars // 4},
                },
            )

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.stats = stats  # type: ignore[attr-defined]
    return server


def main() -> None:
    """Serve until Ctrl-C or SIGTERM, then print what was served."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--model",
        default="all-MiniLM-L6-v2",
        help=f"all-MiniLM-L6-v2, a local sentence-transformers folder, or {HASHING_MODEL!r} (bag-of-words stand-in)",
    )
    parser.add_argument(
        "--max-tokens", type=int, default=256, help="the server cuts longer inputs (default 256; not for hashing)"
    )
    parser.add_argument("--dim", type=int, default=384, help="hashing only: vector length (default 384)")
    parser.add_argument("--seed", type=int, default=0, help="hashing only: seed of the projection (default 0)")
    parser.add_argument("--require-key", action="store_true", help="accept only Bearer $EMBEDDING_API_KEY")
    args = parser.parse_args()

    from avengers_pro.embeddings import make_embedder

    api_key = None
    if args.require_key:
        api_key = os.environ.get("EMBEDDING_API_KEY")
        if not api_key:
            parser.error("--require-key needs the environment variable EMBEDDING_API_KEY")
    embedder: BatchEmbedder
    if args.model == HASHING_MODEL:
        embedder = HashingEmbedder(dim=args.dim, seed=args.seed)
    else:
        embedder = make_embedder({"model": args.model, "max_tokens": args.max_tokens})
        embedder.prepare()  # type: ignore[attr-defined]  # load before the first request
    names = {args.model}
    if args.model in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        names |= {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
    server = make_server(embedder, served_names=names, host=args.host, port=args.port, api_key=api_key)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM (kill PID) stops as cleanly as Ctrl-C, with the stats line

    signal.signal(signal.SIGTERM, stop)
    print(f"serving {args.model} at http://{args.host}:{server.server_address[1]}/v1 (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        stats = server.stats  # type: ignore[attr-defined]
        print(
            f"served {stats.requests} request(s): {stats.embedded} answered with {stats.texts} vector(s), "
            f"{stats.refused} refused",
            flush=True,
        )


if __name__ == "__main__":
    main()
