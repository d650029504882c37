"""K-fold cross-validated selection and the one-standard-error rule (avengers_pro.evaluation.cv)."""

from __future__ import annotations

import numpy as np
import pytest
from test_families import GRIDS, tiny

from avengers_pro.errors import DataError
from avengers_pro.evaluation import metrics
from avengers_pro.evaluation.cv import FAMILY_ORDER, cv_folds, one_standard_error, select_cv, simplicity
from avengers_pro.evaluation.selection import (
    SELECTION_ALPHAS,
    expand_grid,
    make_estimator,
    sweep_curve,
    validation_cost_range,
)


def test_cv_folds_are_stratified_balanced_and_seeded() -> None:
    datasets = np.array(["a"] * 23 + ["b"] * 11 + ["c"] * 6, dtype=object)
    folds = cv_folds(datasets, 5, seed=3)
    for dataset in ("a", "b", "c"):
        sizes = np.bincount(folds[datasets == dataset], minlength=5)
        assert sizes.max() - sizes.min() <= 1
    assert np.bincount(folds).max() - np.bincount(folds).min() <= 1
    np.testing.assert_array_equal(folds, cv_folds(datasets, 5, seed=3))
    assert not np.array_equal(folds, cv_folds(datasets, 5, seed=4))
    with pytest.raises(DataError, match="at least 2 folds"):
        cv_folds(datasets, 1, seed=0)


def test_one_standard_error_rule_takes_the_simplest_within_one_error_of_the_best() -> None:
    means = [0.80, 0.81, None, 0.79]
    errors = [0.01, 0.01, None, 0.01]
    # Best 0.81 +- 0.01: 0.80 and 0.81 are within; the simplest of them (smallest key) wins.
    assert one_standard_error(means, errors, [(2,), (1,), (0,), (0,)]) == 1
    assert one_standard_error(means, errors, [(0,), (1,), (0,), (0,)]) == 0
    assert one_standard_error(means, [0.01, 0.02, None, 0.01], [(2,), (1,), (0,), (0,)]) == 3
    assert one_standard_error(means, [0.01, 0.005, None, 0.01], [(0,), (1,), (0,), (0,)]) == 1
    assert one_standard_error(means, errors, [(0,), (0,), (0,), (0,)]) == 0  # equal keys: the first


def test_the_order_of_simplicity() -> None:
    assert simplicity("knn", {"n_neighbors": 400}) < simplicity("knn", {"n_neighbors": 10})
    assert simplicity("logistic", {"C": 0.1}) < simplicity("logistic", {"C": 10.0})
    assert simplicity("task", {"C": 100.0, "mode": "hard"}) < simplicity("task", {"C": 1.0, "mode": "soft"})
    stronger = simplicity("shrinkage", {"base": "clusters", "n_clusters": 256, "tau": 50.0})
    assert stronger < simplicity("shrinkage", {"base": "clusters", "n_clusters": 16, "tau": 10.0})
    assert simplicity("shrinkage", {"base": "clusters", "n_clusters": 16, "tau": 0.0}) < simplicity(
        "shrinkage", {"base": "clusters", "n_clusters": 16, "tau": "eb"}
    )
    assert simplicity("avengers-pro", {"n_clusters": 8}) < simplicity("avengers-pro", {"n_clusters": 64})
    assert FAMILY_ORDER[0] == "task"


@pytest.mark.parametrize("family", ["knn", "task"])
def test_select_cv_scores_each_candidate_on_every_held_out_fold(family: str) -> None:
    embeddings, matrix = tiny(n=120)
    folds = cv_folds(matrix.datasets, 4, seed=1)
    selection = select_cv(family, GRIDS[family], embeddings, matrix, folds, SELECTION_ALPHAS, seed=1)
    candidates = expand_grid(GRIDS[family])
    assert [entry["params"] for entry in selection.validation] == candidates
    for entry in selection.validation:
        values = []
        for fold in range(4):
            held = folds == fold
            fit, val = matrix.subset(~held), matrix.subset(held)
            estimator = make_estimator(family, entry["params"], 1).fit(embeddings[~held], fit)
            _, _, acc, cost = sweep_curve(estimator.choose(embeddings[held], SELECTION_ALPHAS, val.available), val)
            values.append(metrics.aiq(cost, acc, validation_cost_range(val)))
        assert entry["aiq_folds"] == pytest.approx(values)
        assert entry["aiq"] == pytest.approx(np.mean(values))
        assert entry["aiq_se"] == pytest.approx(np.std(values, ddof=1) / 2.0)
    means = [e["aiq"] for e in selection.validation]
    best = int(np.argmax(means))
    within = [
        i for i, e in enumerate(selection.validation) if e["aiq"] >= means[best] - selection.validation[best]["aiq_se"]
    ]
    chosen = min(within, key=lambda i: (simplicity(family, candidates[i]), i))
    assert selection.params == candidates[chosen] and selection.validation[chosen]["chosen"]
    assert sum(e["chosen"] for e in selection.validation) == 1
