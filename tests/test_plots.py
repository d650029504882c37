"""Tests of avengers_pro.plots: every figure on tiny hand-made inputs, the frontier, colours, labels."""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from avengers_pro import outputs, plots
from avengers_pro.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
DPI = 40  # small PNGs keep the tests fast; the layout does not depend on the output dpi
MODELS = ["org/cheap-model", "mid-model", "big/expensive-model"]
MODEL_ACCURACY = {"org/cheap-model": (0.40, 0.50), "mid-model": (0.60, 0.70), "big/expensive-model": (0.80, 0.90)}
MODEL_COST = {"org/cheap-model": 0.05, "mid-model": 0.5, "big/expensive-model": 5.0}
DATASETS = ["ds_a", "ds_b"]
ALPHAS = [0.0, 0.5, 1.0]


def make_sweep(shift: float = 0.0) -> pd.DataFrame:
    """One seed's sweep: at alpha 0 everything goes to the cheap model, at 1 to the big one."""
    share = {0.0: (1.0, 0.0, 0.0), 0.5: (0.2, 0.6, 0.2), 1.0: (0.0, 0.1, 0.9)}
    rows = []
    for alpha, (dataset_index, dataset) in itertools.product(ALPHAS, enumerate(DATASETS)):
        counts = np.round(np.array(share[alpha]) * 10).astype(int)
        accuracy = sum(c * MODEL_ACCURACY[m][dataset_index] for c, m in zip(counts, MODELS)) / 10 + shift
        cost = sum(c * MODEL_COST[m] for c, m in zip(counts, MODELS)) / 20
        row = {"alpha": alpha, "dataset": dataset, "accuracy": accuracy, "cost": cost, "n_queries": 10, "max_router": 1}
        row.update({f"routed[{m}]": int(c) for m, c in zip(MODELS, counts)})
        rows.append(row)
    return pd.DataFrame(rows)


def make_summary() -> pd.DataFrame:
    """A summary as summary.csv holds it: two variants at k = 4, two router families, baselines, three
    single models."""
    rows = []

    def add(
        method: str,
        variant: str,
        k: float,
        alpha: float,
        accuracies: tuple[float, float],
        cost: float,
        family: str = "",
    ) -> None:
        kind = "router" if family else "model" if method in MODELS else "baseline"
        rows.append(
            {
                "method": method,
                "kind": kind,
                "family": family,
                "hyperparameters": "n=3 (seeds 0, 1)" if family not in ("", "avengers-pro") else "",
                "variant": variant,
                "n_clusters": k,
                "alpha": alpha,
                "max_router": 1,
                "accuracy": float(np.mean(accuracies)),
                "accuracy_sd": 0.01,
                "cost": cost,
                "cost_sd": 0.01,
                "n_seeds": 2,
                "accuracy_ds_a": accuracies[0],
                "accuracy_ds_b": accuracies[1],
            }
        )

    for variant, shift in (("official", 0.0), ("paper", -0.02)):
        curve = plots.seed_curve(make_sweep(shift))
        for alpha, (a, b), cost in zip(ALPHAS, [(0.42, 0.48), (0.62, 0.70), (0.82, 0.89)], curve["cost"]):
            add("avengers-pro", variant, 4, alpha, (a + shift, b + shift), float(cost), "avengers-pro")
    for family, shift in (("knn", 0.01), ("task", -0.01)):
        curve = plots.seed_curve(make_sweep(shift))
        for alpha, (a, b), cost in zip(ALPHAS, [(0.42, 0.48), (0.62, 0.70), (0.82, 0.89)], curve["cost"]):
            add(family, "", np.nan, alpha, (a + shift, b + shift), float(cost), family)
    add("random", "", np.nan, np.nan, (0.6, 0.7), 1.8)
    for alpha, (a, b), cost in zip(ALPHAS, [(0.40, 0.45), (0.80, 0.85), (0.95, 0.97)], [0.01, 0.02, 0.04]):
        add("oracle", "", np.nan, alpha, (a, b), cost)
    add("best-score-oracle", "", np.nan, np.nan, (0.95, 0.97), 0.04)
    for model in MODELS:
        add(model, "", np.nan, np.nan, MODEL_ACCURACY[model], MODEL_COST[model])
    return outputs.check_summary(pd.DataFrame(rows))


