"""Reading and writing the pipeline's intermediate files.

Every file is written atomically (to a temporary name, then renamed), so a killed job never leaves a
half-written output behind, with the permissions the umask gives an ordinary new file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

PathLike = str | os.PathLike[str]


def _current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    # mkstemp creates the file with mode 0600; give it the mode an ordinary write would (0644 under
    # umask 022), so results stay readable by the group on shared clusters.
    os.fchmod(fd, 0o666 & ~_current_umask())
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_atomic(path: PathLike, writer: Callable[[Path], None]) -> None:
    with atomic_path(path) as tmp:
        writer(tmp)


def release_arrow_memory() -> None:
    """Return the memory Arrow's allocator keeps from freed tables to the system.

    Arrow keeps freed buffers for reuse, so a large table that was deleted (a sweep's 30M-row decisions
    at 1M queries: 2.3 GiB) would otherwise stay resident under whatever the process does next.
    """
    pa.default_memory_pool().release_unused()


def write_parquet(df: pd.DataFrame, path: PathLike) -> None:
    """Write a data frame to Parquet without its index."""
    _write_atomic(path, lambda tmp: df.to_parquet(tmp, index=False))


def write_json(obj: Any, path: PathLike) -> None:
    """Write JSON with sorted keys and an indent, so diffs between runs are readable."""

    def writer(tmp: Path) -> None:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")

    _write_atomic(path, writer)


def write_text(text: str, path: PathLike) -> None:
    """Write a text file atomically."""

    def writer(tmp: Path) -> None:
        tmp.write_text(text)

    _write_atomic(path, writer)


def write_npy(array: np.ndarray, path: PathLike) -> None:
    """Write a numpy array as ``.npy`` atomically."""

    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array)

    _write_atomic(path, writer)


# --------------------------------------------------------------------------- embeddings


def write_embeddings(path: PathLike, query_ids: list[str] | np.ndarray, vectors: np.ndarray) -> None:
    """Write embeddings as Parquet: ``query_id`` (string) and ``embedding`` (fixed-size float32 list)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(query_ids):
        raise ValueError(f"expected {len(query_ids)} vectors, got an array of shape {vectors.shape}")
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    table = pa.table(
        {
            "query_id": pa.array([str(q) for q in query_ids], type=pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
        }
    )
    _write_atomic(path, lambda tmp: pq.write_table(table, tmp))


def read_embeddings(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(query_ids, vectors)``, vectors as a float32 array of shape (n, dim)."""
    table = pq.read_table(path)
    column = table.column("embedding").combine_chunks()
    dim = column.type.list_size
    vectors = column.values.to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32)
    query_ids = np.asarray(table.column("query_id").to_pylist(), dtype=object)
    return query_ids, vectors


# --------------------------------------------------------------------------- records as matrices


@dataclass(frozen=True)
class RecordMatrix:
    """The canonical long records table pivoted to dense (query × model) arrays.

    ``scores`` and ``costs`` hold NaN where a model has no record for a query; ``available`` is the
    mask of recorded cells. Rows follow ``query_ids``; columns follow ``models``.
    """

    query_ids: np.ndarray
    datasets: np.ndarray
    models: list[str]
    scores: np.ndarray
    costs: np.ndarray

    @property
    def available(self) -> np.ndarray:
        """(n, M) True where a model has a record for a query."""
        return ~np.isnan(self.scores)

    def subset(self, rows: np.ndarray) -> RecordMatrix:
        """The same matrix restricted to ``rows`` (a boolean mask or integer positions)."""
        return RecordMatrix(
            query_ids=self.query_ids[rows],
            datasets=self.datasets[rows],
            models=self.models,
            scores=self.scores[rows],
            costs=self.costs[rows],
        )

    def positions(self, query_ids: np.ndarray | list[str]) -> np.ndarray:
        """Row positions of ``query_ids`` (every id must be present)."""
        index = pd.Index(self.query_ids)
        pos = index.get_indexer(np.asarray(query_ids, dtype=object))
        if (pos < 0).any():
            missing = np.asarray(query_ids, dtype=object)[pos < 0][:3]
            raise KeyError(f"query ids not in the records: {list(missing)}")
        return pos


def record_matrix(records: pd.DataFrame, models: list[str] | None = None) -> RecordMatrix:
    """Pivot the canonical records table (query_id, dataset, model, score, cost) to dense arrays.

    Queries are ordered by ``query_id``; models by ``models`` if given, else alphabetically. That
    model order is the tie-break order everywhere in routing.
    """
    # Integer codes straight from the (Arrow-backed) string columns: converting the long columns
    # to NumPy object arrays first costs one Python string per row (20M rows: ~25 s and ~3 GiB).
    row, unique_ids = pd.factorize(records["query_id"], sort=True)
    model_codes, model_names = pd.factorize(records["model"])
    if models is None:
        models = sorted(str(name) for name in model_names)
    col = pd.Index(models).get_indexer(np.asarray(model_names, dtype=object))[model_codes]
    query_ids = np.asarray(unique_ids, dtype=object)
    _, first_row = np.unique(row, return_index=True)  # dataset of each query: its first row
    datasets = records["dataset"].iloc[first_row].to_numpy(dtype=object)
    keep = col >= 0
    scores = np.full((len(query_ids), len(models)), np.nan)
    costs = np.full((len(query_ids), len(models)), np.nan)
    scores[row[keep], col[keep]] = records["score"].to_numpy(dtype=float)[keep]
    costs[row[keep], col[keep]] = records["cost"].to_numpy(dtype=float)[keep]
    return RecordMatrix(query_ids=query_ids, datasets=datasets, models=list(models), scores=scores, costs=costs)


def read_record_matrix(path: PathLike, models: list[str] | None = None) -> RecordMatrix:
    """:func:`record_matrix` of a records Parquet file, reading only the columns the matrix needs.

    The query and prompt texts are most of the file's memory and are not needed for routing.
    """
    columns = ["query_id", "dataset", "model", "score", "cost"]
    return record_matrix(pd.read_parquet(path, columns=columns), models)


_SWEEP_PATH = re.compile(r"(?:^|/)(?P<variant>[^/]+)/k(?P<k>\d+)_seed(?P<seed>\d+)\.parquet$")
_SEED_PATH = re.compile(r"(?:^|/)(?:(?P<variant>[^/]+)_)?seed(?P<seed>\d+)\.parquet$")


def sweep_key(path: PathLike) -> tuple[str, int, int]:
    """``(variant, n_clusters, seed)`` of a path like ``results/sweep/{variant}/k{k}_seed{seed}.parquet``."""
    match = _SWEEP_PATH.search(Path(path).as_posix())
    if not match:
        raise ValueError(f"not a per-(variant, k, seed) file name: {path}")
    return match["variant"], int(match["k"]), int(match["seed"])


def seed_key(path: PathLike) -> tuple[str | None, int]:
    """``(variant or None, seed)`` of a path like ``.../seed{seed}.parquet`` or ``.../{variant}_seed{seed}.parquet``."""
    match = _SEED_PATH.search(Path(path).as_posix())
    if not match:
        raise ValueError(f"not a per-seed file name: {path}")
    return match["variant"], int(match["seed"])
