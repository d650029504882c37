"""Aggregation over seeds (summary.csv) and metrics.json, on frames built by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from avengers_pro.errors import DataError
from avengers_pro.evaluation import metrics
from avengers_pro.evaluation.alpha_choice import single_model_outcomes
from avengers_pro.evaluation.family_runs import hyperparameters_text
from avengers_pro.evaluation.leaderboard import avengers_pro_entry, baseline_entry, build_leaderboard, family_entry
from avengers_pro.evaluation.metrics_json import (
    FREE_REFERENCE,
    NO_COST_RANGE,
    aiq_cost_range,
    best_single_model,
    compute_metrics,
)
from avengers_pro.evaluation.summary import seed_curve, summarize
from avengers_pro.outputs import (
    check_leaderboard,
    check_summary,
    check_sweep,
    dataset_router_row,
    family_rows,
    fixed_k_row,
    read_summary,
    write_summary,
)

MODELS = ("cheap", "mid", "strong")


def sweep_frame(rows: list[tuple[float, str, float, float, int]], max_router: int = 1) -> pd.DataFrame:
    """A sweep frame from (alpha, dataset, accuracy, cost, n_queries) rows."""
    frame = pd.DataFrame(rows, columns=["alpha", "dataset", "accuracy", "cost", "n_queries"])
    frame["max_router"] = max_router
    frame["routed[cheap]"] = frame["n_queries"]
    return frame


def baseline_frame(rows: list[tuple[str, str, float, str, float, float, int]]) -> pd.DataFrame:
    """A baselines frame from (method, variant, alpha, dataset, accuracy, cost, n_queries) rows."""
    frame = pd.DataFrame(rows, columns=["method", "variant", "alpha", "dataset", "accuracy", "cost", "n_queries"])
    frame.insert(1, "kind", np.where(frame["method"].isin(MODELS), "model", "baseline"))
    frame["routed[cheap]"] = 0
    return frame


def hand_made_inputs() -> tuple[list, list]:
    # arc has 10 test queries, mbpp 30: a query-weighted mean would differ from the unweighted one.
    sweeps = [
        (
            "paper",
            4,
            0,
            sweep_frame(
                [
                    (0.0, "arc", 0.5, 1.0, 10),
                    (0.0, "mbpp", 0.7, 2.0, 30),
                    (1.0, "arc", 0.8, 3.0, 10),
                    (1.0, "mbpp", 0.6, 4.0, 30),
                ]
            ),
        ),
        (
            "paper",
            4,
            1,
            sweep_frame(
                [
                    (0.0, "arc", 0.7, 1.5, 10),
                    (0.0, "mbpp", 0.9, 2.5, 30),
                    (1.0, "arc", 0.6, 3.0, 10),
                    (1.0, "mbpp", 1.0, 5.0, 30),
                ]
            ),
        ),
    ]
    nan = float("nan")

    def seed_baselines(shift: float) -> pd.DataFrame:
        rows = []
        for dataset in ("arc", "mbpp"):
            rows += [
                ("strong", "", nan, dataset, 0.7 + shift, 4.0, 10),
                ("cheap", "", nan, dataset, 0.4 + shift, 0.5, 10),
                ("random", "", nan, dataset, 0.5, 2.0, 10),
                ("oracle", "", 0.0, dataset, 0.6, 0.1, 10),
                ("oracle", "", 1.0, dataset, 0.9, 0.3, 10),
                ("best-score-oracle", "", nan, dataset, 0.9, 0.3, 10),
                ("dataset-oracle", "", nan, dataset, 0.75, 3.0, 10),
                ("dataset-router", "paper", 0.0, dataset, 0.4, 1.0, 10),
                ("dataset-router", "paper", 1.0, dataset, 0.7, 3.5, 10),
            ]
        return baseline_frame(rows)

    return sweeps, [(0, seed_baselines(0.0)), (1, seed_baselines(0.1))]


# --------------------------------------------------------------------------- summarize


def test_summarize_unweighted_mean_sd_and_columns() -> None:
    sweeps, baselines = hand_made_inputs()
    summary = summarize(sweeps, baselines)
    assert list(summary.columns) == [
        "method",
        "kind",
        "family",
        "variant",
        "n_clusters",
        "alpha",
        "max_router",
        "accuracy",
        "accuracy_sd",
        "cost",
        "cost_sd",
        "n_seeds",
        "hyperparameters",
        "accuracy_arc",
        "accuracy_mbpp",
    ]
    router = summary[summary["method"] == "avengers-pro"].set_index("alpha")
    # alpha 0: seed 0 (.5 + .7) / 2 = .6, seed 1 (.7 + .9) / 2 = .8 -> mean .7, sd sqrt(.01 + .01) = .1414;
    # costs 3 and 4 -> 3.5, sd .7071. Per dataset: arc (.5 + .7) / 2 = .6, mbpp (.7 + .9) / 2 = .8.
    assert router.loc[0.0, "accuracy"] == pytest.approx(0.7)
    assert router.loc[0.0, "accuracy_sd"] == pytest.approx(math.sqrt(0.02))
    assert router.loc[0.0, "cost"] == pytest.approx(3.5)
    assert router.loc[0.0, "cost_sd"] == pytest.approx(math.sqrt(0.5))
    assert router.loc[0.0, "accuracy_arc"] == pytest.approx(0.6)
    assert router.loc[0.0, "accuracy_mbpp"] == pytest.approx(0.8)
    # alpha 1: seed 0 (.8 + .6) / 2 = .7 (query-weighted would be .65), seed 1 .8 -> .75; costs 7, 8.
    assert router.loc[1.0, "accuracy"] == pytest.approx(0.75)
    assert router.loc[1.0, "cost"] == pytest.approx(7.5)
    assert (router["n_seeds"] == 2).all() and (router["n_clusters"] == 4).all()
    assert (router["variant"] == "paper").all() and (router["max_router"] == 1).all()


def test_summarize_baselines_rows_and_order() -> None:
    sweeps, baselines = hand_made_inputs()
    summary = summarize(sweeps, baselines)
    assert summary["method"].tolist() == [
        "avengers-pro",
        "avengers-pro",
        "dataset-router",
        "dataset-router",
        "oracle",
        "oracle",
        "best-score-oracle",
        "dataset-oracle",
        "random",
        "cheap",
        "strong",
    ]
    strong = summary[summary["method"] == "strong"].iloc[0]
    # .7 and .8 over the two seeds; cost 2 datasets x 4 = 8.
    assert strong["accuracy"] == pytest.approx(0.75)
    assert strong["cost"] == pytest.approx(8.0)
    assert pd.isna(strong["variant"]) and pd.isna(strong["n_clusters"]) and pd.isna(strong["alpha"])
    router = summary[summary["method"] == "dataset-router"]
    assert router["variant"].tolist() == ["paper", "paper"]
    assert router["alpha"].tolist() == [0.0, 1.0]
    assert router["n_clusters"].isna().all()
    assert router["accuracy_sd"].tolist() == [0.0, 0.0]
    # The oracle's curve keeps its alphas (and has no variant); its best-score point has no alpha.
    oracle = summary[summary["method"] == "oracle"]
    assert oracle["alpha"].tolist() == [0.0, 1.0] and oracle["variant"].isna().all()
    assert oracle["accuracy"].tolist() == pytest.approx([0.6, 0.9]) and (oracle["max_router"] == 1).all()
    assert pd.isna(summary.loc[summary["method"] == "best-score-oracle", "alpha"]).all()


def family_inputs(max_router: int = 1) -> list[tuple[str, int, pd.DataFrame]]:
    """Two router families' test sweeps on the two seeds of :func:`hand_made_inputs`."""
    knn = {
        0: [
            (0.0, "arc", 0.4, 1.0, 10),
            (0.0, "mbpp", 0.6, 1.0, 30),
            (1.0, "arc", 0.9, 4.0, 10),
            (1.0, "mbpp", 0.7, 6.0, 30),
        ],
        1: [
            (0.0, "arc", 0.6, 2.0, 10),
            (0.0, "mbpp", 0.8, 1.0, 30),
            (1.0, "arc", 0.7, 4.0, 10),
            (1.0, "mbpp", 0.9, 4.0, 30),
        ],
    }
    task = [
        (0.0, "arc", 0.5, 1.0, 10),
        (0.0, "mbpp", 0.5, 1.0, 30),
        (1.0, "arc", 0.5, 1.0, 10),
        (1.0, "mbpp", 0.5, 1.0, 30),
    ]
    return [
        ("task", 1, sweep_frame(task, max_router)),
        ("knn", 1, sweep_frame(knn[1], max_router)),
        ("knn", 0, sweep_frame(knn[0], max_router)),
        ("task", 0, sweep_frame(task, max_router)),
    ]


