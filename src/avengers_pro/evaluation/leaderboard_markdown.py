"""The leaderboard as Markdown (``results/leaderboard.md``): the ranked table of
:func:`avengers_pro.evaluation.leaderboard.build_leaderboard` with a line saying what the numbers
are, then the per-dataset accuracy of each row at its best-accuracy alpha.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.outputs import DEFAULT_SCORE_LABEL, score_words


def leaderboard_markdown(
    table: pd.DataFrame,
    cost_range: tuple[float, float],
    best_single: Mapping[str, Any],
    confidence: float,
    *,
    reference: str = "the dataset router",
    avengers_pro: str | None = None,
    score_label: str = DEFAULT_SCORE_LABEL,
) -> str:
    """The leaderboard as Markdown: the ranked table with a line saying what the numbers are, then the
    per-dataset accuracy of each row at its best-accuracy alpha.

    ``reference`` and ``avengers_pro`` name the rows the two ΔAIQ columns are measured against; without
    ``avengers_pro`` that column is left out. ``score_label`` (config ``plots.score_label``) is what
    the captions call the score.
    """
    score = score_words(score_label)

    def number(value: Any, fmt: str) -> str:
        # Rounded first, so that float noise around 0 does not print as -0.00%.
        return "" if value is None or not np.isfinite(value) else format(round(float(value), 12) + 0.0, fmt)

    def with_interval(estimate: float, lo: float, hi: float) -> str:
        text = number(estimate, "+.4f")
        if text and np.isfinite(lo) and np.isfinite(hi):
            text += f" [{number(lo, '+.4f')}, {number(hi, '+.4f')}]"
        return text

    level = f"{confidence:.0%}"
    versus = f" ΔAIQ vs Avengers-Pro: router minus {avengers_pro}, the same resamples." if avengers_pro else ""
    header = f"| rank | router | kind | AIQ | ΔAIQ vs dataset router [{level}] |"
    rule = "|---:|---|---|---:|---|"
    if avengers_pro:
        header += f" ΔAIQ vs Avengers-Pro [{level}] |"
        rule += "---|"
    header += f" AIQ (test hull) | ΔAIQ (test hull) vs dataset router [{level}] |"
    rule += "---:|---|"
    lines = [
        f"Ranked by AIQ over the test cost range [{cost_range[0]:g}, {cost_range[1]:.4g}]: per seed, the test points "
        "of the alphas on the upper hull of the validation curve (chosen without test data), averaged over seeds. "
        "AIQ (test hull): RouterBench's, the upper hull of the seed-averaged test curve, for comparison with "
        f"published numbers. ΔAIQ vs dataset router: router minus {reference}; one paired bootstrap {level} "
        f"interval for every difference (one weight per query, shared by every seed and router).{versus} "
        f"PerfGain and CostSave: against the best single model, {best_single.get('model', '')} ({score} "
        f"{float(best_single['accuracy']):.4f}, cost {float(best_single['cost']):.4g}); CostSave is empty when the "
        f"curve never reaches its {score}.",
        "",
        header + " PerfGain | CostSave | hyperparameters |",
        rule + "---:|---:|---|",
    ]
    for row in table.itertuples(index=False):
        cells = [
            str(row.rank),
            str(row.router),
            str(row.kind),
            number(row.aiq, ".4f"),
            with_interval(row.aiq_delta_vs_dataset_router, row.aiq_delta_low, row.aiq_delta_high),
        ]
        if avengers_pro:
            cells.append(
                with_interval(
                    row.aiq_delta_vs_avengers_pro, row.aiq_delta_vs_avengers_pro_low, row.aiq_delta_vs_avengers_pro_high
                )
            )
        cells += [
            number(row.aiq_test_hull, ".4f"),
            with_interval(
                row.aiq_test_hull_delta_vs_dataset_router, row.aiq_test_hull_delta_low, row.aiq_test_hull_delta_high
            ),
            number(row.perf_gain, "+.2%"),
            number(row.cost_save, "+.1%"),
            str(row.hyperparameters).replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    datasets = [c for c in table.columns if c.startswith("accuracy_")]
    if datasets:
        lines += [
            "",
            f"Per-dataset {score} at each router's best-{score} alpha (seed-averaged; the mean over datasets is "
            f"its best {score}).",
            "",
            "| rank | router | alpha | " + " | ".join(c.removeprefix("accuracy_") for c in datasets) + " | mean |",
            "|---:|---|---:|" + "---:|" * (len(datasets) + 1),
        ]
        for _, row in table.iterrows():
            values = [number(row[c], ".4f") for c in [*datasets, "best_accuracy"]]
            lines.append(
                f"| {row['rank']} | {row['router']} | {number(row['best_accuracy_alpha'], 'g')} | "
                + " | ".join(values)
                + " |"
            )
    return "\n".join(lines) + "\n"