def make_metrics_entry(cost_save: float | None = 0.4) -> dict:
    return {
        "method": "avengers-pro",
        "variant": "official",
        "n_clusters": 4,
        "best_single": {"model": "big/expensive-model", "accuracy": 0.85, "cost": 5.0},
        "perf_gain": 0.006,
        "best_accuracy": 0.855,
        "best_accuracy_alpha": 1.0,
        "cost_save": cost_save,
        "cost_save_alpha": None if cost_save is None else 0.9,
        "accuracy_at_alpha1": 0.855,
        "cost_at_alpha1": 2.3,
        "aiq": 0.5,
        "dominates_all_singles": False,
    }


def assert_written(stem: Path) -> None:
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert png.stat().st_size > 1000 and pdf.stat().st_size > 1000


def points(fig: Figure, label: str) -> np.ndarray:
    """The (x, y) points of the scatter labelled ``label`` on the figure's first axes."""
    (collection,) = [c for c in fig.axes[0].collections if c.get_label() == label]
    return np.asarray(collection.get_offsets())


def curve(ax, label: str) -> tuple[np.ndarray, np.ndarray]:
    """The x and y data of the line labelled ``label``."""
    (line,) = [line for line in ax.get_lines() if line.get_label() == label]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


# --------------------------------------------------------------------------- frontier


def test_frontier_points_returns_the_non_dominated_points_sorted_by_cost() -> None:
    costs = [1.0, 2.0, 2.0, 3.0, 0.5, 4.0, 4.0, 5.0]
    accuracies = [0.5, 0.7, 0.6, 0.65, 0.4, 0.9, 0.9, 0.9]
    front_cost, front_accuracy = plots.frontier_points(costs, accuracies)
    np.testing.assert_array_equal(front_cost, [0.5, 1.0, 2.0, 4.0])
    np.testing.assert_array_equal(front_accuracy, [0.4, 0.5, 0.7, 0.9])


def test_frontier_points_ignores_nan_and_handles_empty_input() -> None:
    front_cost, front_accuracy = plots.frontier_points([np.nan, 1.0, 2.0], [0.9, 0.5, np.nan])
    np.testing.assert_array_equal(front_cost, [1.0])
    np.testing.assert_array_equal(front_accuracy, [0.5])
    empty_cost, empty_accuracy = plots.frontier_points([], [])
    assert empty_cost.size == 0 and empty_accuracy.size == 0


def test_staircase_is_flat_between_frontier_points_and_to_the_right_edge() -> None:
    xs, ys = plots._staircase(np.array([1.0, 2.0]), np.array([0.5, 0.7]), x_right=3.0)
    np.testing.assert_array_equal(xs, [1.0, 2.0, 2.0, 3.0])
    np.testing.assert_array_equal(ys, [0.5, 0.5, 0.7, 0.7])


# --------------------------------------------------------------------------- colours, names, scales


def test_model_colors_are_stable_and_independent_of_input_order() -> None:
    colors = plots.model_colors(MODELS)
    assert colors == plots.model_colors(list(reversed(MODELS))) == plots.model_colors(MODELS + MODELS)
    # sorted by case-folded name: big/..., mid-model, org/...
    assert colors["big/expensive-model"] == plots.MODEL_PALETTE[0]
    assert colors["mid-model"] == plots.MODEL_PALETTE[1]
    assert colors["org/cheap-model"] == plots.MODEL_PALETTE[2]


def test_model_colors_and_markers_tell_many_models_apart() -> None:
    names = [f"model-{i:02d}" for i in range(30)]
    colors, markers = plots.model_colors(names), plots.model_markers(names)
    assert len(set(colors[n] for n in names[: len(plots.MODEL_PALETTE)])) == len(plots.MODEL_PALETTE)
    assert len({(colors[n], markers[n]) for n in names}) == len(names)


def test_display_names_strip_the_organisation_unless_two_models_collide() -> None:
    names = plots.display_names(["mistralai/mixtral-8x7b-chat", "a/chat", "b/chat", "gpt-4"])
    assert names == {
        "mistralai/mixtral-8x7b-chat": "mixtral-8x7b-chat",
        "a/chat": "a/chat",
        "b/chat": "b/chat",
        "gpt-4": "gpt-4",
    }


