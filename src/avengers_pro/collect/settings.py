"""The ``benchmarks:``, ``endpoints:`` and ``collection:`` config blocks: checks, derived names and paths.

The JSON schema (workflow/schemas/config.schema.yaml) checks types and fills defaults; this module
adds what a schema cannot say in one clear line, and is called by
:func:`avengers_pro.config.validate_config` before any job runs (so a missing price fails before a
single request is sent):

- names are unique; a source name never collides with a collected one;
- an endpoint has a ``price`` unless it declares ``cost_from_response: true`` (the provider reports
  ``usage.cost`` in every response, as OpenRouter does with ``extra: {usage: {include: true}}``);
  without either, the cost of an answer could not be known;
- ``base_url`` holds no credentials and no query string (the key comes only from the environment
  variable named by ``api_key_env``, so that no file, log or message ever holds it);
- a prompt template names only ``{question}`` and ``{choices}``, and a ``choice`` benchmark's template
  shows ``{choices}``; a ``regex`` benchmark has a ``pattern`` that compiles;
- an endpoint's ``extra`` does not set what the collector owns (``messages``, ``model``, ``n``,
  ``stream``): every question would otherwise share one request body and one cache key;
- every benchmark file exists (checked here, before any job, so that a missing file is one line and
  records left over from an earlier run cannot hide it).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from avengers_pro.collect.graders import GRADERS_VERSION
from avengers_pro.errors import ConfigError

GRADERS: tuple[str, ...] = ("choice", "exact", "number", "regex")
#: LLMRouterBench's results root is ``<base>/bench``: its ``ResultsStorage("results/collected")`` lists
#: the collected runs.
COLLECTED_ROOT = "results/collected/bench"
#: Prefix of the source names the collected files get in the ingest report.
COLLECTED_PREFIX = "collected"

# Keys a user may try for the key itself; each gets a pointer to api_key_env instead.
_SECRET_KEYS = ("api_key", "apikey", "key", "token", "api_token", "authorization")
_TEMPLATE_FIELDS = frozenset({"question", "choices"})
#: Request fields the collector writes itself; ``extra`` may not set them.
OWNED_FIELDS: tuple[str, ...] = ("messages", "model", "n", "stream")


def collected_path(benchmark: Mapping[str, Any], endpoint: Mapping[str, Any]) -> str:
    """The folder the collect job of (benchmark, endpoint) writes its one result file to, in LLMRouterBench's
    layout ``<root>/<dataset>/<split>/<model>/``.
    """
    return f"{COLLECTED_ROOT}/{benchmark['name']}/{benchmark['split']}/{endpoint['name']}"


def collected_sources(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One ``llmrouterbench`` source per (benchmark, endpoint), in config order (benchmark slowest)."""
    return [
        {
            "name": f"{COLLECTED_PREFIX}.{benchmark['name']}.{endpoint['name']}",
            "format": "llmrouterbench",
            "path": collected_path(benchmark, endpoint),
        }
        for benchmark in config.get("benchmarks", [])
        for endpoint in config.get("endpoints", [])
    ]


def endpoint_settings(endpoint: Mapping[str, Any], collection: Mapping[str, Any]) -> dict[str, Any]:
    """The endpoint with every setting it leaves null taken from ``collection``."""
    merged = dict(endpoint)
    for key in ("temperature", "max_tokens", "max_concurrency", "timeout"):
        if merged.get(key) is None:
            merged[key] = collection[key]
    return merged


def collect_spec(config: Mapping[str, Any], benchmark_name: str, endpoint_name: str) -> dict[str, Any]:
    """What decides the records of one collect job, and nothing else (the job's rerun trigger).

    Concurrency, timeouts, retries, the cache path and the name of the key's variable change how the
    records are obtained, not what they hold, so changing them reruns nothing.
    """
    benchmark = next(b for b in config["benchmarks"] if b["name"] == benchmark_name)
    endpoint = endpoint_settings(
        next(e for e in config["endpoints"] if e["name"] == endpoint_name), config["collection"]
    )
    runtime = ("max_concurrency", "timeout", "api_key_env")
    return {
        "graders_version": GRADERS_VERSION,  # new grading rules re-grade the cached answers
        "benchmark": dict(benchmark),
        "endpoint": {key: value for key, value in endpoint.items() if key not in runtime},
    }


