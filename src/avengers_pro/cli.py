"""The ``avengers-pro`` command: route new queries with an exported router.

::

    avengers-pro route --router results/exports/default "a question"        # prints the chosen model
    avengers-pro route --router results/exports/default --explain "a question"
    avengers-pro route --router results/exports/default --input queries.jsonl --output routed.jsonl

With ``--input``, every line is a JSON object with a ``query`` field; the output keeps every field
and adds ``model`` (and ``models``, the ``max_router`` choices, when it is > 1). Lines are read,
embedded and routed in chunks, so memory stays flat however long the input is. Errors print one
line to stderr and exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from avengers_pro.errors import AvengersProError, DataError

PROG = "avengers-pro"
DEFAULT_CHUNK_SIZE = 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Cost-aware LLM routing (Avengers-Pro).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    route = commands.add_parser(
        "route",
        help="route queries with an exported router",
        description="Route queries with a router exported by the pipeline (results/exports/{name}).",
    )
    route.add_argument("queries", nargs="*", metavar="QUERY", help="query texts; prints one model per line")
    route.add_argument("--router", required=True, metavar="DIR", help="the router folder, e.g. results/exports/default")
    route.add_argument("--input", metavar="FILE", help="JSON Lines file of objects with a 'query' field ('-': stdin)")
    route.add_argument(
        "--output",
        metavar="FILE",
        help="where the routed JSON Lines go (default: stdout); written only when every line routed",
    )
    route.add_argument(
        "--alpha",
        type=float,
        metavar="A",
        help="route with this alpha in [0, 1] instead of the router's default (1 = accuracy only)",
    )
    route.add_argument(
        "--explain",
        action="store_true",
        help="print why as JSON (Avengers-Pro: nearest clusters, weights, every model's aggregated score; "
        "another family: every model's predicted score, cost and x); "
        "with --input, add an 'explanation' field to every line",
    )
    route.add_argument(
        "--cache",
        metavar="FILE",
        help="persistent embedding cache (SQLite); default $AVENGERS_PRO_EMBEDDING_CACHE, else none",
    )
    route.add_argument(
        "--chunk-size",
        type=int,
        default=DEFAULT_CHUNK_SIZE,
        metavar="N",
        help=f"lines embedded and routed at once with --input (default {DEFAULT_CHUNK_SIZE})",
    )
    route.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    serve = commands.add_parser(
        "serve",
        help="serve a router as an OpenAI-compatible endpoint",
        description="Route OpenAI chat completions to the models of an exported router (docs/serving.md).",
    )
    from avengers_pro.serve.server import add_arguments

    add_arguments(serve)
    return parser


def _count_lines(path: Path) -> int:
    """Lines of a file, read in blocks (for the progress bar's total)."""
    count = 0
    last = b"\n"
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _read_chunks(
    handle: IO[str], name: str, chunk_size: int, added: Sequence[str] = ("model",)
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Yield lists of (line number, object) of at most ``chunk_size`` non-blank lines.

    Raises
    ------
    DataError
        Text that is not UTF-8, a line that is not a JSON object, has no ``query``, has a query that is not a non-empty
        string, or already has one of the ``added`` fields (which the output would overwrite).
    """
    chunk: list[tuple[int, dict[str, Any]]] = []
    number = 0
    while True:
        try:
            line = handle.readline()
        except UnicodeDecodeError:
            raise DataError(f"not UTF-8 text (at or after line {number + 1})", file=name) from None
        if not line:
            break
        number += 1
        if not line.strip():
            continue  # a blank line (e.g. the last newline twice) carries no query
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"line {number}: not valid JSON ({error.msg})", file=name) from None
        if not isinstance(item, dict):
            raise DataError(f"line {number}: expected a JSON object with a 'query' field", file=name)
        if "query" not in item:
            raise DataError(f"line {number}: no 'query' field", file=name)
        query = item["query"]
        if not isinstance(query, str) or not query.strip():
            raise DataError(f"line {number}: field 'query' must be a non-empty string, got {query!r:.40}", file=name)
        present = [field for field in added if field in item]
        if present:
            raise DataError(
                f"line {number}: already has a '{present[0]}' field, which the output would overwrite; rename it first",
                file=name,
            )
        chunk.append((number, item))
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _route_stream(router: Any, args: argparse.Namespace, stdout: IO[str]) -> int:
    """Route a JSON Lines input chunk by chunk; returns the number of routed lines."""
    from tqdm import tqdm

    from avengers_pro.io import atomic_path

    reading_stdin = args.input == "-"
    name = "<stdin>" if reading_stdin else args.input
    if not reading_stdin and not Path(args.input).is_file():
        raise DataError("no such file", file=args.input)
    total = None if reading_stdin else _count_lines(Path(args.input))
    routed = 0
    with ExitStack() as stack:
        source = sys.stdin if reading_stdin else stack.enter_context(open(args.input, encoding="utf-8"))
        if args.output and args.output != "-":
            # Written beside the target and renamed at the end: a failed run leaves no half file.
            target = stack.enter_context(atomic_path(args.output))
            sink: IO[str] = stack.enter_context(open(target, "w", encoding="utf-8"))
        else:
            sink = stdout
        router.prepare()  # load the model before the bar starts, so queries/s means queries/s
        bar = stack.enter_context(
            tqdm(
                total=total, unit="query", desc="routing", file=sys.stderr, disable=args.no_progress, dynamic_ncols=True
            )
        )
        added = ["model"] + (["models"] if router.max_router > 1 else []) + (["explanation"] if args.explain else [])
        for chunk in _read_chunks(source, name, args.chunk_size, added):
            vectors = router.embed([item["query"] for _, item in chunk])
            choices = router.route_indices(vectors)
            explanations = router.explain_embeddings(vectors) if args.explain else None
            lines = []
            for row, (_, item) in enumerate(chunk):
                names = router.names(choices[row])
                item["model"] = names[0]
                if router.max_router > 1:
                    item["models"] = names
                if explanations is not None:
                    item["explanation"] = explanations[row]
                lines.append(json.dumps(item, ensure_ascii=False))
            sink.write("\n".join(lines) + "\n")
            routed += len(chunk)
            bar.update(chunk[-1][0] - bar.n if total is not None else len(chunk))
    return routed


def _route(args: argparse.Namespace, stdout: IO[str]) -> int:
    if args.input and args.queries:
        raise DataError("give query texts or --input, not both")
    if not args.input and not args.queries:
        raise DataError("nothing to route: give query texts or --input FILE")
    if args.output and not args.input:
        raise DataError("--output goes with --input")
    if args.chunk_size < 1:
        raise DataError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    for number, query in enumerate(args.queries, start=1):
        if not query.strip():
            raise DataError(f"query {number} is empty")

    from avengers_pro.export import Router

    router = Router.load(args.router, alpha=args.alpha, cache_path=args.cache)
    with router:
        if args.input:
            _route_stream(router, args, stdout)
            return 0
        vectors = router.embed(args.queries, progress=False)
        if args.explain:
            explanations = [
                {"query": query, **explanation}
                for query, explanation in zip(args.queries, router.explain_embeddings(vectors), strict=True)
            ]
            # One query: its object; several: a list of them (valid JSON either way).
            shown = explanations[0] if len(explanations) == 1 else explanations
            stdout.write(json.dumps(shown, indent=2, ensure_ascii=False) + "\n")
        else:
            for model in router.route_embeddings(vectors):
                stdout.write(model + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``avengers-pro`` command; returns the exit status.

    Parameters
    ----------
    argv
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 on an error (one line on stderr), 130 when interrupted.
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "route":
            return _route(args, sys.stdout)
        if args.command == "serve":
            from avengers_pro.serve.server import serve_command

            return serve_command(args)
    except AvengersProError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        # Unreadable input, unwritable output, a full disk: one line, no traceback.
        where = f"{error.filename}: " if error.filename else ""
        print(f"{PROG}: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
