"""A persistent cache of chat answers: one SQLite file shared by every collect job.

An answer is keyed by the sha256 of its request (endpoint URL without credentials, served model,
messages and every generation parameter; see :meth:`avengers_pro.collect.client.ChatClient.cache_key`),
so a rerun sends no request and a changed parameter asks again. Each answer is committed as soon as
it arrives: a killed run loses only the requests in flight. The file is in WAL mode, so collect jobs
running side by side share it. It holds no key and no header; failed requests are not stored.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from avengers_pro.collect.client import ChatAnswer
from avengers_pro.errors import DataError
from avengers_pro.sqlite_cache import open_sqlite

_LOOKUP_CHUNK = 500  # far below SQLite's limit of bound parameters per statement

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    request_sha256 TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    content TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    reported_cost REAL,
    finish_reason TEXT,
    created REAL NOT NULL,
    latency REAL
) WITHOUT ROWID
"""


class ChatCache:
    """Answers by request hash.

    Parameters
    ----------
    path
        The SQLite file (created with its folder), or ``":memory:"``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        try:
            self._db = open_sqlite(self.path, _SCHEMA)
        except sqlite3.DatabaseError as err:
            raise DataError(
                f"not a usable chat cache ({err}); delete the file to start a new one", file=self.path
            ) from None
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(answers)")}
        if "latency" not in columns:  # a cache written before latencies were stored
            try:
                self._db.execute("ALTER TABLE answers ADD COLUMN latency REAL")
                self._db.commit()
            except sqlite3.OperationalError:  # another job added it first
                self._db.rollback()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def get(self, keys: Sequence[str]) -> dict[str, ChatAnswer]:
        """The cached answers among ``keys``."""
        found: dict[str, ChatAnswer] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _LOOKUP_CHUNK):
            chunk = unique[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT request_sha256, content, prompt_tokens, completion_tokens, reported_cost, finish_reason, latency "
                f"FROM answers WHERE request_sha256 IN ({marks})",
                chunk,
            )
            for key, content, prompt_tokens, completion_tokens, cost, finish, latency in rows:
                found[key] = ChatAnswer(content, int(prompt_tokens), int(completion_tokens), cost, finish, latency)
        return found

    def put(self, key: str, endpoint: str, model: str, answer: ChatAnswer) -> None:
        """Store one answer and commit at once."""
        self._db.execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                endpoint,
                model,
                answer.content,
                answer.prompt_tokens,
                answer.completion_tokens,
                answer.reported_cost,
                answer.finish_reason,
                time.time(),
                answer.latency,
            ),
        )
        self._db.commit()

    def completion_tokens(self, endpoint: str, model: str) -> list[int]:
        """The completion token counts of every cached answer of (endpoint, model), for estimates."""
        rows = self._db.execute(
            "SELECT completion_tokens FROM answers WHERE endpoint = ? AND model = ?", (endpoint, model)
        )
        return [int(row[0]) for row in rows]

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        """Close the file."""
        self._db.close()
