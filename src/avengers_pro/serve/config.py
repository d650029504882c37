"""``upstreams.yaml``: where each model of the router is served, at what price, and how to retry.

::

    models:
      gpt-4-1106-preview: {base_url: https://api.openai.com/v1, model: gpt-4-1106-preview,
                           api_key_env: OPENAI_API_KEY, price: {input: 10.0, output: 30.0}}
      mistralai/mixtral-8x7b-chat: {base_url: http://127.0.0.1:9002/v1, model: mixtral,
                                    price: {input: 0.6, output: 0.6}}
    reference_model: gpt-4-1106-preview   # savings on /metrics are counted against this model
    timeout: 60            # seconds to wait for an upstream's answer (or its first byte when streaming)
    connect_timeout: 5     # seconds to open a connection
    retries: 1             # retries of the same model on a 5xx, a timeout or a connection error
    max_fallbacks: 2       # further models tried, in the router's order, once a model gave up
    deadline: 90           # seconds one request may spend on upstreams, retries and fallbacks included
    fallback_on_429: true  # a 429 (rate limited) falls back to the next model at once (false: passed on)
    breaker: {failures: 5, cooldown: 30}  # skip a model after 5 failures in a row, for 30 s

Prices are USD per 1M tokens. Every key is checked and every error is one line naming the file and
the key; keys are read from the environment at startup and never stored in the file or logged.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from avengers_pro.errors import ConfigError

#: The ``model`` clients send to be routed; ``<name>:alpha=0.3`` picks the alpha per request.
DEFAULT_MODEL_NAME = "avengers-pro"
#: Request bodies larger than this get 413 (1 MiB: a long conversation, not a big image).
DEFAULT_MAX_BODY_BYTES = 1 << 20

_TOP_KEYS = {
    "models",
    "reference_model",
    "timeout",
    "connect_timeout",
    "retries",
    "max_fallbacks",
    "deadline",
    "fallback_on_429",
    "breaker",
}
_BREAKER_KEYS = {"failures", "cooldown"}
#: Seconds one request may spend upstream at most, every retry and fallback included.
DEFAULT_DEADLINE = 90.0
_MODEL_KEYS = {"base_url", "model", "api_key_env", "price", "headers", "timeout"}
_PRICE_KEYS = {"input", "output"}


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens of prompt (``input``) and completion (``output``)."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for a response with these token counts."""
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


@dataclass(frozen=True)
class Upstream:
    """One model's upstream.

    Attributes
    ----------
    name
        The router's name for the model (what clients see in ``model`` and headers).
    base_url
        The OpenAI-compatible API root, e.g. ``http://127.0.0.1:8001/v1`` (no trailing slash).
    model
        The model name the upstream expects in ``model``.
    api_key
        The key read from ``api_key_env`` at load time (``None``: no ``Authorization`` header).
    api_key_env
        The environment variable it came from (for messages; never the value).
    price
        USD per 1M tokens.
    headers
        Extra headers sent upstream (e.g. OpenRouter's ``HTTP-Referer``).
    timeout
        Seconds to wait for this upstream (``None``: the file's ``timeout``).
    """

    name: str
    base_url: str
    model: str
    price: Price
    api_key: str | None = field(default=None, repr=False)  # never in a repr, so never in a log line
    api_key_env: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float | None = None

    @property
    def chat_url(self) -> str:
        """The chat completions endpoint."""
        return f"{self.base_url}/chat/completions"


@dataclass(frozen=True)
class UpstreamsConfig:
    """A checked ``upstreams.yaml``.

    Attributes
    ----------
    upstreams
        Per router model, in the router's model order.
    reference_model
        The model savings are counted against (``None``: no saving reported).
    timeout, connect_timeout
        Seconds (see the module docstring).
    retries
        Retries of one model on a 5xx, timeout or connection error before falling back.
    max_fallbacks
        Further models tried after the first choice gave up.
    deadline
        Seconds one request may spend on upstream calls in all (to the first byte of a stream):
        each call's timeout is cut to what is left, and no call starts once it is spent.
    fallback_on_429
        A 429 from an upstream falls back to the next model at once (no retry); when false, or
        when no model is left, the 429 is passed on to the client.
    breaker_failures, breaker_cooldown
        A model whose upstream failed (5xx, timeout, connection error) ``breaker_failures`` times
        in a row is skipped for ``breaker_cooldown`` seconds; then one request tries it again.
    """

    upstreams: Mapping[str, Upstream]
    reference_model: str | None = None
    timeout: float = 60.0
    connect_timeout: float = 5.0
    retries: int = 1
    max_fallbacks: int = 2
    deadline: float = DEFAULT_DEADLINE
    fallback_on_429: bool = True
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0

    @property
    def reference_price(self) -> Price | None:
        """The reference model's price, if one is set."""
        return None if self.reference_model is None else self.upstreams[self.reference_model].price


def _number(value: Any, where: str, *, minimum: float = 0.0, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if value < minimum or (positive and value <= 0):
        raise ConfigError(f"{where}: must be {'>' if positive else '>='} {minimum:g}, got {value}")
    return float(value)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: expected an integer >= 0, got {value!r}")
    return int(value)


def _unknown(keys: Any, allowed: set[str], where: str) -> None:
    extra = sorted(str(key) for key in keys if key not in allowed)
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(extra)}; expected some of {', '.join(sorted(allowed))}")


