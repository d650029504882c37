"""The llmrouterbench input format: a results tree, one file, or the release tarball read in place."""

from __future__ import annotations

import json
import os
import re
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from avengers_pro.errors import DataError
from avengers_pro.formats.llmrouterbench import (
    freshness,
    read_llmrouterbench,
    write_result_file,
)
from avengers_pro.records import ingest, read_source


def result(
    dataset: str,
    split: str,
    model: str,
    scores: list[float | None],
    *,
    cost: float | None = 0.001,
    demo: bool = False,
    prefix: str = "",
) -> dict[str, Any]:
    records = []
    for i, score in enumerate(scores):
        record: dict[str, Any] = {
            "index": i,
            "origin_query": f"{prefix}{dataset} question {i}",
            "prompt": f"Solve: {dataset} question {i}\nAnswer: $LETTER",
            "prediction": "A",
            "raw_output": "Answer: A",
            "ground_truth": "A",
            "score": score,
            "prompt_tokens": 10,
            "completion_tokens": 3,
        }
        if cost is not None:
            record["cost"] = cost
        records.append(record)
    return {
        "dataset_name": dataset,
        "split": split,
        "model_name": model,
        "performance": 0.5,
        "time_taken": 1.0,
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "cost": 0.01,
        "counts": len(records),
        "demo": demo,
        "records": records,
    }


