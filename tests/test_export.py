"""Exported routers: the pipeline's own decisions, round trips, alpha at load time, bad folders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from avengers_pro.config import alpha_grid
from avengers_pro.errors import ConfigError, DataError
from avengers_pro.evaluation.cv import cv_folds
from avengers_pro.evaluation.sweep import run_sweep
from avengers_pro.export import (
    CENTROIDS,
    EMBEDDER,
    FORMAT_VERSION,
    MANIFEST,
    ROUTER,
    ROUTER_FILES,
    STATISTICS,
    Router,
    embedder_spec,
    export_router,
    export_settings,
    fit_export_clusterings,
    job_config,
    read_clusterings,
    sha256_file,
    write_clusterings,
)
from avengers_pro.io import record_matrix
from avengers_pro.routing.avengers import AvengersProEstimator
from avengers_pro.routing.geometry import fit_clusters, nearest_clusters, unit_queries
from avengers_pro.routing.scores import (
    Variant,
    aggregate,
    cluster_statistics,
    performance_efficiency,
)

# Deliberately not alphabetical: the config order is the tie-break order and must survive export.
MODELS = ["large", "small", "coder", "mathy"]
DATASETS = ["code", "math", "words"]
DIM = 8
VARIANTS = {
    "official": {"normalisation": "official", "aggregation": "official"},
    "paper": {"normalisation": "paper", "aggregation": "paper", "weighted": False},
    "paper-weighted": {"normalisation": "paper", "aggregation": "paper", "weighted": True},
    "euclidean": {"normalisation": "official", "aggregation": "official", "distance": "euclidean"},
}


def make_problem(n_per_dataset: int = 40, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Records and unit embeddings: three topics, a specialist per topic, an expensive all-rounder.

    ``large`` is right 85% of the time everywhere at a high cost; ``coder`` and ``mathy`` are
    cheap and nearly always right on their topic, wrong elsewhere; ``small`` is cheap and mediocre.
    So a router can beat the best single model at a fraction of its cost.
    """
    rng = np.random.default_rng(seed)
    centres = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0][:3]
    skill = {
        "large": [0.85, 0.85, 0.85],
        "small": [0.3, 0.3, 0.55],
        "coder": [0.97, 0.05, 0.2],
        "mathy": [0.05, 0.97, 0.2],
    }
    price = {"large": 0.02, "small": 0.001, "coder": 0.002, "mathy": 0.002}
    rows = []
    ids, vectors = [], []
    for d, dataset in enumerate(DATASETS):
        for i in range(n_per_dataset):
            query_id = f"{dataset}-{i:03d}"
            vector = centres[d] + 0.35 * rng.standard_normal(DIM)
            ids.append(query_id)
            vectors.append(vector / np.linalg.norm(vector))
            for model in MODELS:
                rows.append(
                    {
                        "query_id": query_id,
                        "dataset": dataset,
                        "query": f"{dataset} question {i}",
                        "prompt": f"{dataset} question {i}",
                        "model": model,
                        "score": float(rng.random() < skill[model][d]),
                        "cost": price[model] * (1.0 + 0.1 * rng.random()),
                    }
                )
    return pd.DataFrame(rows), np.asarray(ids, dtype=object), np.asarray(vectors, dtype=np.float32)


def make_config(**settings: object) -> dict:
    """A config of the keys an export reads; ``settings`` override top_k, alphas, max_router, ..."""
    given = {
        "variants": VARIANTS,
        "alphas": {"start": 0.0, "stop": 1.0, "num": 21},
        "top_k": 2,
        "beta": 9.0,
        "max_router": 1,
        **settings,
    }
    return {
        "models": MODELS,
        "avengers": {key: given[key] for key in ("variants", "top_k", "beta")},
        "sweep": {key: given[key] for key in ("alphas", "max_router")},
        "clustering": {"n_init": 3, "minibatch_above": 200_000},
        "split": {"seeds": [3, 4]},
        "embedding": {
            "backend": "sentence-transformers",
            "model": "all-MiniLM-L6-v2",
            "max_tokens": 256,
            "cache": "/somewhere/private/cache.sqlite",
            "batch_size": 16,
        },
    }


