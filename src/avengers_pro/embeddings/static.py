"""The static backend: a table of token vectors distilled offline from a local sentence-transformers
model, as model2vec does, so that embedding a text is a tokenizer call and an average.

Distillation (once per model and setting, then read from a file):

1. every token of the model's vocabulary is embedded BY THE MODEL, as the one-token sentence
   ``[CLS] token [SEP]`` (the model's own pooling and normalisation);
2. the table is reduced by PCA to ``dimensions`` columns (256 by default);
3. each row is weighted by SIF with a Zipf proxy of the token's frequency, taking the vocabulary
   order as the frequency rank (as model2vec does): ``w = 1e-4 / (1e-4 + p(rank))`` with ``p``
   proportional to ``1 / (rank + 2)``, so that frequent tokens count less.

A text's vector is then the mean of its tokens' rows (the head ``max_tokens`` tokens, no special
tokens). Nothing is downloaded: the source is the packaged all-MiniLM-L6-v2 or a local folder.

The table is cached as ``static-<model>-d<dimensions>-<key>.npy`` in ``$AVENGERS_PRO_STATIC_DIR``,
else ``$XDG_CACHE_HOME/avengers-pro/static``, else ``~/.cache/avengers-pro/static``; ``<key>`` hashes
the source model's files and the distillation settings, so another model or setting never reads it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from avengers_pro.embeddings.local import SentenceTransformerEmbedder, resolve_model_path
from avengers_pro.embeddings.settings import DEFAULT_MODEL, DEFAULT_MODEL_ALIASES, STATIC_BACKEND, EmbeddingSettings
from avengers_pro.embeddings.truncation import TokenizerJsonTruncator
from avengers_pro.errors import EmbeddingError

log = logging.getLogger(__name__)

#: PCA dimensions when ``embedding.dimensions`` is not set.
DEFAULT_STATIC_DIMENSIONS = 256
#: Environment variable naming the folder of distilled tables.
STATIC_DIR_ENV = "AVENGERS_PRO_STATIC_DIR"
_SIF = 1e-4
_VERSION = 1  # bump when the distillation changes: old tables are then never read
_DISTIL_BATCH = 512
_TABLES: dict[Path, np.ndarray] = {}
_TABLES_LOCK = threading.Lock()


def static_dir() -> Path:
    """Where distilled tables are kept (see the module docstring)."""
    explicit = os.environ.get(STATIC_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "avengers-pro" / "static"


def _source_key(path: Path, dimensions: int) -> str:
    digest = hashlib.sha256(json.dumps({"version": _VERSION, "dimensions": dimensions, "sif": _SIF}).encode())
    for name in ("config.json", "tokenizer.json", "modules.json"):
        file = path / name
        if file.is_file():
            digest.update(name.encode() + file.read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()[:12]


def token_vectors(model: Any, ids: np.ndarray, cls: int, sep: int, batch: int = _DISTIL_BATCH) -> np.ndarray:
    """The vector of each token id in ``ids`` from the sentence-transformers ``model``: the vector it
    gives the sentence ``[CLS] id [SEP]``.
    """
    import torch

    rows = []
    with torch.inference_mode():
        for start in range(0, len(ids), batch):
            ids_ = torch.as_tensor(np.asarray(ids[start : start + batch]), dtype=torch.long)
            input_ids = torch.stack([torch.full_like(ids_, cls), ids_, torch.full_like(ids_, sep)], dim=1)
            features = {
                "input_ids": input_ids.to(model.device),
                "attention_mask": torch.ones_like(input_ids).to(model.device),
                "token_type_ids": torch.zeros_like(input_ids).to(model.device),
            }
            rows.append(model(features)["sentence_embedding"].float().cpu().numpy())
    return np.concatenate(rows).astype(np.float32)


def reduce_and_weight(vectors: np.ndarray, dimensions: int) -> np.ndarray:
    """PCA to ``dimensions`` columns (at most the input's), then SIF weights by a Zipf rank proxy."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, components = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    reduced = centred @ components[: min(dimensions, components.shape[0])].T
    rank_weight = 1.0 / np.arange(2, len(vectors) + 2, dtype=np.float64)
    proba = rank_weight / rank_weight.sum()
    return (reduced * (_SIF / (_SIF + proba))[:, None]).astype(np.float32)


class StaticEmbedder:
    """Embed as the mean of distilled token vectors (see the module docstring); no model at run time.

    ``max_tokens`` counts the text's own tokens (no special tokens are added).
    """

    backend = STATIC_BACKEND
    max_concurrency = 1

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.settings = settings
        self.path = resolve_model_path(settings.model)
        self.model = DEFAULT_MODEL if settings.model in DEFAULT_MODEL_ALIASES else settings.model
        self.dimensions = settings.dimensions or DEFAULT_STATIC_DIMENSIONS
        self.max_tokens = settings.max_tokens
        self.batch_size = settings.batch_size
        self.key = _source_key(self.path, self.dimensions)
        self.cache_model = f"static:{self.model}:d{self.dimensions}:{self.key}"
        self._truncator: TokenizerJsonTruncator | None = None
        self._table: np.ndarray | None = None

    @property
    def table_path(self) -> Path:
        """The file of the distilled table."""
        name = Path(self.model).name if self.model not in DEFAULT_MODEL_ALIASES else DEFAULT_MODEL
        return static_dir() / f"static-{name}-d{self.dimensions}-{self.key}.npy"

    def _get_truncator(self) -> TokenizerJsonTruncator:
        if self._truncator is None:
            self._truncator = TokenizerJsonTruncator(self.path / "tokenizer.json", self.max_tokens)
        return self._truncator

    def _distil(self) -> np.ndarray:
        tokenizer = self._get_truncator().tokenizer
        cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        if cls is None or sep is None:
            raise EmbeddingError(f"static: the tokenizer of {self.path} has no [CLS]/[SEP] tokens to distil with")
        started = time.perf_counter()
        log.info("static: distilling %d token vectors from %s (once; cached in %s)", tokenizer.get_vocab_size(),
                 self.path, self.table_path)  # fmt: skip
        model = SentenceTransformerEmbedder(self.settings)._get_model()
        vectors = token_vectors(model, np.arange(tokenizer.get_vocab_size()), cls, sep)
        table = reduce_and_weight(vectors, self.dimensions)
        log.info("static: distilled a %d x %d table in %.1f s", *table.shape, time.perf_counter() - started)
        return table

    def _get_table(self) -> np.ndarray:
        if self._table is None:
            path = self.table_path
            with _TABLES_LOCK:
                if path not in _TABLES:
                    if path.is_file():
                        _TABLES[path] = np.load(path)
                    else:
                        from avengers_pro.io import write_npy  # only to distil: pandas stays out of serving

                        table = self._distil()
                        write_npy(table, path)  # atomic: a reader never sees half a table
                        _TABLES[path] = table
                self._table = _TABLES[path]
        return self._table

    def prepare(self) -> None:
        """Load the table now, distilling it first if no file holds it yet."""
        self._get_table()

    @property
    def dimension(self) -> int:
        """Length of the vectors."""
        return int(self._get_table().shape[1])

    def truncate(self, texts: list[str]) -> list[str]:
        """Keep the head of each text: at most ``max_tokens`` tokens."""
        return self._get_truncator()(texts)

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens of each text, at most ``max_tokens``."""
        encodings = self._get_truncator().tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [min(len(encoding.ids), self.max_tokens) for encoding in encodings]

    def embed(self, texts: list[str]) -> np.ndarray:
        """The mean token vector of each (already truncated) text → float32 (n, dimensions).

        One sparse product: a (texts x vocabulary) matrix of 1/length weights times the table, so no
        (tokens x dimensions) array is ever built.
        """
        from scipy import sparse

        table = self._get_table()
        tokenizer = self._get_truncator().tokenizer
        unknown = tokenizer.token_to_id("[UNK]") or 0
        rows = [e.ids[: self.max_tokens] or [unknown] for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
        if not rows:
            return np.zeros((0, table.shape[1]), dtype=np.float32)
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(indptr[-1]))
        weights = np.repeat(1.0 / lengths, lengths).astype(np.float32)
        means = sparse.csr_matrix((weights, indices, indptr), shape=(len(rows), table.shape[0])) @ table
        return np.asarray(means, dtype=np.float32)