def test_use_log_cost_follows_the_setting() -> None:
    assert plots.use_log_cost([0.01, 5.0], "auto") is True
    assert plots.use_log_cost([0.1, 5.0], "auto") is False
    assert plots.use_log_cost([0.0, 5.0], "auto") is False  # a zero cost has no place on a log axis
    assert plots.use_log_cost([0.1, 5.0], True) is True
    assert plots.use_log_cost([0.01, 5.0], "false") is False
    with pytest.raises(ConfigError, match="plots.log_cost"):
        plots.use_log_cost([1.0], "sometimes")


def test_wrap_label_never_splits_a_model_name() -> None:
    for name in (
        "gpt-4-1106-preview",
        "code-llama-instruct-34b-chat",
        "WizardLM_13B_V1.2",
        "averyveryverylongmodelname",
    ):
        assert plots.wrap_label(name, 10) == name
    assert plots.wrap_label("Avengers-Pro (α = 0.25)", 14) == "Avengers-Pro\n(α = 0.25)"
    assert plots.wrap_label("short") == "short"


def test_label_fontsize_shrinks_only_for_long_labels() -> None:
    assert plots.label_fontsize(["short", "Avengers-Pro"], width=16) == 6.0
    assert plots.label_fontsize(["code-llama-instruct"], width=14) == pytest.approx(6.0 * 14 / 19)
    assert plots.label_fontsize(["x" * 200], width=14) == 4.0


def test_mean_and_interval_uses_the_t_quantile() -> None:
    mean, half = plots.mean_and_interval(np.array([[1.0, 3.0], [2.0, 2.0]]))
    np.testing.assert_allclose(mean, [2.0, 2.0])
    # sd = sqrt(2), sem = 1, t(0.975, df=1) = 12.7062
    np.testing.assert_allclose(half, [12.7062047, 0.0], rtol=1e-6)
    _mean, single = plots.mean_and_interval(np.array([[1.0], [2.0]]))
    assert np.isnan(single).all()


# --------------------------------------------------------------------------- input checks


def test_read_summary_reads_the_csv_and_normalises_baselines(tmp_path: Path) -> None:
    path = tmp_path / "summary.csv"
    make_summary().to_csv(path, index=False)
    summary = outputs.read_summary(path)
    assert set(outputs.single_models(summary)["method"]) == set(MODELS)
    assert (summary.loc[summary["method"] == "random", "variant"] == "").all()
    assert outputs.dataset_columns(summary) == ["accuracy_ds_a", "accuracy_ds_b"]


def test_read_summary_names_file_line_and_field_of_bad_values(tmp_path: Path) -> None:
    frame = make_summary().astype({"cost": object})
    frame.loc[2, "cost"] = "cheap"
    path = tmp_path / "summary.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as error:
        outputs.read_summary(path)
    assert error.value.field == "cost" and error.value.row == 4 and "summary.csv" in str(error.value)

    make_summary().drop(columns="accuracy").to_csv(path, index=False)
    with pytest.raises(DataError, match="accuracy"):
        outputs.read_summary(path)
    frame = make_summary()
    frame.loc[0, "kind"] = "oracle"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="kind must be one of model, baseline, router") as error:
        outputs.read_summary(path)
    assert error.value.row == 2


def test_router_rows_reports_what_is_present() -> None:
    with pytest.raises(DataError, match="present: official/k=4, paper/k=4"):
        plots.router_rows(make_summary(), "official", 25)


def test_metrics_entry_skips_dataset_router_objects_and_checks_fields(tmp_path: Path) -> None:
    entries = [
        {"method": "dataset-router", "variant": "official", "n_clusters": None},
        make_metrics_entry(),
    ]
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(entries))
    loaded = outputs.read_metrics(path)
    assert outputs.metrics_entry(loaded, "official", 4)["n_clusters"] == 4
    with pytest.raises(DataError, match="no entry for variant 'official' and n_clusters 8"):
        outputs.metrics_entry(loaded, "official", 8)
    with pytest.raises(DataError) as error:
        outputs.best_single_of({"variant": "official", "n_clusters": 4})
    assert error.value.field == "best_single"
    path.write_text(json.dumps([{"method": "avengers-pro", "variant": "official", "n_clusters": "four"}]))
    with pytest.raises(DataError, match="not an integer"):
        outputs.read_metrics(path)