def template_fields(template: str) -> set[str]:
    """The ``{field}`` names of a ``str.format`` template; a malformed template raises ValueError."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def check_secrets(config: Mapping[str, Any], source: str = "config") -> None:
    """Refuse an API key written into an endpoint (before the schema calls it an unknown key)."""
    for i, endpoint in enumerate(config.get("endpoints") or []):
        if not isinstance(endpoint, Mapping):
            continue
        for key in endpoint:
            if str(key).lower() in _SECRET_KEYS:
                raise ConfigError(
                    f"{source}: endpoints[{i}].{key}: keys are never read from the config; put the key in an "
                    "environment variable and give its name in api_key_env"
                )


def _duplicates(names: list[str]) -> list[str]:
    return sorted({name for name in names if names.count(name) > 1})


def check_collection(config: Mapping[str, Any], source: str = "config") -> None:
    """Cross-key checks of the collection blocks (see the module docstring).

    Raises
    ------
    ConfigError
        One line naming the key at fault.
    """
    benchmarks = config.get("benchmarks", [])
    endpoints = config.get("endpoints", [])
    if bool(benchmarks) != bool(endpoints):
        present, absent = ("benchmarks", "endpoints") if benchmarks else ("endpoints", "benchmarks")
        raise ConfigError(
            f"{source}: {absent}: empty, so the {present} listed collect nothing (every endpoint answers every benchmark)"
        )
    if not config.get("sources") and not benchmarks:
        raise ConfigError(f"{source}: sources: empty, and no benchmarks and endpoints to collect records from")
    for key, entries in (("benchmarks", benchmarks), ("endpoints", endpoints)):
        duplicated = _duplicates([entry["name"] for entry in entries])
        if duplicated:
            raise ConfigError(f"{source}: {key}: duplicate name(s) {', '.join(duplicated)}")
    collected = {entry["name"] for entry in collected_sources(config)}
    clashing = sorted(collected & {s["name"] for s in config.get("sources", [])})
    if clashing:
        raise ConfigError(
            f"{source}: sources: the name(s) {', '.join(clashing)} are taken by collected records; rename the source"
        )

    for i, benchmark in enumerate(benchmarks):
        where = f"{source}: benchmarks[{i}]"
        if not Path(benchmark["path"]).is_file():
            raise ConfigError(
                f"{where}.path: {benchmark['path']}: no such file (relative to the working directory "
                f"{Path.cwd()}); place the benchmark file there or fix the path"
            )
        template = benchmark.get("prompt")
        if template is not None:
            try:
                fields = template_fields(template)
            except ValueError as error:
                raise ConfigError(
                    f"{where}.prompt: not a valid template ({error}); write a literal brace as {{{{ or }}}}"
                ) from None
            unknown = sorted(fields - _TEMPLATE_FIELDS)
            if unknown:
                raise ConfigError(
                    f"{where}.prompt: unknown field(s) {', '.join('{' + f + '}' for f in unknown)} "
                    "(allowed: {question}, {choices}; write a literal brace as {{ or }})"
                )
            if "question" not in fields:
                raise ConfigError(f"{where}.prompt: the template must contain {{question}}")
            if benchmark["grader"] == "choice" and "choices" not in fields:
                raise ConfigError(
                    f"{where}.prompt: a choice benchmark's template must show the options with {{choices}}"
                )
        pattern = benchmark.get("pattern")
        if benchmark["grader"] == "regex" and not pattern:
            raise ConfigError(
                f"{where}.pattern: required by the regex grader (a regular expression that finds the answer in the output)"
            )
        if pattern:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ConfigError(f"{where}.pattern: not a valid regular expression ({error})") from None

    for i, endpoint in enumerate(endpoints):
        where = f"{source}: endpoints[{i}]"
        owned = [key for key in OWNED_FIELDS if key in (endpoint.get("extra") or {})]
        if owned:
            raise ConfigError(
                f"{where}.extra.{owned[0]}: set by the collector for every question and may not be overridden "
                "(the model is endpoints[].model; a system prompt and few-shot examples are benchmark settings; "
                "several samples are the benchmark's n)"
            )
        parts = urlsplit(endpoint["base_url"])
        if parts.username or parts.password or parts.query:
            raise ConfigError(
                f"{where}.base_url: credentials and query strings are not allowed in the URL (they would be "
                "written to files); put the key in an environment variable named by api_key_env"
            )
        if endpoint.get("price") is None and not endpoint.get("cost_from_response"):
            raise ConfigError(
                f"{where}.price: required ({{input: USD, output: USD}} per 1M tokens), unless the endpoint reports "
                "usage.cost in every response and says so with cost_from_response: true"
            )
