"""``results/metrics.json``: every metric of every (variant, cluster count), router family and dataset router.

PerfGain, CostSave, the cost at 90% of the best single model's accuracy, Gap@O, AIQ and dominance of
each seed-averaged curve (:mod:`avengers_pro.evaluation.metrics` has the formulas), the alpha chosen on
validation (:mod:`avengers_pro.evaluation.alpha_choice`) and paired-bootstrap intervals of the difference to
the dataset router (:mod:`avengers_pro.evaluation.intervals`: one weight per query, the resamples of the
leaderboard). A router family's intervals come from the leaderboard, which computes them for every
router at once. The definitions: ``docs/method.md``.

AIQ cost range: every AIQ in ``metrics.json`` and in the leaderboard is computed over the same range
:func:`aiq_cost_range`, ``[0, C]``, where ``C`` is the largest mean test cost of any row of
``summary.csv`` (every method, variant, cluster count, family and alpha), so that all AIQs of one run
can be compared. It is reported as ``aiq_cost_range``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.console import Progress
from avengers_pro.errors import DataError
from avengers_pro.evaluation import intervals, metrics
from avengers_pro.evaluation.alpha_choice import max_accuracy_alphas, validation_choice
from avengers_pro.outputs import (
    BEST_SCORE_ORACLE,
    DATASET_ROUTER,
    ORACLE,
    OUTCOME_COLUMNS,
    ROUTER_METHOD,
    dataset_router_row,
    family_rows,
    fixed_k_row,
    json_number,
    json_ready,
    require_columns,
    seed_delta_columns,
    single_models,
    sweep_path,
)


def best_single_model(frame: pd.DataFrame) -> dict[str, Any]:
    """The single model of best mean test accuracy (ties: cheaper, then first by name)."""
    singles = single_models(frame)
    if singles.empty:
        raise DataError("no single-model rows: the baselines are missing", file="results/summary.csv", field="method")
    best = singles.sort_values(["accuracy", "cost", "method"], ascending=[False, True, True], kind="stable").iloc[0]
    return {"model": str(best["method"]), "accuracy": float(best["accuracy"]), "cost": float(best["cost"])}


def aiq_cost_range(summary: pd.DataFrame) -> tuple[float, float]:
    """The AIQ cost range of a run, ``(0, largest mean test cost of any row of summary.csv)``: the one
    range of every AIQ in ``metrics.json`` and in the leaderboard.
    """
    return 0.0, float(summary["cost"].max())


#: Why a metric is null (metrics.json ``null_reasons``), one home for each sentence.
NO_COST_RANGE = "every recorded cost is 0, so there is no cost range to measure cost-based metrics on"
FREE_REFERENCE = "the best single model's test cost is 0, so no saving against it can be measured"
NOT_REACHED = "the curve never reaches the best single model's accuracy"
NO_POSITIVE_ACCURACY = "the reference accuracy is 0"


def _point_metrics(
    curve: pd.DataFrame,
    best_single: dict[str, Any],
    singles: pd.DataFrame,
    oracle: float | None,
    cost_range: tuple[float, float],
) -> dict[str, Any]:
    """Metrics of one seed-averaged curve (rows = alphas) against the best single model and the oracle.

    A metric that cannot be defined on this data is None, with the reason under ``null_reasons``
    (e.g. data without recorded costs: AIQ, CostSave and the cost at 90% are None, while the
    accuracy-based metrics are still reported).
    """
    alphas = curve["alpha"].to_numpy(dtype=np.float64)
    accs = curve["accuracy"].to_numpy(dtype=np.float64)
    costs = curve["cost"].to_numpy(dtype=np.float64)
    at_one = np.flatnonzero(np.isclose(alphas, 1.0))
    best = metrics.best_accuracy_point(alphas, accs, costs)
    ref_acc, ref_cost = best_single["accuracy"], best_single["cost"]
    has_costs = cost_range[1] > cost_range[0]
    reasons: dict[str, str] = {}
    saved, saved_alpha = None, None
    if not has_costs:
        reasons["cost_save"] = NO_COST_RANGE
    elif not ref_cost > 0:
        reasons["cost_save"] = FREE_REFERENCE
    else:
        saved, saved_alpha = metrics.cost_save(alphas, accs, costs, ref_acc, ref_cost)
        if saved is None:
            reasons["cost_save"] = NOT_REACHED
    at_90 = metrics.cost_at_accuracy(alphas, accs, costs, 0.9 * ref_acc) if has_costs else None
    if not has_costs:
        reasons["cost_at_90pct_best_single"] = NO_COST_RANGE
        reasons["aiq"] = NO_COST_RANGE
    if not ref_acc > 0:
        reasons["perf_gain"] = NO_POSITIVE_ACCURACY
    max_router = int(curve["max_router"].max())
    return {
        "max_router": max_router,
        "upper_bound": max_router > 1,
        "n_seeds": int(curve["n_seeds"].min()),
        "best_single": best_single,
        "accuracy_at_alpha1": json_number(accs[at_one[0]]) if at_one.size else None,
        "cost_at_alpha1": json_number(costs[at_one[0]]) if at_one.size else None,
        "best_accuracy": float(accs[best]),
        "best_accuracy_alpha": float(alphas[best]),
        "best_accuracy_cost": float(costs[best]),
        "perf_gain": metrics.perf_gain(float(accs[best]), ref_acc) if ref_acc > 0 else None,
        "cost_save": json_number(saved),
        "cost_save_alpha": json_number(saved_alpha),
        "cost_at_90pct_best_single": json_number(at_90),
        "oracle_accuracy": oracle,
        "gap_to_oracle": metrics.gap_to_oracle(float(accs[best]), oracle) if oracle else None,
        "aiq": metrics.aiq(costs, accs, cost_range) if has_costs else None,
        "aiq_cost_range": [float(cost_range[0]), float(cost_range[1])],
        "dominates_all_singles": metrics.dominates_all(
            costs, accs, singles["cost"].to_numpy(dtype=np.float64), singles["accuracy"].to_numpy(dtype=np.float64)
        ),
        "null_reasons": reasons,
    }


class _BootstrapInputs:
    """Per-seed test queries, best-single outcomes and decision matrices, each built once and shared
    by every (variant, n_clusters) entry (the dataset router's matrices serve all cluster counts).
    """

    def __init__(
        self,
        best_model: str,
        single_outcomes: Mapping[int, pd.DataFrame],
        decisions: Mapping[tuple[str, int, int], pd.DataFrame],
        router_decisions: Mapping[tuple[str, int], pd.DataFrame],
    ) -> None:
        self.best_model = best_model
        self.single_outcomes = single_outcomes
        self.decisions = decisions
        self.router_decisions = router_decisions
        self._queries: dict[int, tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._matrices: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._designs: dict[tuple[int, ...], intervals.Design] = {}
        self._counts: dict[tuple[tuple[int, ...], int, int], dict[int, np.ndarray]] = {}

    def design(self, seeds: list[int]) -> intervals.Design:
        """The test queries of ``seeds`` in one set: the unit of resampling, as in the leaderboard."""
        key = tuple(seeds)
        if key not in self._designs:
            self._designs[key] = intervals.Design(
                {s: (self.queries(s)[0].to_numpy(), self.queries(s)[1]) for s in seeds}
            )
        return self._designs[key]

    def counts(self, seeds: list[int], n_resamples: int, bootstrap_seed: int) -> dict[int, np.ndarray]:
        """The resamples of each seed's test queries: one weight per query, the same for every entry
        (and for the leaderboard, which draws them from the same queries and seed).
        """
        key = (tuple(seeds), n_resamples, bootstrap_seed)
        if key not in self._counts:
            self._counts[key] = self.design(seeds).counts(n_resamples, bootstrap_seed)
        return self._counts[key]

    def queries(self, seed: int) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]:
        """(query ids sorted by dataset then id, their datasets, best single's (1, Q) scores and costs)."""
        if seed not in self._queries:
            if seed not in self.single_outcomes:
                raise DataError(f"test single-model outcomes missing for seed {seed}", field="model")
            singles = self.single_outcomes[seed]
            file = f"test single-model outcomes of seed {seed}"
            require_columns(singles, OUTCOME_COLUMNS, file)
            frame = pd.DataFrame(
                {
                    "query_id": singles["query_id"].to_numpy(dtype=object),
                    "dataset": singles["dataset"].to_numpy(dtype=object),
                }
            )
            frame = frame.drop_duplicates("query_id").sort_values(["dataset", "query_id"], kind="stable")
            queries = pd.Index(frame["query_id"].to_numpy(dtype=object))
            best = singles[singles["model"].to_numpy(dtype=object) == self.best_model]
            if best.empty:
                raise DataError(
                    f"no test outcomes of the best single model {self.best_model!r}", file=file, field="model"
                )
            # Queries the best single has no record for stay NaN: left out of its accuracy and cost.
            scores = np.full((1, len(queries)), np.nan)
            costs = np.full((1, len(queries)), np.nan)
            where = queries.get_indexer(best["query_id"].to_numpy(dtype=object))
            scores[0, where] = best["score"].to_numpy(dtype=np.float64)
            costs[0, where] = best["cost"].to_numpy(dtype=np.float64)
            self._queries[seed] = (queries, frame["dataset"].to_numpy(), scores, costs)
        return self._queries[seed]

    def router(self, variant: str, n_clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._matrix(
            self.decisions,
            (variant, n_clusters, seed),
            seed,
            f"results/decisions/{variant}/k{n_clusters}_seed{seed}.parquet",
        )

    def dataset_router(self, variant: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._matrix(
            self.router_decisions,
            (variant, seed),
            seed,
            f"results/decisions/{DATASET_ROUTER}/{variant}_seed{seed}.parquet",
        )

    def _matrix(
        self, source: Mapping[Any, pd.DataFrame], key: tuple[Any, ...], seed: int, file: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cache_key = (id(source), *key)
        if cache_key not in self._matrices:
            if key not in source:
                raise DataError("decisions missing", file=file)
            self._matrices[cache_key] = intervals.decision_matrix(source[key], self.queries(seed)[0], file)
        return self._matrices[cache_key]


def _bootstrap(
    variant: str,
    cluster_counts: list[int],
    seeds: list[int],
    inputs: _BootstrapInputs,
    cost_range: tuple[float, float],
    n_resamples: int,
    confidence: float,
    seed: int,
    validation_sweeps: Mapping[tuple[str, int, int], pd.DataFrame],
    dataset_router_validation: Mapping[tuple[str, int], pd.DataFrame] | None,
    chosen_alphas: Mapping[int, Mapping[int, float]] | None = None,
) -> tuple[dict[int, dict[str, Any]], dict[int, float | None], float | None]:
    """Paired bootstrap of (router minus dataset router) in both AIQs and in CostSave vs the best
    single model, for every cluster count of one variant (:mod:`avengers_pro.evaluation.intervals`: one weight per
    query, the leaderboard's resamples; the best single's and the dataset router's resampled curves are
    computed once and shared by every cluster count).

    ``chosen_alphas`` (k -> seed -> alpha) adds ``perf_gain_validated`` (:func:`intervals.perf_gain_at_points`).

    Returns
    -------
    bootstrap, aiq_validation_hull, dataset_router_aiq_validation_hull
        n_clusters -> the ``bootstrap`` object; n_clusters -> the validation-hull AIQ; the dataset
        router's validation-hull AIQ.
    """
    design = inputs.design(seeds)
    counts = inputs.counts(seeds, n_resamples, seed) if n_resamples > 0 else None

    def router_curve(
        name: str, get: Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray]], validation: Any
    ) -> intervals.RouterCurve:
        outcomes = {s: get(s) for s in seeds}  # the decisions first: their errors name the file
        sweeps = None if validation is None else {s: validation(s) for s in seeds}
        return intervals.router_curve(name, outcomes, sweeps)

    def single_outcome(split_seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        _, _, scores, costs = inputs.queries(split_seed)
        return np.array([1.0]), scores, costs

    single_curve = router_curve("best single model", single_outcome, None)
    single = intervals.evaluate(single_curve, design, cost_range, counts)
    reference_curve = router_curve(
        "dataset router",
        lambda s: inputs.dataset_router(variant, s),
        None if dataset_router_validation is None else (lambda s: dataset_router_validation[(variant, s)]),
    )
    reference = intervals.evaluate(reference_curve, design, cost_range, counts)
    no_costs = {"aiq_difference": NO_COST_RANGE, "cost_save_difference": NO_COST_RANGE}
    reasons = {} if cost_range[1] > cost_range[0] else no_costs

    def sweep_of(k: int) -> Callable[[int], pd.DataFrame]:
        def validation(split_seed: int) -> pd.DataFrame:
            if (variant, k, split_seed) not in validation_sweeps:
                raise DataError("validation sweep missing", file=sweep_path(variant, k, split_seed, validation=True))
            return validation_sweeps[(variant, k, split_seed)]

        return validation

    found: dict[int, dict[str, Any]] = {}
    aiqs: dict[int, float | None] = {}
    for k in cluster_counts:
        raw = router_curve(f"router k={k}", functools.partial(inputs.router, variant, k), sweep_of(k))
        router = intervals.evaluate(raw, design, cost_range, counts)
        aiqs[k] = json_number(router.estimate.validation_hull[0])
        found[k] = {
            "reference": dataset_router_row(variant),
            "confidence": confidence,
            **intervals.aiq_differences(router, reference, confidence),
            "cost_save_difference": intervals.cost_save_difference(router, reference, single, confidence),
            "null_reasons": reasons,
        }
        if chosen_alphas is not None and k in chosen_alphas:  # each seed's row of its validation-chosen alpha
            rows = {s: int(np.abs(raw.alphas - chosen_alphas[k][s]).argmin()) for s in seeds}
            gain = intervals.perf_gain_at_points(raw, rows, single_curve, design, counts, confidence)
            found[k]["perf_gain_validated"] = gain
    return found, aiqs, json_number(reference.estimate.validation_hull[0])


def compute_metrics(
    summary: pd.DataFrame,
    validation_sweeps: Mapping[tuple[str, int, int], pd.DataFrame] | list[tuple[str, int, int, pd.DataFrame]],
    test_sweeps: Mapping[tuple[str, int, int], pd.DataFrame] | list[tuple[str, int, int, pd.DataFrame]],
    decisions: Mapping[tuple[str, int, int], pd.DataFrame],
    router_decisions: Mapping[tuple[str, int], pd.DataFrame],
    single_outcomes: Mapping[int, pd.DataFrame],
    n_resamples: int,
    confidence: float,
    seed: int = 0,
    *,
    choice_singles: Mapping[int, pd.DataFrame],
    choice_sweeps: Mapping[tuple[str, int, int], pd.DataFrame] | None = None,
    leaderboard: pd.DataFrame | None = None,
    main: Mapping[str, Any] | None = None,
    dataset_router_validation: Mapping[tuple[str, int], pd.DataFrame] | None = None,
) -> list[dict[str, Any]]:
    """The ``results/metrics.json`` list: one object per (variant, n_clusters), per router family,
    per dataset router, then the per-query oracle's curve.

    Parameters
    ----------
    summary
        ``summary.csv`` as :func:`avengers_pro.outputs.read_summary` gives it (validated there), or
        ``check_summary(summarize(...))``.
    validation_sweeps, test_sweeps
        ``(variant, n_clusters, seed) -> frame`` (or a list of ``(variant, n_clusters, seed, frame)``)
        of ``results/sweep_validation/...`` and ``results/sweep/...``.
    decisions
        ``(variant, n_clusters, seed) -> results/decisions/{variant}/k{k}_seed{seed}`` frame.
    router_decisions
        ``(variant, seed) -> results/decisions/dataset-router/{variant}_seed{seed}`` frame.
    single_outcomes, choice_singles
        ``seed -> long frame`` (``query_id``, ``dataset``, ``model``, ``score``, ``cost``) of every
        model on that seed's test queries, resp. on the queries of ``choice_sweeps`` (the pipeline:
        the training part); see :func:`single_model_outcomes`.
    choice_sweeps
        ``(variant, n_clusters, seed) -> frame``: the curves the ``validation`` alphas are chosen on
        (the pipeline: ``results/sweep_oof/...``, every training query routed out of fold,
        :mod:`avengers_pro.evaluation.oof`); None: ``validation_sweeps``.
    n_resamples
        Bootstrap resamples; 0 skips the bootstrap (``"bootstrap": null``) and with it the
        validation-hull AIQ of Avengers-Pro and the dataset router (``"aiq_validation_hull": null``).
    confidence
        Coverage of the bootstrap intervals.
    seed
        Seed of the bootstrap resamples.
    leaderboard
        ``results/leaderboard.csv`` as :func:`avengers_pro.outputs.read_leaderboard` gives it: the
        router families' bootstrap intervals (the leaderboard computes them for every router on the
        same resamples). None: the families get ``"bootstrap": null``.
    main
        ``plots.main`` (``{variant, n_clusters}``), which names the leaderboard's references: the
        dataset router of its variant and Avengers-Pro at its fixed cluster count. Needed with
        ``leaderboard``.
    dataset_router_validation
        ``(variant, seed) ->`` the dataset router's validation sweep
        (:func:`avengers_pro.evaluation.pipeline_rows.dataset_router_validation_sweeps`): the alphas of its
        validation-hull AIQ. None: the dataset router has none, and every ``aiq_difference`` is None.

    Returns
    -------
    list[dict]
        JSON-ready objects (no NaN: missing values are None), the router's per (variant,
        n_clusters) first, then one per router family (by name), then one per dataset router
        (variant), then one for the per-query oracle's curve (``oracle``, its ceiling). Keys:

        * ``method`` (``avengers-pro``, the family's name, ``dataset-router`` or ``oracle``), ``family``
          (``avengers-pro``, the family's name, ``dataset-router`` or ``oracle``),
          ``hyperparameters`` (a family's validation-chosen hyperparameters as text, else None),
          ``variant`` and ``n_clusters`` (None except for Avengers-Pro; ``variant`` also for the
          dataset router), ``max_router``, ``upper_bound`` (``max_router > 1``), ``n_seeds``;
        * ``best_single`` ``{model, accuracy, cost}`` (best mean test accuracy; ties: cheaper);
        * ``accuracy_at_alpha1``, ``cost_at_alpha1``; ``best_accuracy``, ``best_accuracy_alpha``,
          ``best_accuracy_cost`` (ties: cheaper, then smaller alpha); ``perf_gain``;
        * ``cost_save``, ``cost_save_alpha`` (interpolated; None if never reached);
          ``cost_at_90pct_best_single``;
        * ``oracle_accuracy`` (the best-score oracle point's), ``gap_to_oracle`` (of ``best_accuracy``);
        * ``aiq`` (RouterBench's: upper hull of the seed-averaged test curve), ``aiq_cost_range``
          ``[0, largest mean cost in the summary]``; ``aiq_validation_hull`` (the leaderboard's
          ranking AIQ: per seed the test points of the alphas on the validation curve's hull,
          :mod:`avengers_pro.evaluation.intervals`; a family's from its leaderboard row, None without one; the
          oracle's is None: its points are chosen with the test data, by definition);
          ``dominates_all_singles``;
        * ``null_reasons``: metric -> why it is None where the data cannot define it (no recorded
          cost: AIQ, CostSave, cost at 90%; a free best single model: CostSave; never reached);
        * ``validation``: ``seeds`` and, for ``match_best_single`` (cheapest alpha whose accuracy on
          the choice curve >= that of the best single model on the same queries; else the
          max-accuracy alpha with ``reached`` False) and ``max_accuracy`` (ties: cheaper, then smaller alpha), the per-seed
          ``alpha``, ``test_accuracy``, ``test_cost`` and their ``*_mean`` / ``*_sd`` over seeds.
          None for the dataset router or without validation sweeps;
        * ``bootstrap``: ``reference``, ``confidence``, and ``aiq_difference`` (validation hull),
          ``aiq_difference_test_hull`` and ``cost_save_difference`` (router minus dataset router of
          the same variant), each with ``estimate``, ``lo``, ``hi``, ``n_resamples``,
          ``n_undefined``; ``aiq_difference_per_seed`` (seed -> the validation-hull difference of
          that seed alone). One paired bootstrap: one weight per query of the test splits, shared by
          every seed and every router (:class:`avengers_pro.evaluation.intervals.Design`). For a router family,
          the same keys from its leaderboard row (the same resamples), against the ``plots.main``
          variant's dataset router, plus ``aiq_difference_vs_avengers_pro`` (family minus
          Avengers-Pro at ``plots.main``'s fixed cluster count, with its ``reference``). None for
          the dataset router (the reference), with ``n_resamples == 0``, or for a family without
          ``leaderboard``.

    Raises
    ------
    DataError
        On a sweep, decisions or outcomes that are missing or malformed, or a router family of the
        summary that the leaderboard lacks.
    """
    frame = summary
    validation_sweeps = _as_mapping(validation_sweeps)
    test_sweeps = _as_mapping(test_sweeps)
    best_single = best_single_model(frame)
    singles = single_models(frame)
    oracle_rows = frame[frame["method"] == BEST_SCORE_ORACLE]
    oracle = float(oracle_rows["accuracy"].iloc[0]) if len(oracle_rows) else None
    cost_range = aiq_cost_range(frame)

    bootstrap_inputs = _BootstrapInputs(best_single["model"], single_outcomes, decisions, router_decisions)
    entries: list[dict[str, Any]] = []
    router_rows = frame[frame["method"] == ROUTER_METHOD]
    seeds_of: dict[tuple[str, int], list[int]] = {}
    for (variant, n_clusters), curve in router_rows.groupby(["variant", "n_clusters"], sort=True):
        seeds = sorted(s for (v, k, s) in test_sweeps if v == variant and k == n_clusters)
        if not seeds:
            raise DataError(
                "the summary has this sweep but no seed's sweep frame was given",
                file=sweep_path(variant, int(n_clusters), 0).replace("seed0", "seed*"),
            )
        seeds_of[(variant, int(n_clusters))] = seeds
        entry: dict[str, Any] = {
            "method": ROUTER_METHOD,
            "family": ROUTER_METHOD,
            "hyperparameters": None,
            "variant": variant,
            "n_clusters": int(n_clusters),
        }
        entry.update(_point_metrics(curve.sort_values("alpha"), best_single, singles, oracle, cost_range))
        chosen_on = validation_sweeps if choice_sweeps is None else choice_sweeps
        entry["validation"] = validation_choice(variant, int(n_clusters), seeds, chosen_on, test_sweeps, choice_singles)
        entry["bootstrap"] = None
        entries.append(entry)
    # One bootstrap per (variant, seeds): every cluster count of a variant shares its resamples (and
    # they are the leaderboard's: one weight per query of the test splits, the same seed).
    groups: dict[tuple[str, tuple[int, ...]], list[int]] = {}
    for (variant, n_clusters), seeds in seeds_of.items():
        groups.setdefault((variant, tuple(seeds)), []).append(n_clusters)
    by_key = {(entry["variant"], entry["n_clusters"]): entry for entry in entries}
    found: dict[tuple[str, int], dict[str, Any]] = {}
    validation_aiq: dict[tuple[str, int], float | None] = {}
    dataset_router_aiq: dict[str, float | None] = {}
    n_runs = sum(len(counts) for counts in groups.values()) if n_resamples > 0 else 0
    with Progress(f"bootstrap ({n_resamples:,} resamples)", n_runs, "(variant, k) runs") as progress:
        for (variant, seed_group), cluster_counts in groups.items() if n_resamples > 0 else ():
            by_k, aiq_by_k, dataset_router_aiq[variant] = _bootstrap(
                variant,
                cluster_counts,
                list(seed_group),
                bootstrap_inputs,
                cost_range,
                n_resamples,
                confidence,
                seed,
                validation_sweeps,
                dataset_router_validation,
                {
                    k: max_accuracy_alphas(by_key[(variant, k)]["validation"])
                    for k in cluster_counts
                    if by_key[(variant, k)]["validation"]
                },
            )
            found.update({(variant, k): value for k, value in by_k.items()})
            validation_aiq.update({(variant, k): value for k, value in aiq_by_k.items()})
            progress.update(len(cluster_counts))
    for entry in entries:
        key = (entry["variant"], entry["n_clusters"])
        entry["aiq_validation_hull"] = validation_aiq.get(key)
        entry["bootstrap"] = found.get(key)
    for family, curve in family_rows(frame).groupby("method", sort=True):
        entry = {
            "method": family,
            "family": str(curve["family"].iloc[0]),
            "hyperparameters": str(curve["hyperparameters"].iloc[0]) or None,
            "variant": None,
            "n_clusters": None,
        }
        entry.update(_point_metrics(curve.sort_values("alpha"), best_single, singles, oracle, cost_range))
        entry["validation"] = None
        row = _leaderboard_row(str(family), leaderboard) if leaderboard is not None else None
        entry["aiq_validation_hull"] = None if row is None else json_number(row["aiq"])
        entry["bootstrap"] = (
            _leaderboard_bootstrap(row, main, confidence, cost_range) if row is not None and n_resamples > 0 else None
        )
        entries.append(entry)
    baselines = [
        *(
            (DATASET_ROUTER, variant, curve)
            for variant, curve in frame[frame["method"] == DATASET_ROUTER].groupby("variant", sort=True)
        ),
        *((ORACLE, None, curve) for curve in [frame[frame["method"] == ORACLE]] if len(curve)),
    ]
    for method, variant, curve in baselines:
        entry = {"method": method, "family": method, "hyperparameters": None, "variant": variant, "n_clusters": None}
        entry.update(_point_metrics(curve.sort_values("alpha"), best_single, singles, oracle, cost_range))
        entry["validation"] = None
        entry["aiq_validation_hull"] = dataset_router_aiq.get(str(variant)) if method == DATASET_ROUTER else None
        entry["bootstrap"] = None  # the dataset router is the reference of every difference; the oracle a ceiling
        entries.append(entry)
    return [json_ready(entry) for entry in entries]


def _leaderboard_row(router: str, leaderboard: pd.DataFrame, file: str = "results/leaderboard.csv") -> pd.Series:
    """A router family's leaderboard row.

    Raises
    ------
    DataError
        If the leaderboard has no row for it.
    """
    rows = leaderboard[leaderboard["router"] == router]
    if rows.empty:
        raise DataError(f"no row for the router family {router!r}", file=file, field="router")
    return rows.iloc[0]


def _leaderboard_bootstrap(
    row: pd.Series,
    main: Mapping[str, Any] | None,
    confidence: float,
    cost_range: tuple[float, float],
) -> dict[str, Any]:
    """A router's paired-bootstrap differences as its leaderboard row has them (the leaderboard
    computes them for every router on one set of resamples, the resamples of the Avengers-Pro
    entries here, so they are not recomputed).
    """
    if main is None:
        raise ValueError("the leaderboard's references need plots.main")

    def interval(prefix: str, estimate: str) -> dict[str, Any]:
        undefined = row[f"{prefix}_n_undefined"]
        return {
            "estimate": json_number(row[estimate]),
            "lo": json_number(row[f"{prefix}_low"]),
            "hi": json_number(row[f"{prefix}_high"]),
            "n_resamples": int(row["n_resamples"]),
            "n_undefined": int(undefined) if np.isfinite(undefined) else None,
        }

    has_costs = cost_range[1] > cost_range[0]
    return {
        "reference": dataset_router_row(str(main["variant"])),
        "confidence": confidence,
        "aiq_difference": interval("aiq_delta", "aiq_delta_vs_dataset_router"),
        "aiq_difference_test_hull": interval("aiq_test_hull_delta", "aiq_test_hull_delta_vs_dataset_router"),
        "aiq_difference_per_seed": {
            column.removeprefix("aiq_delta_seed"): json_number(row[column])
            for column in seed_delta_columns(row.to_frame().T)
        },
        "cost_save_difference": interval("cost_save_delta", "cost_save_delta_vs_dataset_router"),
        "aiq_difference_vs_avengers_pro": {
            "reference": fixed_k_row(main),
            **interval("aiq_delta_vs_avengers_pro", "aiq_delta_vs_avengers_pro"),
        },
        "null_reasons": (
            {}
            if has_costs
            else {
                "aiq_difference": NO_COST_RANGE,
                "cost_save_difference": NO_COST_RANGE,
                "aiq_difference_vs_avengers_pro": NO_COST_RANGE,
            }
        ),
    }


def _as_mapping(
    sweeps: Mapping[tuple[str, int, int], pd.DataFrame] | list[tuple[str, int, int, pd.DataFrame]],
) -> dict[tuple[str, int, int], pd.DataFrame]:
    if isinstance(sweeps, Mapping):
        return {(str(v), int(k), int(s)): f for (v, k, s), f in sweeps.items()}
    return {(str(v), int(k), int(s)): f for v, k, s, f in sweeps}
