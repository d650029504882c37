"""The pipeline's result files: their columns, the kind of every method, and one reader each.

Each file that one job writes and others read has its columns named here and one ``read_...``
function that validates it once, on reading; code downstream of a reader trusts what it got. The
formats are described in ``docs/architecture.md``.

**Kinds of method.** Every row of a baselines file and of ``summary.csv`` carries a ``kind``, set where
the row is made:

* ``model``: a single model (the method is the model's name);
* ``baseline``: a reference that is not a deployable router (random, the oracles, the dataset router,
  which reads each query's dataset label);
* ``router``: a router that needs nothing but the query (Avengers-Pro's variants and the router
  families of ``families``).

Everything that means "the single models" (the best single model, PerfGain, CostSave, the figures'
model markers) selects ``kind == "model"``, so a new baseline or router can never be mistaken for a
model; everything that means "Avengers-Pro" selects ``method == "avengers-pro"``, never
``kind == "router"``, which the router families share.

**Router families** (``knn``, ``logistic``, ...) are rows of ``summary.csv``, entries of
``metrics.json`` and rows of the leaderboard, each under its family's name; their ``family`` column
says which rows they are (:func:`family_rows`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.errors import DataError, plain
from avengers_pro.io import PathLike, write_text

MODEL, BASELINE, ROUTER = "model", "baseline", "router"
KINDS = (MODEL, BASELINE, ROUTER)

ROUTER_METHOD = "avengers-pro"
DATASET_ROUTER = "dataset-router"
#: The per-query oracle's curve (one point per alpha) and its best-score point (one point).
ORACLE = "oracle"
BEST_SCORE_ORACLE = "best-score-oracle"
#: The baselines that sweep the alpha grid (their rows carry an alpha).
SWEEPING_BASELINES = (DATASET_ROUTER, ORACLE)
#: Sort order of the methods in summary.csv: these, then the single models by name. The router
#: families (their names come from the config) sort right after ``avengers-pro``, by name.
METHOD_ORDER = (ROUTER_METHOD, DATASET_ROUTER, ORACLE, BEST_SCORE_ORACLE, "dataset-oracle", "random")

SWEEP_COLUMNS = ("alpha", "dataset", "accuracy", "cost", "n_queries", "max_router")
BASELINE_COLUMNS = ("method", "kind", "variant", "alpha", "dataset", "accuracy", "cost", "n_queries")
DECISION_COLUMNS = ("alpha", "query_id", "dataset", "score", "cost")
SPLIT_COLUMNS = ("query_id", "dataset", "split", "validation")
CLUSTER_COLUMNS = ("query_id", "cluster")
OUTCOME_COLUMNS = ("query_id", "dataset", "model", "score", "cost")
SUMMARY_COLUMNS = (
    "method",
    "kind",
    "family",
    "variant",
    "n_clusters",
    "alpha",
    "max_router",
    "accuracy",
    "accuracy_sd",
    "cost",
    "cost_sd",
    "n_seeds",
    "hyperparameters",
)
#: Text columns of summary.csv ("" where a row has none).
SUMMARY_TEXT_COLUMNS = ("method", "kind", "family", "variant", "hyperparameters")
#: The leaderboard's columns, in file order; one ``aiq_delta_seed<seed>`` column per seed
#: (:func:`seed_delta_column`), then one ``accuracy_<dataset>`` column per dataset follow.
LEADERBOARD_COLUMNS = (
    "rank",
    "router",
    "kind",
    "family",
    "hyperparameters",
    "aiq",
    "aiq_test_hull",
    "aiq_delta_vs_dataset_router",
    "aiq_delta_low",
    "aiq_delta_high",
    "aiq_delta_n_undefined",
    "aiq_test_hull_delta_vs_dataset_router",
    "aiq_test_hull_delta_low",
    "aiq_test_hull_delta_high",
    "aiq_test_hull_delta_n_undefined",
    "aiq_delta_vs_avengers_pro",
    "aiq_delta_vs_avengers_pro_low",
    "aiq_delta_vs_avengers_pro_high",
    "aiq_delta_vs_avengers_pro_n_undefined",
    "cost_save_delta_vs_dataset_router",
    "cost_save_delta_low",
    "cost_save_delta_high",
    "cost_save_delta_n_undefined",
    "n_resamples",
    "best_accuracy",
    "best_accuracy_alpha",
    "perf_gain",
    "cost_save",
    "cost_save_alpha",
    "n_seeds",
)
#: Text columns of leaderboard.csv ("" where a row has none).
LEADERBOARD_TEXT_COLUMNS = ("router", "kind", "family", "hyperparameters")

#: Alphas of one grid compared across files: rounding hides float noise from different writers.
ALPHA_DECIMALS = 9

#: What the ``accuracy`` columns measure, as figures and tables name it (config ``plots.score_label``):
#: the mean recorded score, which is an accuracy only when scores are 0/1 correctness.
DEFAULT_SCORE_LABEL = "Accuracy"


def score_words(label: str) -> str:
    """The score label inside a sentence: its first letter lower-cased unless it starts an acronym
    (``Accuracy`` -> ``accuracy``, ``Win rate`` -> ``win rate``, ``MT-Bench score`` unchanged).
    """
    if len(label) > 1 and label[1].isupper():
        return label
    return label[:1].lower() + label[1:]


# --------------------------------------------------------------------------- shared checks


def _check_kinds(frame: pd.DataFrame, file: PathLike) -> None:
    """A :class:`DataError` naming the first CSV row (the header is line 1) whose ``kind`` is unknown."""
    unknown = ~frame["kind"].isin(KINDS).to_numpy()
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DataError(
            f"kind must be one of {', '.join(KINDS)}, got {frame['kind'].iloc[row]!r}",
            file=file,
            row=row + 2,
            field="kind",
        )


def require_columns(frame: pd.DataFrame, columns: Iterable[str], file: PathLike) -> None:
    """A :class:`DataError` naming the first of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", file=file, field=missing[0])


