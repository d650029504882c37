"""What the person at the terminal sees: progress lines, one-line failures, stale-result notes, file modes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from avengers_pro import console
from avengers_pro.errors import DataError, plain
from avengers_pro.io import write_json, write_text


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_prints_first_periodic_and_last_lines(capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    console.set_console(sys.stderr)
    try:
        with console.Progress("embed", 1000, "texts", interval=10.0, clock=clock) as progress:
            for _ in range(10):
                clock.now += 3.0
                progress.update(100)
    finally:
        console.set_console(None)
    lines = capsys.readouterr().err.splitlines()
    # The first line, one line each time 10 s have passed (at 12, 24) and the last at 30 s.
    assert lines[0] == "embed: 0/1,000 texts (0%)"
    assert lines[1] == "embed: 400/1,000 texts (40%), 33.3/s, ETA 18s"
    assert lines[-1] == "embed: 1,000/1,000 texts (100%), 33.3/s, took 30s"
    assert len(lines) == 4


def test_quiet_progress_only_logs(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    with console.Progress("embed", 2, "texts", quiet=True) as progress:
        progress.update(2)
    assert capsys.readouterr().err == ""
    assert "embed: 2/2 texts (100%)" in caplog.text


def test_failures_are_reported_once_each_with_a_stale_results_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    started = time.time()
    assert console.failure_report(started) is None
    console.record_failure("logs/ingest.log", "data.jsonl: line 4: malformed JSON\nsecond line")
    assert console.failure_report(started) == "data.jsonl: line 4: malformed JSON (full traceback: logs/ingest.log)"
    # A failure left by an earlier run is not this run's.
    assert console.failure_report(time.time() + 60) is None
    # Results of an earlier successful run are still there: say so.
    write_text("old", "results/metrics.json")
    old = started - 3600
    os.utime("results/metrics.json", (old, old))
    report = console.failure_report(started)
    assert report is not None and report.splitlines()[-1].startswith(
        "Note: results/ and figures/ from the previous successful run"
    )
    console.clear_failure("logs/ingest.log")
    assert not console.failure_file("logs/ingest.log").exists()


def test_report_failures_raises_the_lines_for_snakemake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from snakemake.exceptions import CliException

    monkeypatch.chdir(tmp_path)
    started = time.time()
    console.report_failures(started, log=None)  # nothing failed on bad input: Snakemake ends as usual
    console.record_failure("logs/split.log", "splits: bad")
    with pytest.raises(CliException, match=r"^splits: bad \(full traceback: logs/split.log\)$"):
        console.report_failures(started, log=None)


def test_a_job_that_fails_on_bad_data_leaves_its_line_and_logs_the_traceback(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        from avengers_pro.errors import DataError
        from avengers_pro.runlog import start_job
        start_job("logs/ingest.log")
        raise DataError("score 1.7 is outside [0, 1]", file="a.jsonl", row=3, field="records.m", row_label="line")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    log = (tmp_path / "logs/ingest.log").read_text()
    assert "Traceback (most recent call last)" in log and "DataError" in log
    line = (tmp_path / "logs/failures/ingest.log.txt").read_text().strip()
    assert line == "a.jsonl: line 3: field 'records.m': score 1.7 is outside [0, 1] (full traceback: logs/ingest.log)"


def test_plain_values_in_messages() -> None:
    assert repr(plain(np.float64(1.7))) == "1.7"
    assert repr(plain(np.int64(3))) == "3"
    assert plain("text") == "text"
    error = DataError(f"cost {plain(np.float64(-0.5))} is negative", file="r.csv", row=2, field="cost")
    assert str(error) == "r.csv: row 2: field 'cost': cost -0.5 is negative"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    previous = os.umask(umask)
    try:
        write_json({"a": 1}, tmp_path / "out.json")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == mode
