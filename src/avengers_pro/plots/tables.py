"""The paper's Table 3: per-dataset accuracy (the mean score, named by ``plots.score_label``) and total
cost, as Markdown and LaTeX.

Rows: every single model (alphabetical by printed name), the random router and the per-query oracle's
best-score point (references),
then Avengers-Pro of one (variant, n_clusters) at a few alphas (each the nearest alpha of the sweep
grid). Columns: accuracy (%) per dataset, the unweighted mean over datasets, and the total test cost
(USD). The best value of each column is set in bold (highest accuracy, lowest cost), compared on
the printed, rounded values so that ties are all bold; the oracle is an upper bound rather than a
method and does not compete for bold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.io import PathLike, write_text
from avengers_pro.outputs import (
    BEST_SCORE_ORACLE,
    DEFAULT_SCORE_LABEL,
    ROUTER_METHOD,
    dataset_columns,
    score_words,
    single_models,
)
from avengers_pro.plots.inputs import router_rows
from avengers_pro.plots.style import display_names
from avengers_pro.plots.sweeps import nearest_alphas

#: Rows that are shown but never bold.
NON_COMPETING_ROLES = frozenset({"oracle"})
AVERAGE = "Avg."
COST = "Cost"


def build_table(summary: pd.DataFrame, *, variant: str, n_clusters: int, alphas: Sequence[float]) -> pd.DataFrame:
    """The numbers of Table 3.

    Parameters
    ----------
    summary
        ``results/summary.csv`` as read by :func:`avengers_pro.outputs.read_summary`.
    variant, n_clusters
        The Avengers-Pro sweep to report (config ``plots.main``).
    alphas
        Config ``plots.table_alphas``; each is matched to the nearest alpha of the sweep, and an
        alpha matched twice is reported once.

    Returns
    -------
    pandas.DataFrame
        Columns ``setting`` (row label), ``role`` (``single``, ``random``, ``oracle`` (the best-score
        oracle point) or ``avengers-pro``), ``alpha`` (NaN except for Avengers-Pro), one column per dataset
        (accuracy in %), ``Avg.`` (accuracy in %) and ``Cost`` (USD).

    Raises
    ------
    DataError
        When the summary lacks the requested sweep or has no per-dataset accuracy columns.
    """
    per_dataset = dataset_columns(summary)
    if not per_dataset:
        raise DataError("no accuracy_<dataset> columns", field="accuracy_<dataset>")
    datasets = [column.removeprefix("accuracy_") for column in per_dataset]

    singles = single_models(summary)
    names = display_names(singles["method"])
    # alphabetical by the printed name, the full name breaking ties
    singles = singles.iloc[
        sorted(
            range(len(singles)), key=lambda i: (names[singles["method"].iloc[i]].casefold(), singles["method"].iloc[i])
        )
    ]
    references = [(summary[summary["method"] == "random"], "random", "random")]
    references.append((summary[summary["method"] == BEST_SCORE_ORACLE], "best-score oracle", "oracle"))
    router = router_rows(summary, variant, n_clusters)
    chosen = nearest_alphas(router["alpha"], alphas)
    router = pd.concat([router[np.isclose(router["alpha"], alpha)].iloc[:1] for alpha in chosen])

    parts = [
        _rows(singles, [names[m] for m in singles["method"]], "single", per_dataset, datasets),
        *[_rows(ref, [name] * len(ref), role, per_dataset, datasets) for ref, name, role in references if len(ref)],
        _rows(
            router,
            [f"Avengers-Pro (α={_alpha_text(a)})" for a in router["alpha"]],
            ROUTER_METHOD,
            per_dataset,
            datasets,
        ),
    ]
    return pd.concat(parts, ignore_index=True)


def _rows(
    frame: pd.DataFrame, settings: list[str], role: str, per_dataset: list[str], datasets: list[str]
) -> pd.DataFrame:
    out = pd.DataFrame({"setting": settings, "role": role})
    out["alpha"] = frame["alpha"].to_numpy(float) if role == ROUTER_METHOD else np.nan
    for column, dataset in zip(per_dataset, datasets):
        out[dataset] = 100 * frame[column].to_numpy(float)
    out[AVERAGE] = 100 * frame["accuracy"].to_numpy(float)
    out[COST] = frame["cost"].to_numpy(float)
    return out


def _alpha_text(alpha: float) -> str:
    # round away grid noise (0.39000000000000001) before the shortest form: 0, 0.25, 1
    return f"{round(float(alpha), 6):g}"


def value_columns(table: pd.DataFrame) -> list[str]:
    """The numeric columns of a table from :func:`build_table` (datasets, ``Avg.``, ``Cost``)."""
    return [c for c in table.columns if c not in ("setting", "role", "alpha")]


def cost_decimals(costs: np.ndarray) -> int:
    """Decimals for the cost column: cents, or enough to show two significant digits of the cheapest row."""
    positive = costs[np.isfinite(costs) & (costs > 0)]
    if positive.size == 0:
        return 2
    return int(min(max(2, 1 - math.floor(math.log10(positive.min()))), 6))


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """The printed values: accuracies with two decimals, costs with :func:`cost_decimals`; ``""`` for NaN."""
    out = pd.DataFrame(index=table.index)
    decimals = cost_decimals(table[COST].to_numpy(float))
    for column in value_columns(table):
        digits = decimals if column == COST else 2
        out[column] = [("" if not np.isfinite(v) else f"{v:.{digits}f}") for v in table[column].to_numpy(float)]
    return out


def bold_mask(table: pd.DataFrame) -> pd.DataFrame:
    """Which cells are bold: per column the best printed value (max accuracy, min cost) among competing rows."""
    printed = formatted(table)
    competes = ~table["role"].isin(NON_COMPETING_ROLES).to_numpy()
    mask = pd.DataFrame(False, index=table.index, columns=printed.columns)
    for column in printed.columns:
        values = np.array([float(v) if v else np.nan for v in printed[column]])
        candidates = np.where(competes & np.isfinite(values), values, np.nan)
        if np.isnan(candidates).all():
            continue
        best = np.nanmin(candidates) if column == COST else np.nanmax(candidates)
        mask[column] = candidates == best
    return mask


#: Past this many datasets the table is transposed (datasets as rows), so that it fits a page.
MAX_DATASET_COLUMNS = 8
#: Characters that end a common dataset-name prefix (``mmlu_pro_law`` -> ``law``).
PREFIX_SEPARATORS = "_-/.: "


def strip_common_prefix(names: Sequence[str]) -> tuple[list[str], str]:
    """Dataset names without the prefix they all share, cut at a separator; and that prefix.

    ``["mmlu_pro_law", "mmlu_pro_math"]`` -> ``(["law", "math"], "mmlu_pro_")``. Nothing is cut from a
    single name or when a name would be left empty.
    """
    names = [str(name) for name in names]
    if len(names) < 2:
        return names, ""
    common = min(names, key=len)
    for name in names:
        while not name.startswith(common):
            common = common[:-1]
    cut = max((i + 1 for i, char in enumerate(common) if char in PREFIX_SEPARATORS), default=0)
    if cut == 0 or any(len(name) == cut for name in names):
        return names, ""
    return [name[cut:] for name in names], common[:cut]


def _grid(
    table: pd.DataFrame, escape: Callable[[str], str], bold: Callable[[str], str], dollar: str, empty: str
) -> tuple[list[str], list[list[str]], str, bool]:
    """Headers and body cells of the table, in the orientation that fits a page.

    Returns ``(headers, rows, stripped prefix, transposed)``. Transposed (more than
    :data:`MAX_DATASET_COLUMNS` datasets): one row per dataset, then ``Avg.`` and ``Cost``, one column
    per setting.
    """
    printed, strong = formatted(table), bold_mask(table)
    columns = value_columns(table)
    datasets, prefix = strip_common_prefix(columns[:-2])
    headers = ["Setting", *[escape(d) for d in datasets], escape("Avg. (%)"), escape("Cost (USD)")]
    rows = []
    for index, row in table.iterrows():
        cells = [escape(row["setting"])]
        for column in columns:
            text = printed.at[index, column] or empty
            if column == COST and printed.at[index, column]:
                text = f"{dollar}{text}"
            cells.append(bold(text) if strong.at[index, column] else text)
        rows.append(cells)
    transposed = len(datasets) > MAX_DATASET_COLUMNS
    if transposed:
        flipped = [list(line) for line in zip(headers, *rows)]
        flipped[0][0] = "Dataset"
        headers, rows = flipped[0], flipped[1:]
    return headers, rows, prefix, transposed


def to_markdown(table: pd.DataFrame, *, n_seeds: int | None = None, score_label: str = DEFAULT_SCORE_LABEL) -> str:
    """Table 3 as a GitHub-flavoured Markdown table, bold as ``**x**``, with a one-line legend below
    (naming the score ``score_label``).
    """
    headers, rows, prefix, transposed = _grid(table, _markdown_escape, lambda t: f"**{t}**", "$", "–")
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "---|" + "---:|" * (len(headers) - 1),
        *("| " + " | ".join(cells) + " |" for cells in rows),
        "",
        _legend(n_seeds, prefix, transposed, score_label),
    ]
    return "\n".join(lines) + "\n"


def to_latex(table: pd.DataFrame, *, n_seeds: int | None = None, score_label: str = DEFAULT_SCORE_LABEL) -> str:
    r"""Table 3 as a booktabs ``tabular`` (needs ``\usepackage{booktabs}``), bold as ``\textbf{}``; its
    legend names the score ``score_label``.

    A wide table (transposed, or more than 10 columns) is scaled to the text width with
    ``\resizebox``, and a transposed one has its setting headers rotated (both need
    ``\usepackage{graphicx}``).
    """

    def escape(text: str) -> str:
        return _latex_escape(text).replace("α", r"$\alpha$")

    headers, rows, prefix, transposed = _grid(table, escape, lambda t: rf"\textbf{{{t}}}", r"\$", "--")
    wide = transposed or len(headers) > 10
    if transposed:
        headers = [headers[0], *(rf"\rotatebox{{90}}{{{h}}}" for h in headers[1:])]
        groups = ["dataset"] * (len(rows) - 2) + ["summary", "summary"]
    else:
        groups = [
            "single" if role == "single" else "reference" if role in ("random", "oracle") else "router"
            for role in table["role"]
        ]
    lines = [
        f"% {_legend(n_seeds, prefix, transposed, score_label)}",
        r"% Requires \usepackage{booktabs}" + (r" and \usepackage{graphicx}." if wide else "."),
        *([r"\resizebox{\textwidth}{!}{%"] if wide else []),
        r"\begin{tabular}{l" + "r" * (len(headers) - 1) + "}",
        r"\toprule",
        " & ".join(headers) + r" \\",
        r"\midrule",
    ]
    for i, (cells, group) in enumerate(zip(rows, groups)):
        if i and group != groups[i - 1]:
            lines.append(r"\midrule")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", *(["}"] if wide else [])]
    return "\n".join(lines) + "\n"


def _legend(
    n_seeds: int | None, prefix: str = "", transposed: bool = False, score_label: str = DEFAULT_SCORE_LABEL
) -> str:
    seeds = f", mean over {n_seeds} seeds" if n_seeds else ""
    names = f" Dataset names are shown without their common prefix '{prefix}'." if prefix else ""
    best = "per row" if transposed else "per column"
    return (
        f"{score_label} in % on the test split{seeds}; Avg. is the unweighted mean over datasets; cost is the "
        f"total test cost in USD. Bold: the best value {best} (highest {score_words(score_label)}, lowest cost), "
        f"the best-score oracle excluded.{names}"
    )


def _markdown_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def _latex_escape(text: str) -> str:
    replacements = {
        "\\": "\\textbackslash{}",
        "&": "\\&",
        "%": "\\%",
        "$": "\\$",
        "#": "\\#",
        "_": "\\_",
        "{": "\\{",
        "}": "\\}",
        "~": "\\textasciitilde{}",
        "^": "\\textasciicircum{}",
    }
    return "".join(replacements.get(char, char) for char in str(text))


def write_tables(
    summary: pd.DataFrame,
    markdown_path: PathLike,
    latex_path: PathLike,
    *,
    variant: str,
    n_clusters: int,
    alphas: Sequence[float],
    score_label: str = DEFAULT_SCORE_LABEL,
) -> None:
    """Build Table 3 and write it as Markdown and LaTeX (atomically).

    Parameters
    ----------
    summary
        ``results/summary.csv`` as read by :func:`avengers_pro.outputs.read_summary`.
    markdown_path, latex_path
        Output files (``results/table.md``, ``results/table.tex``).
    variant, n_clusters
        Config ``plots.main``.
    alphas
        Config ``plots.table_alphas``.
    score_label
        Config ``plots.score_label``: what the score is called in the legend.
    """
    table = build_table(summary, variant=variant, n_clusters=n_clusters, alphas=alphas)
    n_seeds = None
    if "n_seeds" in summary.columns:
        seeds = pd.to_numeric(summary["n_seeds"], errors="coerce").dropna().unique()
        n_seeds = int(seeds[0]) if len(seeds) == 1 else None  # only state it when every row agrees
    write_text(to_markdown(table, n_seeds=n_seeds, score_label=score_label), markdown_path)
    write_text(to_latex(table, n_seeds=n_seeds, score_label=score_label), latex_path)