def test_parse_sweep_path() -> None:
    assert plots.parse_sweep_path("results/sweep/official/k25_seed3.parquet") == ("official", 25, 3)
    with pytest.raises(DataError):
        plots.parse_sweep_path("results/sweep/official/k25.parquet")


def test_read_sweep_names_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "k4_seed0.parquet"
    make_sweep().drop(columns="cost").to_parquet(path)
    with pytest.raises(DataError) as error:
        outputs.read_sweep(path)
    assert error.value.field == "cost"


# --------------------------------------------------------------------------- figures


@pytest.mark.parametrize("log_cost", ["auto", "false"])
def test_plot_pareto_writes_png_and_pdf(tmp_path: Path, log_cost: str) -> None:
    summary = make_summary()
    fig = plots.plot_pareto(summary, tmp_path / "pareto", variant="official", n_clusters=4, log_cost=log_cost, dpi=DPI)
    assert_written(tmp_path / "pareto")
    # The router's points are the summary's official k=4 rows, accuracy in percent.
    rows = summary[(summary["method"] == "avengers-pro") & (summary["variant"] == "official")]
    rows = rows[rows["n_clusters"] == 4].sort_values("alpha")
    np.testing.assert_allclose(
        points(fig, "Avengers-Pro (official, k=4)"), np.column_stack([rows["cost"], 100 * rows["accuracy"]])
    )
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Total test cost (USD)", "Accuracy (%)")
    # Every single model is labelled by its display name; the frontier starts at the cheapest point.
    assert {"cheap-model", "mid-model", "expensive-model"} <= {text.get_text() for text in ax.texts}
    frontier_x, frontier_y = curve(ax, "Pareto frontier")
    assert (frontier_x[0], frontier_y[0]) == pytest.approx((0.05, 45.0))


def test_plot_pareto_with_a_zero_cost_on_a_forced_log_axis(tmp_path: Path) -> None:
    summary = make_summary()
    summary.loc[summary["method"] == "best-score-oracle", "cost"] = 0.0
    plots.plot_pareto(summary, tmp_path / "pareto", variant="official", n_clusters=4, log_cost=True, dpi=DPI)
    assert_written(tmp_path / "pareto")


def test_plot_pareto_survives_dollar_signs_in_a_model_name(tmp_path: Path) -> None:
    # unescaped, "$^$" is a math-text syntax error in matplotlib
    assert plots.plot_names(["org/cost$^$model"]) == {"org/cost$^$model": "cost\\$^\\$model"}
    summary = make_summary().replace({"method": {"mid-model": "org/cost$^$model"}})
    plots.plot_pareto(summary, tmp_path / "pareto", variant="official", n_clusters=4, dpi=DPI)
    assert_written(tmp_path / "pareto")


@pytest.mark.parametrize("cost_save", [0.4, None])
def test_plot_headline_writes_png_and_pdf(tmp_path: Path, cost_save: float | None) -> None:
    fig = plots.plot_headline(make_metrics_entry(cost_save), tmp_path / "headline", dpi=DPI)
    assert_written(tmp_path / "headline")
    # Accuracy bars: the best single's 0.85 and the router's best 0.855, in percent.
    assert [bar.get_height() for bar in fig.axes[0].patches] == pytest.approx([85.0, 85.5])
    if cost_save is not None:
        # Cost bars: the best single's $5 and the router's 5 x (1 - 0.4) = $3 at equal accuracy.
        assert [bar.get_height() for bar in fig.axes[1].patches] == pytest.approx([5.0, 3.0])


def test_plot_headline_names_a_missing_field() -> None:
    entry = make_metrics_entry()
    del entry["best_accuracy"]
    with pytest.raises(DataError) as error:
        plots.plot_headline(entry, "unused", dpi=DPI)
    assert error.value.field == "best_accuracy"