def test_summarize_adds_each_router_family_as_rows_after_avengers_pro(tmp_path) -> None:
    sweeps, baselines = hand_made_inputs()
    texts = {"knn": "n_neighbors=5 (seed 0); n_neighbors=9 (seed 1)"}  # task's text left out: none
    summary = summarize(sweeps, baselines, family_inputs(), texts)
    assert summary["method"].tolist() == [
        "avengers-pro",
        "avengers-pro",
        "knn",
        "knn",
        "task",
        "task",
        "dataset-router",
        "dataset-router",
        "oracle",
        "oracle",
        "best-score-oracle",
        "dataset-oracle",
        "random",
        "cheap",
        "strong",
    ]
    knn = summary[summary["method"] == "knn"].set_index("alpha")
    # alpha 0: seed 0 (.4 + .6) / 2 = .5, seed 1 (.6 + .8) / 2 = .7 -> .6; costs 2 and 3 -> 2.5.
    # Per dataset: arc (.4 + .6) / 2 = .5, mbpp (.6 + .8) / 2 = .7.
    assert knn.loc[0.0, "accuracy"] == pytest.approx(0.6)
    assert knn.loc[0.0, "accuracy_sd"] == pytest.approx(math.sqrt(0.02))
    assert knn.loc[0.0, "cost"] == pytest.approx(2.5)
    assert knn.loc[0.0, "accuracy_arc"] == pytest.approx(0.5)
    assert knn.loc[0.0, "accuracy_mbpp"] == pytest.approx(0.7)
    # alpha 1: seed 0 (.9 + .7) / 2 = .8, seed 1 (.7 + .9) / 2 = .8; arc .8, mbpp .8; costs 10, 8 -> 9.
    assert knn.loc[1.0, "accuracy"] == pytest.approx(0.8) and knn.loc[1.0, "accuracy_sd"] == pytest.approx(0.0)
    assert knn.loc[1.0, "cost"] == pytest.approx(9.0)
    assert knn.loc[1.0, "accuracy_arc"] == pytest.approx(0.8)
    assert (knn["kind"] == "router").all() and (knn["family"] == "knn").all() and (knn["n_seeds"] == 2).all()
    assert knn["variant"].isna().all() and knn["n_clusters"].isna().all() and (knn["max_router"] == 1).all()
    assert (knn["hyperparameters"] == texts["knn"]).all()
    assert summary.loc[summary["method"] == "task", "hyperparameters"].isna().all()
    by_method = summary.groupby("method", sort=False)["family"].first()
    assert by_method["avengers-pro"] == "avengers-pro"
    assert by_method[["dataset-router", "oracle", "random", "cheap"]].isna().all()
    assert summary.loc[summary["method"] == "avengers-pro", "hyperparameters"].isna().all()
    # Through the file and its reader: a family's rows are the family_rows, with their hyperparameters.
    path = tmp_path / "summary.csv"
    write_summary(summary, str(path))
    back = read_summary(str(path))
    assert sorted(set(family_rows(back)["method"])) == ["knn", "task"]
    assert back.loc[back["method"] == "knn", "hyperparameters"].iloc[0] == texts["knn"]
    assert (back.loc[back["method"] == "oracle", ["family", "hyperparameters"]] == "").all(axis=None)
    # The order of the inputs does not matter.
    pd.testing.assert_frame_equal(summary, summarize(sweeps, baselines, family_inputs()[::-1], texts))


def test_summarize_keeps_avengers_pro_max_router_for_the_dataset_router_beside_families() -> None:
    """A family routes to one model whatever sweep.max_router says: its max_router 1 is no conflict."""
    sweeps, baselines = hand_made_inputs()
    sweeps = [(v, k, seed, frame.assign(max_router=2)) for v, k, seed, frame in sweeps]
    summary = summarize(sweeps, baselines, family_inputs(max_router=1))
    max_router = summary.groupby("method")["max_router"].max()
    assert max_router["avengers-pro"] == 2 and max_router["dataset-router"] == 2 and max_router["knn"] == 1


