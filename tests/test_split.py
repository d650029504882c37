"""The per-dataset split: ratio, determinism, no overlap, duplicates on one side, OOD, validation."""

import math

import pandas as pd
import pytest

from avengers_pro.errors import ConfigError
from avengers_pro.evaluation.split import split_queries


def _queries(sizes: dict[str, int], duplicate_every: int = 0) -> pd.DataFrame:
    rows = []
    for dataset, n in sizes.items():
        for i in range(n):
            text = f"{dataset} question {i // duplicate_every if duplicate_every else i}"
            rows.append({"query_id": f"{dataset}-{i:04d}", "dataset": dataset, "query": text})
    return pd.DataFrame(rows)


def test_ratio_follows_the_reference_rule_per_dataset():
    queries = _queries({"a": 200, "b": 198, "c": 7})
    split = split_queries(queries, train_ratio=0.7, seed=0)
    for dataset, n in {"a": 200, "b": 198, "c": 7}.items():
        part = split[split["dataset"] == dataset]
        assert (part["split"] == "test").sum() == n - math.floor(0.7 * n)
        assert (part["split"] == "train").sum() == math.floor(0.7 * n)


def test_every_query_once_and_sides_disjoint():
    queries = _queries({"a": 50, "b": 40})
    split = split_queries(queries, train_ratio=0.7, seed=3)
    assert sorted(split["query_id"]) == sorted(queries["query_id"])
    assert split["query_id"].is_unique
    assert set(split["split"]) == {"train", "test"}


def test_same_seed_same_split_other_seed_other_split():
    queries = _queries({"a": 100})
    first = split_queries(queries, train_ratio=0.7, seed=1, validation_ratio=0.2)
    again = split_queries(queries.sample(frac=1.0, random_state=5), train_ratio=0.7, seed=1, validation_ratio=0.2)
    other = split_queries(queries, train_ratio=0.7, seed=2, validation_ratio=0.2)
    pd.testing.assert_frame_equal(first, again)
    assert not first["split"].equals(other["split"])


def test_identical_texts_never_on_both_sides():
    queries = _queries({"a": 90}, duplicate_every=3)  # every text three times
    split = split_queries(queries, train_ratio=0.7, seed=0, validation_ratio=0.3).merge(queries)
    sides = split.groupby("query")["split"].nunique()
    assert (sides == 1).all()
    assert (split.groupby("query")["validation"].nunique() == 1).all()
    # The ratio applies to distinct texts: 30 texts -> 9 test texts -> 27 test rows.
    assert (split["split"] == "test").sum() == 3 * (30 - math.floor(0.7 * 30))


def test_ood_datasets_go_wholly_to_test():
    split = split_queries(_queries({"a": 20, "b": 20}), train_ratio=0.7, seed=0, ood_datasets=["b"])
    assert (split.loc[split["dataset"] == "b", "split"] == "test").all()
    assert (split.loc[split["dataset"] == "a", "split"] == "train").sum() == 14


def test_unknown_ood_dataset_is_a_config_error():
    with pytest.raises(ConfigError, match="split.ood_datasets: nope"):
        split_queries(_queries({"a": 5}), train_ratio=0.7, seed=0, ood_datasets=["nope"])


def test_validation_is_carved_from_train_only_and_leaves_test_unchanged():
    queries = _queries({"a": 100, "b": 60})
    plain = split_queries(queries, train_ratio=0.7, seed=4)
    with_validation = split_queries(queries, train_ratio=0.7, seed=4, validation_ratio=0.2)
    assert plain["split"].equals(with_validation["split"])
    assert not with_validation.loc[with_validation["split"] == "test", "validation"].any()
    train_a = with_validation[(with_validation["dataset"] == "a") & (with_validation["split"] == "train")]
    assert train_a["validation"].sum() == 70 - math.floor(0.8 * 70)
    assert not plain["validation"].any()