def test_plot_alpha_sweep_writes_png_and_pdf(tmp_path: Path) -> None:
    best = make_metrics_entry()["best_single"]
    fig = plots.plot_alpha_sweep([make_sweep(), make_sweep(0.01)], best, tmp_path / "alpha_sweep", dpi=DPI)
    assert_written(tmp_path / "alpha_sweep")
    accuracy_ax, cost_ax = fig.axes
    mean = "Avengers-Pro, mean over 2 seeds"
    # make_sweep by hand, mean of the two datasets: alpha 0 all cheap (0.40, 0.50) -> 45%; alpha 0.5
    # 2/6/2 of 10 -> (0.60, 0.70) -> 65%; alpha 1 0/1/9 -> (0.78, 0.88) -> 83%; the second seed +1 point.
    alphas, accuracy = curve(accuracy_ax, mean)
    np.testing.assert_allclose(alphas, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(accuracy, [45.5, 65.5, 83.5])
    # Cost of both datasets: 2 x 10 x 0.05 / 20 = 0.05; 2 x (2 x 0.05 + 6 x 0.5 + 2 x 5) / 20 = 1.31; 2 x (0.5 + 45) / 20 = 4.55.
    np.testing.assert_allclose(curve(cost_ax, mean)[1], [0.05, 1.31, 4.55])
    np.testing.assert_allclose(curve(accuracy_ax, "best single: expensive-model")[1], [85.0, 85.0])
    plots.plot_alpha_sweep([make_sweep()], best, tmp_path / "one_seed", dpi=DPI)  # no band, still a figure
    assert_written(tmp_path / "one_seed")


def test_usage_shares_pool_seeds_and_match_the_nearest_alpha() -> None:
    shares = plots.usage_shares([make_sweep(), make_sweep()], [0.0, 0.45, 0.55, 1.0])
    assert list(shares.index) == [0.0, 0.5, 1.0]  # 0.45 and 0.55 both map to 0.5, reported once
    assert list(shares.columns) == MODELS
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    np.testing.assert_allclose(shares.loc[0.5].to_numpy(), [0.2, 0.6, 0.2])


def test_plot_model_usage_writes_png_and_pdf(tmp_path: Path) -> None:
    fig = plots.plot_model_usage(
        [make_sweep(), make_sweep()], [0.0, 0.5, 1.0], tmp_path / "usage", colors=plots.model_colors(MODELS), dpi=DPI
    )
    assert_written(tmp_path / "usage")
    # One bar segment per alpha and model, as wide as make_sweep's shares (in percent), written on the
    # segments wide enough to hold a label.
    widths = sorted(round(bar.get_width(), 6) for bar in fig.axes[0].patches)
    assert widths == sorted([100.0, 0.0, 0.0, 20.0, 60.0, 20.0, 0.0, 10.0, 90.0])
    assert sorted(text.get_text() for text in fig.axes[0].texts) == sorted(["100%", "20%", "60%", "20%", "10%", "90%"])


def test_plot_model_usage_needs_routed_columns() -> None:
    sweep = make_sweep()
    sweep = sweep.drop(columns=[c for c in sweep.columns if c.startswith("routed[")])
    with pytest.raises(DataError, match="routed"):
        plots.plot_model_usage([sweep], [0.0], "unused", dpi=DPI)


def test_cluster_ablation_table_per_seed_values() -> None:
    sweeps = {("official", 4): [make_sweep(), make_sweep(0.01)], ("official", 8): [make_sweep()]}
    reference = {"model": "mid-model", "accuracy": 0.6, "cost": 5.0}
    table = plots.cluster_ablation_table(sweeps, reference)
    assert list(table["n_clusters"]) == [4, 4, 8]
    np.testing.assert_allclose(table["accuracy_at_1"], [0.83, 0.84, 0.83])
    # alpha 0.5 reaches 0.6 at a cost of 1.31, so CostSave >= (5 - 1.31) / 5 (more with the interpolated crossing)
    assert ((table["cost_save"] >= (5.0 - 1.31) / 5.0 - 1e-9) & (table["cost_save"] < 1.0)).all()


def test_plot_cluster_ablation_writes_png_and_pdf(tmp_path: Path) -> None:
    sweeps = {
        (v, k): [make_sweep(s), make_sweep(s + 0.01)] for v, s in (("official", 0.0), ("paper", -0.02)) for k in (4, 8)
    }
    plots.plot_cluster_ablation(sweeps, make_metrics_entry()["best_single"], tmp_path / "ablation", dpi=DPI)
    assert_written(tmp_path / "ablation")


def test_plot_cluster_ablation_when_no_alpha_reaches_the_best_single(tmp_path: Path) -> None:
    sweeps = {("official", 4): [make_sweep()], ("official", 8): [make_sweep()]}
    unreachable = {"model": "big/expensive-model", "accuracy": 0.99, "cost": 5.0}
    table = plots.cluster_ablation_table(sweeps, unreachable)
    assert table["cost_save"].isna().all()
    plots.plot_cluster_ablation(sweeps, unreachable, tmp_path / "ablation", dpi=DPI)
    assert_written(tmp_path / "ablation")


def test_plot_variants_writes_png_and_pdf(tmp_path: Path) -> None:
    fig = plots.plot_variants(make_summary(), tmp_path / "variants", n_clusters=4, dpi=DPI)
    assert_written(tmp_path / "variants")
    ax = fig.axes[0]
    # One frontier per variant; official ends at the summary's 85.5% at $4.55, paper two points lower.
    assert {"official (k=4)", "paper (k=4)"} <= {line.get_label() for line in ax.get_lines()}
    assert max(curve(ax, "official (k=4)")[1]) == pytest.approx(85.5)
    assert max(curve(ax, "paper (k=4)")[1]) == pytest.approx(83.5)


def test_plot_variants_needs_the_cluster_count() -> None:
    with pytest.raises(DataError, match="n_clusters 25"):
        plots.plot_variants(make_summary(), "unused", n_clusters=25, dpi=DPI)


# --------------------------------------------------------------------------- label placement


def test_place_labels_keeps_crowded_labels_apart_and_inside_the_figure() -> None:
    fig = Figure(figsize=(3.5, 2.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0.05, 0.4, 8), [3.4, 3.6, 4.8]])  # eight cheap models in a clump
    y = np.concatenate([rng.uniform(52, 73, 8), [70, 58, 83]])
    ax.scatter(x, y)
    ax.set_xlim(-0.3, 5.3)
    ax.set_ylim(48, 88)
    labels = [f"model-{i}-with-a-long-name" for i in range(len(x))]
    annotations = plots.place_labels(ax, x, y, labels)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    # Text's extent is the label alone; Annotation's would include the leader line
    boxes = [Text.get_window_extent(a, renderer) for a in annotations]
    assert [a.get_text() for a in annotations] == labels
    for first, second in itertools.combinations(boxes, 2):
        assert not first.overlaps(second), (first, second)
    figure_box = fig.bbox
    for box in boxes:
        assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1
        assert figure_box.y0 <= box.y0 and box.y1 <= figure_box.y1