def require_finite(frame: pd.DataFrame, columns: Iterable[str], file: PathLike) -> None:
    """A :class:`DataError` naming the first row whose value in ``columns`` is not a finite number."""
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"not a finite number: {plain(frame[column].iloc[row])!r}", file=file, row=row, field=column
            )


def _read_parquet(path: PathLike, what: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read the {what}: {err}", file=path) from None


# --------------------------------------------------------------------------- splits and clusters


def _first_bad_row(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


def read_split(path: PathLike) -> pd.DataFrame:
    """Read and validate ``results/splits/seed{seed}.parquet``: ``split`` is train or test, and only a
    train query can be in the validation carve-out.
    """
    frame = _read_parquet(path, "split")
    require_columns(frame, SPLIT_COLUMNS, path)
    bad = ~frame["split"].isin(("train", "test")).to_numpy()
    if bad.any():
        row = _first_bad_row(bad)
        raise DataError(
            f"split must be train or test, got {plain(frame['split'].iloc[row])!r}", file=path, row=row, field="split"
        )
    if frame["validation"].dtype != bool:
        raise DataError(f"validation must be boolean, got {frame['validation'].dtype}", file=path, field="validation")
    bad = (frame["validation"] & (frame["split"] != "train")).to_numpy()
    if bad.any():
        raise DataError(
            "a test query is in the validation carve-out", file=path, row=_first_bad_row(bad), field="validation"
        )
    return frame


def read_clusters(path: PathLike) -> pd.DataFrame:
    """Read and validate ``results/clusters/.../k{k}_seed{seed}.parquet``: one integer ``cluster`` >= 0
    per training query.
    """
    frame = _read_parquet(path, "cluster labels")
    require_columns(frame, CLUSTER_COLUMNS, path)
    labels = frame["cluster"]
    if not pd.api.types.is_integer_dtype(labels) or (labels < 0).any():
        raise DataError("cluster must be an integer >= 0", file=path, field="cluster")
    twice = frame["query_id"].duplicated().to_numpy()
    if twice.any():
        row = _first_bad_row(twice)
        raise DataError("a query has two clusters", file=path, row=row, field="query_id")
    return frame


def read_centroids(path: PathLike, n_clusters: int | None = None) -> np.ndarray:
    """Read and validate ``results/clusters/.../k{k}_seed{seed}_centroids.npy``: a finite (k, dim) array."""
    try:
        centroids = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read the centroids: {err}", file=path) from None
    if centroids.ndim != 2 or not np.isfinite(centroids).all():
        raise DataError(f"expected a finite (k, dim) array, got shape {centroids.shape}", file=path)
    if n_clusters is not None and centroids.shape[0] != n_clusters:
        raise DataError(f"{centroids.shape[0]} centroids for k = {n_clusters}", file=path)
    return centroids


# --------------------------------------------------------------------------- sweeps


def sweep_path(variant: str, n_clusters: int, seed: int, validation: bool = False) -> str:
    """The conventional path of a sweep file, used to name the file in error messages."""
    folder = "sweep_validation" if validation else "sweep"
    return f"results/{folder}/{variant}/k{n_clusters}_seed{seed}.parquet"


def check_grid(frame: pd.DataFrame, file: PathLike) -> None:
    """One row per (alpha, dataset), and every alpha has every dataset."""
    keys = pd.DataFrame(
        {
            "alpha": frame["alpha"].to_numpy(dtype=np.float64).round(ALPHA_DECIMALS),
            "dataset": frame["dataset"].astype(str).to_numpy(),
        }
    )
    duplicated = keys.duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise DataError(
            f"(alpha, dataset) = ({keys['alpha'].iloc[row]}, {keys['dataset'].iloc[row]!r}) appears twice",
            file=file,
            row=row,
            field="dataset",
        )
    n_alphas, n_datasets = keys["alpha"].nunique(), keys["dataset"].nunique()
    if len(keys) != n_alphas * n_datasets:
        raise DataError(
            f"{len(keys)} rows for {n_alphas} alphas x {n_datasets} datasets: some (alpha, dataset) rows are missing",
            file=file,
            field="dataset",
        )


def check_sweep(frame: pd.DataFrame, file: PathLike) -> pd.DataFrame:
    """Validate a sweep frame (test or validation): columns, finite numbers, a full (alpha, dataset) grid."""
    require_columns(frame, SWEEP_COLUMNS, file)
    if frame.empty:
        raise DataError("the sweep has no rows", file=file)
    require_finite(frame, ("alpha", "accuracy", "cost", "max_router"), file)
    check_grid(frame, file)
    return frame


def read_sweep(path: PathLike) -> pd.DataFrame:
    """Read and validate ``results/sweep{,_validation}/{variant}/k{k}_seed{seed}.parquet``."""
    return check_sweep(_read_parquet(path, "sweep"), path)


def routed_models(frame: pd.DataFrame) -> list[str]:
    """Model names of the ``routed[<model>]`` columns of a sweep or baselines frame, in column order."""
    return [str(c)[len("routed[") : -1] for c in frame.columns if str(c).startswith("routed[") and str(c).endswith("]")]


# --------------------------------------------------------------------------- baselines


def check_baselines(frame: pd.DataFrame, file: PathLike) -> pd.DataFrame:
    """Validate a baselines frame: columns, a known ``kind`` per row, finite accuracy and cost."""
    require_columns(frame, BASELINE_COLUMNS, file)
    unknown = ~frame["kind"].isin(KINDS).to_numpy()
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DataError(
            f"kind must be one of {', '.join(KINDS)}, got {plain(frame['kind'].iloc[row])!r}",
            file=file,
            row=row,
            field="kind",
        )
    require_finite(frame, ("accuracy", "cost"), file)
    return frame


def read_baselines(path: PathLike) -> pd.DataFrame:
    """Read and validate ``results/baselines/seed{seed}.parquet``."""
    return check_baselines(_read_parquet(path, "baselines"), path)


# --------------------------------------------------------------------------- decisions


def read_decisions(path: PathLike) -> pd.DataFrame:
    """Read and validate ``results/decisions/...``: one row per (alpha, test query), finite values."""
    frame = _read_parquet(path, "decisions")
    require_columns(frame, DECISION_COLUMNS, path)
    require_finite(frame, ("alpha", "score", "cost"), path)
    return frame


# --------------------------------------------------------------------------- summary.csv


def dataset_columns(summary: pd.DataFrame) -> list[str]:
    """The ``accuracy_<dataset>`` columns of a summary, in file order (``accuracy_sd`` excluded)."""
    return [c for c in summary.columns if c.startswith("accuracy_") and c != "accuracy_sd"]


def _texts(frame: pd.DataFrame, columns: Iterable[str]) -> None:
    """Turn ``columns`` of a table read from CSV into str in place, "" for an empty cell."""
    for column in columns:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), "").astype(str)


