"""Exporting routers of every family: stored as plain arrays, loaded back, and routing as the sweep did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from avengers_pro.errors import ConfigError, DataError
from avengers_pro.evaluation.cv import FAMILY_ORDER
from avengers_pro.evaluation.family_runs import route_family
from avengers_pro.export import (
    ESTIMATOR,
    ESTIMATOR_FILES,
    MANIFEST,
    ROUTER,
    ROUTER_FILES,
    ClusterRouter,
    EstimatorRouter,
    Router,
    export_selected,
    select_export,
    write_fitted_router,
)
from avengers_pro.io import RecordMatrix
from avengers_pro.routing import KNNRouter, make_estimator, select_models
from avengers_pro.routing.base import rank_models
from avengers_pro.routing.state import estimator_state, restore_estimator
from avengers_pro.testing.small_routers import export_config, tiny

ALPHAS = np.linspace(0.0, 1.0, 11)
#: A stand-in embedder block: these tests route precomputed embeddings and never embed text.
EMBEDDING = {"backend": "openai", "model": "stand-in", "base_url": "http://127.0.0.1:9/v1", "max_tokens": 256}

#: One fitted configuration per stored shape: exact and inverted-file kNN, logistic with and without
#: the cost neighbourhood, soft and hard task, shrinkage on clusters (empirical Bayes) and neighbours.
ESTIMATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "knn": ("knn", {"n_neighbors": 7}),
    "knn-inverted-file": ("knn", {"n_neighbors": 7, "n_lists": 4, "n_probe": 2}),
    "logistic": ("logistic", {"C": 1.0}),
    "logistic-mean-cost": ("logistic", {"C": 1.0, "cost_neighbors": 0}),
    "task-soft": ("task", {"C": 10.0, "mode": "soft"}),
    "task-hard": ("task", {"C": 10.0, "mode": "hard"}),
    "shrinkage-clusters": ("shrinkage", {"n_clusters": 5, "tau": "eb", "n_init": 2}),
    "shrinkage-neighbours": ("shrinkage", {"base": "neighbors", "n_neighbors": 9, "tau": 10.0}),
}


def long_records(matrix: RecordMatrix) -> pd.DataFrame:
    """The canonical long records table of a record matrix (cells without a record left out)."""
    rows = [
        {
            "query_id": str(q),
            "dataset": str(d),
            "query": f"query {q}",
            "prompt": f"query {q}",
            "model": model,
            "score": float(matrix.scores[i, j]),
            "cost": float(matrix.costs[i, j]),
        }
        for i, (q, d) in enumerate(zip(matrix.query_ids, matrix.datasets, strict=True))
        for j, model in enumerate(matrix.models)
        if matrix.available[i, j]
    ]
    return pd.DataFrame(rows)


def write_router(folder: Path, estimator: Any, matrix: RecordMatrix, params: dict[str, Any], alpha: float) -> None:
    write_fitted_router(
        folder,
        estimator,
        params=params,
        matrix=matrix,
        max_router=1,
        alpha={"default": alpha, "chosen_by": "fixed", "validation": None},
        selection={"requested": estimator.family},
        embedder=EMBEDDING,
        config={"test": True},
    )


# --------------------------------------------------------------------------- the stored state


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_stored_state_predicts_exactly_as_the_fitted_estimator(name: str, tmp_path: Path) -> None:
    family, params = ESTIMATORS[name]
    embeddings, matrix = tiny(n=90)
    fitted = make_estimator(family, params, seed=3).fit(embeddings[:70], matrix.subset(np.arange(90) < 70))
    structure, arrays = estimator_state(fitted)
    # Through a real file, as an export stores it: no pickled object may be needed to read it back.
    np.savez(tmp_path / "state.npz", **arrays)
    with np.load(tmp_path / "state.npz", allow_pickle=False) as data:
        restored = restore_estimator(json.loads(json.dumps(structure)), {key: data[key] for key in data.files})
    assert type(restored) is type(fitted)
    assert restored.get_params() == fitted.get_params()
    expected_score, expected_cost = fitted.predict(embeddings[70:])
    score, cost = restored.predict(embeddings[70:])
    np.testing.assert_array_equal(score, expected_score)
    np.testing.assert_array_equal(cost, expected_cost)
    assert restored.describe(embeddings[70:72]) == fitted.describe(embeddings[70:72])


def test_state_refuses_what_it_cannot_store() -> None:
    embeddings, matrix = tiny()
    fitted = KNNRouter(n_neighbors=3).fit(embeddings, matrix)
    fitted.extra_ = {"not": "storable"}
    with pytest.raises(TypeError, match="extra_"):
        estimator_state(fitted)
    structure, arrays = estimator_state(KNNRouter(n_neighbors=3).fit(embeddings, matrix))
    with pytest.raises(DataError, match="unknown estimator class"):
        restore_estimator({**structure, "class": "os.system"}, arrays)
    missing = {key: value for key, value in arrays.items() if key != "scores_"}
    with pytest.raises(DataError, match="malformed estimator"):
        restore_estimator(structure, missing)


def test_rank_models_starts_with_select_models_choice() -> None:
    rng = np.random.default_rng(0)
    # Coarse values, so that ties in x and in the predicted score are frequent.
    score = rng.integers(0, 3, (400, 5)) / 2.0
    cost = rng.integers(1, 4, (400, 5)) / 3.0
    for normalisation in ("official", "paper"):
        for alpha in (0.0, 0.35, 1.0):
            order, x = rank_models(score, cost, alpha, normalisation)
            chosen = select_models(score, cost, np.array([alpha]), normalisation)[0]
            np.testing.assert_array_equal(order[:, 0], chosen)
            # The order is by x, best first.
            assert (np.diff(np.take_along_axis(x, order, axis=1), axis=1) <= 0).all()


# --------------------------------------------------------------------------- exported = swept


def seed_split(matrix: RecordMatrix, seed: int = 0) -> pd.DataFrame:
    """A split frame as results/splits/seed{seed}.parquet holds it: 30% test, 20% of train validation."""
    rng = np.random.default_rng(seed)
    is_test = rng.random(len(matrix.query_ids)) < 0.3
    return pd.DataFrame(
        {
            "query_id": matrix.query_ids,
            "split": np.where(is_test, "test", "train"),
            "validation": ~is_test & (rng.random(len(is_test)) < 0.2),
        }
    )


AVENGERS_PARAMS = {
    "variant": {"name": "official", "normalisation": "official", "aggregation": "official"},
    "n_clusters": 4,
    "n_init": 2,
}


@pytest.mark.parametrize("name", [*sorted(ESTIMATORS), "avengers-pro"])
def test_an_exported_router_of_each_family_reproduces_the_sweeps_decisions(name: str, tmp_path: Path) -> None:
    """The pipeline's routing of a seed's test queries (route_family, what family_route writes) and
    a router exported from the same fit, loaded and asked at every alpha, choose the same models."""
    family, params = ESTIMATORS.get(name, ("avengers-pro", AVENGERS_PARAMS))
    embeddings, matrix = tiny(n=150, missing=False)
    split = seed_split(matrix)
    (run,) = route_family(family, {0: params}, embeddings, matrix, {0: split}, ALPHAS)
    is_test = (split["split"] == "test").to_numpy()
    fitted = make_estimator(family, params, seed=0).fit(embeddings[~is_test], matrix.subset(~is_test))
    folder = tmp_path / name
    write_router(folder, fitted, matrix.subset(~is_test), params, alpha=0.5)
    router = Router.load(folder)
    assert isinstance(router, ClusterRouter if family == "avengers-pro" else EstimatorRouter)
    assert router.family == family
    test_ids = matrix.query_ids[is_test]
    for alpha in ALPHAS:
        expected = run.decisions[np.isclose(run.decisions["alpha"], alpha)].set_index("query_id")["model"]
        routed = router.with_alpha(float(alpha)).route_embeddings(embeddings[is_test])
        assert routed == expected.loc[test_ids].tolist(), f"alpha {alpha}"
        # One normalisation policy: the exported router routes a scaled query as the query itself.
        assert router.with_alpha(float(alpha)).route_embeddings(3.0 * embeddings[is_test]) == routed
    ranked = router.rank_embeddings(embeddings[is_test][:5])
    assert [row[0] for row in ranked] == router.route_embeddings(embeddings[is_test][:5])
    assert all(sorted(row) == sorted(router.models) for row in ranked)
    explanations = router.explain_embeddings(embeddings[is_test][:5])
    assert [e["model"] for e in explanations] == router.route_embeddings(embeddings[is_test][:5])
    json.dumps(explanations)  # what `avengers-pro route --explain` prints


def test_explanation_of_a_family_router_names_its_choice_and_predictions(tmp_path: Path) -> None:
    embeddings, matrix = tiny(n=90, missing=False)
    fitted = make_estimator("task", {"C": 10.0}, seed=0).fit(embeddings, matrix)
    write_router(tmp_path / "task", fitted, matrix, {"C": 10.0}, alpha=0.7)
    router = Router.load(tmp_path / "task")
    (explanation,) = router.explain_embeddings(embeddings[:1])
    assert explanation["family"] == "task" and explanation["alpha"] == 0.7
    assert explanation["hyperparameters"] == {"C": 10.0}
    predicted = explanation["predicted"]
    assert explanation["model"] == max(predicted, key=lambda m: predicted[m]["x"])
    assert explanation["model"] == router.route_embeddings(embeddings[:1])[0]
    probabilities = explanation["details"]["datasets"]
    assert sorted(probabilities) == sorted(set(matrix.datasets)) and np.isclose(sum(probabilities.values()), 1.0)
    score, _ = fitted.predict(embeddings[:1])
    assert [predicted[m]["score"] for m in router.models] == pytest.approx(score[0].tolist())


def test_a_family_folder_is_verified_like_any_router_folder(tmp_path: Path) -> None:
    embeddings, matrix = tiny(n=60)
    folder = tmp_path / "knn"
    write_router(folder, KNNRouter(n_neighbors=5).fit(embeddings, matrix), matrix, {"n_neighbors": 5}, 0.5)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["format_version"] == 2 and sorted(manifest["files"]) == sorted([ESTIMATOR, ROUTER, "embedder.json"])
    with open(folder / ESTIMATOR, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(DataError, match="sha256 mismatch"):
        Router.load(folder)


def test_a_folder_rewritten_in_the_other_format_keeps_none_of_the_old_files(tmp_path: Path) -> None:
    """A best-on-validation export whose winner changes family rewrites its folder in the other format."""
    embeddings, matrix = tiny(n=90, missing=False)
    folder = tmp_path / "best"
    knn = KNNRouter(n_neighbors=5).fit(embeddings, matrix)
    write_router(folder, knn, matrix, {"n_neighbors": 5}, alpha=0.5)
    assert (folder / ESTIMATOR).is_file()
    avengers = make_estimator("avengers-pro", AVENGERS_PARAMS, seed=0).fit(embeddings, matrix)
    write_router(folder, avengers, matrix, AVENGERS_PARAMS, alpha=0.5)
    assert sorted(p.name for p in folder.iterdir()) == sorted([MANIFEST, *ROUTER_FILES])
    assert isinstance(Router.load(folder), ClusterRouter)
    write_router(folder, knn, matrix, {"n_neighbors": 5}, alpha=0.5)
    assert sorted(p.name for p in folder.iterdir()) == sorted([MANIFEST, *ESTIMATOR_FILES])
    assert isinstance(Router.load(folder), EstimatorRouter)


# --------------------------------------------------------------------------- the export entries


def family_export_config(families: dict[str, Any]) -> dict[str, Any]:
    return export_config(
        embedding=EMBEDDING, n_alphas=21, validation_ratio=0.25, n_clusters=[3, 6], n_init=2, families=families
    )


FAMILY_GRIDS = {"knn": {"n_neighbors": [3, 15]}, "task": {"C": [1.0, 10.0], "mode": ["soft"]}}


def test_a_named_family_is_chosen_on_validation_and_exported(tmp_path: Path) -> None:
    embeddings, matrix = tiny(n=160)
    records = long_records(matrix)
    config = family_export_config(FAMILY_GRIDS)
    entry = {"name": "task", "family": "task", "target": "match-best-single"}
    selection = select_export(records, matrix.query_ids, embeddings, config, entry)
    assert selection["family"] == "task" and [c["family"] for c in selection["candidates"]] == ["task"]
    (candidate,) = selection["candidates"]
    aiqs = [c["aiq"] for c in candidate["validation"]]
    assert selection["params"] == candidate["validation"][int(np.argmax(aiqs))]["params"]
    router_json = export_selected(records, matrix.query_ids, embeddings, config, entry, selection, tmp_path / "task")
    assert router_json["alpha"]["chosen_by"] == "match-best-single"
    assert 0.0 <= router_json["alpha"]["default"] <= 1.0
    router = Router.load(tmp_path / "task")
    assert isinstance(router, EstimatorRouter) and router.hyperparameters == selection["params"]
    assert router.alpha == router_json["alpha"]["default"]
    # Refitted on ALL records: the stored estimator predicts as one fitted on every query here.
    refitted = make_estimator("task", selection["params"], seed=0).fit(embeddings, matrix)
    np.testing.assert_array_equal(router.estimator.predict(embeddings)[0], refitted.predict(embeddings)[0])


def test_best_on_validation_keeps_the_simplest_family_within_one_standard_error(tmp_path: Path) -> None:
    embeddings, matrix = tiny(n=160)
    records = long_records(matrix)
    config = family_export_config(FAMILY_GRIDS)
    entry = {"name": "best", "family": "best-on-validation", "alpha": 0.8}
    selection = select_export(records, matrix.query_ids, embeddings, config, entry)
    candidates = selection["candidates"]
    families = [c["family"] for c in candidates]
    assert families == ["knn", "task", "avengers-pro"]
    assert selection["cv_folds"] == 5 and selection["n_queries"] == 160
    for candidate in candidates:
        assert len([c for c in candidate["validation"] if c["chosen"]]) == 1
        assert all(len(c["aiq_folds"]) == 5 for c in candidate["validation"] if c["aiq"] is not None)
    best = int(np.argmax([c["validation_aiq"] for c in candidates]))
    threshold = candidates[best]["validation_aiq"] - candidates[best]["validation_aiq_se"]
    within = [c["family"] for c in candidates if c["validation_aiq"] >= threshold]
    simplest = min(within, key=FAMILY_ORDER.index)
    assert selection["family"] == simplest
    assert selection["params"] == candidates[families.index(simplest)]["params"]
    router_json = export_selected(records, matrix.query_ids, embeddings, config, entry, selection, tmp_path / "best")
    assert router_json["alpha"] == {"default": 0.8, "chosen_by": "fixed", "validation": None}
    router = Router.load(tmp_path / "best")
    assert router.family == selection["family"]
    assert len(router.route_embeddings(embeddings[:10])) == 10


def test_an_avengers_pro_winner_is_written_as_an_avengers_pro_folder(tmp_path: Path) -> None:
    embeddings, matrix = tiny(n=160)
    records = long_records(matrix)
    config = family_export_config({})
    entry = {"name": "ap", "family": "avengers-pro", "alpha": 1.0}
    selection = select_export(records, matrix.query_ids, embeddings, config, entry)
    assert selection["family"] == "avengers-pro" and selection["params"]["n_clusters"] in (3, 6)
    export_selected(records, matrix.query_ids, embeddings, config, entry, selection, tmp_path / "ap")
    router = Router.load(tmp_path / "ap")
    assert isinstance(router, ClusterRouter) and len(router.centroids) == selection["params"]["n_clusters"]


def test_a_bad_router_name_is_a_config_error() -> None:
    embeddings, matrix = tiny(n=60)
    with pytest.raises(ConfigError, match="'nope' is not a router family"):
        select_export(
            long_records(matrix),
            matrix.query_ids,
            embeddings,
            family_export_config({}),
            {"name": "x", "family": "nope", "alpha": 1.0},
        )


def test_a_selection_for_another_router_is_refused(tmp_path: Path) -> None:
    embeddings, matrix = tiny(n=160)
    records = long_records(matrix)
    config = family_export_config(FAMILY_GRIDS)
    entry = {"name": "knn", "family": "knn", "alpha": 1.0}
    selection = select_export(records, matrix.query_ids, embeddings, config, entry)
    with pytest.raises(DataError, match="select again"):
        export_selected(records, matrix.query_ids, embeddings, config, {**entry, "family": "task"}, selection, tmp_path)
