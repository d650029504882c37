r"""``avengers-pro serve``: load the router and its embedder once, check the upstreams, run uvicorn.

::

    avengers-pro serve --router results/exports/default --upstreams upstreams.yaml
    avengers-pro serve --router results/exports/default --upstreams upstreams.yaml \\
        --host 0.0.0.0 --port 8080 --auth-token-env AVENGERS_PRO_TOKEN

Every startup error (a bad router folder, an unmapped model, an unset key variable, a port already
in use) is one line on stderr and exit status 1; the port is bound first, before the model loads. SIGINT and SIGTERM shut down gracefully: no new
connections, requests and streams in flight finish (for at most ``--graceful-timeout`` seconds).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from avengers_pro.embeddings.settings import LOCAL_BACKEND
from avengers_pro.errors import ConfigError
from avengers_pro.serve.config import DEFAULT_MAX_BODY_BYTES, DEFAULT_MODEL_NAME, load_upstreams

log = logging.getLogger("avengers_pro.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` subcommand's options."""
    parser.add_argument(
        "--router", required=True, metavar="DIR", help="the router folder, e.g. results/exports/default"
    )
    parser.add_argument(
        "--upstreams",
        required=True,
        metavar="FILE",
        help="YAML mapping every model of the router to an upstream (see docs/serving.md)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument(
        "--alpha", type=float, metavar="A", help=f"the alpha of model '{DEFAULT_MODEL_NAME}' (default: the router's)"
    )
    parser.add_argument(
        "--model-name",
        default=DEFAULT_MODEL_NAME,
        metavar="NAME",
        help=f"the model clients ask for (default {DEFAULT_MODEL_NAME}; NAME:alpha=A picks an alpha)",
    )
    parser.add_argument(
        "--auth-token-env",
        metavar="VAR",
        help="require 'Authorization: Bearer $VAR' on /v1/* (the token is read from this variable)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help=f"larger request bodies get 413 (default {DEFAULT_MAX_BODY_BYTES})",
    )
    parser.add_argument(
        "--log-prompts",
        action="store_true",
        help="put the routed text (last user message) in the access log (default: never)",
    )
    parser.add_argument(
        "--max-batch", type=int, default=64, metavar="N", help="at most N texts per embedder forward pass (default 64)"
    )
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="wait up to MS for more texts before a forward pass (default 0: batch only what is already waiting)",
    )
    parser.add_argument(
        "--max-batch-tokens",
        type=int,
        default=4096,
        metavar="N",
        help="at most N padded tokens (texts x longest text) per forward pass (default 4096)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=512,
        metavar="N",
        help="chat completions served at once; more get 503 with Retry-After (default 512)",
    )
    parser.add_argument(
        "--max-queued-embeddings",
        type=int,
        default=64,
        metavar="N",
        help="texts waiting for the embedder; a request beyond gets 503 with Retry-After (default 64)",
    )
    parser.add_argument(
        "--max-embed-wait",
        type=float,
        default=0.5,
        metavar="S",
        help="a text that waited S seconds for the embedder gets 503 with Retry-After (default 0.5; 0: no limit)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="a request body must arrive within S seconds, else 408 (default 30)",
    )
    parser.add_argument(
        "--device",
        metavar="DEVICE",
        help="torch device of the local embedder, e.g. cuda (default: the router's, cpu); "
        "a remote (openai) embedder reads EMBEDDING_BASE_URL and EMBEDDING_API_KEY",
    )
    parser.add_argument(
        "--embed-threads",
        type=int,
        default=1,
        metavar="N",
        help="threads of the local embedder's forward pass (torch; default 1, which leaves the "
        "other cores to the event loop: on a busy 2-core machine, more threads contend and "
        "each pass gets slower)",
    )
    parser.add_argument(
        "--keep-alive",
        type=int,
        default=30,
        metavar="S",
        help="close idle client connections after S seconds (default 30; uvicorn's 5 makes "
        "clients that pause longer more likely to send on a connection being closed)",
    )
    parser.add_argument(
        "--graceful-timeout",
        type=int,
        default=30,
        metavar="S",
        help="on shutdown, wait at most S seconds for requests in flight (default 30)",
    )
    parser.add_argument(
        "--cache",
        metavar="FILE",
        help="persistent embedding cache (SQLite); default $AVENGERS_PRO_EMBEDDING_CACHE, else none",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def serve_command(args: argparse.Namespace) -> int:
    """Run the server until it is stopped; returns the exit status.

    Raises
    ------
    ConfigError, DataError
        A bad router folder, ``upstreams.yaml``, option or token variable, or a port in use.
    """
    for name, value, minimum in (
        ("--port", args.port, 0),
        ("--max-body-bytes", args.max_body_bytes, 1),
        ("--max-batch", args.max_batch, 1),
        ("--graceful-timeout", args.graceful_timeout, 0),
        ("--embed-threads", args.embed_threads, 1),
        ("--keep-alive", args.keep_alive, 1),
        ("--max-batch-tokens", args.max_batch_tokens, 1),
        ("--max-in-flight", args.max_in_flight, 1),
        ("--max-queued-embeddings", args.max_queued_embeddings, 1),
    ):
        if value < minimum:
            raise ConfigError(f"{name}: must be >= {minimum}, got {value}")
    if args.batch_wait_ms < 0:
        raise ConfigError(f"--batch-wait-ms: must be >= 0, got {args.batch_wait_ms}")
    if args.max_embed_wait < 0:
        raise ConfigError(f"--max-embed-wait: must be >= 0, got {args.max_embed_wait}")
    if not args.body_timeout > 0:
        raise ConfigError(f"--body-timeout: must be > 0, got {args.body_timeout}")
    token = None
    if args.auth_token_env:
        token = os.environ.get(args.auth_token_env)
        if not token:
            raise ConfigError(f"--auth-token-env: the environment variable {args.auth_token_env} is not set")
    listener = bind(args.host, args.port)  # a port in use fails now, not after the model loaded
    try:
        return _serve(args, listener, token)
    finally:
        listener.close()


def _serve(args: argparse.Namespace, listener: socket.socket, token: str | None) -> int:
    import uvicorn

    from avengers_pro.export import Router
    from avengers_pro.serve.app import ServeSettings, create_app

    router = Router.load(
        args.router, alpha=args.alpha, cache_path=args.cache, embedding={"device": args.device} if args.device else None
    )
    config = load_upstreams(args.upstreams, router.models)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every upstream call's URL at INFO; the access log already says what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    access = logging.getLogger("avengers_pro.serve.access")  # one JSON object a line, nothing around it
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.propagate = False
    log.info("loading the embedder of %s", router)
    if router.embedding.get("backend") == LOCAL_BACKEND:  # bound torch's threads
        import torch

        torch.set_num_threads(args.embed_threads)
    router.prepare()
    router.embed(["warm-up"])  # the first forward pass is slow; pay it before the port opens
    if args.log_level != "debug":  # the embedder logs two lines per batch: noise next to the access log
        logging.getLogger("avengers_pro.embeddings").setLevel(logging.WARNING)
    settings = ServeSettings(
        model_name=args.model_name,
        max_body_bytes=args.max_body_bytes,
        auth_token=token,
        log_prompts=args.log_prompts,
        max_batch=args.max_batch,
        batch_wait=args.batch_wait_ms / 1000.0,
        max_batch_tokens=args.max_batch_tokens,
        body_timeout=args.body_timeout,
        max_in_flight=args.max_in_flight,
        max_queued_embeddings=args.max_queued_embeddings,
        max_embed_wait=args.max_embed_wait or None,
    )
    app = create_app(router, config, settings)
    log.info(
        "serving '%s' (%d models, alpha %g) on http://%s:%d/v1%s",
        settings.model_name,
        len(router.models),
        router.alpha,
        args.host,
        listener.getsockname()[1],
        " (bearer auth)" if token else "",
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=args.graceful_timeout,
            timeout_keep_alive=args.keep_alive,
        )
    )
    try:
        server.run(sockets=[listener])
    finally:
        router.close()
    return 0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, as uvicorn would open it.

    Raises
    ------
    ConfigError
        The address cannot be bound (in use, not this machine's, no permission).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(family, kind, proto)
    except OSError as error:
        raise ConfigError(f"--host {host}: cannot resolve it ({error.strerror or error})") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(2048)
    except OSError as error:
        listener.close()
        raise ConfigError(f"--port {port}: cannot listen on {host}:{port} ({error.strerror or error})") from None
    listener.set_inheritable(True)
    return listener
