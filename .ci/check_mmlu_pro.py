"""CI: check the outputs of the MMLU-Pro overlay on its CI subset (.ci/mmlu-pro-subset.yaml)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from avengers_pro.outputs import read_leaderboard, read_metrics, read_summary, single_models

problems: list[str] = []


def check(condition: bool, message: str) -> None:
    if not condition:
        problems.append(message)


records = pd.read_parquet("results/records.parquet")
report = json.loads(Path("results/ingest_report.json").read_text())
check(sorted(records["dataset"].unique()) == ["mmlu-pro/history", "mmlu-pro/math", "mmlu-pro/philosophy"], "datasets")
check(records["model"].nunique() == 11, "expected 11 models")
check(report["sources"]["DeepSeek-Coder-V2"]["entries_not_records"] == 43, "the 43 plain strings were not counted")
check(records["cost"].gt(0).all(), "every record is priced by its tokens")
check(records["input_tokens"].notna().all() and records["output_tokens"].notna().all(), "token counts")
summary = read_summary("results/summary.csv")
models = single_models(summary).set_index("method")
check(models["accuracy"].idxmax() in {"Llama-3.1-70B-Instruct", "DeepSeek-Coder-V2"}, "best single model")
metrics = read_metrics("results/metrics.json")
check(any(m["method"] == "avengers-pro" for m in metrics), "no Avengers-Pro entry in metrics.json")
leaderboard = read_leaderboard("results/leaderboard.csv")
check(len(leaderboard) >= 4, "leaderboard too short")
for name in ("default", "best"):
    check(Path(f"results/exports/{name}/manifest.json").is_file(), f"router {name} not exported")
for figure in ("pareto", "headline", "families"):
    check(Path(f"figures/{figure}.png").is_file(), f"figure {figure} missing")

if problems:
    print("MMLU-Pro outputs: FAILED\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"MMLU-Pro outputs: OK ({len(records['query_id'].unique())} queries, {len(summary)} summary rows)")
