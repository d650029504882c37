"""Seeded per-dataset train/test splits, with a validation carve-out for choosing alpha honestly.

The unit of splitting is a distinct query text within a dataset, so identical texts (duplicated
prompts, or few-shot prompts that share one question) are never on both sides. Per dataset the units
are taken in order of their first ``query_id``, permuted with ``numpy.random.default_rng(seed)``, and
the first ``n_test = n - floor(train_ratio * n)`` go to test: the official code's rule (Hugging Face
``train_test_split``), applied to units instead of rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from avengers_pro.errors import ConfigError


def split_queries(
    queries: pd.DataFrame,
    *,
    train_ratio: float,
    seed: int,
    ood_datasets: Iterable[str] = (),
    validation_ratio: float = 0.0,
) -> pd.DataFrame:
    """Assign every query to ``train`` or ``test``, and flag the validation part of train.

    Parameters
    ----------
    queries
        One row per query with ``query_id``, ``dataset`` and ``query`` (the embedded text).
    train_ratio
        Share of each dataset's units that go to train (``n_test = n - floor(train_ratio * n)``).
    seed
        Seed of the permutation; the same seed gives the same split.
    ood_datasets
        Datasets that go wholly to test.
    validation_ratio
        Share of each dataset's train units flagged ``validation`` (``n_val = n_train - floor((1 - r) * n_train)``).

    Returns
    -------
    pandas.DataFrame
        ``query_id``, ``dataset``, ``split`` and ``validation``, sorted by ``query_id``.
    """
    ood = set(ood_datasets)
    unknown = sorted(ood - set(queries["dataset"]))
    if unknown:
        raise ConfigError(f"split.ood_datasets: {', '.join(unknown)} not found in the data")
    frame = queries[["query_id", "dataset", "query"]].sort_values("query_id", kind="stable").reset_index(drop=True)
    split = np.full(len(frame), "train", dtype=object)
    validation = np.zeros(len(frame), dtype=bool)
    for dataset, rows in frame.groupby("dataset", sort=True).indices.items():
        if dataset in ood:
            split[rows] = "test"
            continue
        # Unit = distinct query text; codes follow first appearance in query_id order.
        unit_of_row, _ = pd.factorize(frame["query"].to_numpy()[rows])
        n_units = int(unit_of_row.max()) + 1
        n_train = math.floor(train_ratio * n_units)
        order = np.random.default_rng(seed).permutation(n_units)
        is_test_unit = np.zeros(n_units, dtype=bool)
        is_test_unit[order[: n_units - n_train]] = True
        train_units = np.sort(order[n_units - n_train :])
        n_fit = math.floor((1.0 - validation_ratio) * len(train_units))
        is_validation_unit = np.zeros(n_units, dtype=bool)
        # A generator of its own, so the carve-out never changes the test split.
        held_out = np.random.default_rng([seed, 1]).permutation(len(train_units))[: len(train_units) - n_fit]
        is_validation_unit[train_units[held_out]] = True
        split[rows] = np.where(is_test_unit[unit_of_row], "test", "train")
        validation[rows] = is_validation_unit[unit_of_row]
    return pd.DataFrame(
        {"query_id": frame["query_id"], "dataset": frame["dataset"], "split": split, "validation": validation}
    )
