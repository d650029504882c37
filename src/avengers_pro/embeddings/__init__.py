"""Query embeddings: one small interface, a local offline backend, an OpenAI-compatible backend,
and a persistent SQLite cache. The pipeline calls :func:`embed_texts`; see ``docs/embeddings.md``.
"""

from avengers_pro.embeddings.cache import EmbeddingCache
from avengers_pro.embeddings.core import Embedder, embed_texts, make_embedder, text_hash, token_counter
from avengers_pro.embeddings.settings import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULTS,
    EMBEDDER_SPEC_KEYS,
    EmbeddingSettings,
    embedder_id,
    parse_settings,
)

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULTS",
    "EMBEDDER_SPEC_KEYS",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingSettings",
    "embed_texts",
    "embedder_id",
    "make_embedder",
    "parse_settings",
    "text_hash",
    "token_counter",
]
