"""The embedder of a router folder (``embedder.json``): what it stores and what a user may override.

A router's centroids only make sense for vectors from the embedder it was fitted with, so the
folder stores the settings that decide a text's vector, and loading refuses a user ``embedding:``
block that would change them (host settings such as ``base_url`` or ``device`` may differ).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avengers_pro.embeddings import embedder_id, parse_settings
from avengers_pro.embeddings.settings import EMBEDDER_SPEC_KEYS, OPENAI_BACKEND
from avengers_pro.errors import ConfigError
from avengers_pro.io import PathLike


def embedder_spec(embedding: Mapping[str, Any] | None) -> dict[str, Any]:
    """The part of an ``embedding:`` block that decides a text's vector, defaults filled in.

    Host-specific and secret settings (``cache``, ``base_url``, ``device``, batch sizes, timeouts)
    are left out: they do not change the vectors and must not travel with an exported router.

    Parameters
    ----------
    embedding
        An ``embedding:`` config block (``None``: all defaults).

    Returns
    -------
    dict
        ``backend``, ``model``, ``max_tokens``, ``dimensions``, ``query_instruction``, ``tokenizer``.

    Raises
    ------
    ConfigError
        A bad ``embedding:`` block.
    """
    settings = parse_settings(dict(embedding or {}))
    return {key: getattr(settings, key) for key in EMBEDDER_SPEC_KEYS}


def _tokenizer_identity(tokenizer: str) -> str:
    # A tokenizer given as a path is compared by its file and folder names, so a router fitted on
    # one machine still loads where the same tokenizer lives elsewhere.
    if "/" in tokenizer or "\\" in tokenizer or tokenizer.endswith(".json"):
        path = Path(tokenizer.replace("\\", "/"))
        return f"{path.parent.name}/{path.name}"
    return tokenizer


def _embedder_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What two embedding settings must share to give the same vectors (model folders by name)."""
    settings = parse_settings(dict(spec))
    identity: dict[str, Any] = {
        "backend": settings.backend,
        "model": embedder_id(dict(spec)),  # alias-free model name; a local folder by its name
        "max_tokens": settings.max_tokens,
        "dimensions": settings.dimensions,
        "query_instruction": settings.query_instruction,
    }
    if settings.backend == OPENAI_BACKEND:  # the local backend always uses the model's own tokenizer
        identity["tokenizer"] = _tokenizer_identity(settings.tokenizer)
    return identity


def check_embedder(
    router_spec: Mapping[str, Any], embedding: Mapping[str, Any] | None, file: PathLike
) -> dict[str, Any]:
    """The embedding block to route with: the router's spec, overridden by ``embedding``.

    ``embedding`` may add host settings (``base_url``, ``device``, ``batch_size``...) or repeat the
    router's own; any setting that would change the vectors is an error, not a silent mismatch.

    Parameters
    ----------
    router_spec
        The router's ``embedder.json``.
    embedding
        The user's ``embedding:`` block, or ``None``.
    file
        The ``embedder.json`` path, for the message.

    Returns
    -------
    dict
        The effective ``embedding:`` block.

    Raises
    ------
    ConfigError
        ``embedding`` differs from the router's embedder in a setting that changes the vectors.
    """
    effective = {**dict(router_spec), **dict(embedding or {})}
    expected = _embedder_identity(router_spec)
    actual = _embedder_identity(effective)
    for key, value in expected.items():
        if actual.get(key) != value:
            raise ConfigError(
                f"embedding.{key}: {actual.get(key)!r} differs from {value!r}, which the router in "
                f"{Path(file).parent} was fitted with (see {file}); its vectors would not match the centroids"
            )
    return effective
