"""What every benchmark script shares: repository paths, the machine's description, timing, the
peak memory of a process, and writing and printing results.

Imported as ``from _common import ...``: a script run as ``python bench/NAME.py`` has ``bench/`` first
on its path.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"  # git-ignored
# The six RouterBench CSVs: this checkout's data/routerbench/ (where the pipeline puts them) when it
# has them, else the copy that CI machines keep beside the checkout.
DATA = next(
    (
        folder
        for folder in (REPO / "data" / "routerbench", REPO.parent / "shared" / "data" / "routerbench")
        if len(list(folder.glob("*.csv"))) >= 6
    ),
    REPO / "data" / "routerbench",
)


# --------------------------------------------------------------------------- the machine


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (other jobs on the machine inflate every timing)."""
    return os.getloadavg()


def machine_info() -> dict[str, Any]:
    """Cores, memory, CPU model, Python, NumPy and the current load average: the numbers mean little
    without them."""
    cpu_model = platform.processor() or "unknown"
    memory_gib = float("nan")
    try:
        cpu_model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        memory_gib = _status_field(Path("/proc/meminfo"), "MemTotal") / 2**20
    except (OSError, StopIteration):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(memory_gib, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average": [round(v, 2) for v in load_average()],
    }


# --------------------------------------------------------------------------- timing


def best_of(repeats: int, function: Callable[[], object]) -> float:
    """The fastest of ``repeats`` runs, in seconds (the least disturbed by other work on the machine)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


# --------------------------------------------------------------------------- memory


def _status_field(path: Path, field: str) -> int:
    """A ``Field:   123 kB`` line's number in a /proc status file (0 where it has none)."""
    for line in path.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def rss_mib(pid: int | str = "self") -> float:
    """Current resident memory of a process (this one by default), MiB."""
    return _status_field(Path(f"/proc/{pid}/status"), "VmRSS") / 1024


def peak_rss_mib(pid: int | str = "self") -> float:
    """Peak resident memory of a process (VmHWM) since it started or since :func:`reset_peak`, MiB.

    Not ``ru_maxrss``: after exec, Linux carries the parent's peak over into the child's, which would
    report the benchmark's own memory; that is the fallback only where /proc has no VmHWM.
    """
    try:
        return _status_field(Path(f"/proc/{pid}/status"), "VmHWM") / 1024
    except OSError:
        if pid != "self":
            return float("nan")
        return lifetime_peak_mib()


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def lifetime_peak_mib() -> float:
    """Peak resident memory over the whole life of this process, MiB (getrusage, never reset)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TracedPeak:
    """``with TracedPeak() as traced: ...``; then ``traced.mib`` is the peak of what the block allocated
    on top of what was live before it (NumPy reports its buffers to tracemalloc), MiB."""

    def __init__(self) -> None:
        self.mib = float("nan")

    def __enter__(self) -> TracedPeak:
        tracemalloc.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.mib = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()


# --------------------------------------------------------------------------- results


def write_json(obj: Any, path: Path | str) -> None:
    """Write a benchmark's results as indented JSON (keys sorted), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def print_table(frame: pd.DataFrame, title: str) -> None:
    """Print a data frame as a plain table under a title."""
    print(f"\n{title}")
    with pd.option_context("display.width", 160, "display.max_columns", 30):
        print(frame.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
