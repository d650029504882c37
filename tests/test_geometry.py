"""KMeans on normalised train embeddings."""

import numpy as np
import pytest

from avengers_pro.errors import ConfigError
from avengers_pro.routing.geometry import fit_clusters, l2_normalise


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(8)[:3] * 5
    return np.vstack([c + rng.normal(scale=0.1, size=(30, 8)) for c in centres])


def test_recovers_separated_blobs_and_is_deterministic():
    data = _blobs()
    first = fit_clusters(data, 3, seed=0, n_init=3)
    second = fit_clusters(data, 3, seed=0, n_init=3)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.centroids, second.centroids)
    for block in range(3):
        assert len(set(first.labels[block * 30 : (block + 1) * 30])) == 1
    assert first.centroids.shape == (3, 8)


def test_scale_of_embeddings_does_not_matter():
    data = _blobs()
    scaled = data * np.random.default_rng(1).uniform(0.5, 3.0, size=(len(data), 1))
    np.testing.assert_array_equal(fit_clusters(data, 3, seed=0).labels, fit_clusters(scaled, 3, seed=0).labels)


def test_minibatch_above_threshold_gives_a_valid_clustering():
    clustering = fit_clusters(_blobs(), 3, seed=0, n_init=3, minibatch_above=10)
    assert set(clustering.labels) == {0, 1, 2}


def test_more_clusters_than_queries_is_a_config_error():
    with pytest.raises(ConfigError, match="clustering.n_clusters"):
        fit_clusters(_blobs()[:5], 8, seed=0)


def test_l2_normalise_keeps_zero_rows():
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
