"""Start of every pipeline job: logging to the rule's ``log:`` file and a cap on native threads."""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType

from threadpoolctl import threadpool_limits

from avengers_pro import console
from avengers_pro.errors import AvengersProError


def start_job(log_path: str | Path, threads: int = 1) -> logging.Logger:
    """Send logging, warnings and stderr to ``log_path``; cap BLAS/OpenMP threads at ``threads``.

    The console keeps the job's original stderr (see :mod:`avengers_pro.console`): progress lines and
    summaries go there as well as to the log. A job that fails on bad input (an
    :class:`~avengers_pro.errors.AvengersProError`) writes the full traceback to the log and leaves
    its one-line message for the workflow's error hook, which prints it last on the console.

    The thread cap matters: Snakemake runs several jobs at once, and a KMeans that spins up one OpenMP
    thread per core in each of them runs several times slower than with the job's own share.
    """
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    console.set_console(sys.stderr)
    console.clear_failure(log_path)
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

    def excepthook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        traceback.print_exception(kind, error, tb, file=handle)
        if isinstance(error, AvengersProError):
            console.record_failure(log_path, str(error))

    sys.excepthook = excepthook
    return logging.getLogger("avengers_pro.job")
