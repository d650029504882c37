"""Ingestion: every source -> the canonical long records table, with validation and policies.

:func:`read_source` verifies a source's sha256 (before any byte is parsed) and hands it to its
format's reader in :mod:`avengers_pro.formats` (``routerbench``, ``avengers-jsonl``, ``records``,
``llmrouterbench``); every reader returns the same long frame and names file, row and field of any bad
value. :func:`ingest` then applies the policies in order (allow-lists; a reused id or prompt; rows of
one query merged; queries without any score; ``missing:`` for queries missing some models; the
``prices:`` fallback for a score without cost), counts everything in the ingest report
(``results/ingest_report.json``) and warns when the costs cannot tell the models apart. The formats,
the policies and what they do on the default data: ``docs/data.md``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avengers_pro.download import verify_sha256
from avengers_pro.errors import ConfigError, DataError
from avengers_pro.formats.avengers_jsonl import read_avengers_jsonl
from avengers_pro.formats.llmrouterbench import read_llmrouterbench
from avengers_pro.formats.mmlu_pro import read_mmlu_pro_outputs
from avengers_pro.formats.records_table import read_records_table
from avengers_pro.formats.routerbench import COST_SUFFIX, read_routerbench
from avengers_pro.formats.table import QUERY_COLUMNS, RECORD_COLUMNS, SOURCE_COLUMNS, TOKEN_COLUMNS

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("avengers-jsonl", "routerbench", "records", "llmrouterbench", "mmlu-pro-outputs")
# A price is USD per query (a number) or USD per million tokens ({input, output}) for token-counted records.
TokenPrice = dict[str, float]
MISSING_POLICIES: tuple[str, ...] = ("drop-query", "zero", "mask")


def _source_path(source: Mapping[str, Any], base_dir: Path) -> Path:
    raw = source.get("path")
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"sources: source {source.get('name')!r} needs a 'path'")
    path = Path(raw)
    return path if path.is_absolute() else Path(base_dir) / path


def read_source(source: Mapping[str, Any], base_dir: Path = Path(".")) -> pd.DataFrame:
    """Read and validate one source file into the long record format.

    Parameters
    ----------
    source
        One entry of the config's ``sources``: ``{name, format, path, url?, sha256?}``.
    base_dir
        Folder that relative paths are resolved against.

    Returns
    -------
    pandas.DataFrame
        Columns ``RECORD_COLUMNS`` plus ``source`` (the source's name) and ``row`` (1-based data row, or
        line for JSONL). ``score``/``cost`` are NaN where missing; present values are validated. One
        row per (file row, model) for the wide formats. ``frame.attrs["notes"]`` holds format-specific
        counts for the ingest report.

    Raises
    ------
    DataError
        On any bad input (see the module docstring), naming file, row and field.
    """
    name = str(source.get("name", source.get("path", "?")))
    path = _source_path(source, base_dir)
    fmt = source.get("format")
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})", file=path, field="format")
    if not path.is_file() and not (fmt == "llmrouterbench" and path.is_dir()):
        hint = (
            f"download it from {source['url']} or place it there by hand"
            if source.get("url")
            else "place the file there or fix 'path' in the config"
        )
        raise DataError(f"file not found; {hint}", file=path)
    for key in ("model", "null_pred"):
        if key in source and fmt != "mmlu-pro-outputs":
            raise ConfigError(f"sources: {name}: '{key}' applies only to format mmlu-pro-outputs, not {fmt}")
    sha256 = source.get("sha256")
    if sha256 and path.is_dir():
        raise ConfigError(f"sources: {name}: sha256 applies to a file, and {path} is a folder")
    if sha256:
        # Always before reading, so that no unverified bytes (above all, no pickle) are ever parsed.
        verify_sha256(path, sha256)
    if fmt == "routerbench":
        frame, notes = read_routerbench(path, verified=bool(sha256))
    elif fmt == "avengers-jsonl":
        frame, notes = read_avengers_jsonl(path)
    elif fmt == "llmrouterbench":
        frame, notes = read_llmrouterbench(path, source.get("splits"))
    elif fmt == "mmlu-pro-outputs":
        frame, notes = read_mmlu_pro_outputs(
            path, model=source.get("model"), null_pred=source.get("null_pred", "wrong")
        )
    else:
        frame, notes = read_records_table(path)
    frame["source"] = pd.array(np.full(len(frame), name, dtype=object), dtype="str")
    frame = frame[list(SOURCE_COLUMNS)]
    frame.attrs["notes"] = notes
    return frame


# --------------------------------------------------------------------------- ingestion


def _check_allow_list(allowed: list[str] | None, found: Sequence[str], key: str) -> None:
    if not allowed:
        return
    if len(set(allowed)) != len(allowed):
        raise ConfigError(f"{key}: names must be unique, got {allowed}")
    absent = [name for name in allowed if name not in set(found)]
    if absent:
        raise DataError(
            f"{', '.join(repr(n) for n in absent)} listed in the config but absent from the data "
            f"(found: {', '.join(found)})",
            field=key,
        )


def _check_prices(prices: Mapping[str, Any] | None) -> tuple[dict[str, float], dict[str, TokenPrice]]:
    """Split ``prices:`` into per-query prices and per-million-token prices, each checked."""
    per_query: dict[str, float] = {}
    per_token: dict[str, TokenPrice] = {}

    def usd(value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise ConfigError(f"{key}: expected a price in USD >= 0, got {value!r}")
        return float(value)

    for model, price in (prices or {}).items():
        if isinstance(price, Mapping):
            unknown = sorted(set(price) - {"input", "output"})
            if unknown or not {"input", "output"} <= set(price):
                raise ConfigError(
                    f"prices.{model}: expected {{input: <USD per 1M tokens>, output: <USD per 1M tokens>}}, got {dict(price)!r}"
                )
            per_token[str(model)] = {part: usd(price[part], f"prices.{model}.{part}") for part in ("input", "output")}
        else:
            per_query[str(model)] = usd(price, f"prices.{model}")
    return per_query, per_token


def price_by_tokens(records: pd.DataFrame, prices: Mapping[str, TokenPrice]) -> np.ndarray:
    """The cost of each record from its token counts: (input x price.input + output x price.output) / 1e6.

    ``prices`` maps a model to ``{input, output}`` in USD per million tokens; records of other models,
    and records without token counts, get NaN. This is the one home of the token cost model: ingestion
    calls it, and so can anyone repricing ``results/records.parquet`` (it keeps the counts).
    """
    models = records["model"].astype(object)
    input_price = models.map(lambda m: prices[m]["input"] if m in prices else np.nan).to_numpy(dtype=np.float64)
    output_price = models.map(lambda m: prices[m]["output"] if m in prices else np.nan).to_numpy(dtype=np.float64)
    input_tokens = records["input_tokens"].to_numpy(dtype=np.float64, na_value=np.nan)
    output_tokens = records["output_tokens"].to_numpy(dtype=np.float64, na_value=np.nan)
    return (input_tokens * input_price + output_tokens * output_price) / 1e6


def _key(frame: pd.DataFrame, columns: Sequence[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[list(columns)])


def _conflicting(
    dropped: pd.DataFrame, kept: pd.DataFrame, *, by: str = "query_id", per: Sequence[str] = ("source", "row")
) -> int:
    """How many units (``per``) of ``dropped`` have a present score differing from the kept record.

    ``dropped[by]`` names the kept query each dropped record is compared with.
    """
    present = dropped[dropped["score"].notna()]
    if present.empty or kept.empty:
        return 0
    pairs = present.merge(
        kept[["query_id", "model", "score"]].rename(columns={"query_id": by, "score": "kept_score"}),
        on=[by, "model"],
        how="inner",
    )
    differs = pairs[pairs["score"] != pairs["kept_score"]]
    return int(len(differs.drop_duplicates(list(per))))


def ingest(
    sources: list[dict[str, Any]],
    *,
    models: list[str] | None = None,
    datasets: list[str] | None = None,
    missing: str = "drop-query",
    prices: dict[str, float] | None = None,
    base_dir: Path = Path("."),
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Read every source, apply the policies, and return the canonical tables and the ingest report.

    Parameters
    ----------
    sources
        The config's ``sources`` list, read in order (earlier sources win duplicates).
    models
        Allow-list of models, also the model order; ``None``/empty = every model found, alphabetically.
    datasets
        Allow-list of datasets; ``None``/empty = every dataset found.
    missing
        Policy for a query missing some models' scores: ``drop-query``, ``zero`` or ``mask``.
    prices
        Per-model fallback cost (USD per query) for a present score without a cost.
    base_dir
        Folder that relative source paths are resolved against.

    Returns
    -------
    records : pandas.DataFrame
        ``RECORD_COLUMNS``, one row per (query, model), sorted by ``query_id`` then model order; no NaN
        but in the token counts (nullable integers, null where the format counts no tokens).
    queries : pandas.DataFrame
        ``query_id``, ``dataset``, ``query``, ``prompt``; one row per kept query, sorted by ``query_id``.
    report : dict
        JSON-able counts: rows read per source, rows and records dropped per reason, conflicts, merges,
        changed records, kept queries and records, models, datasets, queries per dataset.

    Raises
    ------
    DataError
        On bad input (see :func:`read_source`), an allow-listed name absent from the data, a present
        score without cost or price fallback, or no query left.
    ConfigError
        On an unknown ``missing`` policy, duplicate source names or a bad price.
    """
    if missing not in MISSING_POLICIES:
        raise ConfigError(f"missing: {missing!r} is not one of {', '.join(MISSING_POLICIES)}")
    if not sources:
        raise ConfigError("sources: at least one source is required")
    names = [str(source.get("name", source.get("path"))) for source in sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"sources: names must be unique, got {names}")
    fallback_prices, token_prices = _check_prices(prices)
    model_list = list(models) if models else None
    dataset_list = list(datasets) if datasets else None

    report: dict[str, Any] = {"missing_policy": missing, "sources": {}}
    frames: list[pd.DataFrame] = []
    source_warnings: list[str] = []
    paths: dict[str, Path] = {}
    formats: dict[str, str] = {}
    for source, name in zip(sources, names):
        frame = read_source(source, base_dir)
        notes = frame.attrs.get("notes", {})
        paths[name] = _source_path(source, base_dir)
        formats[name] = str(source["format"])
        report["sources"][name] = {
            "path": str(source["path"]),
            "format": formats[name],
            "rows": int(frame["row"].nunique()),
            "records": int(len(frame)),
            **notes,
        }
        logger.info("%s: read %d rows, %d records from %s", name, frame["row"].nunique(), len(frame), source["path"])
        frames.append(frame)
        source_warnings.extend(notes.get("warnings", []))
    data = pd.concat(frames, ignore_index=True)  # source order, then row order: "first" means this order
    data.attrs = {}

    dropped: dict[str, int] = {}
    conflicts: dict[str, int] = {}

    # 1. Allow-lists.
    found_datasets = sorted(data["dataset"].unique().tolist())
    _check_allow_list(dataset_list, found_datasets, "datasets")
    in_datasets = data["dataset"].isin(dataset_list) if dataset_list else pd.Series(True, index=data.index)
    dropped["rows_outside_datasets"] = int(len(data.loc[~in_datasets, ["source", "row"]].drop_duplicates()))
    data = data[in_datasets]
    found_models = sorted(data["model"].unique().tolist())
    _check_allow_list(model_list, found_models, "models")
    model_order = model_list or found_models
    in_models = data["model"].isin(model_order)
    dropped["records_outside_models"] = int((~in_models).sum())

    # Units that are one row of one file; a records-format file holds one query over many rows.
    rows = data.drop_duplicates(["source", "row"])[["source", "row", "query_id", "dataset", "query", "prompt"]]

    # 2. Same query_id as an earlier row, other (dataset, prompt): dropped.
    by_id = rows.groupby("query_id", sort=False)
    other_text = (rows["dataset"] != by_id["dataset"].transform("first")) | (
        rows["prompt"] != by_id["prompt"].transform("first")
    )
    rows_other_text = rows[other_text]
    rows = rows[~other_text]
    # 3. Same (dataset, prompt) as an earlier row, other query_id: dropped (compared with the first id).
    first_id = rows.groupby(["dataset", "prompt"], sort=False)["query_id"].transform("first")
    other_id = rows["query_id"] != first_id
    rows_other_id = rows[other_id].assign(kept_id=first_id[other_id])
    rows = rows[~other_id]
    dropped["rows_duplicate_id_other_prompt"] = int(len(rows_other_text))
    dropped["rows_duplicate_prompt_other_id"] = int(len(rows_other_id))

    # 4. Same query_id and prompt: merged, first present score per (query, model) kept.
    records = data[in_models & _key(data, ["source", "row"]).isin(_key(rows, ["source", "row"]))]
    present = records[records["score"].notna()]
    repeated = present.duplicated(["query_id", "model"], keep="first")
    kept = present[~repeated]
    dropped["records_duplicate"] = int(repeated.sum())
    conflicts["records_duplicate"] = _conflicting(present[repeated], kept, per=("source", "row", "model"))
    dropped_other_text = data[in_models & _key(data, ["source", "row"]).isin(_key(rows_other_text, ["source", "row"]))]
    conflicts["rows_duplicate_id_other_prompt"] = _conflicting(dropped_other_text, kept)
    dropped_other_id = data[in_models].merge(rows_other_id[["source", "row", "kept_id"]], on=["source", "row"])
    conflicts["rows_duplicate_prompt_other_id"] = _conflicting(dropped_other_id, kept, by="kept_id")
    # A query is "merged" when its kept rows come from more than one unit of input (one row of a wide
    # or JSONL file; all rows of one query in one records file or LLMRouterBench source).
    long_formats = rows["source"].map(formats).isin(["records", "llmrouterbench"]).to_numpy()
    unit_row = np.where(long_formats, -1, rows["row"].to_numpy())
    units = pd.DataFrame({"query_id": rows["query_id"], "source": rows["source"], "unit": unit_row})
    units_per_query = units.drop_duplicates().groupby("query_id").size()
    merged = {"queries_from_several_rows": int((units_per_query > 1).sum())}

    # 5.-6. Missing scores, on the dense (query x model) grid.
    query_table = rows.drop_duplicates("query_id")[list(QUERY_COLUMNS)].reset_index(drop=True)
    query_ids = query_table["query_id"].to_numpy(dtype=object)
    q_pos = pd.Index(query_ids).get_indexer(kept["query_id"].to_numpy(dtype=object))
    m_pos = pd.Index(model_order).get_indexer(kept["model"].to_numpy(dtype=object))
    has = np.zeros((len(query_ids), len(model_order)), dtype=bool)
    has[q_pos, m_pos] = True
    n_present = has.sum(axis=1)
    all_missing = n_present == 0
    some_missing = ~all_missing & (n_present < len(model_order))
    missing_per_model = (~has[~all_missing]).sum(axis=0)
    dropped["queries_missing_all_models"] = int(all_missing.sum())
    drop_query = all_missing | (some_missing if missing == "drop-query" else False)
    dropped["queries_missing_some_models"] = int(some_missing.sum()) if missing == "drop-query" else 0
    changed: dict[str, Any] = {"records_zero_filled": 0, "records_masked": 0, "records_price_fallback": {}}
    if missing == "zero":
        changed["records_zero_filled"] = int((~has[some_missing]).sum())
    elif missing == "mask":
        changed["records_masked"] = int((~has[some_missing]).sum())

    kept_queries = query_table[~drop_query].reset_index(drop=True)
    final = kept[~drop_query[q_pos]].copy()

    # 7. Present score without cost: priced by tokens, by the per-query fallback, or an error.
    changed["records_priced_by_tokens"] = {}
    if token_prices:
        by_tokens = final["cost"].isna().to_numpy() & final["model"].isin(list(token_prices)).to_numpy()
        tokens_missing = by_tokens & final[["input_tokens", "output_tokens"]].isna().any(axis=1).to_numpy()
        if tokens_missing.any():
            bad = final.iloc[int(np.flatnonzero(tokens_missing)[0])]
            raise DataError(
                f"model '{bad['model']}' is priced per token (prices.{bad['model']}) but this record has no "
                "token counts (only formats that read output texts count tokens)",
                file=paths[bad["source"]],
                row=int(bad["row"]),
                field="input_tokens",
            )
        final.loc[by_tokens, "cost"] = price_by_tokens(final[by_tokens], token_prices)
        used = final.loc[by_tokens, "model"].value_counts()
        changed["records_priced_by_tokens"] = {str(m): int(n) for m, n in used.sort_index().items()}
    no_cost = final["cost"].isna().to_numpy()
    if no_cost.any():
        has_price = final["model"].isin(list(fallback_prices)).to_numpy()
        unpriced = no_cost & ~has_price
        if unpriced.any():
            bad = final.iloc[int(np.flatnonzero(unpriced)[0])]
            model = str(bad["model"])
            field = {
                "routerbench": model + COST_SUFFIX,
                "avengers-jsonl": f"usages.{model}.cost",
                "records": "cost",
                "llmrouterbench": "cost",
                "mmlu-pro-outputs": "cost",
            }[formats[bad["source"]]]
            raise DataError(
                f"model '{model}' has a score but no cost; give a price with prices: {{{model!r}: <USD per query>}}"
                " or, for records with token counts, {input: <USD per 1M tokens>, output: <USD per 1M tokens>}",
                file=paths[bad["source"]],
                row=int(bad["row"]),
                field=field,
            )
        final.loc[no_cost, "cost"] = final.loc[no_cost, "model"].map(fallback_prices).to_numpy()
        used = final.loc[no_cost, "model"].value_counts()
        changed["records_price_fallback"] = {str(m): int(n) for m, n in used.sort_index().items()}

    if missing == "zero":
        fill_q, fill_m = np.nonzero(~has & (some_missing & ~drop_query)[:, None])
        zeros = (
            query_table.iloc[fill_q]
            .reset_index(drop=True)
            .assign(model=pd.array(np.array(model_order, dtype=object)[fill_m], dtype="str"), score=0.0, cost=0.0)
        )
        final = pd.concat([final, zeros], ignore_index=True)

    if kept_queries.empty:
        raise DataError(
            f"no query left after ingestion (dropped: {json.dumps(dropped, sort_keys=True)})", field="sources"
        )
    model_rank = pd.Index(model_order).get_indexer(final["model"].to_numpy(dtype=object))
    final = (
        final.assign(_model_rank=model_rank)
        .sort_values(["query_id", "_model_rank"], kind="stable")
        .reset_index(drop=True)[list(RECORD_COLUMNS)]
    )
    final["score"] = final["score"].astype(np.float64)
    final["cost"] = final["cost"].astype(np.float64)
    for column in TOKEN_COLUMNS:
        final[column] = final[column].astype("Int64")
    kept_queries = kept_queries.sort_values("query_id", kind="stable").reset_index(drop=True)

    per_dataset = kept_queries.groupby("dataset").size()
    report["warnings"] = source_warnings + cost_warnings(final, model_order)
    report.update(
        {
            "dropped": dropped,
            "conflicting": conflicts,
            "merged": merged,
            "changed": changed,
            "missing_records_per_model": {m: int(n) for m, n in zip(model_order, missing_per_model)},
            "queries": int(len(kept_queries)),
            "records": int(len(final)),
            "models": list(model_order),
            "datasets": sorted(per_dataset.index.tolist()),
            "queries_per_dataset": {str(d): int(n) for d, n in per_dataset.items()},
        }
    )
    for section in ("dropped", "conflicting", "merged"):
        for reason, count in report[section].items():
            logger.info("%s %s: %d", section, reason, count)
    logger.info("changed: %s", json.dumps(changed, sort_keys=True))
    logger.info(
        "kept %d queries, %d records, %d models, datasets %s",
        len(kept_queries),
        len(final),
        len(model_order),
        report["queries_per_dataset"],
    )
    return final, kept_queries, report


