"""A dry run of the collection: the requests every collect job would send, and their cost, before any is sent.

Run it in the working directory of the pipeline::

    python -m avengers_pro.collect.estimate [--configfile overlay.yaml ...]

It reads ``config.yaml`` and the overlays (merged as Snakemake merges them, an empty mapping emptying
as in the Snakefile), checks the result against the workflow's schema, reads every benchmark file,
builds every request (``limit``, ``n``, system prompt and few-shot turns included) and looks it up in
the answer cache. Nothing is sent and nothing is written.

How tokens are estimated: prompt tokens are the characters of the messages divided by
:data:`CHARS_PER_TOKEN` (a rule of thumb for English text and GPT-style tokenizers; the model's own
tokenizer decides the real count); completion tokens are the mean of the endpoint's cached answers
when the cache holds any, else ``max_tokens`` (an upper bound). The cost is these tokens times the
endpoint's ``price``; an endpoint priced only by its responses (``cost_from_response``) has an
unknown cost. Cached answers cost nothing more and are not counted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from avengers_pro.collect.cache import ChatCache
from avengers_pro.collect.runner import make_client, plan_requests
from avengers_pro.collect.settings import endpoint_settings
from avengers_pro.config import replace_emptied, validate_config
from avengers_pro.errors import ConfigError, DataError

#: Characters per token assumed for prompts (an estimate; see the module docstring).
CHARS_PER_TOKEN = 4.0
_MESSAGE_OVERHEAD = 4  # tokens a chat template adds around each message


@dataclass(frozen=True)
class Estimate:
    """The requests of one collect job still to send, and their estimated tokens and cost."""

    benchmark: str
    endpoint: str
    requests: int
    cached: int
    to_send: int
    prompt_tokens: int
    completion_tokens: int
    completion_basis: str  # "cached mean" or "max_tokens"
    cost: float | None  # None: the endpoint has no price


def estimate_job(benchmark: Mapping[str, Any], endpoint: Mapping[str, Any], collection: Mapping[str, Any]) -> Estimate:
    """The estimate of one (benchmark, endpoint) job (see the module docstring)."""
    settings = endpoint_settings(endpoint, collection)
    client = make_client(endpoint, collection)
    try:
        plan = plan_requests(benchmark, client)
        with ChatCache(collection["cache"]) as cache:
            keys = [key for keys in plan.keys for key in keys]
            cached = cache.get(keys)
            observed = cache.completion_tokens(client.endpoint, client.model)
    finally:
        client.close()
    chars = {
        key: sum(len(m["content"]) for m in messages)
        for keys, messages in zip(plan.keys, plan.messages, strict=True)
        for key in keys
    }
    sizes = {key: len(messages) for keys, messages in zip(plan.keys, plan.messages, strict=True) for key in keys}
    todo = [key for key in dict.fromkeys(keys) if key not in cached]
    prompt_tokens = sum(round(chars[key] / CHARS_PER_TOKEN) + _MESSAGE_OVERHEAD * sizes[key] for key in todo)
    if observed:
        per_answer, basis = sum(observed) / len(observed), "cached mean"
    else:
        per_answer, basis = float(settings["max_tokens"]), "max_tokens"
    completion_tokens = round(per_answer * len(todo))
    price = settings.get("price")
    cost = (
        None
        if price is None
        else (prompt_tokens * float(price["input"]) + completion_tokens * float(price["output"])) / 1e6
    )
    return Estimate(
        str(benchmark["name"]),
        str(endpoint["name"]),
        len(keys),
        len(keys) - sum(1 for key in keys if key not in cached),
        len(todo),
        prompt_tokens,
        completion_tokens,
        basis,
        cost,
    )


def estimate_collection(config: Mapping[str, Any]) -> list[Estimate]:
    """One :class:`Estimate` per collect job of a validated config (benchmark slowest)."""
    return [
        estimate_job(benchmark, endpoint, config["collection"])
        for benchmark in config["benchmarks"]
        for endpoint in config["endpoints"]
    ]


def format_estimates(estimates: Sequence[Estimate], budget: float | None = None) -> str:
    """A plain-text table of the estimates and their totals."""
    lines = [
        f"{'benchmark':<16} {'endpoint':<20} {'requests':>8} {'cached':>7} {'to send':>8} "
        f"{'prompt tok':>11} {'compl. tok':>11} {'USD (est.)':>11}  completion tokens from"
    ]
    for e in estimates:
        cost = "unknown" if e.cost is None else f"{e.cost:.4f}"
        over = "  > budget" if budget is not None and e.cost is not None and e.cost > budget else ""
        lines.append(
            f"{e.benchmark:<16} {e.endpoint:<20} {e.requests:>8} {e.cached:>7} {e.to_send:>8} "
            f"{e.prompt_tokens:>11} {e.completion_tokens:>11} {cost:>11}  {e.completion_basis}{over}"
        )
    known = [e.cost for e in estimates if e.cost is not None]
    unknown = len(estimates) - len(known)
    total = f"{sum(known):.4f} USD" + (f" (+ {unknown} job(s) of unknown cost)" if unknown else "")
    lines.append(
        f"total: {sum(e.to_send for e in estimates)} requests to send "
        f"({sum(e.cached for e in estimates)} answers cached), estimated {total}; nothing was sent"
    )
    return "\n".join(lines)


def load_merged(base: Path, overlays: Sequence[Path], schema: Path) -> dict[str, Any]:
    """``base`` with ``overlays`` merged over it as Snakemake does (an empty mapping empties), validated."""
    from snakemake.utils import update_config

    def read(path: Path) -> dict[str, Any]:
        try:
            return yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"{path}: not a readable YAML file ({error})") from None

    config = read(base)
    merged: dict[str, Any] = {}
    for overlay in overlays:
        update_config(merged, read(overlay))
    update_config(config, merged)
    return validate_config(replace_emptied(config, merged), schema, source=str(base))


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m avengers_pro.collect.estimate",
        description="Estimate the requests and the cost of the collection; nothing is sent.",
    )
    parser.add_argument("--configfile", type=Path, action="append", default=[], help="an overlay, as for snakemake")
    parser.add_argument("--base", type=Path, default=Path("config.yaml"), help="the base config (config.yaml)")
    parser.add_argument(
        "--schema", type=Path, default=Path("workflow/schemas/config.schema.yaml"), help="the workflow's config schema"
    )
    args = parser.parse_args(argv)
    try:
        config = load_merged(args.base, args.configfile, args.schema)
        if not config["benchmarks"]:
            print("no benchmarks: nothing to collect")
            return 0
        print(format_estimates(estimate_collection(config), config["collection"].get("budget")))
    except (ConfigError, DataError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
