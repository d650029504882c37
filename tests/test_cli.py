"""The `avengers-pro route` command and Router.route, end to end with the local MiniLM embedder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from avengers_pro.cli import main
from avengers_pro.embeddings import embed_texts, make_embedder
from avengers_pro.errors import EmbeddingError
from avengers_pro.export import MANIFEST, ROUTER, Router, export_selected, select_export
from avengers_pro.testing.small_routers import export_config, export_small_router

EMBEDDING = {"backend": "sentence-transformers", "model": "all-MiniLM-L6-v2", "max_tokens": 256}
MODELS = ["generalist", "coder", "mathy"]
TOPICS = {
    "math": "What is {a} plus {b}?",
    "code": "Write a Python function that returns the {a}th Fibonacci number modulo {b}.",
    "words": "Fill in the blank: the {a} dog chased the {b} cat up the ___.",
}


def _records() -> pd.DataFrame:
    rows = []
    for topic, template in TOPICS.items():
        for i in range(12):
            query = (
                template.format(a=3 + 7 * i, b=11 + 5 * i)
                if topic != "words"
                else template.format(
                    a=["big", "small", "old", "young"][i % 4], b=["grey", "black", "white"][i % 3] + f" #{i}"
                )
            )
            for model, right in (("generalist", True), ("coder", topic == "code"), ("mathy", topic == "math")):
                cost = 0.01 if model == "generalist" else 0.001
                rows.append(
                    {
                        "query_id": f"{topic}-{i:02d}",
                        "dataset": topic,
                        "query": query,
                        "prompt": query,
                        "model": model,
                        "score": float(right),
                        "cost": cost,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def embedder():
    """The local model, loaded once for the whole module."""
    return make_embedder(EMBEDDING)


@pytest.fixture(scope="module")
def router_dir(tmp_path_factory, embedder) -> Path:
    records = _records()
    queries = records.drop_duplicates("query_id")
    vectors = embed_texts(queries["query"].tolist(), EMBEDDING, cache_path=None, progress=False, embedder=embedder)
    out = tmp_path_factory.mktemp("router") / "default"
    export_small_router(
        records,
        vectors,
        out,
        embedding={**EMBEDDING, "cache": "data/cache/embeddings.sqlite"},
        n_clusters=3,
        alpha=0.6,
        models=MODELS,
    )
    return out


@pytest.fixture()
def router(router_dir: Path, embedder) -> Router:
    loaded = Router.load(router_dir)
    loaded._embedder = embedder  # share the module's loaded model (the cache of loaded models would too)
    return loaded


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --------------------------------------------------------------------------- Python API


def test_route_sends_each_topic_to_its_specialist(router):
    queries = [
        "What is 1234 plus 4321?",
        "Write a Python function that returns the 50th Fibonacci number modulo 7.",
        "Fill in the blank: the tiny dog chased the ginger cat up the ___.",
    ]
    assert router.route(queries) == ["mathy", "coder", "generalist"]
    # At alpha 1 cost no longer matters and the generalist is never worse.
    assert router.with_alpha(1.0).route(queries)[2] == "generalist"


def test_route_equals_route_embeddings_of_the_pipeline_embedder(router, embedder):
    queries = [f"What is {i} plus {2 * i}?" for i in range(5)] + ["Write a Python function that sorts a list."]
    vectors = embed_texts(queries, EMBEDDING, cache_path=None, progress=False, embedder=embedder)
    assert router.route(queries) == router.route_embeddings(vectors)


def test_explain_names_the_chosen_model(router):
    explanation = router.explain("What is 5 plus 8?")
    assert explanation["query"] == "What is 5 plus 8?"
    assert explanation["model"] == "mathy" == max(explanation["scores"], key=explanation["scores"].get)
    assert explanation["alpha"] == 0.6
    assert len(explanation["clusters"]) == 1


def test_persistent_cache(router_dir, embedder, tmp_path):
    cache = tmp_path / "cache.sqlite"
    with Router.load(router_dir, cache_path=cache) as router:
        router._embedder = embedder
        first = router.route(["What is 2 plus 2?"])
    assert cache.is_file()
    with Router.load(router_dir, cache_path=cache) as router:
        router._embedder = embedder
        assert router.route(["What is 2 plus 2?"]) == first


def test_embedder_of_another_dimension_is_caught(tmp_path, embedder):
    # A router fitted on 8-dimensional vectors that claims to use MiniLM (384): caught, not misrouted.
    records = _records()
    queries = records.drop_duplicates("query_id")
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(queries), 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    export_small_router(
        records,
        vectors,
        tmp_path / "x",
        embedding=EMBEDDING,
        n_clusters=2,
        alpha=0.5,
        variant="p",
        kind="paper",
        n_alphas=3,
        n_init=1,
        minibatch_above=1000,
    )
    router = Router.load(tmp_path / "x")
    router._embedder = embedder
    with pytest.raises(EmbeddingError, match="384-dimensional"):
        router.route(["What is 1 plus 1?"])


# --------------------------------------------------------------------------- CLI: single queries


def test_cli_prints_the_chosen_model(router_dir, router, capsys):
    status, out, err = run(
        [
            "route",
            "--router",
            str(router_dir),
            "What is 17 plus 25?",
            "Write a Python function that reverses a string.",
        ],
        capsys,
    )
    assert status == 0, err
    assert out.splitlines() == router.route(["What is 17 plus 25?", "Write a Python function that reverses a string."])


def test_cli_alpha_override(router_dir, router, capsys):
    query = "Fill in the blank: the old dog chased the white cat up the ___."
    status, out, _ = run(["route", "--router", str(router_dir), "--alpha", "0", query], capsys)
    assert status == 0
    assert out.strip() == router.with_alpha(0.0).route([query])[0]


def test_cli_explain(router_dir, capsys):
    status, out, _ = run(["route", "--router", str(router_dir), "--explain", "What is 3 plus 4?"], capsys)
    assert status == 0
    explanation = json.loads(out)
    assert explanation["query"] == "What is 3 plus 4?"
    assert explanation["model"] == "mathy"
    assert set(explanation["scores"]) == set(MODELS)
    status, out, _ = run(
        [
            "route",
            "--router",
            str(router_dir),
            "--explain",
            "What is 3 plus 4?",
            "Write a Python function that reverses a string.",
        ],
        capsys,
    )
    assert status == 0
    assert [item["model"] for item in json.loads(out)] == ["mathy", "coder"]


@pytest.fixture(scope="module")
def task_router_dir(tmp_path_factory, embedder) -> Path:
    """A task-classifier router (format version 2), chosen and exported as a `router: task` entry."""
    records = _records()
    queries = records.drop_duplicates("query_id")
    vectors = embed_texts(queries["query"].tolist(), EMBEDDING, cache_path=None, progress=False, embedder=embedder)
    config = export_config(
        embedding=EMBEDDING,
        validation_ratio=0.25,
        n_clusters=[3],
        n_init=2,
        families={"task": {"C": [10.0], "mode": ["soft"]}},
        models=MODELS,
    )
    entry = {"name": "task", "family": "task", "alpha": 0.6}
    ids = queries["query_id"].to_numpy()
    selection = select_export(records, ids, vectors, config, entry)
    out = tmp_path_factory.mktemp("router") / "task"
    export_selected(records, ids, vectors, config, entry, selection, out)
    return out


def test_cli_routes_and_explains_with_a_family_router(task_router_dir, embedder, capsys):
    router = Router.load(task_router_dir)
    router._embedder = embedder
    assert router.family == "task"
    queries = ["What is 17 plus 25?", "Write a Python function that reverses a string."]
    status, out, err = run(["route", "--router", str(task_router_dir), *queries], capsys)
    assert status == 0, err
    # The task classifier sends each topic's questions to its specialist, as the dataset router would.
    assert out.splitlines() == router.route(queries) == ["mathy", "coder"]
    status, out, _ = run(["route", "--router", str(task_router_dir), "--explain", queries[0]], capsys)
    assert status == 0
    explanation = json.loads(out)
    assert explanation["family"] == "task" and explanation["model"] == "mathy"
    assert max(explanation["details"]["datasets"], key=explanation["details"]["datasets"].get) == "math"
    assert set(explanation["predicted"]) == set(MODELS)


# --------------------------------------------------------------------------- CLI: JSON Lines


def test_cli_streams_json_lines(router_dir, router, tmp_path, capsys):
    items = [{"query": f"What is {i} plus {i + 1}?", "id": i, "tags": ["x", i]} for i in range(5)]
    items += [{"query": "Write a Python function that merges two sorted lists.", "id": 5, "note": "naïve ünïcode"}]
    lines = [json.dumps(item, ensure_ascii=False) for item in items]
    lines.insert(3, "")  # blank lines are skipped
    source = tmp_path / "queries.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "routed.jsonl"
    status, out, err = run(
        ["route", "--router", str(router_dir), "--input", str(source), "--output", str(target), "--chunk-size", "2"],
        capsys,
    )
    assert status == 0, err
    assert out == ""
    assert "routing" in err  # the progress bar, on stderr
    routed = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [{k: v for k, v in item.items() if k != "model"} for item in routed] == items
    assert [item["model"] for item in routed] == router.route([item["query"] for item in items])


def test_cli_json_lines_from_stdin_to_stdout(router_dir, router, monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO('{"query": "What is 9 plus 9?"}\n'))
    status, out, _ = run(["route", "--router", str(router_dir), "--input", "-", "--no-progress", "--explain"], capsys)
    assert status == 0
    item = json.loads(out)
    assert item["model"] == "mathy" and item["explanation"]["model"] == "mathy"


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"query": "What is 1 plus 1?"}\n{"query": "ok"}\n{"text": "no query"}\n', "line 3: no 'query' field"),
        ('{"query": "What is 1 plus 1?"}\nnot json\n', "line 2: not valid JSON"),
        ('{"query": "   "}\n', "line 1: field 'query' must be a non-empty string"),
        ('{"query": 42}\n', "line 1: field 'query' must be a non-empty string"),
        ('["What is 1 plus 1?"]\n', "line 1: expected a JSON object"),
        ('{"query": "What is 1 plus 1?", "model": "gpt"}\n', "line 1: already has a 'model' field"),
    ],
)
def test_cli_bad_json_lines(router_dir, tmp_path, capsys, content, message):
    source = tmp_path / "queries.jsonl"
    source.write_text(content)
    target = tmp_path / "routed.jsonl"
    status, out, err = run(
        [
            "route",
            "--router",
            str(router_dir),
            "--input",
            str(source),
            "--output",
            str(target),
            "--no-progress",
            "--chunk-size",
            "1",
        ],
        capsys,
    )
    assert status == 1
    assert message in err and str(source) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not target.exists()  # no half-written output
    assert list(tmp_path.iterdir()) == [source]


def test_cli_not_utf8(router_dir, tmp_path, capsys):
    source = tmp_path / "queries.jsonl"
    source.write_bytes(b'{"query": "caf\xe9"}\n')
    status, _, err = run(["route", "--router", str(router_dir), "--input", str(source), "--no-progress"], capsys)
    assert status == 1 and "not UTF-8" in err


# --------------------------------------------------------------------------- CLI: errors


def _copy(source: Path, target: Path) -> Path:
    target.mkdir()
    for file in source.iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    return target


def test_cli_errors_are_one_line(router_dir, tmp_path, capsys):
    altered = _copy(router_dir, tmp_path / "altered")
    (altered / ROUTER).write_text((altered / ROUTER).read_text().replace('"top_k": 1', '"top_k": 2'))
    future = _copy(router_dir, tmp_path / "future")
    manifest = json.loads((future / MANIFEST).read_text())
    manifest["format_version"] = 99
    (future / MANIFEST).write_text(json.dumps(manifest))
    cases = [
        (["route", "--router", str(altered), "q"], "sha256 mismatch"),
        (["route", "--router", str(future), "q"], "unknown router format version 99"),
        (["route", "--router", str(tmp_path / "nowhere"), "q"], "no such router folder"),
        (["route", "--router", str(router_dir), ""], "query 1 is empty"),
        (["route", "--router", str(router_dir), "--alpha", "2", "q"], "alpha"),
        (["route", "--router", str(router_dir)], "nothing to route"),
        (["route", "--router", str(router_dir), "--input", str(tmp_path / "none.jsonl")], "no such file"),
        (["route", "--router", str(router_dir), "--output", str(tmp_path / "o.jsonl"), "q"], "--output goes with"),
    ]
    for argv, message in cases:
        status, out, err = run(argv, capsys)
        assert status == 1, argv
        assert message in err, (argv, err)
        assert err.startswith("avengers-pro: error: ") and len(err.strip().splitlines()) == 1
        assert out == ""


def test_cli_as_a_module_in_a_subprocess(tmp_path):
    """`python -m avengers_pro.cli`: a bad router folder is one line on stderr and status 1."""
    done = subprocess.run(
        [sys.executable, "-m", "avengers_pro.cli", "route", "--router", str(tmp_path), "a question"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"avengers-pro: error: {tmp_path}: not a router folder: manifest.json is missing"