def _numbers(frame: pd.DataFrame, columns: Iterable[str], file: PathLike) -> None:
    """Turn ``columns`` of a table read from CSV into float in place (an empty cell is NaN); a
    :class:`DataError` names the first cell that is not a number (rows counted as in the file).
    """
    for column in columns:
        raw = frame[column]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"not a number: {plain(raw.iloc[row])!r}", file=file, row=row + 2, field=column)
        frame[column] = values.astype(np.float64)


def _accuracies(frame: pd.DataFrame, columns: Iterable[str], file: PathLike) -> None:
    """A :class:`DataError` naming the first accuracy outside [0, 1] (missing values pass)."""
    for column in columns:
        outside = ((frame[column] < 0) | (frame[column] > 1)).to_numpy()
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise DataError(
                f"accuracy must lie in [0, 1], got {frame[column].iloc[row]}", file=file, row=row + 2, field=column
            )


def check_summary(frame: pd.DataFrame, file: PathLike = "results/summary.csv") -> pd.DataFrame:
    """Validate a summary table and give it its one set of dtypes (a copy).

    The text columns (:data:`SUMMARY_TEXT_COLUMNS`) are str, "" where a row has none (``variant``
    outside Avengers-Pro and the dataset router, ``family`` outside Avengers-Pro and the router
    families, ``hyperparameters`` outside the families); ``n_clusters`` is Int64 (NA where a method
    has none); ``alpha`` is float (NaN for methods without an alpha); the numbers are float.
    Accuracies must lie in [0, 1] and costs be >= 0. Rows are numbered as in the CSV file (the
    header is line 1).
    """
    require_columns(frame, SUMMARY_COLUMNS, file)
    out = frame.copy()
    _texts(out, SUMMARY_TEXT_COLUMNS)
    _check_kinds(out, file)
    numeric = [
        *(column for column in SUMMARY_COLUMNS if column not in SUMMARY_TEXT_COLUMNS),
        *dataset_columns(out),
    ]
    _numbers(out, numeric, file)
    for column in ("accuracy", "cost"):
        missing = out[column].isna().to_numpy()
        if missing.any():
            raise DataError("value missing", file=file, row=int(np.flatnonzero(missing)[0]) + 2, field=column)
    _accuracies(out, ["accuracy", *dataset_columns(out)], file)
    negative = (out["cost"] < 0).to_numpy()
    if negative.any():
        raise DataError("cost must be >= 0", file=file, row=int(np.flatnonzero(negative)[0]) + 2, field="cost")
    out["n_clusters"] = out["n_clusters"].round().astype("Int64")
    return out


