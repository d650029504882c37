"""The honest alpha: chosen on training queries only, reported with its test numbers.

Per seed, every training query is routed out of fold: by the router fitted on the other K - 1
cross-validation folds of train (:mod:`avengers_pro.evaluation.oof`, ``split.cv_folds``); the
pooled curve (``results/sweep_oof/...``) covers the whole training part, five times the queries of
the old validation carve-out. On it two alphas are chosen:

* ``match_best_single``: the cheapest alpha whose accuracy reaches that of the best single model on
  the same (training) queries (if none does, the most accurate alpha, flagged ``reached: false``);
* ``max_accuracy``: the most accurate alpha (ties: cheaper, then smaller alpha).

The metrics job reports those alphas' **test** accuracy and cost; the export chooses its default
alpha the same way, with the folds over all its records (:mod:`avengers_pro.export.fit`). The
functions take any such curve: :func:`choose_alpha` is indifferent to how it was routed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.evaluation import metrics
from avengers_pro.evaluation.summary import seed_curve
from avengers_pro.outputs import OUTCOME_COLUMNS, json_number, require_columns, require_finite, sweep_path


def single_model_outcomes(
    records: pd.DataFrame, split: pd.DataFrame, part: Literal["test", "validation", "train"]
) -> pd.DataFrame:
    """Every model's per-query outcome on one part of one seed's split (a long frame).

    Parameters
    ----------
    records
        ``results/records.parquet`` (``query_id``, ``dataset``, ``model``, ``score``, ``cost``, ...).
    split
        ``results/splits/seed{seed}.parquet``.
    part
        ``"test"`` (``split == "test"``), ``"validation"`` (train queries with ``validation``) or
        ``"train"`` (every training query: the queries of the out-of-fold curve).

    Returns
    -------
    pd.DataFrame
        ``query_id``, ``dataset``, ``model``, ``score``, ``cost`` of the queries of that part: the
        ``single_outcomes`` / ``validation_singles`` inputs of :func:`compute_metrics`.
    """
    require_columns(records, OUTCOME_COLUMNS, "results/records.parquet")
    require_columns(split, ("query_id", "split", "validation"), "results/splits")
    if part == "test":
        chosen = split["split"] == "test"
    elif part == "validation":
        chosen = (split["split"] == "train") & split["validation"].astype(bool)
    elif part == "train":
        chosen = split["split"] == "train"
    else:
        raise ValueError(f"part must be 'test', 'validation' or 'train', got {part!r}")
    ids = split.loc[chosen, "query_id"]
    kept = records[records["query_id"].isin(ids)]
    return kept[list(OUTCOME_COLUMNS)].reset_index(drop=True)


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    array = np.asarray(values, dtype=np.float64)
    mean = json_number(array.mean()) if array.size else None
    sd = json_number(array.std(ddof=1)) if array.size > 1 else None
    return mean, sd


def validation_best_single(outcomes: pd.DataFrame, seed: int) -> tuple[str, float]:
    """The model of best validation accuracy (unweighted mean over datasets; ties: first by name)."""
    file = f"validation single-model outcomes of seed {seed}"
    require_columns(outcomes, OUTCOME_COLUMNS, file)
    require_finite(outcomes, ("score",), file)
    if outcomes.empty:
        raise DataError("no validation queries", file=file, field="query_id")
    per_dataset = outcomes.groupby(["model", "dataset"], sort=True)["score"].mean().unstack("dataset")
    # A model without any record on a dataset has no comparable mean: it cannot be the reference.
    overall = per_dataset.mean(axis=1, skipna=False).dropna()
    if overall.empty:
        raise DataError("no model has validation records on every dataset", file=file, field="model")
    best = overall.sort_index(kind="stable").idxmax()
    return str(best), float(overall[best])


def choose_alpha(curve: pd.DataFrame, target: float | None) -> tuple[float, bool]:
    """An alpha of a per-seed validation curve (index alpha; accuracy, cost).

    With ``target``: the cheapest alpha whose accuracy reaches it (ties: smaller alpha); if none
    does, the max-accuracy alpha and ``reached = False``. Without: the max-accuracy alpha (ties:
    cheaper, then smaller alpha).
    """
    alphas = curve.index.to_numpy(dtype=np.float64)
    accs = curve["accuracy"].to_numpy(dtype=np.float64)
    costs = curve["cost"].to_numpy(dtype=np.float64)
    if target is not None:
        reaches = np.flatnonzero(accs >= target - metrics.ACCURACY_TOLERANCE)
        if reaches.size:
            best = reaches[np.lexsort((alphas[reaches], costs[reaches]))[0]]
            return float(alphas[best]), True
    best = np.lexsort((alphas, costs, -accs))[0]
    return float(alphas[best]), target is None


def validation_choice(
    variant: str,
    n_clusters: int,
    seeds: list[int],
    validation_sweeps: Mapping[tuple[str, int, int], pd.DataFrame],
    test_sweeps: Mapping[tuple[str, int, int], pd.DataFrame],
    validation_singles: Mapping[int, pd.DataFrame],
) -> dict[str, Any] | None:
    """The honest alpha: chosen per seed on the given (out-of-fold) curves only, reported with its
    test numbers. ``validation_sweeps`` and ``validation_singles``: the curves alpha is chosen on and
    the single models' outcomes on the same queries.
    """
    present = [s for s in seeds if (variant, n_clusters, s) in validation_sweeps]
    if not present:
        return None
    if len(present) != len(seeds):
        missing = sorted(set(seeds) - set(present))[0]
        raise DataError(
            "the sweep alpha is chosen on is missing (other seeds have one)",
            file=f"results/sweep_oof/{variant}/k{n_clusters}_seed{missing}.parquet",
        )
    choices: dict[str, dict[str, list[Any]]] = {
        "match_best_single": {
            "alpha": [],
            "reached": [],
            "reference_model": [],
            "reference_accuracy": [],
            "test_accuracy": [],
            "test_cost": [],
        },
        "max_accuracy": {"alpha": [], "test_accuracy": [], "test_cost": []},
    }
    for seed in seeds:
        if seed not in validation_singles:
            raise DataError(f"validation single-model outcomes missing for seed {seed}", field="validation")
        model, reference = validation_best_single(validation_singles[seed], seed)
        validation = seed_curve(validation_sweeps[(variant, n_clusters, seed)])
        test_file = sweep_path(variant, n_clusters, seed)
        test = seed_curve(test_sweeps[(variant, n_clusters, seed)])
        for name, target in (("match_best_single", reference), ("max_accuracy", None)):
            alpha, reached = choose_alpha(validation, target)
            if alpha not in test.index:
                raise DataError(
                    f"alpha {alpha} chosen on validation is not in the test sweep", file=test_file, field="alpha"
                )
            entry = choices[name]
            entry["alpha"].append(alpha)
            entry["test_accuracy"].append(float(test.loc[alpha, "accuracy"]))
            entry["test_cost"].append(float(test.loc[alpha, "cost"]))
            if name == "match_best_single":
                entry["reached"].append(bool(reached))
                entry["reference_model"].append(model)
                entry["reference_accuracy"].append(reference)
    result: dict[str, Any] = {"seeds": [int(s) for s in seeds]}
    for name, entry in choices.items():
        accuracy, accuracy_sd = _mean_sd(entry["test_accuracy"])
        cost, cost_sd = _mean_sd(entry["test_cost"])
        result[name] = {
            **entry,
            "test_accuracy_mean": accuracy,
            "test_accuracy_sd": accuracy_sd,
            "test_cost_mean": cost,
            "test_cost_sd": cost_sd,
        }
    return result


def max_accuracy_alphas(validation: Mapping[str, Any]) -> dict[int, float]:
    """The alpha of best validation accuracy of each seed, from a :func:`validation_choice` object."""
    return dict(zip(validation["seeds"], validation["max_accuracy"]["alpha"], strict=True))
