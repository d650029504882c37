"""End to end: snakemake on the tiny scenario in .test/, then reruns that must do only what changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from avengers_pro.evaluation.cv import FAMILY_ORDER
from avengers_pro.evaluation.family_runs import aligned_embeddings, read_selection, split_flags
from avengers_pro.export import Router, write_fitted_router
from avengers_pro.io import read_embeddings, read_record_matrix
from avengers_pro.outputs import LEADERBOARD_COLUMNS, dataset_columns, family_rows, read_leaderboard, read_summary
from avengers_pro.plots.registry import FIGURE_NAMES
from avengers_pro.routing import make_estimator
from avengers_pro.testing.workflow_runs import planned_jobs, run_snakemake, snakemake

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny") / "work"
    shutil.copytree(ROOT / ".test", workdir)
    snakemake(workdir)
    return workdir


def _edit_config(workdir: Path, edit) -> None:
    path = workdir / "config.yaml"
    config = yaml.safe_load(path.read_text())
    edit(config)
    path.write_text(yaml.safe_dump(config))


def test_outputs_are_built(built: Path):
    records = pd.read_parquet(built / "results/records.parquet")
    assert list(records.columns[:7]) == ["query_id", "dataset", "query", "prompt", "model", "score", "cost"]
    assert records["query_id"].nunique() == 90 and records["model"].nunique() == 4
    embeddings = pd.read_parquet(built / "results/embeddings/all-MiniLM-L6-v2.parquet")
    assert len(embeddings) == 90
    for seed in (0, 1):
        split = pd.read_parquet(built / f"results/splits/seed{seed}.parquet")
        assert (split["split"] == "test").sum() == 3 * (30 - 21)
        for k in (2, 4):
            clusters = pd.read_parquet(built / f"results/clusters/k{k}_seed{seed}.parquet")
            assert set(clusters["query_id"]) == set(split.loc[split["split"] == "train", "query_id"])
            for variant in ("paper", "official"):
                sweep = pd.read_parquet(built / f"results/sweep/{variant}/k{k}_seed{seed}.parquet")
                assert sweep["alpha"].nunique() == 11 and sweep["dataset"].nunique() == 3
    summary = read_summary(built / "results/summary.csv")
    assert {
        "avengers-pro",
        "random",
        "oracle",
        "best-score-oracle",
        "dataset-oracle",
        "dataset-router",
        "large",
    } <= set(summary["method"])
    # The per-query oracle: a curve over the 11 alphas, its alpha = 1 end the best-score point.
    oracle = summary[summary["method"] == "oracle"].set_index("alpha")
    best_score = summary[summary["method"] == "best-score-oracle"]
    assert len(oracle) == 11 and len(best_score) == 1
    assert oracle.loc[1.0, "accuracy"] == pytest.approx(best_score["accuracy"].iloc[0])
    metrics = json.loads((built / "results/metrics.json").read_text())
    assert {(m["variant"], m["n_clusters"]) for m in metrics if m["n_clusters"] is not None} == {
        (v, k) for v in ("paper", "official") for k in (2, 4)
    }
    # Each router family: 11 alphas of summary.csv right after Avengers-Pro, with per-dataset accuracy.
    families = ["knn", "logistic", "shrinkage", "task"]
    methods = list(dict.fromkeys(summary["method"]))
    assert methods[:6] == ["avengers-pro", *families, "dataset-router"]
    rows = family_rows(summary)
    assert sorted(set(rows["method"])) == families and (rows["family"] == rows["method"]).all()
    assert len(rows) == 4 * 11 and (rows["kind"] == "router").all() and (rows["n_seeds"] == 2).all()
    assert rows[["alpha", *dataset_columns(summary)]].notna().all(axis=None) and len(dataset_columns(summary)) == 3
    assert rows["hyperparameters"].str.contains("seed").all()
    assert (summary.loc[summary["method"] == "avengers-pro", "family"] == "avengers-pro").all()
    for figure in ("pareto", "headline", "alpha_sweep", "model_usage", "cluster_ablation", "variants"):
        for ext in ("png", "pdf"):
            assert (built / f"figures/{figure}.{ext}").stat().st_size > 1000
    assert "**" in (built / "results/table.md").read_text()
    leaderboard = read_leaderboard(built / "results/leaderboard.csv")
    assert list(leaderboard.columns) == [
        *LEADERBOARD_COLUMNS,
        "aiq_delta_seed0",
        "aiq_delta_seed1",
        *dataset_columns(summary),
    ]
    assert {*families, "dataset-router (official)", "avengers-pro official (k=4)", "oracle"} <= set(
        leaderboard["router"]
    )
    assert leaderboard["aiq"].is_monotonic_decreasing
    board = leaderboard.set_index("router")
    assert board.loc["dataset-router (official)", "aiq_delta_vs_dataset_router"] == 0
    # The validation hull chooses a subset of each seed's alphas: never above the test hull's AIQ.
    assert (board["aiq"] <= board["aiq_test_hull"] + 1e-12).all()
    assert board.loc["avengers-pro official (k=4)", "aiq_delta_vs_avengers_pro"] == 0
    assert (
        board.loc[families, ["aiq_delta_vs_avengers_pro_low", "aiq_delta_vs_avengers_pro_high"]].notna().all(axis=None)
    )
    assert board[dataset_columns(summary)].notna().all(axis=None)
    markdown = (built / "results/leaderboard.md").read_text()
    assert "ΔAIQ vs Avengers-Pro [95%]" in markdown
    assert "Per-dataset accuracy at each router's best-accuracy alpha" in markdown
    # metrics.json: one entry per family between Avengers-Pro and the dataset routers, its AIQ the
    # leaderboard's (one cost range, one curve), its intervals the leaderboard row's.
    assert [m["method"] for m in metrics] == ["avengers-pro"] * 4 + families + ["dataset-router"] * 2 + ["oracle"]
    # The oracle's AIQ: the same in metrics.json and the leaderboard (RouterBench's test-hull AIQ in
    # both), and the ceiling of both; its ranking AIQ keeps every point of its curve, none above the hull.
    assert metrics[-1]["aiq"] == pytest.approx(board.loc["oracle", "aiq_test_hull"], abs=1e-12)
    assert board.loc["oracle", "aiq"] <= board.loc["oracle", "aiq_test_hull"] + 1e-12
    assert metrics[-1]["aiq"] >= max(m["aiq"] for m in metrics) and leaderboard["router"].iloc[0] == "oracle"
    for entry in metrics:
        if entry["method"] in families:
            row = board.loc[entry["method"]]
            assert entry["aiq"] == pytest.approx(row["aiq_test_hull"], abs=1e-12)
            assert entry["aiq_validation_hull"] == pytest.approx(row["aiq"], abs=1e-12)
            assert entry["hyperparameters"] == row["hyperparameters"]
            assert entry["bootstrap"]["aiq_difference_vs_avengers_pro"] == {
                "reference": "avengers-pro official (k=4)",
                "estimate": pytest.approx(row["aiq_delta_vs_avengers_pro"], abs=1e-12),
                "lo": pytest.approx(row["aiq_delta_vs_avengers_pro_low"], abs=1e-12),
                "hi": pytest.approx(row["aiq_delta_vs_avengers_pro_high"], abs=1e-12),
                "n_resamples": row["n_resamples"],
                "n_undefined": row["aiq_delta_vs_avengers_pro_n_undefined"],
            }
            assert entry["bootstrap"]["cost_save_difference"]["n_resamples"] == row["n_resamples"]
        if entry["method"] == "dataset-router":
            name = f"dataset-router ({entry['variant']})"
            assert entry["family"] == "dataset-router"
            assert entry["aiq"] == pytest.approx(board.loc[name, "aiq_test_hull"], abs=1e-12)
            assert entry["aiq_validation_hull"] == pytest.approx(board.loc[name, "aiq"], abs=1e-12)
        if entry["method"] == "avengers-pro" and (entry["variant"], entry["n_clusters"]) == ("official", 4):
            # One bootstrap: the metrics job draws the leaderboard's weights, so the same intervals.
            row = board.loc["avengers-pro official (k=4)"]
            found = entry["bootstrap"]["aiq_difference"]
            assert [found["estimate"], found["lo"], found["hi"]] == pytest.approx(
                [row["aiq_delta_vs_dataset_router"], row["aiq_delta_low"], row["aiq_delta_high"]], abs=1e-12
            )
    for seed in (0, 1):
        sweep = pd.read_parquet(built / f"results/families/knn/seed{seed}.parquet")
        assert sweep["alpha"].nunique() == 11 and sweep["dataset"].nunique() == 3


def test_second_run_does_nothing(built: Path):
    assert planned_jobs(built) == {}


def test_adding_a_cluster_count_runs_only_its_new_jobs(built: Path, tmp_path: Path):
    workdir = tmp_path / "work"
    shutil.copytree(built, workdir, symlinks=True)
    _edit_config(workdir, lambda c: c["clustering"].update(n_clusters=[2, 3, 4]))
    jobs = planned_jobs(workdir)
    assert jobs.get("cluster") == 1  # one job for k=3 (both seeds); nothing else re-clustered
    assert jobs.get("sweep") == 2  # one per variant (it sweeps every k; only k=3 is new)
    assert not {"ingest", "embed", "split", "baselines"} & set(jobs)


def test_changing_only_the_alphas_reruns_only_sweep_and_downstream(built: Path, tmp_path: Path):
    workdir = tmp_path / "work"
    shutil.copytree(built, workdir, symlinks=True)
    _edit_config(workdir, lambda c: c["sweep"].update(alphas={"start": 0.0, "stop": 1.0, "num": 21}))
    jobs = planned_jobs(workdir)
    assert jobs.get("sweep") == 2 and jobs.get("baselines") == 1  # one sweep job per variant
    assert not {"ingest", "embed", "split", "cluster", "export_clusters", "export_select"} & set(jobs)
    # The exports pick their alpha on the new grid, from the stored KMeans fits / family choice.
    assert "export_router" in jobs and "export_family" in jobs
    # The families route on the new grid; their hyperparameter search (no alphas in it) does not rerun.
    assert jobs.get("family_route") == 4 and "family_select" not in jobs


def test_seed_order_in_the_config_does_not_change_any_sweep(built: Path, tmp_path: Path):
    """A sweep job covers every (k, seed): each seed must get its own split whatever the config order."""
    workdir = tmp_path / "work"
    shutil.copytree(built, workdir, symlinks=True)
    _edit_config(workdir, lambda c: c["split"].update(seeds=[1, 0]))
    targets = [
        f"results/{kind}/{variant}/k{k}_seed{seed}.parquet"
        for kind in ("sweep", "decisions")
        for variant in ("official", "paper")
        for k in (2, 4)
        for seed in (0, 1)
    ]
    snakemake(workdir, *targets)
    for target in targets:
        pd.testing.assert_frame_equal(pd.read_parquet(workdir / target), pd.read_parquet(built / target))


def test_changing_a_plot_setting_reruns_only_plot_rules(built: Path, tmp_path: Path):
    workdir = tmp_path / "work"
    shutil.copytree(built, workdir, symlinks=True)
    _edit_config(workdir, lambda c: c["plots"].update(usage_alphas=[0.0, 1.0]))
    jobs = planned_jobs(workdir)
    assert set(jobs) == {"all", "plot_summary"}  # the job that draws the usage chart; not plot_metrics


def test_bad_config_fails_before_any_job_with_the_key_named(tmp_path: Path):
    workdir = tmp_path / "work"
    shutil.copytree(ROOT / ".test", workdir)
    _edit_config(workdir, lambda c: c["split"].update(train_ratio=3))
    done = run_snakemake(workdir)
    assert done.returncode != 0
    assert "split.train_ratio" in done.stdout + done.stderr
    assert not (workdir / "results").exists()


def test_a_source_in_place_is_never_scheduled_for_download(tmp_path: Path):
    """A downloaded or hand-copied file gets no download job, so no rerun trigger can delete it."""
    workdir = tmp_path / "work"
    shutil.copytree(ROOT / ".test", workdir)
    origin = tmp_path / "origin.csv"
    shutil.copy(workdir / "data/records.csv", origin)
    import hashlib

    digest = hashlib.sha256(origin.read_bytes()).hexdigest()
    (workdir / "data/records.csv").unlink()

    def use_url(config):
        config["sources"] = [
            {"name": "tiny", "format": "records", "path": "data/records.csv", "url": origin.as_uri(), "sha256": digest}
        ]

    _edit_config(workdir, use_url)
    assert planned_jobs(workdir).get("download") == 1
    shutil.copy(origin, workdir / "data/records.csv")
    assert "download" not in planned_jobs(workdir)


def test_the_exported_router_routes_a_new_query(built: Path):
    manifest = json.loads((built / "results/exports/default/manifest.json").read_text())
    assert manifest["format_version"] == 1
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "avengers_pro.cli",
            "route",
            "--router",
            str(built / "results/exports/default"),
            "Write a python function that reverses a string.",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() in {"small", "medium", "large", "coder"}


@pytest.mark.parametrize("family", ["knn", "logistic", "task", "shrinkage"])
def test_a_router_exported_from_each_family_makes_the_sweeps_decisions(built: Path, family: str, tmp_path: Path):
    """The family's seed-0 estimator (its validation-chosen hyperparameters, fitted on that seed's train
    queries as family_route fits it), written as a router folder and loaded back, routes the seed's test
    queries to exactly the models of results/families/{family}/decisions_seed0.parquet, at every alpha."""
    config = yaml.safe_load((built / "config.yaml").read_text())
    matrix = read_record_matrix(built / "results/records.parquet", config.get("models") or None)
    (embeddings_file,) = (built / "results/embeddings").glob("*.parquet")
    query_ids, vectors = read_embeddings(embeddings_file)
    vectors = aligned_embeddings(query_ids, vectors, matrix)
    is_test, _ = split_flags(pd.read_parquet(built / "results/splits/seed0.parquet"), matrix, 0)
    params = read_selection(built / f"results/families/{family}/selection.json")[1][0]
    train = matrix.subset(~is_test)
    write_fitted_router(
        tmp_path / family,
        make_estimator(family, params, seed=0).fit(vectors[~is_test], train),
        params=params,
        matrix=train,
        max_router=1,
        alpha={"default": 1.0, "chosen_by": "fixed", "validation": None},
        selection={"requested": family},
        embedder={"backend": "sentence-transformers", "model": "all-MiniLM-L6-v2"},
        config={},
    )
    router = Router.load(tmp_path / family)
    assert router.family == family
    decisions = pd.read_parquet(built / f"results/families/{family}/decisions_seed0.parquet")
    test_ids = matrix.query_ids[is_test]
    alphas = sorted(decisions["alpha"].unique())
    assert len(alphas) == config["sweep"]["alphas"]["num"]
    for alpha in alphas:
        expected = decisions[decisions["alpha"] == alpha].set_index("query_id")["model"].loc[test_ids]
        assert router.with_alpha(float(alpha)).route_embeddings(vectors[is_test]) == expected.tolist(), alpha


def test_the_router_exported_as_best_on_validation(built: Path):
    selection = json.loads((built / "results/export_fits/best.json").read_text())
    candidates = selection["candidates"]
    # The families by name (the validated config sorts keys), then Avengers-Pro.
    assert [c["family"] for c in candidates] == ["knn", "logistic", "shrinkage", "task", "avengers-pro"]
    # K-fold CV over all records, then the simplest family within one standard error of the best.
    best = max(candidates, key=lambda c: c["validation_aiq"])
    within = [c for c in candidates if c["validation_aiq"] >= best["validation_aiq"] - best["validation_aiq_se"]]
    simplest = min(within, key=lambda c: FAMILY_ORDER.index(c["family"]))
    assert selection["family"] == simplest["family"] and selection["params"] == simplest["params"]
    router = Router.load(built / "results/exports/best")
    assert router.family == selection["family"]
    assert json.loads((built / "results/exports/best/router.json").read_text())["alpha"]["chosen_by"] == (
        "match-best-single"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "avengers_pro.cli",
            "route",
            "--router",
            str(built / "results/exports/best"),
            "--explain",
        ]
        + ["Write a python function that reverses a string."],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["model"] in {"small", "medium", "large", "coder"}


def test_report_has_every_figure_with_a_rendered_caption(built: Path, tmp_path: Path):
    report = tmp_path / "report.html"
    snakemake(built, "--report", str(report))
    html = report.read_text()
    assert "{{" not in html and "{%" not in html  # every caption template was rendered
    assert "all-MiniLM-L6-v2" in html  # captions say which embedder was run
    for figure in FIGURE_NAMES:
        assert f"{figure}.png" in html


def test_changing_one_family_grid_reruns_only_that_family_and_what_shows_it(built: Path, tmp_path: Path):
    workdir = tmp_path / "work"
    shutil.copytree(built, workdir, symlinks=True)
    _edit_config(workdir, lambda c: c["families"].update(knn={"n_neighbors": [3, 5]}))
    # The family's two jobs, not the other families'; then what shows the families: summary.csv (its
    # rows), the leaderboard, metrics.json and the plot jobs that read them; and the export that chooses
    # among the families (config export: best).
    assert planned_jobs(workdir) == {
        "all": 1,
        "family_select": 1,
        "family_route": 1,
        "summary": 1,
        "leaderboard": 1,
        "metrics": 1,
        "plot_summary": 1,
        "plot_metrics": 1,
        "export_select": 1,
        "export_family": 1,
    }