def test_place_labels_is_deterministic() -> None:
    def positions() -> list[tuple[float, float]]:
        fig = Figure(figsize=(3.5, 2.8))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        annotations = plots.place_labels(ax, [0.5, 0.51, 0.52], [0.5, 0.5, 0.51], ["a-label", "b-label", "c-label"])
        return [tuple(a.xyann) for a in annotations]

    assert positions() == positions()


def test_variants_figure_draws_the_dataset_router_floor(tmp_path):
    """The variants figure must show the dataset router's frontier next to the variants'."""
    import matplotlib

    matplotlib.use("Agg")
    from unittest import mock

    from avengers_pro import outputs, plots

    rows = [
        {"method": "a", "accuracy": 0.5, "cost": 1.0},
        {"method": "b", "accuracy": 0.8, "cost": 4.0},
    ]
    for variant in ("official", "paper"):
        for alpha, acc, cost in ((0.0, 0.5, 1.0), (1.0, 0.8, 4.0)):
            rows.append(
                {
                    "method": "avengers-pro",
                    "variant": variant,
                    "n_clusters": 2,
                    "alpha": alpha,
                    "accuracy": acc - 0.01,
                    "cost": cost,
                }
            )
            rows.append({"method": "dataset-router", "variant": variant, "alpha": alpha, "accuracy": acc, "cost": cost})
    summary = pd.DataFrame(rows)
    for column in ("accuracy_sd", "cost_sd"):
        summary[column] = 0.0
    summary["n_seeds"] = 1
    summary["max_router"] = 1
    summary["kind"] = summary["method"].map({"a": "model", "b": "model", "avengers-pro": "router"}).fillna("baseline")
    summary["family"] = summary["method"].where(summary["method"] == "avengers-pro", "")
    summary["hyperparameters"] = ""
    summary = outputs.check_summary(summary)
    labels = []
    original = plots.save_figure

    def capture(fig, stem, dpi):
        labels.extend(line.get_label() for ax in fig.axes for line in ax.get_lines())
        original(fig, stem, dpi)

    with mock.patch("avengers_pro.plots.frontier.save_figure", capture):
        plots.plot_variants(summary, tmp_path / "variants", n_clusters=2, dpi=50)
    # identical floors for both variants collapse into one line
    assert "dataset router" in labels
    assert (tmp_path / "variants.png").stat().st_size > 0


