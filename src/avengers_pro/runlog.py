"""Start of every pipeline job: logging to the rule's ``log:`` file and a cap on native threads."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from threadpoolctl import threadpool_limits


def start_job(log_path: str | Path, threads: int = 1) -> logging.Logger:
    """Send logging, warnings and stderr to ``log_path``; cap BLAS/OpenMP threads at ``threads``.

    The cap matters: Snakemake runs several jobs at once, and a KMeans that spins up one OpenMP
    thread per core in each of them runs several times slower than with the job's own share.
    """
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    handle = open(log_path, "w", buffering=1)  # noqa: SIM115 - kept open for the life of the job
    sys.stderr = handle
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(handle)],
        force=True,
    )
    logging.captureWarnings(True)
    threadpool_limits(limits=max(1, int(threads)))
    return logging.getLogger("avengers_pro.job")
