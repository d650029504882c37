"""End to end: snakemake collects from a local fake endpoint, then grades, prices, sweeps and plots."""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from avengers_pro.records import ingest
from avengers_pro.testing.fake_chat_server import FakeChatServer
from avengers_pro.testing.workflow_runs import planned_jobs, run_snakemake
from avengers_pro.testing.workflow_runs import snakemake as run_snakemake_ok

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

KEY_ENV = "E2E_CHAT_KEY"
API_KEY = "sk-e2e-3c2b1a-SHOULD-STAY-IN-ENV"
N = 30
CHOICE: list[dict[str, Any]] = [
    {
        "id": i,
        "question": f"Item {i}: which shape has {3 + i % 5} corners and colour number {i}?",
        "choices": ["triangle", "square", "pentagon", "heptagon"],
        "answer": "ABCD"[(i * 5) % 4],
    }
    for i in range(N)
]
NUMBER: list[dict[str, Any]] = [
    {
        "id": f"n{i}",
        "question": f"A farmer has {i + 2} fields with {i % 7 + 1} cows each. How many cows?",
        "answer": str((i + 2) * (i % 7 + 1)),
    }
    for i in range(N)
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeChatServer]:
    key = {str(q["question"]): str(q["answer"]) for q in CHOICE + NUMBER}
    with FakeChatServer(
        {"tiny": 0.35, "huge": 0.9, "medium": 0.7},
        key,
        api_key=API_KEY,
        retry_after=0.0,
        lifetime_s=600,
        max_requests=2000,
    ) as fake:
        yield fake


ENV = {KEY_ENV: API_KEY, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}


def snakemake(workdir: Path, *args: str) -> str:
    return run_snakemake_ok(workdir, *args, env=ENV)


def planned(workdir: Path) -> dict[str, int]:
    return planned_jobs(workdir, env=ENV)


def endpoint(name: str, model: str, server: FakeChatServer, **more: Any) -> dict[str, Any]:
    return {"name": name, "base_url": server.base_url, "model": model, "api_key_env": KEY_ENV, **more}


