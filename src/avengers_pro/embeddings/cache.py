"""A persistent embedding cache: one SQLite file, shared by every backend and model."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from types import TracebackType

import numpy as np

from avengers_pro.errors import EmbeddingError
from avengers_pro.sqlite_cache import open_sqlite

# SQLite allows at most 32,766 bound parameters per statement; stay far below it.
_LOOKUP_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (backend, model, text_sha256)
) WITHOUT ROWID
"""


class EmbeddingCache:
    """Vectors keyed by (backend, model, sha256 of the truncated text), stored as float32 blobs.

    The file is SQLite in WAL mode, so a reader never blocks a writer and two pipeline jobs can
    share it. :meth:`put` commits at once: whatever it was given survives a killed run. Keys hold no
    secret (``model`` is the embedder's ``cache_model``: model name plus the settings that change the
    vectors) and the texts themselves are not stored.

    Parameters
    ----------
    path
        The SQLite file (created with its folder), or ``":memory:"`` for a throw-away cache.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        try:
            self._db = open_sqlite(self.path, _SCHEMA)
        except sqlite3.DatabaseError as err:
            raise EmbeddingError(
                f"{self.path}: not a usable embedding cache ({err}); delete the file to start a new one"
            ) from err

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the data is already committed)."""
        self._db.close()

    def get(self, backend: str, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors for those of ``hashes`` that are present, as ``{hash: float32 vector}``."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), _LOOKUP_CHUNK):
            chunk = unique[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT text_sha256, dim, vector FROM embeddings "
                f"WHERE backend = ? AND model = ? AND text_sha256 IN ({marks})",
                [backend, model, *chunk],
            )
            for text_hash, dim, blob in rows:
                vector = np.frombuffer(blob, dtype="<f4")
                if vector.size != dim:
                    raise EmbeddingError(f"{self.path}: corrupt cache entry for model {model!r}; delete the file")
                found[text_hash] = vector.astype(np.float32)
        return found

    def put(self, backend: str, model: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Store one vector per hash and commit (an existing entry is replaced)."""
        vectors = np.asarray(vectors, dtype="<f4")
        if vectors.ndim != 2 or len(vectors) != len(hashes):
            raise ValueError(f"expected {len(hashes)} vectors, got an array of shape {vectors.shape}")
        dim = int(vectors.shape[1])
        with self._db:  # one transaction, committed on leaving the block
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings (backend, model, text_sha256, dim, vector) VALUES (?, ?, ?, ?, ?)",
                [(backend, model, h, dim, row.tobytes()) for h, row in zip(hashes, vectors, strict=True)],
            )

    def count(self, backend: str | None = None, model: str | None = None) -> int:
        """Number of cached vectors, optionally for one backend and model."""
        if backend is None:
            return int(self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])
        return int(
            self._db.execute(
                "SELECT COUNT(*) FROM embeddings WHERE backend = ? AND model = ?", (backend, model)
            ).fetchone()[0]
        )