@pytest.fixture(scope="module")
def problem() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    return make_problem()


@pytest.fixture(scope="module")
def exported(problem, tmp_path_factory) -> Path:
    records, ids, vectors = problem
    out = tmp_path_factory.mktemp("router") / "fixed"
    export_router(
        records,
        ids,
        vectors,
        make_config(),
        {"name": "fixed", "variant": "official", "n_clusters": 4, "alpha": 0.4},
        out,
    )
    return out


def copy_router(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for file in source.iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    return target


# --------------------------------------------------------------------------- the pipeline's decisions


@pytest.mark.parametrize("variant_name", list(VARIANTS))
@pytest.mark.parametrize("max_router", [1, 2])
def test_exported_router_makes_the_pipelines_decisions(problem, tmp_path, variant_name, max_router):
    """Export on the train part, then route the test part: the same choices as evaluate.run_sweep."""
    records, ids, vectors = problem
    config = make_config(max_router=max_router)
    seed = config["split"]["seeds"][0]
    test = np.arange(len(ids)) % 4 == 0
    train_records = records[records["query_id"].isin(ids[~test])]
    export_router(
        train_records,
        ids[~test],
        vectors[~test],
        config,
        {"name": "r", "variant": variant_name, "n_clusters": 5, "alpha": 0.5},
        tmp_path / "r",
    )

    # The pipeline, as the cluster and sweep rules run it (train rows in query_id order).
    matrix = record_matrix(records, MODELS)
    train_ids = ids[~test]
    clustering = fit_clusters(vectors[~test], 5, seed=seed, n_init=config["clustering"]["n_init"])
    variant = Variant.from_config(variant_name, VARIANTS[variant_name])
    alphas = np.array([0.0, 0.2, 0.45, 0.5, 0.8, 1.0])
    _, decisions = run_sweep(
        matrix,
        train_ids,
        clustering.labels,
        clustering.centroids,
        ids[test],
        vectors[test],
        variant,
        alphas,
        top_k=2,
        beta=9.0,
        max_router=max_router,
    )
    train = matrix.subset(matrix.positions(train_ids))
    fitted = AvengersProEstimator.from_clusters(
        variant, clustering.centroids, clustering.labels, train, top_k=2, beta=9.0, max_router=max_router
    )
    every_choice = fitted.route(vectors[test], alphas)

    for a, alpha in enumerate(alphas):
        router = Router.load(tmp_path / "r", alpha=float(alpha))
        expected = decisions.loc[np.isclose(decisions["alpha"], alpha), "model"].tolist()
        assert router.route_embeddings(vectors[test]) == expected
        np.testing.assert_array_equal(router.route_indices(vectors[test]), every_choice[a])
    # The choices do depend on alpha here, so the comparison above can fail.
    assert decisions.groupby("alpha")["model"].agg(tuple).nunique() > 1


# --------------------------------------------------------------------------- round trip


def test_round_trip_keeps_everything(problem, exported):
    records, ids, vectors = problem
    router = Router.load(exported)
    config = make_config()
    clustering = fit_clusters(vectors, 4, seed=config["split"]["seeds"][0], n_init=config["clustering"]["n_init"])
    matrix = record_matrix(records, MODELS)
    stats = cluster_statistics(clustering.labels, matrix.scores, matrix.costs, 4)

    assert router.models == MODELS
    np.testing.assert_array_equal(router.centroids, clustering.centroids)
    np.testing.assert_array_equal(router.stats.count, stats.count)
    np.testing.assert_array_equal(router.stats.accuracy, stats.accuracy)
    np.testing.assert_array_equal(router.stats.cost, stats.cost)
    assert router.stats.count.sum() == len(ids) * len(MODELS)  # fitted on ALL records
    assert (router.variant.name, router.variant.normalisation, router.variant.aggregation) == (
        "official",
        "official",
        "official",
    )
    assert (router.top_k, router.beta, router.max_router) == (2, 9.0, 1)
    assert router.alpha == router.default_alpha == 0.4
    assert router.alpha_choice["chosen_by"] == "fixed"

    spec = json.loads((exported / EMBEDDER).read_text())
    assert spec == embedder_spec(config["embedding"])
    assert "cache" not in spec and "base_url" not in spec and "batch_size" not in spec
    manifest = json.loads((exported / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION == 1
    assert manifest["package_version"]
    assert manifest["config"]["export"] == {"name": "fixed", "variant": "official", "n_clusters": 4, "alpha": 0.4}
    assert "/somewhere/private" not in (exported / MANIFEST).read_text()
    assert set(manifest["files"]) == set(ROUTER_FILES)
    for name, digest in manifest["files"].items():
        assert sha256_file(exported / name) == digest

    statistics = pd.read_parquet(exported / STATISTICS)
    assert list(statistics.columns) == ["cluster", "model", "mean_score", "mean_cost", "count"]
    assert len(statistics) == 4 * len(MODELS)
    assert np.load(exported / CENTROIDS, allow_pickle=False).dtype == np.float64


def test_export_is_deterministic(problem, exported, tmp_path):
    records, ids, vectors = problem
    # Rows in another order: the router depends on the records, not on how they are listed.
    shuffled = records.sample(frac=1.0, random_state=1)
    order = np.random.default_rng(2).permutation(len(ids))
    export_router(
        shuffled,
        ids[order],
        vectors[order],
        make_config(),
        {"name": "fixed", "variant": "official", "n_clusters": 4, "alpha": 0.4},
        tmp_path / "again",
    )
    for name in (*ROUTER_FILES, MANIFEST):
        assert (tmp_path / "again" / name).read_bytes() == (exported / name).read_bytes(), name


# --------------------------------------------------------------------------- alpha


@pytest.mark.parametrize("alpha", [0.0, 0.15, 0.7, 1.0])
def test_alpha_at_load_time_equals_a_fresh_export(problem, exported, tmp_path, alpha):
    records, ids, vectors = problem
    export_router(
        records,
        ids,
        vectors,
        make_config(),
        {"name": "fresh", "variant": "official", "n_clusters": 4, "alpha": alpha},
        tmp_path / "fresh",
    )
    fresh = Router.load(tmp_path / "fresh")
    overridden = Router.load(exported, alpha=alpha)
    assert overridden.alpha == alpha and overridden.default_alpha == 0.4
    np.testing.assert_array_equal(overridden.route_indices(vectors), fresh.route_indices(vectors))
    np.testing.assert_array_equal(
        Router.load(exported).with_alpha(alpha).route_indices(vectors), fresh.route_indices(vectors)
    )


def test_alpha_changes_the_choices(problem, exported):
    _, _, vectors = problem
    router = Router.load(exported)
    cheap = router.with_alpha(0.0).route_embeddings(vectors)
    accurate = router.with_alpha(1.0).route_embeddings(vectors)
    assert cheap != accurate
    assert "large" in accurate or "coder" in accurate


@pytest.mark.parametrize("alpha", [-0.1, 1.5, math.nan, "0.5", True])
def test_bad_alpha_is_rejected(exported, alpha):
    with pytest.raises(ConfigError, match="alpha"):
        Router.load(exported, alpha=alpha)


def test_match_best_single_target(problem, tmp_path):
    records, ids, vectors = problem
    config = make_config()
    info = export_router(
        records,
        ids,
        vectors,
        config,
        {"name": "t", "variant": "official", "n_clusters": 3, "target": "match-best-single"},
        tmp_path / "t",
    )
    choice = info["alpha"]
    validation = choice["validation"]
    assert choice["chosen_by"] == "match-best-single"
    # Every query routed out of fold, over the default 5 folds.
    assert validation["cv_folds"] == 5 and validation["n_queries"] == 120
    assert validation["seed"] == 3
    assert validation["reference_model"] == "large"
    curve = pd.DataFrame(validation["curve"]).set_index("alpha")
    np.testing.assert_allclose(curve.index, alpha_grid(config["sweep"]["alphas"]))
    # The specialists make the router better than `large` here, so the target is reached, and the
    # chosen alpha is the cheapest one that reaches it.
    assert validation["reached"] is True
    reaching = curve[curve["accuracy"] >= validation["reference_accuracy"] - 1e-12]
    assert choice["default"] == reaching.sort_values(["cost"], kind="stable").index[0]
    assert validation["accuracy"] == curve.loc[choice["default"], "accuracy"]
    router = Router.load(tmp_path / "t")
    assert router.alpha == choice["default"]
    assert router.stats.count.sum() == len(ids) * len(MODELS)  # refitted on all records


def test_max_accuracy_target(problem, tmp_path):
    records, ids, vectors = problem
    info = export_router(
        records,
        ids,
        vectors,
        make_config(),
        {"name": "t", "variant": "paper", "n_clusters": 3, "target": "max-accuracy"},
        tmp_path / "t",
    )
    curve = pd.DataFrame(info["alpha"]["validation"]["curve"])
    best = curve.sort_values(["accuracy", "cost", "alpha"], ascending=[False, True, True]).iloc[0]
    assert info["alpha"]["default"] == best["alpha"]
    assert "reference_model" not in info["alpha"]["validation"]


def test_unreachable_target_falls_back_to_max_accuracy(problem, tmp_path):
    records, ids, vectors = problem
    config = make_config()
    # The documented folds: cv_folds(datasets in query-id order, split.cv_folds, seed=split.seeds[0]).
    ordered = records.drop_duplicates("query_id").sort_values("query_id")
    folds = cv_folds(ordered["dataset"].to_numpy(dtype=object), 5, config["split"]["seeds"][0])
    ids_of = ordered["query_id"].to_numpy()
    # `large` is right on fold 0 only, `coder` on fold 1 only, no model elsewhere: each fold is routed
    # by statistics in which the model right on it has never been right, so no alpha reaches 0.2.
    records = records.copy()
    records["score"] = 0.0
    for model, fold in (("large", 0), ("coder", 1)):
        rows = records["model"] == model
        records.loc[rows, "score"] = records.loc[rows, "query_id"].isin(set(ids_of[folds == fold])).astype(float)
    info = export_router(
        records,
        ids,
        vectors,
        config,
        {"name": "t", "variant": "official", "n_clusters": 3, "target": "match-best-single"},
        tmp_path / "t",
    )
    validation = info["alpha"]["validation"]
    assert validation["reference_model"] == "coder" and validation["reference_accuracy"] == pytest.approx(0.2)
    assert validation["reached"] is False
    curve = pd.DataFrame(validation["curve"])
    best = curve.sort_values(["accuracy", "cost", "alpha"], ascending=[False, True, True]).iloc[0]
    assert info["alpha"]["default"] == best["alpha"]


def test_stored_clusterings_give_the_same_router_and_ignore_the_alpha_grid(problem, tmp_path):
    """The pipeline fits an export's KMeans in a job of its own (rule export_clusters) and hands them
    to export_router: the router must be the one export_router fits itself, whatever the alpha grid."""
    records, ids, vectors = problem
    entry = {"name": "t", "variant": "official", "n_clusters": 3, "target": "match-best-single"}
    config = make_config()
    # What the fit reads: no alphas, top_k, beta or variants (so a new alpha grid keeps the fits).
    fit_config = {
        "models": config["models"],
        "clustering": config["clustering"],
        "split": config["split"],
    }
    write_clusterings(fit_export_clusterings(records, ids, vectors, fit_config, entry), tmp_path / "fits.npz")
    stored = read_clusterings(tmp_path / "fits.npz")
    assert stored.folds is not None and len(stored.folds) == 5 and stored.full.centroids.shape == (3, DIM)
    for num in (21, 11):
        config = make_config(alphas={"start": 0.0, "stop": 1.0, "num": num})
        fitted_here = export_router(records, ids, vectors, config, entry, tmp_path / f"here{num}")
        from_file = export_router(records, ids, vectors, config, entry, tmp_path / f"file{num}", clusterings=stored)
        assert from_file == fitted_here
        for name in (CENTROIDS, STATISTICS):
            assert sha256_file(tmp_path / f"file{num}" / name) == sha256_file(tmp_path / f"here{num}" / name)
    # A fixed-alpha export needs no fold fits.
    fixed = {"name": "f", "variant": "official", "n_clusters": 3, "alpha": 0.5}
    assert fit_export_clusterings(records, ids, vectors, fit_config, fixed).folds is None


def test_stale_clusterings_are_refused(problem, tmp_path):
    records, ids, vectors = problem
    entry = {"name": "t", "variant": "official", "n_clusters": 3, "target": "max-accuracy"}
    stored = fit_export_clusterings(records, ids, vectors, make_config(), entry)
    with pytest.raises(DataError, match="other queries"):
        fewer = records[records["query_id"] != ids[0]]
        export_router(fewer, ids, vectors, make_config(), entry, tmp_path / "a", clusterings=stored)
    with pytest.raises(DataError, match="asks for 4"):
        export_router(
            records, ids, vectors, make_config(), {**entry, "n_clusters": 4}, tmp_path / "b", clusterings=stored
        )
    fixed = fit_export_clusterings(
        records, ids, vectors, make_config(), {"name": "t", "variant": "official", "n_clusters": 3, "alpha": 0.5}
    )
    with pytest.raises(DataError, match="no fit per fold"):
        export_router(records, ids, vectors, make_config(), entry, tmp_path / "c", clusterings=fixed)
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="broken.npz"):
        read_clusterings(tmp_path / "broken.npz")


# --------------------------------------------------------------------------- explain


def test_explanation_matches_the_decision(problem, exported):
    _, _, vectors = problem
    router = Router.load(exported, alpha=0.6)
    explanations = router.explain_embeddings(vectors[:20])
    choices = router.route_embeddings(vectors[:20])
    for explanation, choice, vector in zip(explanations, choices, vectors[:20], strict=True):
        assert explanation["model"] == choice
        scores = explanation["scores"]
        assert scores[choice] == max(scores.values())
        clusters = explanation["clusters"]
        assert len(clusters) == router.top_k
        distances = [c["distance"] for c in clusters]
        assert distances == sorted(distances)
        assert sum(c["weight"] for c in clusters) == pytest.approx(1.0)
        expected = [1.0 - float(vector.astype(np.float64) @ router.centroids[c["cluster"]]) for c in clusters]
        assert distances == pytest.approx(expected)
        # Official aggregation: S = sum of weight / (rank + 1) over the nearest clusters.
        for model in router.models:
            assert scores[model] == pytest.approx(sum(c["weight"] / (c["rank"][model] + 1) for c in clusters))
    json.dumps(explanations)  # plain JSON types only


@pytest.fixture(scope="module")
def exported_variants(problem, tmp_path_factory) -> dict[str, Path]:
    """One router per variant, with max_router = 2."""
    records, ids, vectors = problem
    base = tmp_path_factory.mktemp("variants")
    for name in VARIANTS:
        export_router(
            records,
            ids,
            vectors,
            make_config(max_router=2),
            {"name": name, "variant": name, "n_clusters": 5, "alpha": 0.5},
            base / name,
        )
    return {name: base / name for name in VARIANTS}


def random_unit_vectors(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("variant_name", list(VARIANTS))
@pytest.mark.parametrize("alpha", [0.0, 0.35, 1.0])
def test_explained_scores_are_the_s_that_routing_ranks(exported_variants, variant_name, alpha):
    router = Router.load(exported_variants[variant_name], alpha=alpha)
    vectors = random_unit_vectors(200, seed=11)
    # S from the statistics, by the router module's functions alone (not through Router), on the
    # queries normalised as every estimator normalises them.
    x = performance_efficiency(router.stats, np.array([alpha]), router.variant.normalisation)
    idx, weights = nearest_clusters(
        unit_queries(vectors, np.float64), router.centroids, router.top_k, router.beta, distance=router.variant.distance
    )
    expected = aggregate(x, idx, weights, router.variant)[0]
    explanations = router.explain_embeddings(vectors)
    explained = np.array([[e["scores"][m] for m in router.models] for e in explanations])
    np.testing.assert_array_equal(explained, expected)
    # ... and routing ranks exactly those scores: best first, the choice holding the maximum.
    order = router.rank_indices(vectors)
    ranked = np.take_along_axis(explained, order, axis=1)
    assert (np.diff(ranked, axis=1) <= 0).all()
    assert (ranked[:, 0] == explained.max(axis=1)).all()
    assert [e["model"] for e in explanations] == router.route_embeddings(vectors)
    assert [e["models"] for e in explanations] == [router.names(row) for row in router.route_indices(vectors)]


@pytest.mark.parametrize("variant_name", list(VARIANTS))
def test_rank_starts_with_the_routed_models(exported_variants, variant_name):
    vectors = random_unit_vectors(300, seed=12)
    for alpha in (0.0, 0.2, 0.6, 1.0):
        router = Router.load(exported_variants[variant_name], alpha=alpha)
        order = router.rank_indices(vectors)
        assert order.shape == (len(vectors), len(router.models))
        np.testing.assert_array_equal(np.sort(order, axis=1), np.broadcast_to(np.arange(len(MODELS)), order.shape))
        routed = router.route_indices(vectors)
        assert routed.shape == (len(vectors), 2)
        np.testing.assert_array_equal(order[:, :2], routed)
        np.testing.assert_array_equal(order[:, 0], routed[:, 0])
        names = router.rank_embeddings(vectors)
        assert [row[0] for row in names] == router.route_embeddings(vectors)
        assert names == [router.names(row) for row in order]
    assert router.rank_embeddings(vectors[:0]) == []


# --------------------------------------------------------------------------- bad input


def test_missing_file(exported, tmp_path):
    folder = copy_router(exported, tmp_path / "r")
    (folder / STATISTICS).unlink()
    with pytest.raises(DataError, match=r"statistics\.parquet: missing"):
        Router.load(folder)


def test_altered_file(exported, tmp_path):
    folder = copy_router(exported, tmp_path / "r")
    spec = json.loads((folder / ROUTER).read_text())
    spec["top_k"] = 1
    (folder / ROUTER).write_text(json.dumps(spec))
    with pytest.raises(DataError, match=r"router\.json: sha256 mismatch"):
        Router.load(folder)


@pytest.mark.parametrize("field, value", [("top_k", 0), ("max_router", -1), ("models", []), ("beta", "hot")])
def test_malformed_router_json_with_a_matching_sha256(exported, tmp_path, field, value):
    """A folder written wrongly (not altered later): the manifest vouches for it, the reader still refuses."""
    folder = copy_router(exported, tmp_path / "r")
    spec = json.loads((folder / ROUTER).read_text())
    spec[field] = value
    (folder / ROUTER).write_text(json.dumps(spec))
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"][ROUTER] = sha256_file(folder / ROUTER)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"router\.json"):
        Router.load(folder)


def test_altered_centroids(exported, tmp_path):
    folder = copy_router(exported, tmp_path / "r")
    data = bytearray((folder / CENTROIDS).read_bytes())
    data[-1] ^= 1
    (folder / CENTROIDS).write_bytes(bytes(data))
    with pytest.raises(DataError, match="sha256 mismatch"):
        Router.load(folder)


@pytest.mark.parametrize("version", [3, 0, "1", None, 1.0])
def test_unknown_format_version(exported, tmp_path, version):
    folder = copy_router(exported, tmp_path / "r")
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["format_version"] = version
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="unknown router format version"):
        Router.load(folder)


def test_not_a_router_folder(tmp_path):
    with pytest.raises(DataError, match="no such router folder"):
        Router.load(tmp_path / "absent")
    with pytest.raises(DataError, match="manifest.json is missing"):
        Router.load(tmp_path)


def test_manifest_cannot_point_outside_the_folder(exported, tmp_path):
    folder = copy_router(exported, tmp_path / "r")
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"]["../secret"] = "0" * 64
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="bad file name"):
        Router.load(folder)


@pytest.mark.parametrize(
    "embedding",
    [
        {"model": "another-model"},
        {"backend": "openai", "model": "all-MiniLM-L6-v2"},
        {"max_tokens": 128},
        {"query_instruction": "Query: "},
    ],
)
def test_another_embedder_is_an_error(exported, embedding):
    with pytest.raises(ConfigError, match="differs from"):
        Router.load(exported, embedding=embedding)


def test_host_settings_and_aliases_are_accepted(exported, tmp_path):
    router = Router.load(
        exported,
        embedding={
            "model": "sentence-transformers/all-MiniLM-L6-v2",
            "batch_size": 8,
            "device": "cpu",
            "cache": "ignored.sqlite",
        },
        cache_path=tmp_path / "cache.sqlite",
    )
    assert router.embedding["batch_size"] == 8
    assert router.cache_path == str(tmp_path / "cache.sqlite")


def test_cache_path_from_environment(exported, monkeypatch, tmp_path):
    monkeypatch.setenv("AVENGERS_PRO_EMBEDDING_CACHE", str(tmp_path / "env.sqlite"))
    assert Router.load(exported).cache_path == str(tmp_path / "env.sqlite")
    monkeypatch.delenv("AVENGERS_PRO_EMBEDDING_CACHE")
    assert Router.load(exported).cache_path is None


@pytest.mark.parametrize("queries, row", [([""], 0), (["fine", "   "], 1), (["fine", None], 1)])
def test_empty_query_is_rejected(exported, queries, row):
    # Rejected before any model is loaded.
    with pytest.raises(DataError, match=f"row {row}"):
        Router.load(exported).route(queries)


def test_bad_embeddings_are_rejected(problem, exported):
    _, _, vectors = problem
    router = Router.load(exported)
    with pytest.raises(DataError, match="shape"):
        router.route_embeddings(vectors[:, :3])
    broken = vectors[:5].copy()
    broken[4, 0] = np.nan
    with pytest.raises(DataError, match="row 4.*not finite"):
        router.route_embeddings(broken)
    broken[4] = 0.0
    with pytest.raises(DataError, match="row 4.*zeros"):
        router.route_embeddings(broken)
    assert router.route_embeddings(vectors[:0]) == []


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"name": "x", "variant": "official", "n_clusters": 3}, "exactly one of alpha and target"),
        (
            {"name": "x", "variant": "official", "n_clusters": 3, "alpha": 0.5, "target": "max-accuracy"},
            "exactly one of alpha and target",
        ),
        ({"name": "x", "variant": "official", "n_clusters": 3, "target": "cheapest"}, "target"),
        ({"name": "x", "variant": "nope", "n_clusters": 3, "alpha": 0.5}, "nope"),
        ({"name": "x", "variant": "official", "n_clusters": 1000, "alpha": 0.5}, "n_clusters"),
    ],
)
def test_bad_export_entries(problem, tmp_path, entry, message):
    records, ids, vectors = problem
    with pytest.raises(ConfigError, match=message):
        export_router(records, ids, vectors, make_config(), entry, tmp_path / "r")
    assert not (tmp_path / "r" / MANIFEST).exists()


