"""End to end, as a user meets it: data without costs runs through; bad data ends the console output
with one clear line, no traceback, and a note that the old results are stale."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from avengers_pro.testing.workflow_runs import run_snakemake

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def zero_cost_jsonl(records_csv: Path, target: Path) -> int:
    """The tiny scenario as an Avengers-Pro JSONL file without recorded costs (as the official code's
    example data): every usage cost is 0. Returns the number of lines."""
    records = pd.read_csv(records_csv)
    lines = []
    for query_id, rows in records.groupby("query_id", sort=True):
        lines.append(
            json.dumps(
                {
                    "query": rows["query"].iloc[0],
                    "dataset": rows["dataset"].iloc[0],
                    "index": query_id,
                    "records": dict(zip(rows["model"], rows["score"])),
                    "usages": {model: {"cost": 0.0} for model in rows["model"]},
                }
            )
        )
    target.write_text("\n".join(lines) + "\n")
    return len(lines)


@pytest.fixture(scope="module")
def zero_cost_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str], int]:
    workdir = tmp_path_factory.mktemp("zero_cost") / "work"
    shutil.copytree(ROOT / ".test", workdir)
    n_lines = zero_cost_jsonl(workdir / "data/records.csv", workdir / "data/records.jsonl")
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["sources"] = [{"name": "tiny", "format": "avengers-jsonl", "path": "data/records.jsonl"}]
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return workdir, run_snakemake(workdir), n_lines


def test_data_without_costs_runs_through_with_a_warning_and_null_cost_metrics(zero_cost_run) -> None:
    workdir, done, _ = zero_cost_run
    assert done.returncode == 0, done.stderr[-3000:]
    console = done.stdout + done.stderr
    assert "ingest: 90 queries, 4 models, 3 datasets (360 records)" in console
    assert "Warning: every recorded cost is 0" in console
    report = json.loads((workdir / "results/ingest_report.json").read_text())
    assert len(report["warnings"]) == 1
    for entry in json.loads((workdir / "results/metrics.json").read_text()):
        assert entry["aiq"] is None and entry["cost_save"] is None and entry["null_reasons"]["aiq"]
        assert entry["best_accuracy"] > 0 and entry["perf_gain"] is not None
    assert (workdir / "figures/pareto.png").stat().st_size > 1000


def test_bad_data_ends_the_console_with_one_line_and_says_old_results_are_stale(zero_cost_run) -> None:
    workdir, first, n_lines = zero_cost_run
    assert first.returncode == 0
    data = workdir / "data/records.jsonl"
    last_object = data.read_text().splitlines()[-1]
    data.write_text(data.read_text().rstrip("\n") + " trailing text after the object\n")
    done = run_snakemake(workdir)
    assert done.returncode != 0
    tail = done.stderr.rstrip().splitlines()[-2:]
    assert tail[0] == (
        f"Error: data/records.jsonl: line {n_lines}: malformed JSON (Extra data at column {len(last_object) + 2}); "
        "each line must hold exactly one JSON object (full traceback: logs/ingest.log)"
    )
    assert tail[1].startswith("Note: results/ and figures/ from the previous successful run")
    assert "Traceback" not in done.stdout + done.stderr
    assert "Traceback (most recent call last)" in (workdir / "logs/ingest.log").read_text()
    # The earlier results are left in place (they are the user's files).
    assert (workdir / "results/metrics.json").exists()


def test_a_bad_config_is_one_line_without_traceback(tmp_path: Path) -> None:
    shutil.copytree(ROOT / ".test", tmp_path / "work")
    config_path = tmp_path / "work/config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["sources"][0]["format"] = "avengers_jsonl"
    config_path.write_text(yaml.safe_dump(config))
    done = run_snakemake(tmp_path / "work")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(
        "Error: config: sources[0].format: 'avengers_jsonl' is not one of"
    )
