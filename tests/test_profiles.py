"""Distributed runs: every rule declares its resources, and jobs are submitted with them.

Two ways without a cluster:

* the generic cluster executor (``snakemake-executor-plugin-cluster-generic``) submits the jobs of
  the tiny scenario (``.test``) to a fake ``sbatch``: a local script that records the threads,
  mem_mb and runtime it was given, then runs the job script itself;
* ``snakemake --dry-run --profile profiles/slurm`` must parse the shipped SLURM profile and apply its
  per-rule overrides (needs ``snakemake-executor-plugin-slurm``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "workflow" / "rules"
SLURM_PROFILE = ROOT / "profiles" / "slurm"
pytestmark = pytest.mark.slow

_RULE_START = re.compile(r"^(?P<indent>[ \t]*)(?:local)?rule (?P<name>\w+):", re.MULTILINE)


def declared_resources() -> dict[str, dict[str, str]]:
    """Rule name -> the ``threads``, ``mem_mb`` and ``runtime`` written in workflow/rules/*.smk.

    Values are kept as written (an expression stays an expression); a missing one is absent.
    """
    declared: dict[str, dict[str, str]] = {}
    for path in sorted(RULES.glob("*.smk")):
        text = path.read_text()
        starts = list(_RULE_START.finditer(text))
        for i, start in enumerate(starts):
            body = text[start.end() : starts[i + 1].start() if i + 1 < len(starts) else len(text)]
            found = {}
            for key, pattern in {
                "threads": r"^\s*threads:\s*(.+?)\s*$",
                "mem_mb": r"^\s*mem_mb\s*=\s*(.+?),?\s*$",
                "runtime": r"^\s*runtime\s*=\s*(.+?),?\s*$",
            }.items():
                match = re.search(pattern, body, re.MULTILINE)
                if match:
                    found[key] = match.group(1)
            declared[start["name"]] = found
    return declared


def test_every_rule_declares_threads_mem_and_runtime():
    declared = declared_resources()
    assert {"ingest", "embed", "split", "cluster", "sweep"} <= set(declared), sorted(declared)
    missing = {rule: sorted({"threads", "mem_mb", "runtime"} - set(found)) for rule, found in declared.items()}
    missing = {rule: keys for rule, keys in missing.items() if keys}
    assert not missing, f"rules without threads/mem_mb/runtime: {missing}"


def test_slurm_profile_is_documented_yaml():
    config = yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())
    assert config["executor"] == "slurm"
    assert {"mem_mb", "runtime"} <= set(config["default-resources"])
    assert config["jobs"] >= 1 and config["latency-wait"] >= 1
    assert "embed" in config["set-resources"]
    assert "profiles/slurm" in (ROOT / "profiles" / "README.md").read_text()


FAKE_SBATCH = """#!/usr/bin/env bash
# A stand-in for sbatch: record what the job was submitted with, run its script, print a job id.
# Arguments: RULE THREADS MEM_MB RUNTIME JOBSCRIPT
set -u
here="$(dirname "$0")"
printf '{"rule": "%s", "threads": "%s", "mem_mb": "%s", "runtime": "%s"}\\n' "$1" "$2" "$3" "$4" >> "$here/submissions.jsonl"
id="fake$RANDOM$RANDOM"
bash "$5" > "$here/job_$id.log" 2>&1 || true   # the job script itself marks success or failure
echo "$id"
"""


@pytest.fixture()
def tiny_workdir(tmp_path: Path) -> Path:
    workdir = tmp_path / "work"
    shutil.copytree(ROOT / ".test", workdir, ignore=shutil.ignore_patterns("results", "logs", ".snakemake", "cache"))
    return workdir


def test_generic_cluster_executor_submits_declared_resources(tiny_workdir: Path, tmp_path: Path):
    pytest.importorskip(
        "snakemake_executor_plugin_cluster_generic",
        reason="snakemake-executor-plugin-cluster-generic is not installed (pip install -e . installs it)",
    )
    submit = tmp_path / "fake_sbatch.sh"
    submit.write_text(FAKE_SBATCH)
    submit.chmod(0o755)
    target = "results/splits/seed0.parquet"  # two jobs: ingest, then split
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--executor",
        "cluster-generic",
        "--cluster-generic-submit-cmd",
        f"{submit} {{rule}} {{threads}} {{resources.mem_mb}} {{resources.runtime}}",
        "--jobs",
        "2",
        "--latency-wait",
        "5",
        "--seconds-between-status-checks",
        "1",
        target,
    ]
    done = subprocess.run(command, cwd=tiny_workdir, capture_output=True, text=True, timeout=600, check=False)
    job_logs = "\n".join(p.read_text()[-1500:] for p in sorted(tmp_path.glob("job_*.log")))
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:] + "\n" + job_logs
    assert (tiny_workdir / target).is_file()

    submissions = [json.loads(line) for line in (tmp_path / "submissions.jsonl").read_text().splitlines()]
    assert sorted(s["rule"] for s in submissions) == ["ingest", "split"]
    declared = declared_resources()
    for submitted in submissions:
        expected = declared[submitted["rule"]]
        assert {key: submitted[key] for key in ("threads", "mem_mb", "runtime")} == expected, (
            f"rule {submitted['rule']} submitted with {submitted}, declared {expected}"
        )


def test_slurm_profile_dry_run(tiny_workdir: Path):
    pytest.importorskip(
        "snakemake_executor_plugin_slurm",
        reason="snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]'); "
        "the SLURM profile cannot be loaded without it",
    )
    profile = yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--profile",
        str(SLURM_PROFILE),
        "--dry-run",
    ]
    done = subprocess.run(command, cwd=tiny_workdir, capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    jobs = {
        block.group("rule"): block.group("resources")
        for block in re.finditer(
            r"^rule (?P<rule>\w+):\n(?:    .*\n)*?    resources: (?P<resources>.*)$", output, re.MULTILINE
        )
    }
    declared = declared_resources()
    assert {"ingest", "embed", "split", "cluster", "sweep"} <= set(jobs), sorted(jobs)
    embed = profile["set-resources"]["embed"]
    for rule, resources in jobs.items():
        if rule not in declared:  # rule all: a target list without a job of its own
            continue
        values = dict(item.split("=", 1) for item in resources.split(", "))
        expected = embed if rule == "embed" else declared[rule]
        assert values["mem_mb"] == str(expected["mem_mb"]) and values["runtime"] == str(expected["runtime"]), (
            f"rule {rule}: dry run shows {values}, expected mem_mb/runtime {expected}"
        )
