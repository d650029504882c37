"""Tests of avengers_pro.plots.tables: rows, columns, bold marks, Markdown and LaTeX output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from avengers_pro import outputs
from avengers_pro.errors import DataError
from avengers_pro.plots import tables

BASELINES = ("dataset-router", "random", "oracle", "best-score-oracle", "dataset-oracle")


def row(
    method: str,
    accuracies: tuple[float, float],
    cost: float,
    variant: str = "",
    k: float = np.nan,
    alpha: float = np.nan,
    family: str = "",
) -> dict:
    kind = "router" if family else "baseline" if method in BASELINES else "model"
    return {
        "method": method,
        "kind": kind,
        "family": family,
        "hyperparameters": "k=5 (seeds 0, 1, 2)" if family and family != "avengers-pro" else "",
        "variant": variant,
        "n_clusters": k,
        "alpha": alpha,
        "max_router": 1,
        "accuracy": float(np.mean(accuracies)),
        "accuracy_sd": 0.0,
        "cost": cost,
        "cost_sd": 0.0,
        "n_seeds": 3,
        "accuracy_arc_c": accuracies[0],
        "accuracy_mbpp": accuracies[1],
    }


@pytest.fixture
def summary() -> pd.DataFrame:
    rows = [
        row("avengers-pro", (0.50, 0.40), 0.02, "official", 4, 0.0, "avengers-pro"),
        row("avengers-pro", (0.70, 0.60), 0.30, "official", 4, 0.5, "avengers-pro"),
        row("avengers-pro", (0.90, 0.70), 2.00, "official", 4, 1.0, "avengers-pro"),
        row("avengers-pro", (0.99, 0.99), 0.01, "paper", 4, 1.0, "avengers-pro"),  # another variant: never in the table
        row("knn", (0.99, 0.99), 0.01, alpha=1.0, family="knn"),  # a router family: not in Table 3 either
        row("dataset-router", (0.80, 0.80), 1.00, "official", alpha=1.0),
        row("random", (0.60, 0.50), 1.00),
        row("oracle", (0.99, 0.95), 0.01, alpha=1.0),  # the oracle's curve: not in Table 3
        row("best-score-oracle", (0.99, 0.95), 0.01),
        row("dataset-oracle", (0.92, 0.80), 3.00),
        row("zeta/small_model", (0.55, 0.45), 0.05),
        row("Alpha-Large", (0.90, 0.65), 4.00),
        row("mid", (0.75, 0.70), 0.80),
    ]
    return outputs.check_summary(pd.DataFrame(rows))


def test_build_table_has_the_expected_rows_and_columns(summary: pd.DataFrame) -> None:
    table = tables.build_table(summary, variant="official", n_clusters=4, alphas=[0.0, 0.4, 0.6, 1.0])
    assert list(table["setting"]) == [
        "Alpha-Large",
        "mid",
        "small_model",  # single models, alphabetical by printed name
        "random",
        "best-score oracle",
        "Avengers-Pro (α=0)",
        "Avengers-Pro (α=0.5)",
        "Avengers-Pro (α=1)",  # 0.4 and 0.6 both map to 0.5
    ]
    assert list(table.columns) == ["setting", "role", "alpha", "arc_c", "mbpp", "Avg.", "Cost"]
    small = table.set_index("setting").loc["small_model"]
    assert small["arc_c"] == pytest.approx(55.0) and small["Avg."] == pytest.approx(50.0)
    assert small["Cost"] == pytest.approx(0.05)


def test_bold_marks_the_best_of_each_column_without_the_oracle(summary: pd.DataFrame) -> None:
    table = tables.build_table(summary, variant="official", n_clusters=4, alphas=[0.0, 0.5, 1.0])
    bold = tables.bold_mask(table).set_axis(table["setting"])
    bold_rows = {column: sorted(bold.index[bold[column]]) for column in bold.columns}
    assert bold_rows == {
        # 90.00 twice: a tie is bold in both rows
        "arc_c": ["Alpha-Large", "Avengers-Pro (α=1)"],
        "mbpp": ["Avengers-Pro (α=1)", "mid"],
        "Avg.": ["Avengers-Pro (α=1)"],
        "Cost": ["Avengers-Pro (α=0)"],  # the oracle is cheaper but does not compete
    }


def test_markdown_carries_the_bold_marks_and_units(summary: pd.DataFrame) -> None:
    table = tables.build_table(summary, variant="official", n_clusters=4, alphas=[0.0, 1.0])
    text = tables.to_markdown(table, n_seeds=3)
    lines = text.splitlines()
    assert lines[0] == "| Setting | arc_c | mbpp | Avg. (%) | Cost (USD) |"
    assert lines[1] == "|---|---:|---:|---:|---:|"
    # the cheapest row costs $0.01, so costs get three decimals (two significant digits)
    assert "| Avengers-Pro (α=1) | **90.00** | **70.00** | **80.00** | $2.000 |" in lines
    assert "| Avengers-Pro (α=0) | 50.00 | 40.00 | 45.00 | **$0.020** |" in lines
    assert "| best-score oracle | 99.00 | 95.00 | 97.00 | $0.010 |" in lines
    assert "mean over 3 seeds" in text


def test_latex_escapes_names_and_uses_textbf(summary: pd.DataFrame) -> None:
    summary.loc[summary["method"] == "mid", "method"] = "mid_size & co"
    table = tables.build_table(summary, variant="official", n_clusters=4, alphas=[1.0])
    text = tables.to_latex(table)
    assert "\\begin{tabular}{lrrrr}" in text and "\\bottomrule" in text
    assert "Setting & arc\\_c & mbpp & Avg. (\\%) & Cost (USD) \\\\" in text
    assert "mid\\_size \\& co & 75.00 & \\textbf{70.00} & 72.50 & \\$0.800 \\\\" in text
    assert "Avengers-Pro ($\\alpha$=1) & \\textbf{90.00}" in text
    assert text.count("\\midrule") == 3  # after the header, the single models and the references


def test_missing_values_print_as_a_dash(summary: pd.DataFrame) -> None:
    summary.loc[summary["method"] == "mid", "accuracy_mbpp"] = np.nan
    table = tables.build_table(summary, variant="official", n_clusters=4, alphas=[1.0])
    assert "| mid | 75.00 | – |" in tables.to_markdown(table)
    assert "mid & 75.00 & -- &" in tables.to_latex(table)


def test_cost_decimals_show_the_cheapest_row() -> None:
    assert tables.cost_decimals(np.array([0.5, 4.0])) == 2
    assert tables.cost_decimals(np.array([0.054, 4.0])) == 3
    assert tables.cost_decimals(np.array([0.0004, 4.0])) == 5
    assert tables.cost_decimals(np.array([0.0, np.nan])) == 2


def test_build_table_needs_the_requested_sweep(summary: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="n_clusters 25"):
        tables.build_table(summary, variant="official", n_clusters=25, alphas=[1.0])
    with pytest.raises(DataError, match="accuracy_<dataset>"):
        tables.build_table(
            summary.drop(columns=["accuracy_arc_c", "accuracy_mbpp"]), variant="official", n_clusters=4, alphas=[1.0]
        )


def test_write_tables_writes_both_files(summary: pd.DataFrame, tmp_path: Path) -> None:
    tables.write_tables(
        summary, tmp_path / "table.md", tmp_path / "table.tex", variant="official", n_clusters=4, alphas=[0.0, 1.0]
    )
    markdown = (tmp_path / "table.md").read_text()
    latex = (tmp_path / "table.tex").read_text()
    assert markdown.count("\n| ") == 7  # the data rows: 3 single models, random, oracle, 2 Avengers-Pro
    assert "**" in markdown and "\\textbf{" in latex
    assert "mean over 3 seeds" in markdown


def test_common_dataset_prefix_is_stripped_at_a_separator() -> None:
    assert tables.strip_common_prefix(["mmlu_pro_law", "mmlu_pro_math"]) == (["law", "math"], "mmlu_pro_")
    assert tables.strip_common_prefix(["mmlu-pro/law", "mmlu-pro/lab"]) == (["law", "lab"], "mmlu-pro/")
    # No separator at the end of the shared part, a name that would be left empty, or a single name: kept.
    assert tables.strip_common_prefix(["arc", "arcade"]) == (["arc", "arcade"], "")
    assert tables.strip_common_prefix(["mmlu_", "mmlu_law"]) == (["mmlu_", "mmlu_law"], "")
    assert tables.strip_common_prefix(["mmlu_law"]) == (["mmlu_law"], "")


def many_datasets_summary(n_datasets: int) -> pd.DataFrame:
    names = [f"mmlu_pro_subject{i:02d}" for i in range(n_datasets)]
    rows = []
    for method, kind, variant, k, alpha, level in [
        ("avengers-pro", "router", "official", 4, 1.0, 0.8),
        ("random", "baseline", "", np.nan, np.nan, 0.5),
        ("best-score-oracle", "baseline", "", np.nan, np.nan, 0.99),
        ("strong", "model", "", np.nan, np.nan, 0.85),
        ("weak", "model", "", np.nan, np.nan, 0.4),
    ]:
        entry = {
            "method": method,
            "kind": kind,
            "family": "avengers-pro" if method == "avengers-pro" else "",
            "hyperparameters": "",
            "variant": variant,
            "n_clusters": k,
            "alpha": alpha,
            "max_router": 1,
            "accuracy": level,
            "accuracy_sd": 0.0,
            "cost": 1.0 + level,
            "cost_sd": 0.0,
            "n_seeds": 2,
        }
        entry.update({f"accuracy_{name}": level for name in names})
        rows.append(entry)
    return outputs.check_summary(pd.DataFrame(rows))


def test_many_datasets_give_a_transposed_table_that_fits_a_page() -> None:
    table = tables.build_table(many_datasets_summary(14), variant="official", n_clusters=4, alphas=[1.0])
    markdown = tables.to_markdown(table).splitlines()
    assert markdown[0] == "| Dataset | strong | weak | random | best-score oracle | Avengers-Pro (α=1) |"
    assert markdown[2].startswith("| subject00 | **85.00** | 40.00 | 50.00 | 99.00 | 80.00 |")
    assert markdown[2 + 14].startswith("| Avg. (%) |") and markdown[3 + 14].startswith("| Cost (USD) | $1.85 |")
    assert "mmlu_pro_" not in "\n".join(markdown[:-1])
    assert "without their common prefix 'mmlu_pro_'" in markdown[-1] and "per row" in markdown[-1]
    latex = tables.to_latex(table)
    assert "\\resizebox{\\textwidth}{!}{%" in latex and "\\rotatebox{90}{strong}" in latex
    assert "\\begin{tabular}{lrrrrr}" in latex and latex.rstrip().endswith("\\end{tabular}\n}".rstrip())


def test_a_few_datasets_keep_the_paper_layout() -> None:
    table = tables.build_table(many_datasets_summary(3), variant="official", n_clusters=4, alphas=[1.0])
    markdown = tables.to_markdown(table)
    assert markdown.startswith("| Setting | subject00 | subject01 | subject02 | Avg. (%) | Cost (USD) |")
    assert "\\resizebox" not in tables.to_latex(table)


def test_the_score_label_names_the_score_in_the_legends(summary: pd.DataFrame) -> None:
    table = tables.build_table(summary, variant="official", n_clusters=4, alphas=[1.0])
    for text in (tables.to_markdown(table, score_label="Win rate"), tables.to_latex(table, score_label="Win rate")):
        assert "Win rate in %" in text and "highest win rate" in text and "ccuracy" not in text
    assert "Accuracy in %" in tables.to_markdown(table) and "highest accuracy" in tables.to_markdown(table)