def test_summarize_rejects_a_family_named_like_a_method_or_missing_a_dataset() -> None:
    sweeps, baselines = hand_made_inputs()
    _, seed, frame = family_inputs()[0]
    with pytest.raises(DataError, match="family 'cheap' has the name of another method"):
        summarize(sweeps, baselines, [("cheap", seed, frame)])
    with pytest.raises(DataError, match="'knn'.*covers 1 of the 2 datasets"):
        summarize(sweeps, baselines, [("knn", seed, frame[frame["dataset"] == "arc"])])


def test_summarize_one_seed_has_missing_sd_and_round_trips(tmp_path) -> None:
    sweeps, baselines = hand_made_inputs()
    summary = summarize(sweeps[:1], baselines[:1])
    assert summary["accuracy_sd"].isna().all() and summary["cost_sd"].isna().all()
    assert (summary["n_seeds"] == 1).all()
    path = tmp_path / "summary.csv"
    write_summary(summary, str(path))
    back = read_summary(str(path))
    pd.testing.assert_frame_equal(back, check_summary(summary), check_dtype=False)
    assert back["kind"].tolist() == ["router"] * 2 + ["baseline"] * 7 + ["model"] * 2


def test_summarize_is_deterministic_whatever_the_input_order() -> None:
    sweeps, baselines = hand_made_inputs()
    forward = summarize(sweeps, baselines)
    backward = summarize(sweeps[::-1], baselines[::-1])
    pd.testing.assert_frame_equal(forward, backward)


def test_summarize_rejects_bad_frames() -> None:
    sweeps, baselines = hand_made_inputs()
    path = "results/sweep/paper/k4_seed0.parquet"
    broken = sweeps[0][3].drop(columns="cost")
    with pytest.raises(DataError, match=r"results/sweep/paper/k4_seed0.parquet.*cost"):
        check_sweep(broken, path)
    missing_row = sweeps[0][3].iloc[:-1]
    with pytest.raises(DataError, match="missing"):
        check_sweep(missing_row, path)
    nan_accuracy = sweeps[0][3].copy()
    nan_accuracy.loc[2, "accuracy"] = np.nan
    with pytest.raises(DataError, match="row 2.*accuracy"):
        check_sweep(nan_accuracy, path)
    one_dataset = baselines[0][1][baselines[0][1]["dataset"] == "arc"]
    with pytest.raises(DataError, match="datasets"):
        summarize(sweeps[:1], [(0, one_dataset)])
    with pytest.raises(DataError, match="twice"):
        summarize([sweeps[0], sweeps[0]], baselines)


def test_seed_curve() -> None:
    sweeps, _ = hand_made_inputs()
    curve = seed_curve(sweeps[0][3])
    assert curve.index.tolist() == [0.0, 1.0]
    np.testing.assert_allclose(curve["accuracy"], [0.6, 0.7])
    np.testing.assert_allclose(curve["cost"], [3.0, 7.0])


# --------------------------------------------------------------------------- synthetic end-to-end inputs


def outcome_frame(query_ids: np.ndarray, datasets: np.ndarray, scores: np.ndarray, costs: np.ndarray) -> pd.DataFrame:
    """Long (query_id, dataset, model, score, cost) frame from (Q, M) matrices."""
    q, m = scores.shape
    return pd.DataFrame(
        {
            "query_id": np.repeat(query_ids, m),
            "dataset": np.repeat(datasets, m),
            "model": np.tile(MODELS, q),
            "score": scores.ravel(),
            "cost": costs.ravel(),
        }
    )


