"""The SQLite files behind the persistent caches (embeddings, chat answers).

Kept apart from :mod:`avengers_pro.io`: the embedding cache is imported on every ``snakemake`` call
(the Snakefile derives file names from the embedding settings), and this module needs nothing but
the standard library.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_sqlite(path: str, schema: str) -> sqlite3.Connection:
    """Open (or create, with its folder) a SQLite cache file in WAL mode and create its table.

    WAL lets a reader never block a writer, so two pipeline jobs can share one cache; every write is
    committed at once by the caller, so whatever a killed run stored survives. Raises
    ``sqlite3.DatabaseError`` for a file that is not a usable database (the caller names it).
    ``":memory:"`` gives a throw-away cache.
    """
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=60.0)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(schema)
    db.commit()
    return db
