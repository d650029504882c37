"""The leaderboard's rows of a pipeline run: every router's per-seed decisions and validation sweeps.

:func:`pipeline_entries` turns the pipeline's files into :class:`~avengers_pro.evaluation.leaderboard.Entry`
rows (the families, Avengers-Pro's variants with k chosen by K-fold CV and at ``plots.main``'s fixed
k, the dataset routers, the oracle); :func:`dataset_router_validation_sweeps` computes the dataset
router's validation sweeps (the alphas of its validation-hull AIQ) and :func:`single_model_decisions`
the best single model's test outcomes (the reference of the CostSave difference).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError
from avengers_pro.evaluation.baselines import dataset_router
from avengers_pro.evaluation.family_runs import split_flags
from avengers_pro.evaluation.leaderboard import (
    Entry,
    avengers_pro_entry,
    baseline_entry,
    family_entry,
    oracle_decisions,
)
from avengers_pro.evaluation.oof import cv_best_k
from avengers_pro.evaluation.sweep import evaluate_choices
from avengers_pro.io import RecordMatrix
from avengers_pro.outputs import ORACLE, avengers_pro_row, dataset_router_row, fixed_k_row
from avengers_pro.routing.scores import Variant

#: How the k of Avengers-Pro's CV-chosen rows is chosen, in their names ("avengers-pro official (k by CV)").
CV_K = "k by CV"

# --------------------------------------------------------------------------- the pipeline's rows


def pipeline_entries(
    matrix: RecordMatrix,
    splits: Mapping[int, pd.DataFrame],
    family_decisions: Mapping[tuple[str, int], pd.DataFrame],
    family_params: Mapping[str, Mapping[int, Mapping[str, Any]]],
    router_decisions: Mapping[tuple[str, int, int], pd.DataFrame],
    router_validation: Mapping[tuple[str, int, int], pd.DataFrame],
    dataset_router_decisions: Mapping[tuple[str, int], pd.DataFrame],
    main: Mapping[str, Any],
    router_cv: Mapping[str, pd.DataFrame],
    *,
    family_validation: Mapping[tuple[str, int], pd.DataFrame] | None = None,
    dataset_router_validation: Mapping[tuple[str, int], pd.DataFrame] | None = None,
) -> tuple[list[Entry], str, str]:
    """Every leaderboard row of a pipeline run, and the names of its two reference rows.

    Parameters
    ----------
    matrix, splits
        The records and seed -> split frame (for each seed's validation and test queries).
    family_decisions, family_params
        (family, seed) -> test decisions; family -> seed -> chosen hyperparameters.
    router_decisions, router_validation
        (variant, n_clusters, seed) -> Avengers-Pro's test decisions and validation sweep.
    dataset_router_decisions
        (variant, seed) -> the dataset router's test decisions.
    main
        ``plots.main``: ``{variant, n_clusters}``; its variant's dataset router is the reference, and
        its (variant, n_clusters) gets a row of its own beside the CV-chosen ones, the reference of
        ``aiq_delta_vs_avengers_pro``.
    router_cv
        variant -> ``results/sweep_oof/{variant}/cv_aiq.parquet`` (each (k, seed, fold)'s held-out
        AIQ): the k of each seed's ``k by CV`` row (:func:`~avengers_pro.evaluation.oof.cv_best_k`).
    family_validation, dataset_router_validation
        (family, seed) -> ``results/families/{family}/validation_seed{seed}.parquet``; (variant, seed)
        -> the dataset router's validation sweep (:func:`dataset_router_validation_sweeps`). The
        validation sweeps of the rows' validation-hull AIQ; without them those rows have none.

    Returns
    -------
    entries, reference, avengers_pro : list[Entry], str, str
        The rows; the names of the dataset router's row and of the fixed-k Avengers-Pro row
        (:func:`avengers_pro.outputs.dataset_router_row`, :func:`~avengers_pro.outputs.fixed_k_row`).
    """
    seeds = sorted(splits)
    entries: list[Entry] = []
    for family in sorted({f for f, _ in family_decisions}):
        entries.append(
            family_entry(
                family,
                {s: family_decisions[(family, s)] for s in seeds},
                family_params[family],
                None if family_validation is None else {s: family_validation[(family, s)] for s in seeds},
            )
        )
    test = {}
    for seed in seeds:
        is_test, _ = split_flags(splits[seed], matrix, seed)
        test[seed] = matrix.subset(is_test)
    variants = sorted({v for v, _, _ in router_decisions})
    for variant in variants:
        decisions = {(k, s): frame for (v, k, s), frame in router_decisions.items() if v == variant}
        sweeps = {(k, s): frame for (v, k, s), frame in router_validation.items() if v == variant}
        if variant not in router_cv:
            raise DataError("fold AIQs missing", file=f"results/sweep_oof/{variant}/cv_aiq.parquet")
        chosen = {s: cv_best_k(router_cv[variant], s)[0] for s in seeds}
        entries.append(avengers_pro_entry(variant, decisions, chosen, avengers_pro_row(variant, CV_K), sweeps))
    main_variant = str(main["variant"])
    entries.append(
        avengers_pro_entry(
            main_variant,
            {(k, s): f for (v, k, s), f in router_decisions.items() if v == main_variant},
            dict.fromkeys(seeds, int(main["n_clusters"])),
            fixed_k_row(main),
            {(k, s): f for (v, k, s), f in router_validation.items() if v == main_variant},
        )
    )
    for variant in sorted({v for v, _ in dataset_router_decisions}):
        entries.append(
            baseline_entry(
                dataset_router_row(variant),
                {s: dataset_router_decisions[(variant, s)] for s in seeds},
                None
                if dataset_router_validation is None
                else {s: dataset_router_validation[(variant, s)] for s in seeds},
            )
        )
    # The oracle's curve on the dataset router's alpha grid (the routers' grid).
    alphas = np.unique(next(iter(dataset_router_decisions.values()))["alpha"].to_numpy(dtype=np.float64))
    entries.append(baseline_entry(ORACLE, {s: oracle_decisions(test[s], alphas) for s in seeds}))
    return entries, dataset_router_row(main_variant), fixed_k_row(main)


def dataset_router_validation_sweeps(
    matrix: RecordMatrix,
    splits: Mapping[int, pd.DataFrame],
    variants: Mapping[str, Mapping[str, Any]],
    alphas: np.ndarray,
) -> dict[tuple[str, int], pd.DataFrame]:
    """(variant, seed) -> the dataset router's validation sweep: its statistics from the training
    queries outside the validation carve-out, routing the validation queries (no test query is read).

    Parameters
    ----------
    matrix, splits
        The records and seed -> split frame.
    variants
        ``avengers.variants`` (name -> settings).
    alphas
        (A,) the alpha grid of the test sweeps.
    """
    sweeps = {}
    for seed in sorted(splits):
        is_test, is_validation = split_flags(splits[seed], matrix, seed)
        fit_ids, validation_ids = matrix.query_ids[~is_test & ~is_validation], matrix.query_ids[is_validation]
        for name, spec in variants.items():
            sweep, _ = dataset_router(matrix, fit_ids, validation_ids, Variant.from_config(name, dict(spec)), alphas)
            sweeps[(name, int(seed))] = sweep
    return sweeps


def single_model_decisions(
    matrix: RecordMatrix, splits: Mapping[int, pd.DataFrame], model: str
) -> dict[int, pd.DataFrame]:
    """Seed -> one model's test decisions as a curve of one point (alpha 1): the best single model,
    the reference of the leaderboard's CostSave difference.
    """
    if model not in matrix.models:
        raise DataError(f"the best single model {model!r} has no records", field="model")
    column = matrix.models.index(model)
    decisions = {}
    for seed in sorted(splits):
        is_test, _ = split_flags(splits[seed], matrix, seed)
        test = matrix.subset(is_test)
        chosen = np.full((1, len(test.query_ids), 1), column)
        _, frame = evaluate_choices(chosen, test, np.array([1.0]))
        assert frame is not None
        decisions[int(seed)] = frame
    return decisions