@pytest.fixture(scope="module")
def built(server: FakeChatServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    workdir = tmp_path_factory.mktemp("collect") / "work"
    (workdir / "data").mkdir(parents=True)
    (workdir / "data/shapes.jsonl").write_text("\n".join(json.dumps(q) for q in CHOICE) + "\n")
    pd.DataFrame(NUMBER).to_csv(workdir / "data/farm.csv", index=False)
    config = {
        "sources": [],
        "benchmarks": [
            {"name": "shapes", "path": "data/shapes.jsonl", "grader": "choice"},
            {"name": "farm", "path": "data/farm.csv", "grader": "number"},
        ],
        "endpoints": [
            endpoint("tiny-model", "tiny", server, price={"input": 0.1, "output": 0.4}),
            endpoint("huge-model", "huge", server, price={"input": 3.0, "output": 15.0}),
        ],
        "collection": {"cache": "cache/chat.sqlite", "retry_backoff": 0.01},
        "embedding": {"cache": "cache/embeddings.sqlite"},
        "split": {"seeds": [0]},
        "clustering": {"n_clusters": [2], "n_init": 2},
        "sweep": {"alphas": {"start": 0.0, "stop": 1.0, "num": 11}},
        "evaluation": {"bootstrap_resamples": 20},
        "plots": {
            "main": {"variant": "official", "n_clusters": 2},
            "usage_alphas": [0.0, 1.0],
            "table_alphas": [0.0, 1.0],
        },
        "export": [],
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    server.faults = ["429", "500", "drop"]  # met on the way, retried, invisible in the records
    before = server.count
    output = snakemake(workdir)
    return workdir, output, server.count - before


def test_two_fake_models_are_collected_graded_priced_swept_and_plotted(built: tuple[Path, str, int]) -> None:
    workdir, output, requests = built
    assert requests == 2 * 2 * N + 3  # every question once per model, plus one retry per fault
    records = pd.read_parquet(workdir / "results/records.parquet")
    assert set(records["model"]) == {"tiny-model", "huge-model"} and set(records["dataset"]) == {"shapes", "farm"}
    assert records["query_id"].nunique() == 2 * N
    accuracy = records.groupby("model")["score"].mean()
    assert accuracy["huge-model"] > accuracy["tiny-model"]  # the fake accuracy profiles show through
    cost = records.groupby("model")["cost"].mean()
    assert cost["huge-model"] > 10 * cost["tiny-model"]  # priced by tokens x price per 1M tokens
    summary = pd.read_csv(workdir / "results/summary.csv")
    assert {"avengers-pro", "tiny-model", "huge-model"} <= set(summary["method"])
    for figure in ("pareto", "headline", "alpha_sweep", "model_usage"):
        assert (workdir / f"figures/{figure}.png").stat().st_size > 1000
    (path,) = (workdir / "results/collected/bench/shapes/test/huge-model").glob("shapes-test-huge-model-*.json")
    collected = json.loads(path.read_text())
    assert collected["counts"] == N and collected["extra_metrics"]["failed"] == []
    # the progress lines on the console: done/total and the rate
    assert re.search(rf"collect huge-model x shapes: {N}/{N} requests \(100%\), [0-9.,]+/s", output)


def test_rerun_sends_no_request(built: tuple[Path, str, int], server: FakeChatServer) -> None:
    workdir, _, _ = built
    before = server.count
    assert planned(workdir) == {}
    # Even a forced collect job answers from the cache.
    snakemake(workdir, "--force", "results/collected/bench/farm/test/tiny-model")
    assert server.count == before


def test_a_missing_benchmark_file_is_one_line_before_any_job(built: tuple[Path, str, int]) -> None:
    workdir, _, _ = built
    benchmark = workdir / "data/farm.csv"
    kept = benchmark.read_bytes()
    benchmark.unlink()
    try:
        # The records of the earlier run are still there: they must not hide the missing file.
        done = run_snakemake(workdir, "--dry-run", env=ENV)
    finally:
        benchmark.write_bytes(kept)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Error: config: benchmarks[1].path: data/farm.csv: no such file" in output
    assert "MissingInputException" not in output and "Traceback" not in output


def test_an_overlay_switches_the_router_families_off(built: tuple[Path, str, int], tmp_path: Path) -> None:
    workdir, _, _ = built
    path = workdir / "config.yaml"
    original = path.read_text()
    config = yaml.safe_load(original)
    config["families"] = {"knn": {"n_neighbors": [5]}}
    path.write_text(yaml.safe_dump(config))
    overlay = tmp_path / "off.yaml"
    overlay.write_text("families: {}\n")
    try:
        with_families = run_snakemake(workdir, "--dry-run", "--forceall", env=ENV)
        without = run_snakemake(workdir, "--dry-run", "--forceall", "--configfile", str(overlay), env=ENV)
    finally:
        path.write_text(original)
    assert re.search(r"^family_route\s+1$", with_families.stdout, re.MULTILINE), with_families.stdout[-3000:]
    assert without.returncode == 0, without.stderr[-3000:]
    assert "family_route" not in without.stdout and "leaderboard" not in without.stdout


def test_a_third_model_runs_only_its_collect_jobs_and_downstream(
    built: tuple[Path, str, int], server: FakeChatServer
) -> None:
    workdir, _, _ = built
    path = workdir / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["endpoints"].append(endpoint("medium-model", "medium", server, price={"input": 1.0, "output": 2.0}))
    path.write_text(yaml.safe_dump(config))
    jobs = planned(workdir)
    assert jobs["collect"] == 2  # one per benchmark, for the new model only
    assert {"ingest", "embed", "split", "sweep", "plot_summary"} <= set(jobs)
    before = dict(server.per_model)
    snakemake(workdir)
    assert server.per_model["medium"] - before.get("medium", 0) == 2 * N
    assert server.per_model["tiny"] == before["tiny"] and server.per_model["huge"] == before["huge"]
    records = pd.read_parquet(workdir / "results/records.parquet")
    assert records["model"].nunique() == 3


def test_the_key_is_found_in_no_output(built: tuple[Path, str, int]) -> None:
    workdir, output, _ = built
    assert API_KEY not in output
    files = [p for p in workdir.rglob("*") if p.is_file()]  # results, logs, caches, snakemake's metadata
    assert any(p.name == "chat.sqlite" for p in files)
    for path in files:
        assert API_KEY.encode() not in path.read_bytes(), path


def test_collected_tree_and_its_tarball_ingest_identically(built: tuple[Path, str, int], tmp_path: Path) -> None:
    workdir, _, _ = built
    archive = tmp_path / "bench-release.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(workdir / "results/collected", arcname="results/bench")
    tree = ingest([{"name": "x", "format": "llmrouterbench", "path": str(workdir / "results/collected")}])
    packed = ingest([{"name": "x", "format": "llmrouterbench", "path": str(archive)}])
    pd.testing.assert_frame_equal(tree[0], packed[0])
    pd.testing.assert_frame_equal(tree[1], packed[1])