def read_summary(path: PathLike) -> pd.DataFrame:
    """Read and validate ``results/summary.csv`` (see :func:`check_summary`)."""
    try:
        frame = pd.read_csv(path, dtype=dict.fromkeys(SUMMARY_TEXT_COLUMNS, str))
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"cannot read the summary: {err}", file=path) from None
    return check_summary(frame, path)


def write_summary(summary: pd.DataFrame, path: PathLike) -> None:
    """Write ``summary.csv`` atomically (empty cells for missing values)."""
    write_text(summary.to_csv(index=False), path)


def single_models(summary: pd.DataFrame) -> pd.DataFrame:
    """The single-model rows (``kind == "model"``) of a summary or baselines frame."""
    return summary[summary["kind"] == MODEL]


def is_family(family: pd.Series) -> pd.Series:
    """Which values of a ``family`` column ("" where a row has none) are a router family's: neither
    empty nor Avengers-Pro's.
    """
    return (family != "") & (family != ROUTER_METHOD)


def family_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The router-family rows of a summary (read by :func:`read_summary`)."""
    return summary[is_family(summary["family"])]


# --------------------------------------------------------------------------- leaderboard.csv


def dataset_router_row(variant: str) -> str:
    """The leaderboard's name of the dataset router of one variant, and the ``reference`` that
    metrics.json's bootstrap objects name.
    """
    return f"{DATASET_ROUTER} ({variant})"


def avengers_pro_row(variant: str, how: str) -> str:
    """The leaderboard's name of an Avengers-Pro row, e.g. ``avengers-pro official (k=25)``."""
    return f"{ROUTER_METHOD} {variant} ({how})"