def test_families_figure_draws_each_family_row_of_the_summary(tmp_path: Path) -> None:
    """The families figure takes each family's curve from summary.csv's family rows, one line each."""
    from unittest import mock

    summary = make_summary()
    drawn: dict[str, np.ndarray] = {}
    original = plots.save_figure

    def capture(fig, stem, dpi):
        for collection in fig.axes[0].collections:
            drawn[len(drawn)] = np.asarray(collection.get_offsets())
        labels.extend(line.get_label() for ax in fig.axes for line in ax.get_lines())
        original(fig, stem, dpi)

    labels: list[str] = []
    with mock.patch("avengers_pro.plots.frontier.save_figure", capture):
        plots.plot_families(summary, tmp_path / "families", variant="official", n_clusters=4, dpi=DPI)
    assert {"knn", "task", "Avengers-Pro official (k=4)"} <= set(labels)
    # The per-query oracle is drawn as the ceiling: its curve a line through its summary rows, its
    # best-score point one marker, both in the legend.
    assert "oracle (per query)" in labels
    best = summary[summary["method"] == "best-score-oracle"]
    assert len(best) == 1
    point = [100 * float(best["accuracy"].iloc[0])]
    assert any(
        len(offsets) == 1 and np.allclose(offsets, [[float(best["cost"].iloc[0]), *point]])
        for offsets in drawn.values()
    )
    # The families' sweep points are their summary rows (cost, accuracy in %), in family order.
    for index, family in ((1, "knn"), (2, "task")):
        rows = summary[summary["method"] == family]
        np.testing.assert_allclose(drawn[index], np.column_stack([rows["cost"], 100 * rows["accuracy"]]))
    labels.clear()
    without = summary[~summary["method"].isin(["knn", "task"])]
    with mock.patch("avengers_pro.plots.frontier.save_figure", capture):
        plots.plot_families(without, tmp_path / "alone", variant="official", n_clusters=4, dpi=DPI)
    assert not {"knn", "task"} & set(labels)


# --------------------------------------------------------------------------- data without recorded costs


def _cost_tick_labels(costs: np.ndarray, log: bool = False) -> tuple[list[str], str]:
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xlabel("Total test cost (USD)")
    ax.scatter(costs, np.linspace(0.4, 0.9, len(costs)))
    plots._set_cost_axis(ax, np.asarray(costs, dtype=float), log)
    fig.canvas.draw()
    labels = [tick.get_text() for tick in ax.get_xticklabels() if tick.get_text()]
    return labels, ax.get_xlabel()


def test_a_cost_axis_never_shows_negative_dollars() -> None:
    labels, xlabel = _cost_tick_labels(np.zeros(5))
    assert labels == ["$0"] and xlabel == "Total test cost (USD) (no costs recorded)"
    labels, xlabel = _cost_tick_labels(np.array([0.0, 0.01, 0.5, 1.0]))
    assert labels and not any(label.startswith("$-") or label.startswith("$\u2212") for label in labels)
    assert xlabel == "Total test cost (USD)"


def zero_cost_summary() -> pd.DataFrame:
    summary = make_summary()
    summary["cost"] = 0.0
    summary["cost_sd"] = 0.0
    return summary