def write(root: Path, relative: str, payload: Any, mtime: int | None = None) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A small release-like tree: 2 datasets x 2 models, an older run, a demo run, a stray JSON file."""
    root = tmp_path / "results" / "bench"
    write(root, "aime/hybrid/gpt-5/20250901_120000.json", result("aime", "hybrid", "gpt-5", [1, 0, 1]))
    # An older run of the same triple, with other scores: must be ignored.
    write(root, "aime/hybrid/gpt-5/20250801_090000.json", result("aime", "hybrid", "gpt-5", [0, 0, 0]))
    write(root, "aime/hybrid/glm-4.6/20250902_000000.json", result("aime", "hybrid", "glm-4.6", [1, None, 0]))
    write(root, "gpqa/test/gpt-5/20250903_000000.json", result("gpqa", "test", "gpt-5", [1, 1], cost=0.02))
    write(root, "gpqa/test/glm-4.6/20250903_000000.json", result("gpqa", "test", "glm-4.6", [0, 1], cost=0.004))
    write(root, "gpqa/test/glm-4.6/20250904_000000.json", result("gpqa", "test", "glm-4.6", [1, 1], demo=True))
    write(root, "summary.json", {"note": "not a result file"})
    return root


def tarball(tree: Path, path: Path) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        archive.add(tree.parent, arcname="results")  # unpacks to results/bench/..., as the release does
    return path


def test_tree_keeps_the_latest_run_and_reads_every_field(tree: Path) -> None:
    frame, notes = read_llmrouterbench(tree)
    assert (
        notes["files_read"],
        notes["files_kept"],
        notes["files_older"],
        notes["files_demo"],
        notes["files_not_results"],
    ) == (7, 4, 1, 1, 1)
    assert notes["null_scores"] == 1
    gpt5 = frame[(frame["model"] == "gpt-5") & (frame["dataset"] == "aime")]
    assert gpt5["score"].tolist() == [1.0, 0.0, 1.0]  # the 20250901 run, not the older all-zero one
    glm = frame[(frame["model"] == "glm-4.6") & (frame["dataset"] == "gpqa")]
    assert glm["score"].tolist() == [0.0, 1.0]  # the demo run is skipped
    assert frame["query_id"].iloc[0] == "aime/hybrid/0"  # <dataset>/<split>/<index>
    assert frame["query"].iloc[0] == "aime question 0"  # origin_query is the text that gets embedded
    assert frame["prompt"].iloc[0].startswith("Solve:")


def test_tree_and_tarball_give_identical_records(tree: Path, tmp_path: Path) -> None:
    archive = tarball(tree, tmp_path / "bench-release.tar.gz")
    from_tree = read_source({"name": "x", "format": "llmrouterbench", "path": str(tree)})
    from_tar = read_source({"name": "x", "format": "llmrouterbench", "path": str(archive)})
    pd.testing.assert_frame_equal(from_tree, from_tar)
    records_tree, queries_tree, _ = ingest(
        [{"name": "x", "format": "llmrouterbench", "path": str(tree)}], missing="zero"
    )
    records_tar, queries_tar, report = ingest(
        [{"name": "x", "format": "llmrouterbench", "path": str(archive)}], missing="zero"
    )
    pd.testing.assert_frame_equal(records_tree, records_tar)
    pd.testing.assert_frame_equal(queries_tree, queries_tar)
    assert report["sources"]["x"]["kept_files"]["aime/hybrid/gpt-5"].endswith("gpt-5/20250901_120000.json")


def test_the_tarball_is_never_unpacked(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tarball(tree, tmp_path / "bench-release.tar.gz")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    read_llmrouterbench(archive)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(("missing", "queries", "aime_glm_score"), [("drop-query", 4, None), ("zero", 5, 0.0)])
def test_null_scores_follow_the_missing_policy(
    tree: Path, missing: str, queries: int, aime_glm_score: float | None
) -> None:
    records, _, _report = ingest([{"name": "x", "format": "llmrouterbench", "path": str(tree)}], missing=missing)
    assert records["query_id"].nunique() == queries
    cell = records[(records["query_id"] == "aime/hybrid/1") & (records["model"] == "glm-4.6")]["score"].tolist()
    assert cell == ([] if aime_glm_score is None else [aime_glm_score])


def test_latest_by_file_name_timestamp_then_by_modification_time(tmp_path: Path) -> None:
    assert freshness("20250101_000000.json", 0) > freshness("records.json", 2_000_000_000)
    write(tmp_path, "d/test/m/old.json", result("d", "test", "m", [0, 0]), mtime=1_700_000_000)
    write(tmp_path, "d/test/m/new.json", result("d", "test", "m", [1, 1]), mtime=1_700_000_100)
    frame, _ = read_llmrouterbench(tmp_path)
    assert frame["score"].tolist() == [1.0, 1.0]


def test_identity_falls_back_to_the_folders(tmp_path: Path) -> None:
    payload = result("ignored", "x", "y", [1])
    for key in ("dataset_name", "split", "model_name"):
        del payload[key]
    write(tmp_path, "mmlupro/test_3000/intern-s1/20250101_000000.json", payload)
    frame, notes = read_llmrouterbench(tmp_path)
    assert (frame["dataset"].iloc[0], frame["model"].iloc[0]) == ("mmlupro", "intern-s1")
    assert list(notes["kept_files"]) == ["mmlupro/test_3000/intern-s1"]


def test_missing_cost_needs_a_price_fallback(tmp_path: Path) -> None:
    write(tmp_path, "d/test/m/20250101_000000.json", result("d", "test", "m", [1, 0], cost=None))
    source = [{"name": "x", "format": "llmrouterbench", "path": str(tmp_path)}]
    with pytest.raises(DataError, match="field 'cost'"):
        ingest(source)
    records, _, _ = ingest(source, prices={"m": 0.5})
    assert records["cost"].tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p["records"][1].update(score=1.5), r"row 2: field 'score': score 1.5 is outside \[0, 1\]"),
        (lambda p: p["records"][0].update(score="yes"), "row 1: field 'score': expected a number or null"),
        (lambda p: p["records"][0].update(cost=-1), "row 1: field 'cost': cost -1.0 is negative"),
        (lambda p: p["records"][0].pop("index"), "row 1: field 'index'"),
        (lambda p: p["records"][0].update(origin_query="", prompt=None), "both origin_query and prompt are empty"),
    ],
)
def test_bad_records_name_the_file_the_record_and_the_field(tmp_path: Path, mutate: Any, message: str) -> None:
    payload = result("d", "test", "m", [1, 0])
    mutate(payload)
    path = write(tmp_path, "d/test/m/20250101_000000.json", payload)
    with pytest.raises(DataError, match=message) as info:
        read_llmrouterbench(tmp_path)
    assert str(path) in str(info.value)


def test_a_bad_member_of_a_tarball_is_named(tmp_path: Path) -> None:
    tree = tmp_path / "results" / "bench"
    write(tree, "d/test/m/20250101_000000.json", result("d", "test", "m", [1]))
    (tree / "d/test/m/20250102_000000.json").write_text("{not json")
    archive = tarball(tree, tmp_path / "bench-release.tar.gz")
    with pytest.raises(
        DataError, match=r"bench-release.tar.gz:results/bench/d/test/m/20250102_000000.json: not a readable JSON"
    ):
        read_llmrouterbench(archive)


def test_not_a_tree_nor_a_tarball(tmp_path: Path) -> None:
    bogus = tmp_path / "bench-release.tar.gz"
    bogus.write_bytes(b"not an archive")
    with pytest.raises(DataError, match="expected a results folder"):
        read_llmrouterbench(bogus)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no LLMRouterBench result file"):
        read_llmrouterbench(empty)


def written_like_llmrouterbench(base: Path, dataset: str, split: str, model: str, scores: list[float]) -> Path:
    """A result file laid out exactly as LLMRouterBench's storage writes one: its folder and file name,
    its top-level keys (extra_metrics and data_fingerprint included), records with extra_fields, a
    1-based integer index, indent 2 and non-ASCII text kept."""
    payload = result(dataset, split, model, scores)
    payload["extra_metrics"] = {"mean_latency": 1.5}
    payload["data_fingerprint"] = "0" * 64
    for position, record in enumerate(payload["records"], start=1):
        record["index"] = position
        record["extra_fields"] = {"finish_reason": "stop"}
        record["origin_query"] += " – café"
    path = base / "bench" / dataset / split / model / f"{dataset}-{split}-{model}-20251001_120000.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_file_written_as_llmrouterbench_writes_it_is_read(tmp_path: Path) -> None:
    written_like_llmrouterbench(tmp_path, "mmlupro", "test_3000", "gpt-5", [1.0, 0.0, 1.0])
    frame, notes = read_llmrouterbench(tmp_path / "bench")
    assert frame["query_id"].tolist() == ["mmlupro/test_3000/1", "mmlupro/test_3000/2", "mmlupro/test_3000/3"]
    assert frame["score"].tolist() == [1.0, 0.0, 1.0]
    assert frame["query"].iloc[0].endswith("– café")
    assert notes["files_kept"] == 1


# What LLMRouterBench's loader accepts (the fields of its BenchmarkResult and RecordResult), and the
# file name its collector looks for in <base>/bench/<dataset>/<split>/<model>/.
LOADER_RESULT_FIELDS = {
    "performance",
    "time_taken",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "counts",
    "model_name",
    "dataset_name",
    "split",
    "records",
    "demo",
    "extra_metrics",
}
LOADER_RECORD_FIELDS = {
    "index",
    "origin_query",
    "prompt",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "score",
    "prediction",
    "ground_truth",
    "raw_output",
    "extra_fields",
}


def test_our_files_are_what_llmrouterbench_loads_and_lists(tmp_path: Path) -> None:
    records = [
        {
            "index": i,
            "origin_query": f"q{i}",
            "prompt": f"p{i}",
            "prediction": "A",
            "raw_output": "Answer: A",
            "ground_truth": "A",
            "score": float(i % 2),
            "prompt_tokens": 5,
            "completion_tokens": 2,
            "cost": 0.25,
            "extra_fields": {"finish_reason": "stop"},
        }
        for i in range(1, 5)
    ]
    folder = tmp_path / "bench" / "d" / "test" / "m"
    stale = write(folder, "d-test-m-20000101_000000.json", result("d", "test", "m", [0]))
    path = write_result_file(
        folder, dataset="d", split="test", model="m", records=records, time_taken=2.5, extra_metrics={"x": 1}
    )
    assert not stale.exists()  # the folder keeps one run: the new one
    assert list(folder.glob("d-test-m-*.json")) == [path]  # the collector's glob finds it
    assert re.fullmatch(r"d-test-m-\d{8}_\d{6}\.json", path.name)
    data = json.loads(path.read_text())
    assert set(data) == LOADER_RESULT_FIELDS  # its loader refuses any other top-level key
    assert all(set(r) == LOADER_RECORD_FIELDS for r in data["records"])
    assert [r["index"] for r in data["records"]] == [1, 2, 3, 4]
    assert (data["performance"], data["cost"], data["counts"], data["prompt_tokens"]) == (0.5, 1.0, 4, 20)
    assert data["extra_metrics"] == {"x": 1} and data["demo"] is False
    frame, _ = read_llmrouterbench(folder)
    assert frame["score"].tolist() == [1.0, 0.0, 1.0, 0.0] and frame["query"].tolist() == ["q1", "q2", "q3", "q4"]


def test_splits_of_one_dataset_never_collide_and_can_be_selected(tmp_path: Path) -> None:
    written_like_llmrouterbench(tmp_path, "mmlupro", "test", "m", [1.0, 1.0])
    written_like_llmrouterbench(tmp_path, "mmlupro", "test_3000", "m", [0.0, 0.0])
    frame, _ = read_llmrouterbench(tmp_path)
    assert frame["query_id"].nunique() == 4 and frame["score"].sum() == 2.0
    chosen, notes = read_llmrouterbench(tmp_path, splits=["test_3000"])
    assert chosen["query_id"].tolist() == ["mmlupro/test_3000/1", "mmlupro/test_3000/2"]
    assert notes["files_other_split"] == 1
    from_source = read_source({"name": "x", "format": "llmrouterbench", "path": str(tmp_path), "splits": ["test"]})
    assert from_source["query_id"].str.startswith("mmlupro/test/").all()
    with pytest.raises(
        DataError, match=r"split\(s\) v1 listed in splits: but in no result file \(found: test, test_3000\)"
    ):
        read_llmrouterbench(tmp_path, splits=["test", "v1"])


# --------------------------------------------------------------------------- config/paper.yaml


ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def paper_config() -> dict[str, Any]:
    """config.yaml with config/paper.yaml over it, as ``snakemake --configfile config/paper.yaml`` builds it."""
    import yaml
    from snakemake.utils import update_config

    from avengers_pro.config import validate_config

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    update_config(config, yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()))
    return validate_config(config, SCHEMA)


RELEASE_SPLITS = {"arc-agi": "v1", "aime": "hybrid", "mmlupro": "test_3000", "swe-bench": "verified"}


def release_tarball(tmp_path: Path, models: list[str], datasets: list[str]) -> Path:
    """A release-like archive: the overlay's datasets in their splits, datasets it leaves out, and
    HLE's subset_500 split (a subset of test, with other scores)."""
    tree = tmp_path / "results" / "bench"
    runs = [(d, RELEASE_SPLITS.get(d, "test")) for d in [*datasets, "aime", "mmlupro", "swe-bench"]]
    for dataset, split in [*runs, ("hle", "subset_500")]:
        for j, model in enumerate([*models, "claude-sonnet-4"]):
            scores: list[float | None] = [float((i + j + len(split)) % 2) for i in range(4)]
            write(tree, f"{dataset}/{split}/{model}/20251001_000000.json", result(dataset, split, model, scores))
    return tarball(tree, tmp_path / "bench-release.tar.gz")


