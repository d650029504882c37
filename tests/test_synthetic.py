"""The synthetic-records generator used by the scaling benchmark (bench/bench_scaling.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from avengers_pro.evaluation.split import split_queries
from avengers_pro.io import record_matrix
from avengers_pro.testing.synthetic import SYNTHETIC_PREFIX, synthetic_queries, synthetic_records

CANONICAL = ["query_id", "dataset", "query", "prompt", "model", "score", "cost"]


@pytest.fixture(scope="module")
def small():
    return synthetic_records(600, 5, n_topics=4, n_datasets=3, dim=16, seed=3)


def test_canonical_long_table(small):
    records = small.records
    assert list(records.columns) == CANONICAL
    assert len(records) == 600 * 5
    for column in CANONICAL[:5]:
        assert pd.api.types.is_string_dtype(records[column]), column
    assert not records.isna().any().any()
    assert not records.duplicated(["query_id", "model"]).any()
    assert set(records["score"].unique()) <= {0.0, 1.0}
    assert (records["cost"] > 0).all()
    # Every name says it is synthetic.
    for column in ("query_id", "dataset", "model", "query"):
        assert records[column].str.startswith(SYNTHETIC_PREFIX).all(), column


def test_embeddings_are_unit_rows_aligned_with_sorted_ids(small):
    assert small.embeddings.shape == (600, 16) and small.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(small.embeddings, axis=1), 1.0, rtol=1e-5)
    assert list(small.query_ids) == sorted(small.query_ids)
    matrix = record_matrix(small.records)
    assert list(matrix.query_ids) == list(small.query_ids)
    assert matrix.models == small.models and not np.isnan(matrix.scores).any()


def test_same_seed_same_records_other_seed_other_records():
    first = synthetic_records(50, 3, dim=8, seed=1)
    again = synthetic_records(50, 3, dim=8, seed=1)
    other = synthetic_records(50, 3, dim=8, seed=2)
    pd.testing.assert_frame_equal(first.records, again.records)
    np.testing.assert_array_equal(first.embeddings, again.embeddings)
    assert not np.array_equal(first.embeddings, other.embeddings)


def test_topics_shape_embeddings_and_skills(small):
    # Queries of one topic are closer to each other than to other topics' queries.
    centres = np.stack([small.embeddings[small.topics == t].mean(axis=0) for t in range(4)])
    nearest = np.argmax(small.embeddings @ centres.T, axis=1)
    assert (nearest == small.topics).mean() > 0.9
    # The best model differs between topics, so routing by topic can beat any single model.
    matrix = record_matrix(small.records)
    per_topic = np.stack([matrix.scores[small.topics == t].mean(axis=0) for t in range(4)])
    oracle_by_topic = np.mean([per_topic[t].max() for t in small.topics])
    best_single = matrix.scores.mean(axis=0).max()
    assert oracle_by_topic > best_single


def test_prices_grow_with_ability():
    synthetic = synthetic_records(2000, 6, dim=8, seed=0)
    matrix = record_matrix(synthetic.records)
    accuracy, cost = matrix.scores.mean(axis=0), matrix.costs.mean(axis=0)
    assert np.corrcoef(accuracy, np.log(cost))[0, 1] > 0.5


def test_queries_table_feeds_the_split(small):
    queries = synthetic_queries(small.records)
    assert list(queries.columns) == ["query_id", "dataset", "query", "prompt"]
    assert list(queries["query_id"]) == list(small.query_ids)
    split = split_queries(queries, train_ratio=0.7, seed=0, validation_ratio=0.2)
    assert set(split["split"]) == {"train", "test"} and len(split) == 600


@pytest.mark.parametrize("kwargs", [{"n_queries": 0}, {"n_models": 0}, {"dim": -1}, {"noise": -0.1}])
def test_bad_arguments(kwargs):
    arguments = {"n_queries": 10, "n_models": 2, "dim": 4} | kwargs
    with pytest.raises(ValueError):
        synthetic_records(**arguments)
