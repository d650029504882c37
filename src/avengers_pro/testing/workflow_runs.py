"""Running the workflow from the end-to-end tests: one helper for every test module that needs it.

The Snakefile is the one of the source checkout this package is imported from (tests run from a
checkout; an installed wheel carries no workflow).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run_snakemake(
    workdir: Path, *args: str, env: Mapping[str, str] | None = None, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    """``snakemake --cores 2`` with this repository's Snakefile in ``workdir``; the finished process."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, cwd=workdir, timeout=timeout, env={**os.environ, **(env or {})}
    )


def snakemake(workdir: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Like :func:`run_snakemake`, and it must succeed; its console output."""
    done = run_snakemake(workdir, *args, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def planned_jobs(workdir: Path, env: Mapping[str, str] | None = None) -> dict[str, int]:
    """Rule -> number of jobs a dry run would execute ({} when nothing is to be done)."""
    output = snakemake(workdir, "--dry-run", env=env)
    if "Nothing to be done" in output:
        return {}
    jobs = {}
    for line in output.split("Job stats:", 1)[1].splitlines()[3:]:
        match = re.fullmatch(r"\s*([\w-]+)\s+(\d+)\s*", line)
        if not match:
            break
        if match.group(1) != "total":
            jobs[match.group(1)] = int(match.group(2))
    return jobs
