"""Router families on the pipeline's splits, and the leaderboard (avengers_pro.evaluation.leaderboard), on tiny data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_families import GRIDS, tiny

from avengers_pro.errors import DataError
from avengers_pro.evaluation import metrics
from avengers_pro.evaluation.baselines import dataset_router
from avengers_pro.evaluation.cv import cv_folds, select_cv
from avengers_pro.evaluation.family_runs import hyperparameters_text, run_family, split_flags
from avengers_pro.evaluation.leaderboard import (
    LEADERBOARD_COLUMNS,
    SELECTION_ALPHAS,
    Entry,
    baseline_entry,
    build_leaderboard,
    family_entry,
    oracle_decisions,
)
from avengers_pro.evaluation.leaderboard_markdown import leaderboard_markdown
from avengers_pro.evaluation.pipeline_rows import dataset_router_validation_sweeps, pipeline_entries
from avengers_pro.evaluation.selection import make_estimator
from avengers_pro.evaluation.summary import seed_curve
from avengers_pro.evaluation.sweep import evaluate_choices
from avengers_pro.io import RecordMatrix
from avengers_pro.outputs import SWEEP_COLUMNS, read_leaderboard, routed_models
from avengers_pro.routing.scores import Variant

ALPHAS = np.linspace(0.0, 1.0, 11)
SEEDS = (0, 1)


def splits_of(matrix: RecordMatrix, seeds=SEEDS) -> dict[int, pd.DataFrame]:
    """Split frames as the pipeline writes them (30% test, 30% of train validation), rows shuffled."""
    out = {}
    for seed in seeds:
        rng = np.random.default_rng(100 + seed)
        is_test = rng.random(len(matrix.query_ids)) < 0.3
        frame = pd.DataFrame(
            {
                "query_id": matrix.query_ids,
                "dataset": matrix.datasets,
                "split": np.where(is_test, "test", "train"),
                "validation": ~is_test & (rng.random(len(matrix.query_ids)) < 0.3),
            }
        )
        out[seed] = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def problem():
    embeddings, matrix = tiny(n=150)
    return embeddings, matrix, splits_of(matrix)


def test_split_flags_align_with_the_records_and_name_a_missing_query(problem) -> None:
    _, matrix, splits = problem
    is_test, is_validation = split_flags(splits[0], matrix, 0)
    by_id = splits[0].set_index("query_id").loc[matrix.query_ids]
    np.testing.assert_array_equal(is_test, (by_id["split"] == "test").to_numpy())
    np.testing.assert_array_equal(is_validation, by_id["validation"].to_numpy(bool))
    with pytest.raises(DataError, match="q003.*not in the split"):
        split_flags(splits[0][splits[0]["query_id"] != "q003"], matrix, 0)


@pytest.mark.parametrize("family", ["knn", "task", "shrinkage"])
def test_run_family_is_select_refit_and_route_per_seed_in_the_sweep_format(problem, family: str) -> None:
    """Per seed, run_family = select_cv on the train rows (folds seeded by the seed), then the chosen
    estimator refitted on all of train routes the test queries once."""
    embeddings, matrix, splits = problem
    runs = run_family(family, GRIDS[family], embeddings, matrix, splits, ALPHAS, n_folds=3)
    assert [run.seed for run in runs] == list(SEEDS)
    for run in runs:
        is_test, is_validation = split_flags(splits[run.seed], matrix, run.seed)
        train = ~is_test
        folds = cv_folds(matrix.datasets[train], 3, run.seed)
        selection = select_cv(
            family, GRIDS[family], embeddings[train], matrix.subset(train), folds, SELECTION_ALPHAS, seed=run.seed
        )
        estimator = make_estimator(family, selection.params, run.seed).fit(embeddings[train], matrix.subset(train))
        choices = estimator.choose(embeddings[is_test], ALPHAS, matrix.available[is_test])
        assert run.params == selection.params and run.validation == selection.validation
        assert set(SWEEP_COLUMNS) <= set(run.sweep.columns) and routed_models(run.sweep) == matrix.models
        assert len(run.sweep) == len(ALPHAS) * len(set(matrix.datasets[is_test]))
        assert len(run.decisions) == len(ALPHAS) * int(is_test.sum())
        models = np.asarray(matrix.models, dtype=object)[choices].ravel()
        np.testing.assert_array_equal(run.decisions["model"].to_numpy(dtype=object), models)
        # The validation sweep: the chosen hyperparameters fitted without the carve-out, routing it.
        fit = train & ~is_validation
        held_out = make_estimator(family, selection.params, run.seed).fit(embeddings[fit], matrix.subset(fit))
        expected, _ = evaluate_choices(
            held_out.choose(embeddings[is_validation], ALPHAS, matrix.available[is_validation])[..., None],
            matrix.subset(is_validation),
            ALPHAS,
            with_decisions=False,
        )
        pd.testing.assert_frame_equal(run.validation_sweep, expected)


def test_run_family_never_reads_test_records(problem) -> None:
    """Every test score and cost randomised: the same choices on validation and the same test decisions."""
    embeddings, matrix, splits = problem
    runs = run_family("knn", GRIDS["knn"], embeddings, matrix, splits, ALPHAS)
    is_test, _ = split_flags(splits[0], matrix, 0)
    rng = np.random.default_rng(5)
    scores, costs = matrix.scores.copy(), matrix.costs.copy()
    recorded = matrix.available & is_test[:, None]
    scores[recorded], costs[recorded] = rng.random(recorded.sum()), rng.random(recorded.sum()) * 50
    shuffled = RecordMatrix(matrix.query_ids, matrix.datasets, matrix.models, scores, costs)
    again = run_family("knn", GRIDS["knn"], embeddings, shuffled, {0: splits[0]}, ALPHAS)[0]
    assert again.params == runs[0].params and again.validation == runs[0].validation
    np.testing.assert_array_equal(again.decisions["model"].to_numpy(), runs[0].decisions["model"].to_numpy())


def test_hyperparameters_text_groups_equal_choices() -> None:
    text = hyperparameters_text({2: {"n": 5}, 0: {"n": 5}, 1: {"n": 10, "v": {"name": "official", "x": 1}}})
    assert text == "n=5 (seeds 0, 2); n=10, v=official (seed 1)"


def entries_of(embeddings, matrix, splits) -> tuple[list[Entry], dict]:
    official = Variant("official", "official", "official")
    knn = run_family("knn", GRIDS["knn"], embeddings, matrix, splits, ALPHAS)
    task = run_family("task", GRIDS["task"], embeddings, matrix, splits, ALPHAS)
    routers, oracles, sweeps = {}, {}, {}
    for seed, split in splits.items():
        is_test, _ = split_flags(split, matrix, seed)
        _, routers[seed] = dataset_router(
            matrix, matrix.query_ids[~is_test], matrix.query_ids[is_test], official, ALPHAS
        )
        oracles[seed] = oracle_decisions(matrix.subset(is_test), ALPHAS)
    sweeps = {"knn": {r.seed: r.sweep for r in knn}, "task": {r.seed: r.sweep for r in task}}
    validation = dataset_router_validation_sweeps(
        matrix, splits, {"official": {"normalisation": "official", "aggregation": "official"}}, ALPHAS
    )
    entries = [
        family_entry("knn", {r.seed: r.decisions for r in knn}, {r.seed: r.params for r in knn}, validation_of(knn)),
        family_entry(
            "task", {r.seed: r.decisions for r in task}, {r.seed: r.params for r in task}, validation_of(task)
        ),
        baseline_entry("dataset-router", routers, {s: validation[("official", s)] for s in splits}),
        baseline_entry("oracle", oracles),
    ]
    return entries, sweeps


def validation_of(runs) -> dict[int, pd.DataFrame]:
    return {run.seed: run.validation_sweep for run in runs}


def validation_hull_aiq(entry: Entry, cost_range: tuple[float, float]) -> float:
    """The validation-hull AIQ computed directly: per seed, the upper hull of the validation curve
    picks alphas; their test points, joined in cost order, 0 before and flat after, averaged over seeds."""
    values = []
    for seed, frame in entry.decisions.items():
        val = seed_curve(entry.validation[seed])
        hull_cost, hull_acc = metrics.upper_hull(val["cost"].to_numpy(), val["accuracy"].to_numpy())
        alphas = [val.index[(val["cost"] == c) & (val["accuracy"] == a)][0] for c, a in zip(hull_cost, hull_acc)]
        test = pd.DataFrame(
            {
                "alpha": frame["alpha"].round(9),
                "dataset": frame["dataset"],
                "accuracy": frame["score"],
                "cost": frame["cost"],
            }
        )
        per_dataset = test.groupby(["alpha", "dataset"]).agg(accuracy=("accuracy", "mean"), cost=("cost", "sum"))
        curve = per_dataset.groupby("alpha").agg(accuracy=("accuracy", "mean"), cost=("cost", "sum")).loc[alphas]
        curve = curve.sort_values(["cost", "accuracy"])
        assert curve["cost"].max() <= cost_range[1]  # no segment to clip
        xs = np.concatenate([curve["cost"].to_numpy(), [cost_range[1]]])
        ys = np.concatenate([curve["accuracy"].to_numpy(), [curve["accuracy"].iloc[-1]]])
        values.append(float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2)) / cost_range[1])
    return float(np.mean(values))


def test_leaderboard_rows_are_the_seed_averaged_sweeps(problem) -> None:
    embeddings, matrix, splits = problem
    entries, sweeps = entries_of(embeddings, matrix, splits)
    best = {"model": "m3", "accuracy": 0.6, "cost": 40.0}
    cost_range = (0.0, 400.0)  # above every test cost
    table = build_leaderboard(entries, "dataset-router", best, cost_range, n_resamples=200, avengers_pro="task")
    datasets = sorted(set(matrix.datasets))
    assert list(table.columns) == [
        *LEADERBOARD_COLUMNS,
        *(f"aiq_delta_seed{s}" for s in SEEDS),
        *(f"accuracy_{d}" for d in datasets),
    ]
    assert list(table["rank"]) == [1, 2, 3, 4]
    assert (np.diff(table["aiq"].to_numpy()) <= 0).all()
    rows = table.set_index("router")
    by_name = {entry.name: entry for entry in entries}
    for family, per_seed in sweeps.items():
        curves = [seed_curve(per_seed[s]) for s in SEEDS]
        acc = np.mean([c["accuracy"].to_numpy() for c in curves], axis=0)
        cost = np.mean([c["cost"].to_numpy() for c in curves], axis=0)
        assert rows.loc[family, "aiq_test_hull"] == pytest.approx(metrics.aiq(cost, acc, cost_range))
        assert rows.loc[family, "aiq"] == pytest.approx(validation_hull_aiq(by_name[family], cost_range))
        assert rows.loc[family, "aiq"] <= rows.loc[family, "aiq_test_hull"] + 1e-12
        # PerfGain against the best single's 0.6: (best - 0.6) / 0.6.
        assert rows.loc[family, "perf_gain"] == pytest.approx((acc.max() - 0.6) / 0.6)
        delta = rows.loc[family, "aiq"] - rows.loc["dataset-router", "aiq"]
        assert rows.loc[family, "aiq_delta_vs_dataset_router"] == pytest.approx(delta)
        assert rows.loc[family, "aiq_delta_low"] <= rows.loc[family, "aiq_delta_high"]
        test_hull_delta = rows.loc[family, "aiq_test_hull"] - rows.loc["dataset-router", "aiq_test_hull"]
        assert rows.loc[family, "aiq_test_hull_delta_vs_dataset_router"] == pytest.approx(test_hull_delta)
        seeds = rows.loc[family, [f"aiq_delta_seed{s}" for s in SEEDS]].to_numpy(dtype=float)
        assert seeds.mean() == pytest.approx(delta)
        assert rows.loc[family, "n_resamples"] == 200 and rows.loc[family, "aiq_delta_n_undefined"] == 0
        assert rows.loc[family, "kind"] == "router" and "seed" in rows.loc[family, "hyperparameters"]
        # Per-dataset accuracy at the alpha of the best seed-averaged accuracy, read off the sweeps.
        # The best seed-averaged accuracy, at its cheapest alpha.
        point = min(np.flatnonzero(acc == acc.max()), key=lambda i: (cost[i], i))
        assert rows.loc[family, "best_accuracy_alpha"] == pytest.approx(ALPHAS[point])
        assert rows.loc[family, "best_accuracy"] == pytest.approx(acc.max())
        for dataset in datasets:
            at_best = [
                per_seed[s].set_index(["alpha", "dataset"]).loc[(ALPHAS[point], dataset), "accuracy"] for s in SEEDS
            ]
            assert rows.loc[family, f"accuracy_{dataset}"] == pytest.approx(np.mean(at_best))
    assert rows.loc["dataset-router", "aiq_delta_vs_dataset_router"] == 0.0
    assert np.isnan(rows.loc["dataset-router", "aiq_delta_low"])
    # Against Avengers-Pro (here task stands in for it): the AIQ difference, 0 for itself.
    delta = rows.loc["knn", "aiq"] - rows.loc["task", "aiq"]
    assert rows.loc["knn", "aiq_delta_vs_avengers_pro"] == pytest.approx(delta)
    assert rows.loc["task", "aiq_delta_vs_avengers_pro"] == 0.0 and np.isnan(
        rows.loc["task", "aiq_delta_vs_avengers_pro_low"]
    )
    assert rows.loc["dataset-router", "aiq_delta_vs_avengers_pro"] == pytest.approx(
        -rows.loc["task", "aiq_delta_vs_dataset_router"]
    )
    # One bootstrap for both references: the dataset-router columns are those of a run without the second.
    alone = build_leaderboard(entries, "dataset-router", best, cost_range, n_resamples=200).set_index("router")
    router_columns = ["aiq_delta_vs_dataset_router", "aiq_delta_low", "aiq_delta_high"]
    pd.testing.assert_frame_equal(alone[router_columns], rows.loc[alone.index, router_columns])
    assert alone["aiq_delta_vs_avengers_pro"].isna().all()
    assert rows.loc["oracle", "best_accuracy"] >= table["best_accuracy"].max() - 1e-12
    assert rows.loc["oracle", "kind"] == "baseline"
    # The oracle's curve is a ceiling in AIQ too: it ranks first.
    assert table["router"].iloc[0] == "oracle" and rows.loc["oracle", "aiq"] == table["aiq"].max()
    markdown = leaderboard_markdown(table, cost_range, best, 0.95, reference="dataset-router", avengers_pro="task")
    ranked, per_dataset = markdown.split("Per-dataset accuracy at each router's best-accuracy alpha")
    assert ranked.count("\n| ") == len(table) + 1 and "| 1 |" in ranked
    assert "ΔAIQ vs Avengers-Pro [95%]" in ranked and "router minus task" in ranked
    assert per_dataset.count("\n| ") == len(table) + 1
    judged = leaderboard_markdown(table, cost_range, best, 0.95, score_label="Win rate")
    assert "Per-dataset win rate at each router's best-win rate alpha" in judged and "ccuracy" not in judged
    assert "| rank | router | alpha | " + " | ".join(datasets) + " | mean |" in per_dataset


def test_a_copy_of_the_reference_has_a_zero_interval(problem) -> None:
    embeddings, matrix, splits = problem
    entries, _ = entries_of(embeddings, matrix, splits)
    twin = Entry("twin", "router", "copy", entries[2].decisions, validation=entries[2].validation)
    table = build_leaderboard([*entries, twin], "dataset-router", {"accuracy": 0.6, "cost": 40.0}, (0.0, 60.0), 50)
    row = table.set_index("router").loc["twin"]
    assert row["aiq_delta_vs_dataset_router"] == 0.0 and row["aiq_delta_low"] == 0.0 and row["aiq_delta_high"] == 0.0


def test_leaderboard_rejects_rows_on_other_seeds_or_an_unknown_reference(problem) -> None:
    embeddings, matrix, splits = problem
    entries, _ = entries_of(embeddings, matrix, splits)
    short = Entry("short", "router", "knn", {0: entries[0].decisions[0]})
    with pytest.raises(DataError, match="'short' has seeds \\[0\\]"):
        build_leaderboard([*entries, short], "dataset-router", {"accuracy": 0.6, "cost": 1.0}, (0.0, 1.0), 0)
    with pytest.raises(DataError, match="no row named 'nope'"):
        build_leaderboard(entries, "nope", {"accuracy": 0.6, "cost": 1.0}, (0.0, 1.0), 0)


def test_pipeline_entries_pick_avengers_pro_k_by_cv(problem) -> None:
    """Avengers-Pro's row takes, per seed, the decisions of the k the fold AIQs choose (one-SE rule);
    the main row its fixed k."""
    embeddings, matrix, splits = problem
    knn = {r.seed: r for r in run_family("knn", GRIDS["knn"], embeddings, matrix, splits, ALPHAS)}
    task = {r.seed: r for r in run_family("task", GRIDS["task"], embeddings, matrix, splits, ALPHAS)}
    rng = np.random.default_rng(1)
    decisions, validation, routers = {}, {}, {}
    for seed in SEEDS:
        is_test, is_validation = split_flags(splits[seed], matrix, seed)
        val = matrix.subset(is_validation)
        for k, source in ((2, knn), (4, task)):  # stand-ins for Avengers-Pro's decisions at k = 2 and 4
            decisions[("official", k, seed)] = source[seed].decisions
            choices = rng.integers(0, len(matrix.models), size=(len(ALPHAS), len(val.query_ids)))
            choices = np.where(val.available[np.arange(len(val.query_ids)), choices], choices, 0)
            validation[("official", k, seed)], _ = evaluate_choices(
                choices[..., None], val, ALPHAS, with_decisions=False
            )
        _, routers[("official", seed)] = dataset_router(
            matrix,
            matrix.query_ids[~is_test],
            matrix.query_ids[is_test],
            Variant("official", "official", "official"),
            ALPHAS,
        )
    # Seed 0: k = 4 clearly better on every fold; seed 1: k = 4 better by less than a standard error.
    fold_aiqs = pd.DataFrame(
        [(2, 0, f, 0.5 + 0.01 * f) for f in range(3)]
        + [(4, 0, f, 0.6 + 0.01 * f) for f in range(3)]
        + [(2, 1, f, 0.5 + 0.05 * f) for f in range(3)]
        + [(4, 1, f, 0.51 + 0.05 * f) for f in range(3)],
        columns=["n_clusters", "seed", "fold", "aiq"],
    )
    entries, reference, avengers_pro = pipeline_entries(
        matrix,
        splits,
        {("knn", s): knn[s].decisions for s in SEEDS},
        {"knn": {s: knn[s].params for s in SEEDS}},
        decisions,
        validation,
        routers,
        {"variant": "official", "n_clusters": 4},
        {"official": fold_aiqs},
    )
    by_name = {entry.name: entry for entry in entries}
    assert reference == "dataset-router (official)" and reference in by_name
    assert avengers_pro == "avengers-pro official (k=4)" and avengers_pro in by_name
    assert set(by_name) == {
        "knn",
        "avengers-pro official (k by CV)",
        "avengers-pro official (k=4)",
        "dataset-router (official)",
        "oracle",
    }
    for seed, best in ((0, 4), (1, 2)):
        assert by_name["avengers-pro official (k by CV)"].decisions[seed] is decisions[("official", best, seed)]
        assert by_name["avengers-pro official (k by CV)"].validation[seed] is validation[("official", best, seed)]
        assert by_name["avengers-pro official (k=4)"].decisions[seed] is decisions[("official", 4, seed)]
    assert by_name["avengers-pro official (k by CV)"].hyperparameters == "n_clusters=4 (seed 0); n_clusters=2 (seed 1)"
    with pytest.raises(DataError, match="results/sweep_oof/official/cv_aiq.parquet"):
        pipeline_entries(
            matrix,
            splits,
            {},
            {},
            decisions,
            validation,
            routers,
            {"variant": "official", "n_clusters": 4},
            {},
        )
    table = build_leaderboard(
        entries, reference, {"accuracy": 0.6, "cost": 40.0}, (0.0, 60.0), 0, avengers_pro=avengers_pro
    )
    assert table["aiq_delta_low"].isna().all()  # no resamples: no intervals
    assert table["aiq_delta_vs_avengers_pro_low"].isna().all()


# --------------------------------------------------------------------------- a leaderboard by hand


def hand_decisions(per_alpha: dict[float, tuple[list[float], list[float]]]) -> pd.DataFrame:
    """Decisions on the test queries a1, a2 (arc) and m1, m2 (mbpp): alpha -> (scores, costs)."""
    frames = []
    for alpha, (scores, costs) in per_alpha.items():
        frames.append(
            pd.DataFrame(
                {
                    "alpha": alpha,
                    "query_id": ["a1", "a2", "m1", "m2"],
                    "dataset": ["arc", "arc", "mbpp", "mbpp"],
                    "model": "m",
                    "score": scores,
                    "cost": costs,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def hand_validation(points: dict[float, tuple[float, float]]) -> pd.DataFrame:
    """A validation sweep of one dataset: alpha -> (accuracy, cost)."""
    return pd.DataFrame(
        {
            "alpha": list(points),
            "dataset": "arc",
            "accuracy": [a for a, _ in points.values()],
            "cost": [c for _, c in points.values()],
        }
    )


#: Both alphas on the validation hull (the cheaper one less accurate).
BOTH = {s: hand_validation({0.0: (0.2, 1.0), 1.0: (0.8, 2.0)}) for s in (0, 1)}


def hand_entries() -> list[Entry]:
    half, one, two = [0.5] * 4, [1.0] * 4, [2.0] * 4
    entries = [
        # seed 0: alpha 0 arc .5, mbpp 0 (.25); alpha 1 arc 1, mbpp .5 (.75).
        # seed 1: alpha 0 arc .5, mbpp .5 (.5); alpha 1 arc .5, mbpp 1 (.75).
        # Seed-averaged: alpha 0 .375, alpha 1 .75 -> best alpha 1: arc .75, mbpp .75.
        Entry(
            "r",
            "router",
            "r",
            {
                0: hand_decisions({0.0: ([1, 0, 0, 0], one), 1.0: ([1, 1, 1, 0], two)}),
                1: hand_decisions({0.0: ([0, 1, 1, 0], one), 1.0: ([1, 0, 1, 1], two)}),
            },
        ),
        # Both alphas .5 at the same cost: the smaller alpha, 0, where arc is 1 and mbpp 0.
        Entry(
            "t",
            "router",
            "t",
            {s: hand_decisions({0.0: ([1, 1, 0, 0], half), 1.0: ([0, 0, 1, 1], half)}) for s in (0, 1)},
        ),
        Entry(
            "ap",
            "router",
            "avengers-pro",
            {s: hand_decisions({0.0: ([0, 1, 0, 0], one), 1.0: ([1, 1, 0, 1], two)}) for s in (0, 1)},
        ),
        Entry(
            "dr",
            "baseline",
            "dataset-router",
            {s: hand_decisions({0.0: ([0, 0, 0, 0], one), 1.0: ([1, 1, 1, 0], two)}) for s in (0, 1)},
        ),
    ]
    for entry in entries:
        entry.validation = BOTH
    # r: on seed 1's validation curve alpha 0 is dominated (less accurate, dearer): only alpha 1 is kept.
    entries[0].validation = {0: BOTH[0], 1: hand_validation({0.0: (0.2, 3.0), 1.0: (0.8, 2.0)})}
    return entries


def test_leaderboard_by_hand_per_dataset_accuracy_and_both_references() -> None:
    entries = hand_entries()
    twin = Entry("ap twin", "router", "copy", entries[2].decisions, validation=BOTH)
    best = {"model": "m", "accuracy": 0.7, "cost": 8.0}
    table = build_leaderboard([*entries, twin], "dr", best, (0.0, 10.0), 50, avengers_pro="ap")
    rows = table.set_index("router")
    columns = [*LEADERBOARD_COLUMNS, "aiq_delta_seed0", "aiq_delta_seed1", "accuracy_arc", "accuracy_mbpp"]
    assert list(table.columns) == columns
    assert rows.loc["r", ["best_accuracy", "best_accuracy_alpha", "accuracy_arc", "accuracy_mbpp"]].tolist() == [
        0.75,
        1.0,
        0.75,
        0.75,
    ]
    assert rows.loc["t", ["best_accuracy", "best_accuracy_alpha", "accuracy_arc", "accuracy_mbpp"]].tolist() == [
        0.5,
        0.0,
        1.0,
        0.0,
    ]
    # ap: alpha 1 arc 1, mbpp .5 on both seeds; dr: alpha 1 arc 1, mbpp .5.
    assert rows.loc["ap", ["accuracy_arc", "accuracy_mbpp"]].tolist() == [1.0, 0.5]
    # The curves (cost, accuracy): r (4, .375), (8, .75); ap (4, .25), (8, .75); dr (4, 0), (8, .75);
    # t (2, .5) twice. AIQ over [0, 10]: (nothing before the first point, the chord, then flat) / 10.
    aiq = {
        "r": (4 * (0.375 + 0.75) / 2 + 2 * 0.75) / 10,
        "ap": (4 * (0.25 + 0.75) / 2 + 2 * 0.75) / 10,
        "dr": (4 * (0.0 + 0.75) / 2 + 2 * 0.75) / 10,
        "t": 8 * 0.5 / 10,
    }
    for name, value in aiq.items():
        assert rows.loc[name, "aiq_test_hull"] == pytest.approx(value)
    # PerfGain against the best single's 0.7: r (.75 - .7) / .7; t (.5 - .7) / .7.
    assert rows.loc["r", "perf_gain"] == pytest.approx(0.05 / 0.7)
    assert rows.loc["t", "perf_gain"] == pytest.approx(-0.2 / 0.7)
    # The validation hull: every row keeps both alphas on both seeds (t's two points coincide on
    # test: the same AIQ), except r on seed 1, which keeps alpha 1 alone: (8, .75) -> 2 * .75 / 10,
    # where both points give seed 1 (4, .5), (8, .75) -> (4 * 1.25 / 2 + 2 * .75) / 10.
    r_seed0 = (4 * (0.25 + 0.75) / 2 + 2 * 0.75) / 10
    assert rows.loc["r", "aiq"] == pytest.approx((r_seed0 + 2 * 0.75 / 10) / 2)
    assert rows.loc["r", "aiq"] < rows.loc["r", "aiq_test_hull"]
    aiq["r"] = rows.loc["r", "aiq"]
    for name in ("ap", "dr", "t"):
        assert rows.loc[name, "aiq"] == pytest.approx(aiq[name])
    assert rows.loc["r", "aiq_delta_seed1"] == pytest.approx(2 * 0.75 / 10 - aiq["dr"])
    assert rows.loc["r", "aiq_delta_vs_avengers_pro"] == pytest.approx(aiq["r"] - aiq["ap"])
    assert rows.loc["r", "aiq_delta_vs_dataset_router"] == pytest.approx(aiq["r"] - aiq["dr"])
    assert rows.loc["dr", "aiq_delta_vs_avengers_pro"] == pytest.approx(aiq["dr"] - aiq["ap"])
    lo, hi = rows.loc["r", ["aiq_delta_vs_avengers_pro_low", "aiq_delta_vs_avengers_pro_high"]]
    assert lo <= hi
    # The reference against itself is 0 without an interval; its copy has an exactly zero interval.
    assert rows.loc["ap", "aiq_delta_vs_avengers_pro"] == 0.0
    assert np.isnan(rows.loc["ap", "aiq_delta_vs_avengers_pro_low"])
    assert rows.loc[
        "ap twin", ["aiq_delta_vs_avengers_pro", "aiq_delta_vs_avengers_pro_low", "aiq_delta_vs_avengers_pro_high"]
    ].tolist() == [0.0, 0.0, 0.0]
    assert list(table["router"]) == ["t", "ap", "ap twin", "dr", "r"]  # by AIQ: .4, .35, .35, .3, .25
    with pytest.raises(DataError, match="no row named 'nope'"):
        build_leaderboard(entries, "dr", best, (0.0, 10.0), 0, avengers_pro="nope")


def test_read_leaderboard_round_trips_and_names_file_row_and_field_of_a_bad_value(tmp_path) -> None:
    table = build_leaderboard(hand_entries(), "dr", {"accuracy": 0.7, "cost": 8.0}, (0.0, 10.0), 20, avengers_pro="ap")
    path = tmp_path / "leaderboard.csv"
    table.to_csv(path, index=False)
    back = read_leaderboard(path)
    pd.testing.assert_frame_equal(back, table)
    assert back.loc[back["router"] == "t", "hyperparameters"].iloc[0] == ""

    def broken(edit) -> DataError:
        edit(table.astype(object)).to_csv(path, index=False)
        with pytest.raises(DataError) as error:
            read_leaderboard(path)
        assert str(path) in str(error.value)
        return error.value

    error = broken(lambda f: f.assign(aiq=["0.4", "high", "0.3", "0.25"]))
    assert (error.row, error.field) == (3, "aiq") and "not a number: 'high'" in str(error)
    error = broken(lambda f: f.drop(columns="aiq_delta_vs_avengers_pro"))
    assert error.field == "aiq_delta_vs_avengers_pro" and "missing column" in str(error)
    error = broken(lambda f: f.assign(router=["t", "ap", "t", "r"]))
    assert (error.row, error.field) == (4, "router") and "'t' appears twice" in str(error)
    error = broken(lambda f: f.assign(best_accuracy=[0.5, None, 0.75, 0.75]))
    assert (error.row, error.field) == (3, "best_accuracy") and "value missing" in str(error)
    error = broken(lambda f: f.assign(accuracy_mbpp=[0.0, 1.5, 0.5, 0.5]))
    assert (error.row, error.field) == (3, "accuracy_mbpp") and "[0, 1]" in str(error)
    error = broken(lambda f: f.assign(kind=["router", "model?", "router", "baseline"]))
    assert (error.row, error.field) == (3, "kind")
    path.write_text("")
    with pytest.raises(DataError, match="cannot read the leaderboard"):
        read_leaderboard(path)
