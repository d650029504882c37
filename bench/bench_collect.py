"""Collection against the local fake chat endpoint: throughput, client overhead, work lost on a kill.

A script, not a test. Three measurements:

1. **Requests per second** of one collect job (``avengers_pro.collect.runner.collect``: prompts, cache
   look-up, requests on the shared HTTP layer, a SQLite commit per answer, grading, the result file)
   at concurrency 8 and 32, against the fake server (``avengers_pro.testing.fake_chat_server``) running in
   *another process*, with no answer delay (the client and server compete for the CPU: an upper bound
   on what the client can drive) and with a 50 ms delay per answer (a stand-in for generation time,
   where concurrency is what counts).
2. **Client overhead per request**: the collector's own CPU time (``time.process_time`` of its process,
   every thread included; the server's CPU is in the other process) divided by the requests sent. The
   target is under 2 ms. The bare chat client (``ChatClient.complete``: the HTTP layer and the answer
   check, one request at a time, nothing stored) is measured the same way to show where the time goes.
3. **Work lost on kill-and-resume**: a collect job runs in a subprocess and is killed with SIGKILL
   once half of its answers are in the cache; "lost" = requests the server answered minus answers
   the cache kept (paid for, not kept). The resumed job must send exactly the questions not cached.

Usage::

    python bench/bench_collect.py [--n 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from _common import REPO, RESULTS, load_average, machine_info, print_table, write_json

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"

from avengers_pro.collect.client import ChatClient
from avengers_pro.collect.runner import collect
from avengers_pro.collect.settings import endpoint_settings
from avengers_pro.config import validate_config
from avengers_pro.testing.fake_chat_server import FakeChatServer


def write_benchmark(path: Path, n: int) -> list[dict[str, Any]]:
    """``n`` four-option questions (about 60 words of prompt each, like a short MMLU item)."""
    rows = [
        {
            "id": i,
            "question": f"Question {i}: " + " ".join(f"word{(i * 7 + j) % 97}" for j in range(40)) + "?",
            "choices": [f"option {k} for {i}" for k in range(4)],
            "answer": "ABCD"[i % 4],
        }
        for i in range(n)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return rows


def config_for(base_url: str, bench: Path, cache: Path, concurrency: int) -> dict[str, Any]:
    return validate_config(
        {
            "sources": [],
            "benchmarks": [{"name": "bench", "path": str(bench), "grader": "choice"}],
            "endpoints": [
                {
                    "name": "fake",
                    "base_url": base_url,
                    "model": "fake",
                    "price": {"input": 1.0, "output": 2.0},
                    "max_concurrency": concurrency,
                }
            ],
            "collection": {"cache": str(cache), "retry_backoff": 0.01, "timeout": 60},
        },
        SCHEMA,
    )


class ServerProcess:
    """The fake server in its own process (so its CPU is not counted as the client's)."""

    def __init__(self, bench: Path, latency: float) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "avengers_pro.testing.fake_chat_server",
                "--model",
                "fake=0.7",
                "--answers",
                str(bench),
                "--latency",
                str(latency),
                "--lifetime",
                "900",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def run_once(base_url: str, bench: Path, concurrency: int, workdir: Path) -> dict[str, float]:
    cache = Path(tempfile.mkdtemp(dir=workdir)) / "chat.sqlite"
    config = config_for(base_url, bench, cache, concurrency)
    cpu, wall = time.process_time(), time.perf_counter()
    result = collect(
        benchmark=config["benchmarks"][0],
        endpoint=config["endpoints"][0],
        collection=config["collection"],
        output=cache.parent / "run",
        progress=False,
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert result.failed == 0 and result.requested == result.questions
    return {
        "seconds": wall,
        "req_per_s": result.requested / wall,
        "client_cpu_ms_per_req": 1000 * cpu / result.requested,
    }


def bare_http(base_url: str, prompts: list[str]) -> float:
    """CPU ms per request of the chat client alone (HTTP layer, answer parsed), one at a time, nothing stored."""
    settings = endpoint_settings(
        {"name": "fake", "base_url": base_url, "model": "fake", "price": {"input": 1, "output": 1}},
        validate_config({"sources": [{"name": "s", "format": "records", "path": "x.csv"}]}, SCHEMA)["collection"],
    )
    client = ChatClient(settings, max_retries=0, retry_backoff=0.0)
    try:
        client.complete(prompts[0])  # connection set up outside the measurement
        cpu = time.process_time()
        for prompt in prompts:
            client.complete(prompt)
        return 1000 * (time.process_time() - cpu) / len(prompts)
    finally:
        client.close()


CHILD = """
import json, sys
from avengers_pro.collect.runner import collect
args = json.loads(sys.argv[1])
collect(benchmark=args["benchmark"], endpoint=args["endpoint"], collection=args["collection"], output=args["output"],
        progress=False)
"""


def cached_rows(cache: Path) -> int:
    if not cache.exists():
        return 0
    try:
        with sqlite3.connect(cache, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def kill_and_resume(bench: Path, n: int, concurrency: int, workdir: Path) -> dict[str, float]:
    key = {row["question"]: row["answer"] for row in (json.loads(line) for line in bench.read_text().splitlines())}
    with FakeChatServer({"fake": 0.7}, key, latency_s=0.02, lifetime_s=600) as server:
        cache = Path(tempfile.mkdtemp(dir=workdir)) / "chat.sqlite"
        config = config_for(server.base_url, bench, cache, concurrency)
        args = {
            "benchmark": config["benchmarks"][0],
            "endpoint": config["endpoints"][0],
            "collection": config["collection"],
            "output": str(cache.parent / "run"),
        }
        child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)])
        deadline = time.monotonic() + 300
        while cached_rows(cache) < n // 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait()
        time.sleep(0.2)  # let the server finish the answers in flight (they were paid for)
        answered, kept = server.count, cached_rows(cache)
        server.count = 0
        result = collect(
            benchmark=config["benchmarks"][0],
            endpoint=config["endpoints"][0],
            collection=config["collection"],
            output=cache.parent / "run",
            progress=False,
        )
        assert result.requested == n - kept == server.count, (result, kept, server.count)
    return {
        "answered_before_kill": answered,
        "kept_in_cache": kept,
        "lost": answered - kept,
        "resumed_requests": result.requested,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="questions per run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    out: dict[str, Any] = {"machine": machine_info(), "n": args.n, "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bench = workdir / "bench.jsonl"
        rows = write_benchmark(bench, args.n)
        throughput = []
        for latency in (0.0, 0.05):
            server = ServerProcess(bench, latency)
            try:
                run_once(server.base_url, bench, 8, workdir)  # warm-up: imports, first connections
                for concurrency in (8, 32):
                    runs = [run_once(server.base_url, bench, concurrency, workdir) for _ in range(args.repeats)]
                    throughput.append(
                        {
                            "answer_delay_ms": latency * 1000,
                            "concurrency": concurrency,
                            "req_per_s_median": statistics.median(r["req_per_s"] for r in runs),
                            "req_per_s_best": max(r["req_per_s"] for r in runs),
                            "client_cpu_ms_per_req_median": statistics.median(r["client_cpu_ms_per_req"] for r in runs),
                            "load_1min": load_average()[0],
                        }
                    )
                if latency == 0.0:
                    out["bare_http_cpu_ms_per_req"] = statistics.median(
                        bare_http(server.base_url, [render(r) for r in rows[:500]]) for _ in range(args.repeats)
                    )
            finally:
                server.stop()
        out["throughput"] = throughput
        out["kill_and_resume"] = [{"concurrency": c, **kill_and_resume(bench, args.n, c, workdir)} for c in (8, 32)]
    print_table(pd.DataFrame(out["throughput"]), f"collect throughput, {args.n} questions, median of {args.repeats}")
    print(
        f"\nbare chat client (HTTP layer + answer check, sequential): {out['bare_http_cpu_ms_per_req']:.3f} CPU ms per request"
    )
    print_table(pd.DataFrame(out["kill_and_resume"]), "kill (SIGKILL at half) and resume")
    write_json(out, RESULTS / "collect.json")


def render(row: dict[str, Any]) -> str:
    return row["question"] + "\n\n" + "\n".join(f"{'ABCD'[i]}) {c}" for i, c in enumerate(row["choices"]))


if __name__ == "__main__":
    main()