def _upstream(name: str, entry: Any, where: str, environ: Mapping[str, str]) -> Upstream:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with base_url and price, got {entry!r:.60}")
    _unknown(entry, _MODEL_KEYS, where)
    base_url = entry.get("base_url")
    if (
        not isinstance(base_url, str)
        or urlsplit(base_url).scheme not in ("http", "https")
        or not urlsplit(base_url).netloc
    ):
        raise ConfigError(
            f"{where}.base_url: expected an http(s) URL such as http://127.0.0.1:8001/v1, got {base_url!r}"
        )
    model = entry.get("model", name)
    if not isinstance(model, str) or not model:
        raise ConfigError(f"{where}.model: expected the upstream's model name, got {model!r}")
    price = entry.get("price")
    if not isinstance(price, dict) or set(price) != _PRICE_KEYS:
        raise ConfigError(
            f"{where}.price: expected {{input: USD per 1M tokens, output: USD per 1M tokens}}, got {price!r}"
        )
    api_key_env, api_key = entry.get("api_key_env"), None
    if api_key_env is not None:
        if not isinstance(api_key_env, str) or not api_key_env:
            raise ConfigError(f"{where}.api_key_env: expected the name of an environment variable, got {api_key_env!r}")
        api_key = environ.get(api_key_env)
        if not api_key:
            raise ConfigError(f"{where}.api_key_env: the environment variable {api_key_env} is not set")
    headers = entry.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ConfigError(f"{where}.headers: expected a mapping of header names to strings")
    if any(key.lower() == "authorization" for key in headers):
        raise ConfigError(
            f"{where}.headers: put the key in an environment variable named by api_key_env, not in the file"
        )
    timeout = entry.get("timeout")
    return Upstream(
        name=name,
        base_url=base_url.rstrip("/"),
        model=model,
        price=Price(_number(price["input"], f"{where}.price.input"), _number(price["output"], f"{where}.price.output")),
        api_key=api_key,
        api_key_env=api_key_env,
        headers=dict(headers),
        timeout=None if timeout is None else _number(timeout, f"{where}.timeout", positive=True),
    )


def parse_upstreams(
    data: Any,
    models: Sequence[str],
    source: str = "upstreams.yaml",
    environ: Mapping[str, str] | None = None,
) -> UpstreamsConfig:
    """Check a parsed ``upstreams.yaml`` against the router's models.

    Parameters
    ----------
    data
        The parsed YAML.
    models
        The router's models; each must be mapped.
    source
        The file name, for messages.
    environ
        Where ``api_key_env`` variables are read (default: ``os.environ``).

    Returns
    -------
    UpstreamsConfig

    Raises
    ------
    ConfigError
        One line naming the file and key: a router model without an upstream, a model the router
        does not know, a bad URL or price, an unset key variable, an unknown key.
    """
    environ = os.environ if environ is None else environ
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with a 'models' key")
    _unknown(data, _TOP_KEYS, source)
    entries = data.get("models")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{source}: models: expected a mapping of the router's models to upstreams")
    missing = [model for model in models if model not in entries]
    if missing:
        raise ConfigError(
            f"{source}: models: no upstream for the router's model {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    extra = [str(name) for name in entries if name not in models]
    if extra:
        raise ConfigError(f"{source}: models: {extra[0]!r} is not a model of the router (it has {', '.join(models)})")
    upstreams = {name: _upstream(name, entries[name], f"{source}: models.{name}", environ) for name in models}
    reference = data.get("reference_model")
    if reference is not None and reference not in upstreams:
        raise ConfigError(f"{source}: reference_model: {reference!r} is not one of the models")
    breaker = data.get("breaker") or {}
    if not isinstance(breaker, dict):
        raise ConfigError(f"{source}: breaker: expected a mapping {{failures: N, cooldown: seconds}}, got {breaker!r}")
    _unknown(breaker, _BREAKER_KEYS, f"{source}: breaker")
    fallback_on_429 = data.get("fallback_on_429", True)
    if not isinstance(fallback_on_429, bool):
        raise ConfigError(f"{source}: fallback_on_429: expected true or false, got {fallback_on_429!r}")
    failures = _count(breaker.get("failures", 5), f"{source}: breaker.failures")
    if failures < 1:
        raise ConfigError(f"{source}: breaker.failures: must be >= 1, got {failures}")
    return UpstreamsConfig(
        upstreams=upstreams,
        reference_model=reference,
        timeout=_number(data.get("timeout", 60.0), f"{source}: timeout", positive=True),
        connect_timeout=_number(data.get("connect_timeout", 5.0), f"{source}: connect_timeout", positive=True),
        retries=_count(data.get("retries", 1), f"{source}: retries"),
        max_fallbacks=_count(data.get("max_fallbacks", 2), f"{source}: max_fallbacks"),
        deadline=_number(data.get("deadline", DEFAULT_DEADLINE), f"{source}: deadline", positive=True),
        fallback_on_429=fallback_on_429,
        breaker_failures=failures,
        breaker_cooldown=_number(breaker.get("cooldown", 30.0), f"{source}: breaker.cooldown", positive=True),
    )


def load_upstreams(
    path: str | Path, models: Sequence[str], environ: Mapping[str, str] | None = None
) -> UpstreamsConfig:
    """Read and check ``upstreams.yaml``; see :func:`parse_upstreams`.

    Raises
    ------
    ConfigError
        An unreadable file, invalid YAML, or any error of :func:`parse_upstreams`.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    return parse_upstreams(data, models, str(path), environ)