def test_paper_overlay_selects_the_intersection_from_the_tarball(tmp_path: Path) -> None:
    config = paper_config()
    assert [s["format"] for s in config["sources"]] == ["llmrouterbench"]
    assert len(config["models"]) == 6 and len(config["datasets"]) == 6 and config["missing"] == "zero"
    assert "arc-agi" in config["datasets"]
    assert config["sources"][0]["splits"] == ["test", "hybrid", "v1", "test_3000", "verified"]
    archive = release_tarball(tmp_path, config["models"], config["datasets"])
    source = {**config["sources"][0], "path": str(archive)}
    records, queries, _ = ingest(
        [source], models=config["models"], datasets=config["datasets"], missing=config["missing"]
    )
    assert sorted(records["model"].unique()) == sorted(config["models"])
    assert sorted(queries["dataset"].unique()) == sorted(config["datasets"])
    assert not queries["query_id"].str.contains("subset_500").any()  # HLE's subset is not read twice
    assert queries["query_id"].str.startswith("arc-agi/v1/").sum() == 4


def test_paper_overlay_names_what_it_found_when_the_release_differs(tmp_path: Path) -> None:
    config = paper_config()
    renamed = ["GPT-5" if m == "gpt-5" else m for m in config["models"]]
    archive = release_tarball(tmp_path, renamed, config["datasets"])
    source = {**config["sources"][0], "path": str(archive)}
    with pytest.raises(
        DataError, match=r"'gpt-5' listed in the config but absent from the data \(found: GPT-5, "
    ) as info:
        ingest([source], models=config["models"], datasets=config["datasets"], missing=config["missing"])
    assert "\n" not in str(info.value)