def fixed_k_row(main: Mapping[str, Any]) -> str:
    """The leaderboard's Avengers-Pro row of ``plots.main`` at its fixed cluster count: the reference
    of ``aiq_delta_vs_avengers_pro``.
    """
    return avengers_pro_row(str(main["variant"]), f"k={int(main['n_clusters'])}")


def seed_delta_column(seed: int) -> str:
    """The leaderboard's column of one seed's validation-hull ΔAIQ vs the dataset router."""
    return f"aiq_delta_seed{int(seed)}"


def seed_delta_columns(frame: pd.DataFrame) -> list[str]:
    """The ``aiq_delta_seed<seed>`` columns of a leaderboard, in file order."""
    return [c for c in frame.columns if c.startswith("aiq_delta_seed")]


def check_leaderboard(frame: pd.DataFrame, file: PathLike = "results/leaderboard.csv") -> pd.DataFrame:
    """Validate a leaderboard table and give it its dtypes (a copy).

    ``router``, ``kind``, ``family`` and ``hyperparameters`` are str ("" where empty); ``rank`` and
    ``n_seeds`` int; every other column of :data:`LEADERBOARD_COLUMNS` and the ``accuracy_<dataset>``
    columns are float, NaN where empty (an AIQ without recorded costs, a delta without resamples, a CostSave never reached).
    ``rank``, ``best_accuracy``, ``best_accuracy_alpha`` and ``n_seeds`` must be finite, accuracies
    lie in [0, 1], and every ``router`` be named once. Rows are numbered as in the CSV file.
    """
    require_columns(frame, LEADERBOARD_COLUMNS, file)
    out = frame.copy()
    _texts(out, LEADERBOARD_TEXT_COLUMNS)
    unnamed = (out["router"].str.strip() == "").to_numpy()
    if unnamed.any():
        raise DataError(
            "a row without a router name", file=file, row=int(np.flatnonzero(unnamed)[0]) + 2, field="router"
        )
    twice = out["router"].duplicated().to_numpy()
    if twice.any():
        row = int(np.flatnonzero(twice)[0])
        raise DataError(f"router {out['router'].iloc[row]!r} appears twice", file=file, row=row + 2, field="router")
    _check_kinds(out, file)
    _numbers(
        out,
        [
            *(c for c in LEADERBOARD_COLUMNS if c not in LEADERBOARD_TEXT_COLUMNS),
            *seed_delta_columns(out),
            *dataset_columns(out),
        ],
        file,
    )
    for column in ("rank", "best_accuracy", "best_accuracy_alpha", "n_seeds", "n_resamples"):
        missing = ~np.isfinite(out[column].to_numpy())
        if missing.any():
            raise DataError("value missing", file=file, row=int(np.flatnonzero(missing)[0]) + 2, field=column)
    _accuracies(out, ["best_accuracy", *dataset_columns(out)], file)
    for column in ("rank", "n_seeds", "n_resamples"):
        out[column] = out[column].round().astype(np.int64)
    return out


