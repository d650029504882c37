"""What the person at the terminal sees: one-line errors, progress and summaries of pipeline jobs.

A pipeline job sends its logging and stderr to the rule's log file (:mod:`avengers_pro.runlog`).
This module holds the other channel, the console, for the few lines a user must see:

* :func:`say` prints one line to the console (and logs it);
* :class:`Progress` prints ``done/total``, the rate and an ETA every few seconds during long steps;
* when a job fails on bad input (an :class:`~avengers_pro.errors.AvengersProError`),
  :func:`record_failure` keeps its one-line message in ``logs/failures/``, and the workflow's error
  hook, :func:`report_failures`, repeats those lines as the last thing on the console, with a note
  when results of an earlier successful run are still in place.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TypeVar

logger = logging.getLogger(__name__)

#: Where failed jobs leave their one-line messages for the workflow's error hook.
FAILURES_DIR = Path("logs/failures")
#: Outputs that an earlier successful run may have left (checked for the stale-results note).
FINAL_OUTPUTS = ("results/summary.csv", "results/metrics.json", "results/table.md")
#: Seconds between two progress lines (the first and the last line are always printed).
PROGRESS_INTERVAL_S = 10.0

_console: IO[str] | None = None
T = TypeVar("T")


def set_console(stream: IO[str] | None) -> None:
    """Use ``stream`` as the console (``start_job`` passes the job's stderr before it is redirected)."""
    global _console
    _console = stream


def console() -> IO[str]:
    """The console stream: the one set by :func:`set_console` (a pipeline job's own stderr, before
    :func:`avengers_pro.runlog.start_job` sends stderr to the log), else the current stderr.
    """
    return _console or sys.stderr


def say(message: str) -> None:
    """Print one line to the console and log it."""
    logger.info(message)
    stream = console()
    print(message, file=stream, flush=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Periodic one-line progress reports of a long step, on the console and in the log.

    A line looks like ``embed: 1,200/12,000 texts (10%), 45.2/s, ETA 3m59s``. Lines, not a redrawn
    bar: several jobs may report at once, and a log file keeps every line readable.

    Parameters
    ----------
    label
        What is being done (``embed``, ``bootstrap official``...).
    total
        Units of work in all.
    unit
        Name of a unit, plural.
    interval
        Seconds between two lines; the first and the last are always printed.
    quiet
        Log the lines only (nothing on the console).
    clock
        Time source (tests pass a fake one).
    """

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "items",
        *,
        interval: float = PROGRESS_INTERVAL_S,
        quiet: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.label = label
        self.total = max(0, int(total))
        self.unit = unit
        self.interval = interval
        self.quiet = quiet
        self._clock = clock or time.monotonic
        self.done = 0
        self._start = self._clock()
        self._last: float | None = None

    def line(self) -> str:
        """The current progress line."""
        elapsed = self._clock() - self._start
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        text = f"{self.label}: {self.done:,}/{self.total:,} {self.unit}{share}"
        if self.done and elapsed > 0:
            rate = self.done / elapsed
            text += f", {rate:,.1f}/s"
            remaining = self.total - self.done
            if remaining > 0:
                text += f", ETA {_duration(remaining / rate)}"
            else:
                text += f", took {_duration(elapsed)}"
        return text

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done; print a line if the interval has passed or the step is done."""
        self.done = min(self.total, self.done + int(n)) if self.total else self.done + int(n)
        now = self._clock()
        finished = self.total and self.done >= self.total
        if self._last is None or finished or now - self._last >= self.interval:
            self._last = now
            self._report()

    def _report(self) -> None:
        if self.quiet:
            logger.info(self.line())
        else:
            say(self.line())

    def __enter__(self) -> Progress:
        if self.total:
            self._report()
        self._last = self._clock()
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def track(items: Iterable[T], label: str, total: int, unit: str = "items") -> Iterable[T]:
    """Yield ``items``, reporting one unit of progress each."""
    with Progress(label, total, unit) as progress:
        for item in items:
            yield item
            progress.update()


# --------------------------------------------------------------------------- failures


def failure_file(log_path: str | Path) -> Path:
    """Where the job whose log is ``log_path`` leaves its one-line failure message."""
    log_path = Path(log_path)
    relative = log_path.relative_to("logs") if log_path.parts[:1] == ("logs",) else Path(log_path.name)
    return FAILURES_DIR / relative.with_suffix(relative.suffix + ".txt")


def clear_failure(log_path: str | Path) -> None:
    """Forget an earlier failure of this job (it is running again)."""
    failure_file(log_path).unlink(missing_ok=True)


def record_failure(log_path: str | Path, message: str) -> None:
    """Keep the one-line message of a job that failed on bad input, for :func:`report_failures`."""
    target = failure_file(log_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    first_line = " ".join(message.split("\n", 1)[0].split())
    target.write_text(f"{first_line} (full traceback: {log_path})\n")


def failure_lines(since: float) -> list[str]:
    """The messages of jobs that failed on bad input at or after ``since`` (a time.time() value)."""
    if not FAILURES_DIR.is_dir():
        return []
    found = [path for path in FAILURES_DIR.rglob("*.txt") if path.stat().st_mtime >= since - 1.0]
    return [path.read_text().strip() for path in sorted(found, key=lambda p: p.stat().st_mtime)]


def stale_outputs_note(since: float) -> str | None:
    """A note for results an earlier successful run left, which this failed run did not renew."""
    old = [Path(path) for path in FINAL_OUTPUTS if Path(path).exists() and Path(path).stat().st_mtime < since]
    if not old:
        return None
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(max(path.stat().st_mtime for path in old)))
    return (
        f"Note: results/ and figures/ from the previous successful run ({when}) are unchanged; "
        "they do not reflect this run's inputs."
    )


def failure_report(since: float) -> str | None:
    """What the workflow prints last when a run fails, or None when there is nothing to add."""
    lines = failure_lines(since)
    note = stale_outputs_note(since)
    if note:
        lines.append(note)
    return "\n".join(lines) if lines else None


def report_failures(started: float, log: object = None) -> None:
    """The workflow's error hook: end the console output with the one-line messages of bad input.

    Raising Snakemake's ``CliException`` makes Snakemake print exactly ``Error: <message>`` as its
    last words, with no Python traceback; the full tracebacks stay in the jobs' logs. ``started`` is
    the run's start (time.time()); ``log`` is Snakemake's log file, which the hook is given (unused).
    """
    report = failure_report(started)
    if report is None:
        return
    try:
        from snakemake.exceptions import CliException
    except ImportError:  # another Snakemake: print the lines, let Snakemake end as it does
        print(report, file=sys.stderr, flush=True)
        return
    raise CliException(report)