def test_every_figure_draws_data_without_costs(tmp_path: Path) -> None:
    summary = zero_cost_summary()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. matplotlib's "identical low and high ylims"
        plots.plot_pareto(summary, tmp_path / "pareto", variant="official", n_clusters=4, dpi=DPI)
        plots.plot_variants(summary, tmp_path / "variants", n_clusters=4, dpi=DPI)
        entry = make_metrics_entry(cost_save=None)
        entry["best_single"]["cost"] = 0.0
        entry["null_reasons"] = {"cost_save": "every recorded cost is 0, so there is no cost range to measure"}
        plots.plot_headline(entry, tmp_path / "headline", dpi=DPI)
    for stem in ("pareto", "variants", "headline"):
        assert_written(tmp_path / stem)


# --------------------------------------------------------------------------- the figure registry


def test_every_registered_figure_has_a_caption_and_a_plot_job() -> None:
    from avengers_pro.plots import registry

    assert len(set(registry.FIGURE_NAMES)) == len(registry.FIGURES)
    for spec in registry.FIGURES:
        assert (REPO / "workflow" / "report" / f"{spec.name}.rst").is_file(), spec.name
        assert spec in registry.figures_of(spec.job)
    # Every caption file belongs to a figure or to Table 3 / the workflow description.
    captions = {path.stem for path in (REPO / "workflow" / "report").glob("*.rst")}
    assert captions == {*registry.FIGURE_NAMES, "table", "workflow"}


def test_the_registry_draws_every_figure_from_the_result_files(tmp_path: Path) -> None:
    from avengers_pro.plots import registry

    summary_path = tmp_path / "summary.csv"
    make_summary().to_csv(summary_path, index=False)
    sweep_paths = []
    for variant in ("official", "paper"):
        for seed in (0, 1):
            path = tmp_path / "sweep" / variant / f"k4_seed{seed}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            make_sweep(0.01 * seed).to_parquet(path)
            sweep_paths.append(path)
    metrics_path = tmp_path / "metrics.json"
    metrics_path.write_text(json.dumps([make_metrics_entry()]))
    inputs = registry.PlotInputs(summary_path, sweep_paths[:2], metrics_path, sweep_paths)
    plots_config = {
        "main": {"variant": "official", "n_clusters": 4},
        "log_cost": "auto",
        "usage_alphas": [0.0, 1.0],
        "table_alphas": [0.0, 1.0],
        "score_label": "Win rate",
    }
    from unittest import mock

    texts: dict[str, list[str]] = {}
    original = plots.save_figure

    def capture(fig, stem, dpi):
        texts[Path(stem).name] = [t for ax in fig.axes for t in (ax.get_ylabel(), ax.get_xlabel(), ax.get_title())]
        original(fig, stem, dpi)

    for spec in registry.FIGURES:
        module = {"pareto": "frontier", "variants": "frontier", "families": "frontier", "headline": "headline"}
        with mock.patch(f"avengers_pro.plots.{module.get(spec.name, 'sweeps')}.save_figure", capture):
            spec.draw(inputs, spec.settings_of(plots_config), tmp_path / "figures" / spec.name)
        assert_written(tmp_path / "figures" / spec.name)
    # The score label (plots.score_label) names the score on every figure that shows one; none says "ccuracy".
    for name, labels in texts.items():
        assert not any("ccuracy" in text for text in labels), name
        if name != "model_usage":
            assert any("Win rate" in text for text in labels), name
    with pytest.raises(KeyError, match="no figure 'nope'"):
        registry.figure("nope")


def test_frontier_figures_without_oracle_rows_leave_the_oracle_out_of_the_legend(tmp_path: Path) -> None:
    """A summary without the oracle's curve (or its best-score point) still draws, without their entries."""
    from unittest import mock

    summary = make_summary()
    summary = summary[~summary["method"].isin(["oracle", "best-score-oracle"])]
    labels: list[str] = []
    original = plots.save_figure

    def capture(fig, stem, dpi):
        labels.extend(text.get_text() for ax in fig.axes for text in ax.get_legend().get_texts())
        original(fig, stem, dpi)

    with mock.patch("avengers_pro.plots.frontier.save_figure", capture):
        plots.plot_pareto(summary, tmp_path / "pareto", variant="official", n_clusters=4, dpi=DPI)
        plots.plot_variants(summary, tmp_path / "variants", n_clusters=4, dpi=DPI)
    assert labels and not any("oracle" in label for label in labels)
    assert_written(tmp_path / "pareto")