def test_query_without_embedding(problem, tmp_path):
    records, ids, vectors = problem
    with pytest.raises(DataError, match="no embedding"):
        export_router(
            records,
            ids[1:],
            vectors[1:],
            make_config(),
            {"name": "x", "variant": "official", "n_clusters": 3, "alpha": 0.5},
            tmp_path / "r",
        )


def test_more_folds_than_queries_is_one_clear_error(tmp_path):
    records, ids, vectors = make_problem(n_per_dataset=5)
    with pytest.raises(DataError, match=r"15 training queries for 20 folds"):
        export_router(
            records,
            ids,
            vectors,
            {**make_config(), "split": {"seeds": [3, 4], "cv_folds": 20}},
            {"name": "x", "variant": "official", "n_clusters": 2, "target": "max-accuracy"},
            tmp_path / "r",
        )


def test_each_export_job_reads_only_its_keys_and_its_subset_is_enough():
    """export.settings.job_config is the one list of what each export job reads: the workflow passes
    that subset as the job's params, so it must hold no alpha grid where the job reads none (a new grid
    then reruns neither the KMeans fits nor the family choice), and rebuilding the settings from the
    subset must give what the full config gives."""
    config = {**make_config(), "families": {"knn": {"n_neighbors": [3]}}}
    config["clustering"] = {**config["clustering"], "n_clusters": [2, 3]}
    config["split"] = {**config["split"], "train_ratio": 0.7, "cv_folds": 4}
    avengers_entry = {"name": "a", "variant": "official", "n_clusters": 3, "alpha": 0.5}
    family_entry = {"name": "f", "family": "knn", "alpha": 0.5}
    fits = job_config("export_clusters", config, avengers_entry)
    assert fits == {
        "models": MODELS,
        "split": {"seeds": [3], "cv_folds": 4},
        "clustering": {"n_init": 3, "minibatch_above": 200_000, "cv_n_init": 3},
    }
    assert "sweep" not in job_config("export_select", config, family_entry)
    assert job_config("export_router", config, avengers_entry)["sweep"] == config["sweep"]
    assert list(job_config("export_router", config, avengers_entry)["avengers"]["variants"]) == ["official"]
    for job, entry in (
        ("export_clusters", avengers_entry),
        ("export_router", avengers_entry),
        ("export_select", family_entry),
        ("export_family", family_entry),
    ):
        subset = job_config(job, config, entry)
        assert export_settings(job, subset, entry) == export_settings(job, config, entry)
    with pytest.raises(ConfigError, match="config key 'sweep' missing"):
        job_config("export_router", {key: value for key, value in config.items() if key != "sweep"}, avengers_entry)


def test_the_fold_fits_use_cv_n_init_and_the_router_n_init(problem, monkeypatch):
    """The folds only choose alpha: they take clustering.cv_n_init restarts; the KMeans that routes new
    traffic takes clustering.n_init."""
    import avengers_pro.export.fit as export_fit

    records, ids, vectors = problem
    seen = []
    real = export_fit.fit_clusters

    def recording(vectors, n_clusters, **kwargs):
        seen.append((len(vectors), kwargs["n_init"]))
        return real(vectors, n_clusters, **kwargs)

    monkeypatch.setattr(export_fit, "fit_clusters", recording)
    config = make_config()
    config["clustering"] = {**config["clustering"], "n_init": 4, "cv_n_init": 2}
    entry = {"name": "t", "variant": "official", "n_clusters": 3, "target": "max-accuracy"}
    fit_export_clusterings(records, ids, vectors, config, entry)
    n_queries = records["query_id"].nunique()
    assert sorted(seen, reverse=True)[0] == (n_queries, 4)  # all queries: the router's own restarts
    folds = sorted(seen, reverse=True)[1:]
    assert len(folds) == 5 and all(n_init == 2 and size < n_queries for size, n_init in folds)
