"""Ingestion of the six real RouterBench files (skipped when they are not on this machine)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from avengers_pro.records import ingest

REPO = Path(__file__).resolve().parents[1]
FILES = (
    "arc_challenge_train",
    "arc_challenge_test",
    "mbpp_train",
    "mbpp_test",
    "winograde_train",
    "winograde_test",
)
# This checkout's data/routerbench/ (where the pipeline puts the files) when it has all six, else the
# copy that CI machines keep beside the checkout.
FOLDERS = (REPO / "data" / "routerbench", REPO.parent / "shared" / "data" / "routerbench")
ROUTERBENCH = next(
    (folder for folder in FOLDERS if all((folder / f"{name}.csv").is_file() for name in FILES)), FOLDERS[0]
)

pytestmark = pytest.mark.skipif(
    not all((ROUTERBENCH / f"{name}.csv").is_file() for name in FILES),
    reason=f"the six real RouterBench files are not in {FOLDERS[0]} (run the pipeline once to download them)",
)


def real_sources() -> list[dict[str, Any]]:
    """The default config's sources (with their sha256), pointed at the shared copies."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    by_file = {Path(source["path"]).stem: source for source in config["sources"]}
    return [{**by_file[name], "path": str(ROUTERBENCH / f"{name}.csv")} for name in FILES]


@pytest.fixture(scope="module")
def ingested() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    return ingest(real_sources(), missing="drop-query")


def test_counts(ingested: tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]) -> None:
    records, queries, report = ingested
    print(json.dumps({k: v for k, v in report.items() if k != "sources"}, indent=1, sort_keys=True))
    assert sum(source["rows"] for source in report["sources"].values()) == 3178
    assert report["datasets"] == ["arc-challenge", "mbpp", "winogrande"]
    assert len(report["models"]) == 11 and records["model"].nunique() == 11
    # 3,164 sample_ids: 14 are split over two rows (merged), 2 MBPP ids repeat another id's prompt (dropped).
    assert report["merged"]["queries_from_several_rows"] == 14
    assert report["dropped"]["rows_duplicate_prompt_other_id"] == 2
    assert report["dropped"]["queries_missing_some_models"] == 0
    assert report["dropped"]["queries_missing_all_models"] == 0
    assert len(queries) == report["queries"] == 3162
    assert report["queries_per_dataset"] == {"arc-challenge": 1470, "mbpp": 425, "winogrande": 1267}
    assert len(records) == 3162 * 11
    assert queries["query_id"].is_unique and queries["prompt"].is_unique


def test_clean_values(ingested: tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]) -> None:
    records, queries, _ = ingested
    assert (
        not records.drop(columns=["input_tokens", "output_tokens"]).isna().any().any()
        and not queries.isna().any().any()
    )
    assert set(np.unique(records["score"])) <= {0.0, 1.0}
    assert (records["cost"] > 0).all()
    # The README's figures over all prompts, close to ours (two MBPP prompts fewer).
    gpt4 = records[records["model"] == "gpt-4-1106-preview"]
    assert gpt4["score"].mean() == pytest.approx(0.880, abs=0.002)
    assert gpt4["cost"].sum() == pytest.approx(15.92, rel=0.01)


def test_query_is_the_question(ingested: tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]) -> None:
    _, queries, report = ingested
    removed = report["sources"]["arc_challenge_train"]["few_shot_blocks_removed"]
    assert removed == {"arc-challenge": 5}
    assert report["sources"]["winograde_test"]["few_shot_blocks_removed"] == {"winogrande": 10}
    assert report["sources"]["mbpp_train"]["few_shot_blocks_removed"] == {"mbpp": 0}
    for dataset in ("arc-challenge", "winogrande"):
        subset = queries[queries["dataset"] == dataset]
        assert (subset["query"] != subset["prompt"]).all()
        assert all(p.endswith(q) for p, q in zip(subset["prompt"], subset["query"]))
        assert not subset["query"].str.contains("\n\n").any()
        # No solved example is left: a few-shot answer line is "Answer:" followed by the letter.
        assert not subset["query"].str.contains(r"Answer:\s*\n[A-D]\b", regex=True).any()
        assert subset["query"].str.contains(r"\nA\) ", regex=True).all()
        assert subset["query"].str.rstrip().str.endswith("Answer:").all()
        assert subset["query"].nunique() == len(subset)
    arc = queries[queries["dataset"] == "arc-challenge"]
    assert arc["query"].str.contains(r"\nB\) .*\nC\) ", regex=True).all()  # ARC has 3 to 5 options
    wino = queries[queries["dataset"] == "winogrande"]
    assert wino["query"].str.contains("_").all()
    assert not wino["query"].str.startswith("Please answer").any()
    mbpp = queries[queries["dataset"] == "mbpp"]
    assert (mbpp["query"] == mbpp["prompt"]).all()
    assert re.match(r"^Write a ", mbpp["query"].iloc[0])


def test_missing_policies_agree_on_complete_data(
    ingested: tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]],
) -> None:
    # After merging the split rows nothing is missing, so "zero" changes nothing either.
    records, _, report = ingest(real_sources(), missing="zero")
    pd.testing.assert_frame_equal(records, ingested[0])
    assert report["changed"]["records_zero_filled"] == 0