def read_leaderboard(path: PathLike) -> pd.DataFrame:
    """Read and validate ``results/leaderboard.csv`` (see :func:`check_leaderboard`)."""
    try:
        frame = pd.read_csv(path, dtype=dict.fromkeys(LEADERBOARD_TEXT_COLUMNS, str))
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"cannot read the leaderboard: {err}", file=path) from None
    return check_leaderboard(frame, path)


# --------------------------------------------------------------------------- metrics.json


def json_number(value: Any) -> float | None:
    """A float for JSON, None for missing or non-finite values."""
    if value is None or value is pd.NA:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def json_ready(value: Any) -> Any:
    """Recursively turn numpy scalars into Python ones and NaN/inf into None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return json_number(value)
    return value


def read_metrics(path: PathLike) -> list[dict[str, Any]]:
    """Read ``results/metrics.json``: a list of objects, each with ``method``, ``variant`` and ``n_clusters``."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read the metrics: {err}", file=path) from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise DataError("expected a JSON list of objects", file=path)
    for index, entry in enumerate(data):
        for key in ("method", "variant", "n_clusters"):
            if key not in entry:
                raise DataError("field missing", file=path, row=index, field=key)
        if entry["n_clusters"] is not None and not isinstance(entry["n_clusters"], int):
            raise DataError(f"not an integer: {entry['n_clusters']!r}", file=path, row=index, field="n_clusters")
    return data


def metrics_entry(
    metrics: Sequence[Mapping[str, Any]], variant: str, n_clusters: int, file: PathLike = "results/metrics.json"
) -> Mapping[str, Any]:
    """The Avengers-Pro object of one (variant, n_clusters) in metrics.json's list."""
    routers = [e for e in metrics if e["method"] == ROUTER_METHOD]
    for entry in routers:
        if entry["variant"] == variant and entry["n_clusters"] == n_clusters:
            return entry
    present = [f"{e['variant']}/k={e['n_clusters']}" for e in routers]
    raise DataError(
        f"no entry for variant '{variant}' and n_clusters {n_clusters}; present: {', '.join(present) or 'none'}",
        file=file,
        field="variant",
    )


def require(
    entry: Mapping[str, Any], key: str, file: PathLike = "results/metrics.json", *, nullable: bool = False
) -> Any:
    """``entry[key]``, or a :class:`DataError` naming the file and the field when it is absent (or null)."""
    if key not in entry or (entry[key] is None and not nullable):
        where = (
            f" (variant '{entry.get('variant')}', n_clusters {entry.get('n_clusters')})" if "variant" in entry else ""
        )
        raise DataError(f"field missing or null{where}", file=file, field=key)
    return entry[key]


def best_single_of(entry: Mapping[str, Any], file: PathLike = "results/metrics.json") -> dict[str, Any]:
    """The ``best_single`` object of a metrics entry as ``{model: str, accuracy: float, cost: float}``."""
    best = require(entry, "best_single", file)
    if not isinstance(best, Mapping):
        raise DataError("expected an object {model, accuracy, cost}", file=file, field="best_single")
    return {
        "model": str(require(best, "model", file)),
        "accuracy": float(require(best, "accuracy", file)),
        "cost": float(require(best, "cost", file)),
    }