def decisions_and_sweep(
    chosen: np.ndarray,
    alphas: np.ndarray,
    query_ids: np.ndarray,
    datasets: np.ndarray,
    scores: np.ndarray,
    costs: np.ndarray,
    max_router: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(A, Q) chosen model indices -> a decisions frame and its sweep frame."""
    rows = np.arange(len(query_ids))[None, :]
    decisions = pd.DataFrame(
        {
            "alpha": np.repeat(alphas, len(query_ids)),
            "query_id": np.tile(query_ids, len(alphas)),
            "dataset": np.tile(datasets, len(alphas)),
            "model": np.asarray(MODELS)[chosen.ravel()],
            "score": scores[rows, chosen].ravel(),
            "cost": costs[rows, chosen].ravel(),
        }
    )
    sweep = (
        decisions.groupby(["alpha", "dataset"], sort=True)
        .agg(accuracy=("score", "mean"), cost=("cost", "sum"), n_queries=("score", "size"))
        .reset_index()
    )
    sweep["max_router"] = max_router
    return decisions, sweep


def synthetic_run(
    n_seeds: int = 2, same_router: bool = False, max_router: int = 1, prices: tuple[float, ...] = (0.001, 0.01, 0.05)
) -> dict:
    """Everything compute_metrics needs, from random score/cost matrices (3 models, 2 datasets);
    ``prices`` scales each model's costs (0 = a model without recorded costs)."""
    alphas = np.linspace(0.0, 1.0, 11)
    inputs: dict = {
        "sweeps": [],
        "validation_sweeps": {},
        "decisions": {},
        "router_decisions": {},
        "baselines": [],
        "single_outcomes": {},
        "validation_singles": {},
        "dataset_router_validation": {},
    }
    for seed in range(n_seeds):
        rng = np.random.default_rng(seed)
        parts = {}
        for part, sizes in (("test", (30, 20)), ("validation", (15, 10))):
            datasets = np.repeat(["arc", "mbpp"], sizes)
            query_ids = np.array([f"{part}{seed}_{i:03d}" for i in range(len(datasets))])
            # cheap < mid < strong in accuracy and in cost.
            scores = (rng.random((len(datasets), 3)) < np.array([0.45, 0.65, 0.85])).astype(float)
            costs = np.array(prices) * (0.5 + rng.random((len(datasets), 3)))
            # The router climbs from cheap to strong as alpha grows, query by query.
            threshold = rng.random(len(datasets))
            chosen = (alphas[:, None] > threshold[None, :]).astype(int) + (alphas[:, None] > 0.8)
            chosen = np.clip(chosen + (scores[None, :, 1] > scores[None, :, 0]) * (alphas[:, None] > 0.3), 0, 2)
            parts[part] = (query_ids, datasets, scores, costs, chosen)
        query_ids, datasets, scores, costs, chosen = parts["test"]
        decisions, sweep = decisions_and_sweep(chosen, alphas, query_ids, datasets, scores, costs, max_router)
        inputs["sweeps"].append(("paper", 4, seed, sweep))
        inputs["decisions"][("paper", 4, seed)] = decisions
        # The dataset router: per dataset one model, switching at a dataset-specific alpha.
        switch = np.where(datasets == "arc", 0.35, 0.65)
        dr_chosen = (alphas[:, None] > switch[None, :]).astype(int) * 2
        if same_router:
            dr_chosen = chosen
        dr_decisions, dr_sweep = decisions_and_sweep(dr_chosen, alphas, query_ids, datasets, scores, costs)
        inputs["router_decisions"][("paper", seed)] = dr_decisions
        outcomes = outcome_frame(query_ids, datasets, scores, costs)
        inputs["single_outcomes"][seed] = outcomes
        per_model = (
            outcomes.groupby(["model", "dataset"])
            .agg(accuracy=("score", "mean"), cost=("cost", "sum"), n_queries=("score", "size"))
            .reset_index()
            .rename(columns={"model": "method"})
        )
        oracle = (
            outcomes.groupby("query_id")
            .agg(dataset=("dataset", "first"), score=("score", "max"), cost=("cost", "min"))
            .groupby("dataset")
            .agg(accuracy=("score", "mean"), cost=("cost", "sum"), n_queries=("score", "size"))
            .reset_index()
        )
        per_model["kind"] = "model"
        oracle["method"] = "best-score-oracle"
        oracle["kind"] = "baseline"
        dr_sweep["method"] = "dataset-router"
        dr_sweep["kind"] = "baseline"
        dr_sweep["variant"] = "paper"
        baselines = pd.concat([per_model, oracle, dr_sweep.drop(columns="max_router")], ignore_index=True)
        baselines["variant"] = baselines["variant"].fillna("")
        baselines["alpha"] = baselines["alpha"].where(baselines["method"] == "dataset-router")
        inputs["baselines"].append((seed, baselines))
        v_ids, v_datasets, v_scores, v_costs, v_chosen = parts["validation"]
        _, v_sweep = decisions_and_sweep(v_chosen, alphas, v_ids, v_datasets, v_scores, v_costs, max_router)
        inputs["validation_sweeps"][("paper", 4, seed)] = v_sweep
        inputs["validation_singles"][seed] = outcome_frame(v_ids, v_datasets, v_scores, v_costs)
        v_switch = np.where(v_datasets == "arc", 0.35, 0.65)
        v_dr_chosen = v_chosen if same_router else (alphas[:, None] > v_switch[None, :]).astype(int) * 2
        _, v_dr_sweep = decisions_and_sweep(v_dr_chosen, alphas, v_ids, v_datasets, v_scores, v_costs)
        inputs["dataset_router_validation"][("paper", seed)] = v_dr_sweep
    return inputs


def run_metrics(inputs: dict, n_resamples: int = 200, seed: int = 0) -> list[dict]:
    summary = check_summary(summarize(inputs["sweeps"], inputs["baselines"]))
    return compute_metrics(
        summary,
        inputs["validation_sweeps"],
        inputs["sweeps"],
        inputs["decisions"],
        inputs["router_decisions"],
        inputs["single_outcomes"],
        n_resamples,
        0.95,
        seed,
        choice_singles=inputs["validation_singles"],
        dataset_router_validation=inputs["dataset_router_validation"],
    )


def with_family(inputs: dict, family: str = "knn") -> dict:
    """Add a router family to a :func:`synthetic_run`: per seed, each test query switches from the
    cheap to the strong model at an alpha of its own; its sweeps, decisions and chosen hyperparameters."""
    alphas = np.linspace(0.0, 1.0, 11)
    inputs["family_sweeps"], inputs["family_decisions"] = [], {}
    for seed, outcomes in inputs["single_outcomes"].items():
        scores = outcomes.pivot(index="query_id", columns="model", values="score")[list(MODELS)]
        costs = outcomes.pivot(index="query_id", columns="model", values="cost")[list(MODELS)]
        datasets = outcomes.groupby("query_id")["dataset"].first().loc[scores.index].to_numpy()
        threshold = np.random.default_rng(10 + seed).random(len(scores))
        chosen = (alphas[:, None] > threshold[None, :]).astype(int) * 2
        decisions, sweep = decisions_and_sweep(
            chosen, alphas, scores.index.to_numpy(), datasets, scores.to_numpy(), costs.to_numpy()
        )
        inputs["family_sweeps"].append((family, seed, sweep))
        inputs["family_decisions"][seed] = decisions
    # Its validation sweeps: the same rule on the validation queries.
    inputs["family_validation"] = {}
    for seed, outcomes in inputs["validation_singles"].items():
        scores = outcomes.pivot(index="query_id", columns="model", values="score")[list(MODELS)]
        costs = outcomes.pivot(index="query_id", columns="model", values="cost")[list(MODELS)]
        datasets = outcomes.groupby("query_id")["dataset"].first().loc[scores.index].to_numpy()
        threshold = np.random.default_rng(20 + seed).random(len(scores))
        chosen = (alphas[:, None] > threshold[None, :]).astype(int) * 2
        _, inputs["family_validation"][seed] = decisions_and_sweep(
            chosen, alphas, scores.index.to_numpy(), datasets, scores.to_numpy(), costs.to_numpy()
        )
    inputs["family_params"] = {seed: {"n_neighbors": 5 + seed} for seed in inputs["single_outcomes"]}
    return inputs


def metrics_with_families(inputs: dict, n_resamples: int = 100) -> tuple[list[dict], pd.DataFrame, dict]:
    """metrics.json's entries and the leaderboard of a synthetic run with one router family, built as
    the pipeline builds them: summary -> leaderboard (its cost range and best single model) -> metrics."""
    main = {"variant": "paper", "n_clusters": 4}
    seeds = sorted(inputs["single_outcomes"])
    summary = check_summary(
        summarize(
            inputs["sweeps"],
            inputs["baselines"],
            inputs["family_sweeps"],
            {"knn": hyperparameters_text(inputs["family_params"])},
        )
    )
    entries = [
        family_entry("knn", inputs["family_decisions"], inputs["family_params"], inputs["family_validation"]),
        avengers_pro_entry(
            "paper",
            {(4, s): inputs["decisions"][("paper", 4, s)] for s in seeds},
            dict.fromkeys(seeds, 4),
            fixed_k_row(main),
            {(4, s): inputs["validation_sweeps"][("paper", 4, s)] for s in seeds},
        ),
        baseline_entry(
            dataset_router_row("paper"),
            {s: inputs["router_decisions"][("paper", s)] for s in seeds},
            {s: inputs["dataset_router_validation"][("paper", s)] for s in seeds},
        ),
    ]
    best = best_single_model(summary)
    single = {
        s: inputs["single_outcomes"][s][inputs["single_outcomes"][s]["model"] == best["model"]].assign(alpha=1.0)
        for s in seeds
    }
    table = build_leaderboard(
        entries,
        dataset_router_row("paper"),
        best,
        aiq_cost_range(summary),
        n_resamples,
        avengers_pro=fixed_k_row(main),
        single=single,
    )
    leaderboard = check_leaderboard(table)
    entries = compute_metrics(
        summary,
        inputs["validation_sweeps"],
        inputs["sweeps"],
        inputs["decisions"],
        inputs["router_decisions"],
        inputs["single_outcomes"],
        n_resamples,
        0.95,
        choice_singles=inputs["validation_singles"],
        leaderboard=leaderboard,
        main=main,
        dataset_router_validation=inputs["dataset_router_validation"],
    )
    return entries, leaderboard.set_index("router"), main


# --------------------------------------------------------------------------- compute_metrics


def test_family_entries_sit_between_avengers_pro_and_the_dataset_router_with_the_leaderboard_numbers() -> None:
    inputs = with_family(synthetic_run())
    entries, leaderboard, main = metrics_with_families(inputs)
    json.dumps(entries, allow_nan=False)
    assert [(e["method"], e["family"], e["variant"], e["n_clusters"]) for e in entries] == [
        ("avengers-pro", "avengers-pro", "paper", 4),
        ("knn", "knn", None, None),
        ("dataset-router", "dataset-router", "paper", None),
    ]
    router, knn, dataset_router = entries
    assert knn["hyperparameters"] == "n_neighbors=5 (seed 0); n_neighbors=6 (seed 1)"
    assert knn["hyperparameters"] == leaderboard.loc["knn", "hyperparameters"]
    assert router["hyperparameters"] is None and dataset_router["hyperparameters"] is None
    assert knn["validation"] is None and set(knn) == set(router)  # every entry has the same keys
    # One AIQ cost range and one seed-averaged curve: metrics.json and the leaderboard agree, on both AIQs.
    for entry, name in ((knn, "knn"), (dataset_router, "dataset-router (paper)"), (router, "avengers-pro paper (k=4)")):
        assert entry["aiq"] == pytest.approx(leaderboard.loc[name, "aiq_test_hull"], abs=1e-12)
        assert entry["aiq_validation_hull"] == pytest.approx(leaderboard.loc[name, "aiq"], abs=1e-12)
    for key in ("best_accuracy", "perf_gain", "cost_save"):
        assert knn[key] == pytest.approx(leaderboard.loc["knn", key], abs=1e-12)
    assert knn["best_accuracy_alpha"] == leaderboard.loc["knn", "best_accuracy_alpha"]
    # The point metrics are those of the family's summary.csv curve, as for every entry.
    summary = summarize(inputs["sweeps"], inputs["baselines"], inputs["family_sweeps"])
    curve = summary[summary["method"] == "knn"]
    assert knn["best_accuracy"] == pytest.approx(curve["accuracy"].max())
    assert knn["aiq"] == pytest.approx(metrics.aiq(curve["cost"], curve["accuracy"], (0.0, summary["cost"].max())))
    assert knn["best_single"] == router["best_single"] and knn["n_seeds"] == 2 and knn["max_router"] == 1
    # The bootstrap: the leaderboard row's, against its two references, with the same keys as every entry's.
    row = leaderboard.loc["knn"]

    def interval(prefix: str, estimate: str) -> dict:
        return {
            "estimate": row[estimate],
            "lo": row[f"{prefix}_low"],
            "hi": row[f"{prefix}_high"],
            "n_resamples": 100,
            "n_undefined": row[f"{prefix}_n_undefined"],
        }

    assert knn["bootstrap"] == {
        "reference": "dataset-router (paper)",
        "confidence": 0.95,
        "aiq_difference": interval("aiq_delta", "aiq_delta_vs_dataset_router"),
        "aiq_difference_test_hull": interval("aiq_test_hull_delta", "aiq_test_hull_delta_vs_dataset_router"),
        "aiq_difference_per_seed": {"0": row["aiq_delta_seed0"], "1": row["aiq_delta_seed1"]},
        "cost_save_difference": interval("cost_save_delta", "cost_save_delta_vs_dataset_router"),
        "aiq_difference_vs_avengers_pro": {
            "reference": "avengers-pro paper (k=4)",
            **interval("aiq_delta_vs_avengers_pro", "aiq_delta_vs_avengers_pro"),
        },
        "null_reasons": {},
    }
    assert set(router["bootstrap"]) - {"perf_gain_validated"} < set(knn["bootstrap"])
    # PerfGain at the alphas of best validation accuracy: the test accuracy there (alpha_choice's,
    # computed from the sweeps) over the best single model's, with an interval from the same resamples.
    gain = router["bootstrap"]["perf_gain_validated"]
    chosen = router["validation"]["max_accuracy"]["test_accuracy_mean"]
    assert gain["estimate"] == pytest.approx(chosen / router["best_single"]["accuracy"] - 1.0, abs=1e-12)
    assert gain["lo"] <= gain["estimate"] <= gain["hi"] and gain["n_resamples"] == 100
    assert knn["bootstrap"]["aiq_difference_test_hull"]["estimate"] == pytest.approx(knn["aiq"] - dataset_router["aiq"])
    assert knn["bootstrap"]["aiq_difference"]["estimate"] == pytest.approx(
        knn["aiq_validation_hull"] - dataset_router["aiq_validation_hull"]
    )
    assert knn["bootstrap"]["aiq_difference_vs_avengers_pro"]["estimate"] == pytest.approx(
        knn["aiq_validation_hull"] - router["aiq_validation_hull"]
    )
    assert router["bootstrap"]["reference"] == knn["bootstrap"]["reference"]
    # One bootstrap: metrics.json's Avengers-Pro entry (its own job) has the leaderboard row's intervals,
    # drawn from the same weights per query.
    ap = leaderboard.loc["avengers-pro paper (k=4)"]
    for key, prefix, estimate in (
        ("aiq_difference", "aiq_delta", "aiq_delta_vs_dataset_router"),
        ("aiq_difference_test_hull", "aiq_test_hull_delta", "aiq_test_hull_delta_vs_dataset_router"),
        ("cost_save_difference", "cost_save_delta", "cost_save_delta_vs_dataset_router"),
    ):
        found = router["bootstrap"][key]
        for value, column in (
            (found["estimate"], estimate),
            (found["lo"], f"{prefix}_low"),
            (found["hi"], f"{prefix}_high"),
        ):
            if value is None:
                assert np.isnan(ap[column])
            else:
                assert value == pytest.approx(ap[column], abs=1e-12)
    # Avengers-Pro's own entries do not change with a family beside them.
    assert router == run_metrics(inputs, n_resamples=100)[0]


def test_family_entries_without_resamples_or_leaderboard_have_no_bootstrap_and_a_missing_row_is_named() -> None:
    inputs = with_family(synthetic_run())
    entries, _, _ = metrics_with_families(inputs, n_resamples=0)
    assert entries[1]["method"] == "knn" and entries[1]["bootstrap"] is None and entries[1]["aiq"] is not None
    summary = check_summary(summarize(inputs["sweeps"], inputs["baselines"], inputs["family_sweeps"]))
    without = compute_metrics(summary, {}, inputs["sweeps"], {}, {}, {}, 0, 0.95, choice_singles={})
    assert [e["method"] for e in without] == ["avengers-pro", "knn", "dataset-router"]
    assert without[1]["bootstrap"] is None and without[1]["hyperparameters"] is None
    _, leaderboard, main = metrics_with_families(inputs, n_resamples=20)
    with pytest.raises(DataError, match=r"results/leaderboard.csv: field 'router': no row for the router family 'knn'"):
        compute_metrics(
            summary,
            inputs["validation_sweeps"],
            inputs["sweeps"],
            inputs["decisions"],
            inputs["router_decisions"],
            inputs["single_outcomes"],
            20,
            0.95,
            choice_singles=inputs["validation_singles"],
            leaderboard=leaderboard.drop(index="knn").reset_index(),
            main=main,
        )


def test_metrics_entries_are_json_and_consistent_with_the_summary() -> None:
    inputs = synthetic_run()
    entries = run_metrics(inputs)
    json.dumps(entries, allow_nan=False)
    assert [(e["method"], e["variant"], e["n_clusters"]) for e in entries] == [
        ("avengers-pro", "paper", 4),
        ("dataset-router", "paper", None),
    ]
    router, dataset_router = entries
    summary = summarize(inputs["sweeps"], inputs["baselines"])
    curve = summary[summary["method"] == "avengers-pro"]
    singles = summary[summary["method"].isin(MODELS)]
    strongest = singles.sort_values("accuracy").iloc[-1]
    assert router["best_single"]["model"] == strongest["method"]
    assert router["best_accuracy"] == pytest.approx(curve["accuracy"].max())
    assert router["perf_gain"] == pytest.approx(metrics.perf_gain(curve["accuracy"].max(), strongest["accuracy"]))
    assert router["accuracy_at_alpha1"] == pytest.approx(curve[curve["alpha"] == 1.0]["accuracy"].iloc[0])
    assert router["aiq_cost_range"] == [0.0, pytest.approx(summary["cost"].max())]
    assert router["aiq"] == pytest.approx(metrics.aiq(curve["cost"], curve["accuracy"], (0.0, summary["cost"].max())))
    oracle = summary[summary["method"] == "best-score-oracle"]["accuracy"].iloc[0]
    assert router["gap_to_oracle"] == pytest.approx((oracle - router["best_accuracy"]) / oracle)
    assert router["upper_bound"] is False and router["max_router"] == 1
    assert dataset_router["validation"] is None and dataset_router["bootstrap"] is None
    # The bootstrap's point estimate is the difference of the two entries' metrics.
    boot = router["bootstrap"]
    assert boot["aiq_difference_test_hull"]["estimate"] == pytest.approx(router["aiq"] - dataset_router["aiq"])
    assert boot["aiq_difference"]["estimate"] == pytest.approx(
        router["aiq_validation_hull"] - dataset_router["aiq_validation_hull"]
    )
    assert boot["aiq_difference"]["lo"] <= boot["aiq_difference"]["hi"]
    if router["cost_save"] is not None and dataset_router["cost_save"] is not None:
        assert boot["cost_save_difference"]["estimate"] == pytest.approx(
            router["cost_save"] - dataset_router["cost_save"]
        )
    else:
        assert boot["cost_save_difference"]["estimate"] is None


def test_bootstrap_identical_curves_and_determinism() -> None:
    same = run_metrics(synthetic_run(same_router=True), n_resamples=50)[0]["bootstrap"]
    for name in ("aiq_difference", "cost_save_difference"):
        if same[name]["estimate"] is not None:
            assert same[name]["estimate"] == 0.0
            assert same[name]["lo"] == 0.0 and same[name]["hi"] == 0.0
    assert same["aiq_difference"]["estimate"] == 0.0
    inputs = synthetic_run()
    first = run_metrics(inputs, n_resamples=50, seed=7)[0]["bootstrap"]
    assert first == run_metrics(inputs, n_resamples=50, seed=7)[0]["bootstrap"]
    assert first != run_metrics(inputs, n_resamples=50, seed=8)[0]["bootstrap"]


def test_one_bootstrap_for_several_cluster_counts_gives_each_its_own_interval() -> None:
    """compute_metrics runs one bootstrap per variant for all its cluster counts (shared resamples):
    each k must get what a run with that k alone gives."""
    inputs = synthetic_run()
    alone = run_metrics(inputs, n_resamples=100)
    # k = 8: the same sweeps, but decisions that are the dataset router's own, so its paired
    # difference is exactly 0 on every resample; k = 4 must be unaffected by it.
    for seed in (0, 1):
        inputs["decisions"][("paper", 8, seed)] = inputs["router_decisions"][("paper", seed)]
        inputs["validation_sweeps"][("paper", 8, seed)] = inputs["dataset_router_validation"][("paper", seed)]
    inputs["sweeps"] += [("paper", 8, seed, frame) for _, _, seed, frame in inputs["sweeps"]]
    entries = {e["n_clusters"]: e for e in run_metrics(inputs, n_resamples=100) if e["method"] == "avengers-pro"}
    assert entries[4]["bootstrap"] == alone[0]["bootstrap"]
    assert entries[4]["bootstrap"]["aiq_difference"]["estimate"] != 0.0
    zero = entries[8]["bootstrap"]["aiq_difference"]
    assert zero["estimate"] == 0.0 and zero["lo"] == 0.0 and zero["hi"] == 0.0


def test_upper_bound_label() -> None:
    entries = run_metrics(synthetic_run(max_router=2), n_resamples=0)
    assert all(e["upper_bound"] is True and e["max_router"] == 2 for e in entries)
    assert entries[0]["bootstrap"] is None


def test_metrics_by_hand_and_validation_choice() -> None:
    nan = float("nan")
    alphas = (0.0, 0.5, 1.0)

    def one_dataset_sweep(accs: tuple, costs: tuple) -> pd.DataFrame:
        return sweep_frame([(a, "arc", acc, c, 10) for a, acc, c in zip(alphas, accs, costs)])

    test_sweeps = [
        ("paper", 4, 0, one_dataset_sweep((0.55, 0.7, 0.85), (10, 20, 30))),
        ("paper", 4, 1, one_dataset_sweep((0.6, 0.65, 0.9), (11, 21, 31))),
    ]
    validation_sweeps = {
        ("paper", 4, 0): one_dataset_sweep((0.5, 0.75, 0.8), (1, 2, 3)),
        ("paper", 4, 1): one_dataset_sweep((0.5, 0.6, 0.6), (1, 2, 3)),
    }

    def baselines() -> pd.DataFrame:
        return baseline_frame(
            [
                ("strong", "", nan, "arc", 0.8, 40.0, 10),
                ("cheap", "", nan, "arc", 0.5, 5.0, 10),
                ("best-score-oracle", "", nan, "arc", 0.95, 4.0, 10),
                *[
                    ("dataset-router", "paper", a, "arc", acc, c, 10)
                    for a, acc, c in zip(alphas, (0.5, 0.6, 0.8), (5, 20, 40))
                ],
            ]
        )

    def validation_outcomes(cheap: list[float], strong: list[float]) -> pd.DataFrame:
        ids = [f"v{i}" for i in range(len(cheap))]
        models = ["cheap"] * len(ids) + ["strong"] * len(ids)
        return pd.DataFrame(
            {"query_id": ids * 2, "dataset": "arc", "model": models, "score": cheap + strong, "cost": 0.1}
        )

    # Seed 0: best validation single = cheap at .7 (strong .6); cheapest alpha reaching .7 is .5
    # (validation .75). Max validation accuracy: alpha 1 (.8).
    # Seed 1: best = cheap at .9 (strong .65): never reached -> fallback to the max-accuracy alpha:
    # .5 and 1 tie at .6, the cheaper is .5. Max validation accuracy: also .5.
    validation_singles = {
        0: validation_outcomes([1, 1, 1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]),
        1: validation_outcomes([1] * 18 + [0] * 2, [1] * 13 + [0] * 7),
    }
    summary = check_summary(summarize(test_sweeps, [(0, baselines()), (1, baselines())]))
    [router, dataset_router] = compute_metrics(
        summary, validation_sweeps, test_sweeps, {}, {}, {}, 0, 0.95, choice_singles=validation_singles
    )
    # Test curve (mean of seeds): alpha 0 (.575, 10.5), .5 (.675, 20.5), 1 (.875, 30.5). Best single
    # strong (.8, 40). PerfGain = (.875 - .8) / .8 = .09375. CostSave: crossing .8 between .5 and 1
    # at (.8 - .675) / .2 = .625 -> cost 20.5 + .625 * 10 = 26.75, alpha .8125: (40 - 26.75) / 40.
    assert router["best_single"] == {"model": "strong", "accuracy": 0.8, "cost": 40.0}
    assert router["perf_gain"] == pytest.approx(0.09375)
    assert router["cost_save"] == pytest.approx(13.25 / 40)
    assert router["cost_save_alpha"] == pytest.approx(0.8125)
    # 90 % of .8 = .72: crossing between .5 (.675) and 1 at .225 -> 20.5 + 2.25 = 22.75.
    assert router["cost_at_90pct_best_single"] == pytest.approx(22.75)
    assert router["best_accuracy"] == pytest.approx(0.875) and router["best_accuracy_alpha"] == 1.0
    assert router["gap_to_oracle"] == pytest.approx((0.95 - 0.875) / 0.95)
    # (.875, 30.5) beats strong (.8, 40), but no point is as cheap as cheap (.5, 5).
    assert router["dominates_all_singles"] is False
    # AIQ range [0, 40] (strong's cost is the largest). Router hull: (10.5, .575) -> (20.5, .675)
    # -> (30.5, .875)? slopes .01 then .02: not concave, so (20.5, .675) is dropped: area
    # (.575 + .875) / 2 * 20 = 14.5, flat .875 * 9.5 = 8.3125 -> 22.8125 / 40.
    assert router["aiq"] == pytest.approx(22.8125 / 40)
    assert router["aiq_cost_range"] == [0.0, 40.0]

    match, best = router["validation"]["match_best_single"], router["validation"]["max_accuracy"]
    assert match["alpha"] == [0.5, 0.5] and match["reached"] == [True, False]
    assert match["reference_model"] == ["cheap", "cheap"]
    assert match["reference_accuracy"] == [pytest.approx(0.7), pytest.approx(0.9)]
    assert match["test_accuracy"] == [0.7, 0.65]
    assert match["test_accuracy_mean"] == pytest.approx(0.675)
    assert match["test_accuracy_sd"] == pytest.approx(math.sqrt(2 * 0.025**2))
    assert match["test_cost_mean"] == pytest.approx(20.5)
    assert best["alpha"] == [1.0, 0.5] and best["test_accuracy"] == [0.85, 0.65]
    assert best["test_cost_mean"] == pytest.approx(25.5)
    assert router["validation"]["seeds"] == [0, 1]
    # The dataset router: (.5, 5), (.6, 20), (.8, 40); reaches .8 only at alpha 1 for cost 40: CostSave 0.
    assert dataset_router["cost_save"] == pytest.approx(0.0) and dataset_router["cost_save_alpha"] == 1.0
    assert dataset_router["n_clusters"] is None


def test_metrics_dominance_fails_when_a_single_is_out_of_reach() -> None:
    inputs = synthetic_run(n_seeds=1)
    summary = summarize(inputs["sweeps"], inputs["baselines"])
    free = pd.DataFrame(
        [
            {
                **{c: np.nan for c in summary.columns},
                "method": "free-and-perfect",
                "kind": "model",
                "accuracy": 1.0,
                "cost": 0.0,
                "max_router": 1,
                "n_seeds": 1,
            }
        ]
    )
    entries = compute_metrics(
        check_summary(pd.concat([summary, free], ignore_index=True)),
        {},
        inputs["sweeps"],
        {},
        {},
        {},
        0,
        0.95,
        choice_singles={},
    )
    assert entries[0]["dominates_all_singles"] is False
    assert entries[0]["best_single"]["model"] == "free-and-perfect"
    # Its cost is 0: CostSave is undefined rather than a division by zero.
    assert entries[0]["cost_save"] is None
    assert entries[0]["validation"] is None


def test_compute_metrics_reports_missing_inputs() -> None:
    inputs = synthetic_run(n_seeds=1)
    summary = check_summary(summarize(inputs["sweeps"], inputs["baselines"]))
    with pytest.raises(DataError, match=r"results/decisions/dataset-router/paper_seed0.parquet"):
        compute_metrics(
            summary,
            {},
            inputs["sweeps"],
            inputs["decisions"],
            {},
            inputs["single_outcomes"],
            10,
            0.95,
            choice_singles={},
        )
    broken = inputs["decisions"][("paper", 4, 0)].iloc[1:]
    with pytest.raises(DataError, match=r"results/decisions/paper/k4_seed0.parquet.*one row per"):
        compute_metrics(
            summary,
            {},
            inputs["sweeps"],
            {("paper", 4, 0): broken},
            inputs["router_decisions"],
            inputs["single_outcomes"],
            10,
            0.95,
            choice_singles={},
        )
    with pytest.raises(DataError, match="validation single-model outcomes missing"):
        compute_metrics(summary, inputs["validation_sweeps"], inputs["sweeps"], {}, {}, {}, 0, 0.95, choice_singles={})


def test_single_model_outcomes_parts() -> None:
    records = pd.DataFrame(
        {
            "query_id": ["a", "a", "b", "c"],
            "dataset": "d",
            "model": ["m", "n", "m", "m"],
            "score": 1.0,
            "cost": 0.1,
            "query": "q",
            "prompt": "p",
        }
    )
    split = pd.DataFrame(
        {
            "query_id": ["a", "b", "c"],
            "dataset": "d",
            "split": ["test", "train", "train"],
            "validation": [False, True, False],
        }
    )
    assert single_model_outcomes(records, split, "test")["query_id"].tolist() == ["a", "a"]
    validation = single_model_outcomes(records, split, "validation")
    assert validation["query_id"].tolist() == ["b"]
    assert list(validation.columns) == ["query_id", "dataset", "model", "score", "cost"]


def test_data_without_costs_gives_null_cost_metrics_with_reasons_and_keeps_accuracy_metrics() -> None:
    entries = run_metrics(synthetic_run(prices=(0.0, 0.0, 0.0)), n_resamples=50)
    json.dumps(entries, allow_nan=False)
    for entry in entries:
        for key in ("aiq", "cost_save", "cost_at_90pct_best_single"):
            assert entry[key] is None
            assert entry["null_reasons"][key] == NO_COST_RANGE
        assert entry["best_accuracy"] > 0 and entry["perf_gain"] is not None and entry["gap_to_oracle"] is not None
        assert isinstance(entry["dominates_all_singles"], bool)
    boot = entries[0]["bootstrap"]
    assert boot["aiq_difference"]["estimate"] is None and boot["aiq_difference"]["n_undefined"] == 50
    assert boot["null_reasons"]["aiq_difference"] == NO_COST_RANGE


def test_a_free_best_single_model_only_nulls_cost_save() -> None:
    router = run_metrics(synthetic_run(prices=(0.001, 0.01, 0.0)), n_resamples=20)[0]
    assert router["best_single"]["model"] == "strong" and router["best_single"]["cost"] == 0.0
    assert router["cost_save"] is None and router["null_reasons"] == {"cost_save": FREE_REFERENCE}
    assert router["aiq"] is not None and router["cost_at_90pct_best_single"] is not None


def test_priced_data_has_no_null_reasons_for_metrics_it_can_define() -> None:
    router = run_metrics(synthetic_run(), n_resamples=20)[0]
    assert set(router["null_reasons"]) <= {"cost_save"}
    assert router["bootstrap"]["null_reasons"] == {}


def test_an_accuracy_only_pool_with_every_cost_zero_has_no_aiq_but_every_other_metric() -> None:
    """LLMRouterBench's performance setting: every cost is 0, so there is no cost axis to integrate over."""
    inputs = synthetic_run(n_seeds=1)

    def free(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(cost=0.0)

    inputs["sweeps"] = [(*key, free(frame)) for *key, frame in inputs["sweeps"]]
    inputs["baselines"] = [(seed, free(frame)) for seed, frame in inputs["baselines"]]
    for name in ("decisions", "router_decisions", "single_outcomes", "validation_sweeps", "validation_singles"):
        inputs[name] = {key: free(frame) for key, frame in inputs[name].items()}
    entries = run_metrics(inputs, n_resamples=20)
    router = next(e for e in entries if e["method"] == "avengers-pro")
    assert router["aiq"] is None and router["aiq_cost_range"] == [0.0, 0.0]
    assert router["bootstrap"]["aiq_difference"]["n_undefined"] == 20
    assert router["best_accuracy"] > 0
