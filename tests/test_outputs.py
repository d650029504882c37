"""The readers of the split and cluster files: what they accept, and one line naming what is wrong."""

import numpy as np
import pandas as pd
import pytest

from avengers_pro.errors import DataError
from avengers_pro.evaluation.split import split_queries
from avengers_pro.outputs import read_centroids, read_clusters, read_split


def _queries(n: int = 20) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "query_id": [f"q{i}" for i in range(n)],
            "dataset": ["a", "b"] * (n // 2),
            "query": [f"t{i}" for i in range(n)],
        }
    )


def test_a_split_written_by_split_queries_reads_back(tmp_path):
    path = tmp_path / "seed0.parquet"
    split = split_queries(_queries(), train_ratio=0.7, seed=0, validation_ratio=0.2)
    split.to_parquet(path)
    pd.testing.assert_frame_equal(read_split(path), split)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="validation"), "validation"),
        (lambda f: f.assign(split=["train"] * (len(f) - 1) + ["tset"]), "split must be train or test, got 'tset'"),
        (lambda f: f.assign(validation=(f["split"] == "test")), "a test query is in the validation carve-out"),
        (lambda f: f.assign(validation=1), "validation must be boolean"),
    ],
)
def test_a_bad_split_is_named(tmp_path, change, message):
    path = tmp_path / "seed0.parquet"
    change(split_queries(_queries(), train_ratio=0.7, seed=0, validation_ratio=0.2)).to_parquet(path)
    with pytest.raises(DataError, match=message) as error:
        read_split(path)
    assert str(path) in str(error.value)


def test_cluster_labels_and_centroids_read_back_and_bad_ones_are_named(tmp_path):
    labels = pd.DataFrame({"query_id": ["a", "b", "c"], "cluster": np.array([0, 1, 1], dtype=np.int32)})
    labels.to_parquet(tmp_path / "k2.parquet")
    pd.testing.assert_frame_equal(read_clusters(tmp_path / "k2.parquet"), labels)
    labels.assign(cluster=[0.5, 1.0, 1.0]).to_parquet(tmp_path / "float.parquet")
    with pytest.raises(DataError, match="cluster must be an integer"):
        read_clusters(tmp_path / "float.parquet")
    labels.assign(query_id=["a", "a", "c"]).to_parquet(tmp_path / "twice.parquet")
    with pytest.raises(DataError, match="a query has two clusters"):
        read_clusters(tmp_path / "twice.parquet")

    np.save(tmp_path / "c.npy", np.eye(2, 3))
    np.testing.assert_array_equal(read_centroids(tmp_path / "c.npy", n_clusters=2), np.eye(2, 3))
    with pytest.raises(DataError, match="2 centroids for k = 3"):
        read_centroids(tmp_path / "c.npy", n_clusters=3)
    np.save(tmp_path / "nan.npy", np.full((2, 3), np.nan))
    with pytest.raises(DataError, match="finite"):
        read_centroids(tmp_path / "nan.npy")