def cost_warnings(records: pd.DataFrame, models: Sequence[str]) -> list[str]:
    """What the costs of the final records cannot tell the router (one sentence each; [] when fine).

    * every cost is 0 (data without recorded usage, like the official code's example file): the
      cost term of the score is the same for every model, and cost-based metrics are undefined;
    * costs differ by query but every model costs the same on each query: the same for routing;
    * some models cost 0 on every query while others are priced: those look free to the router.
    """
    costs = records["cost"].to_numpy(dtype=np.float64)
    if not (costs > 0).any():
        return [
            "every recorded cost is 0 (no usage recorded?): the cost term cannot tell models apart, so "
            "alpha only matters at 0 and the cost-based metrics (AIQ, CostSave, cost at 90%) are null"
        ]
    per_query = records.groupby("query_id", sort=False)["cost"].agg(["min", "max"])
    if (per_query["min"] == per_query["max"]).all():
        return [
            "every model has the same cost on each query: the cost term cannot tell models apart, so "
            "routing depends on accuracy alone at every alpha"
        ]
    priced = records.groupby("model", sort=False)["cost"].max()
    free = [str(model) for model in models if model in priced.index and not priced[model] > 0]
    if free:
        return [
            f"model(s) {', '.join(free)} cost 0 on every query while other models are priced: the router "
            "treats them as free (check that their usage was recorded)"
        ]
    return []


def summary_line(report: Mapping[str, Any]) -> str:
    """One line for the console: what ingestion kept, and what it dropped, merged or changed and why."""
    parts = [
        f"ingest: {report['queries']:,} queries, {len(report['models'])} models, "
        f"{len(report['datasets'])} datasets ({report['records']:,} records)"
    ]
    dropped = {reason: n for reason, n in report["dropped"].items() if n}
    if dropped:
        parts.append("dropped " + ", ".join(f"{n:,} {reason.replace('_', ' ')}" for reason, n in dropped.items()))
    merged = report["merged"].get("queries_from_several_rows", 0)
    if merged:
        parts.append(f"merged {merged:,} queries from several rows")
    changed = report["changed"]
    if changed["records_zero_filled"]:
        parts.append(f"zero-filled {changed['records_zero_filled']:,} missing records (missing: zero)")
    if changed["records_masked"]:
        parts.append(f"masked {changed['records_masked']:,} missing records (missing: mask)")
    fallback = sum(changed["records_price_fallback"].values())
    if fallback:
        parts.append(f"priced {fallback:,} records from prices:")
    return "; ".join(parts) + " (details: results/ingest_report.json)"
