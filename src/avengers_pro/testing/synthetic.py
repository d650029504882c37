"""SYNTHETIC routing records, for scale tests and benchmarks ONLY.

Nothing produced here is real data, and no result computed from it says anything about real models:
it exists so that the split, the clustering and the alpha sweep can be timed at sizes (up to millions
of queries) that no public routing data set has. It is used by ``bench/bench_scaling.py``.

The generative story, chosen so that routing has something to find:

* **Latent topics.** ``n_topics`` random unit vectors in ``dim`` dimensions. Each synthetic dataset
  has its own mix of topics (Dirichlet); each query draws its dataset, then a topic from that mix, and
  its embedding is the topic's vector plus isotropic Gaussian noise, L2-normalised.
* **Model skills.** Each model has a general ability (stronger models come later in the list) plus a
  skill per topic (so the best model differs between topics). Each query has a difficulty. A model
  answers a query right with probability ``sigmoid(ability + topic skill - difficulty)``; the recorded
  score is 0 or 1. With ``judged=True`` the recorded score is that probability itself, a fraction in
  (0, 1), as a judge's preference probability would be; ``reference`` makes one model score exactly
  0.5 on every query, as the reference model of a pairwise judge does.
* **Prices.** Each model has a price per 1,000 tokens that grows with its ability (log-linear, with
  noise); each query has a length in tokens (log-normal); the recorded cost is price x length.

The output is the canonical long records table of ``docs/architecture.md`` (``query_id``,
``dataset``, ``query``, ``prompt``, ``model``, ``score``, ``cost``; one row per (query, model), no
missing records) and the unit query embeddings, rows aligned with the sorted ``query_ids``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

#: Prefix of every synthetic name, so that synthetic records can never pass for real ones.
SYNTHETIC_PREFIX = "synthetic"


@dataclass(frozen=True)
class SyntheticRecords:
    """Synthetic records and embeddings (see the module docstring: for scale tests only).

    Attributes
    ----------
    records
        The canonical long table, one row per (query, model), sorted by ``query_id`` then model.
    query_ids
        (n,) object array of the query ids, sorted; ``embeddings`` rows follow it.
    embeddings
        (n, dim) float32, every row of unit length.
    topics
        (n,) int64 latent topic of each query (not part of the canonical table; for checks).
    models
        The model names, weakest (and cheapest on average) first.
    """

    records: pd.DataFrame
    query_ids: np.ndarray
    embeddings: np.ndarray
    topics: np.ndarray
    models: list[str]


def _names(prefix: str, count: int) -> np.ndarray:
    """``prefix-000``, ``prefix-001``...: zero-padded, so string order is numeric order."""
    width = len(str(max(count - 1, 0)))
    return np.char.add(f"{prefix}-", np.char.zfill(np.arange(count).astype(str), width)).astype(object)


def _string_column(values: np.ndarray, positions: np.ndarray) -> pd.Series:
    # Arrow's take builds the long (n x M row) string columns without n x M Python objects.
    taken = pa.array(np.asarray(values, dtype=object), type=pa.large_string()).take(pa.array(positions))
    return taken.to_pandas(types_mapper=lambda _: pd.StringDtype("pyarrow", na_value=np.nan))


def synthetic_records(
    n_queries: int,
    n_models: int = 20,
    *,
    n_topics: int = 32,
    n_datasets: int = 4,
    dim: int = 384,
    noise: float = 1.0,
    seed: int = 0,
    judged: bool = False,
    reference: int | None = None,
) -> SyntheticRecords:
    """Generate synthetic routing records and unit embeddings (for scale tests only).

    Parameters
    ----------
    n_queries
        Number of queries (rows of ``embeddings``); the records table has ``n_queries * n_models`` rows.
    n_models
        Number of models.
    n_topics
        Number of latent topics (clusters the router can discover).
    n_datasets
        Number of synthetic datasets, each with its own mix of topics.
    dim
        Embedding dimension (384, as all-MiniLM-L6-v2, by default).
    noise
        Norm (in expectation) of the noise added to a topic's unit vector: larger -> topics overlap more.
    seed
        Seed of every random draw; the same arguments give the same records.
    judged
        Record the probability of a right answer (fractional scores) instead of a 0/1 draw.
    reference
        Index of a model whose score is 0.5 on every query (None: no such model).

    Returns
    -------
    SyntheticRecords
        The records table, the query ids, the embeddings, the latent topics and the model names.

    Raises
    ------
    ValueError
        If a count is below 1, ``noise`` is negative or ``reference`` is not a model index.
    """
    for name, value in {
        "n_queries": n_queries,
        "n_models": n_models,
        "n_topics": n_topics,
        "n_datasets": n_datasets,
        "dim": dim,
    }.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    if reference is not None and not 0 <= reference < n_models:
        raise ValueError(f"reference must be a model index in [0, {n_models}), got {reference!r}")
    rng = np.random.default_rng(seed)

    # Topics and datasets: each dataset has a sparse-ish mix of topics.
    centres = rng.standard_normal((n_topics, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    mixes = rng.dirichlet(np.full(n_topics, 0.5), size=n_datasets)
    dataset = rng.integers(n_datasets, size=n_queries)
    topic = np.empty(n_queries, dtype=np.int64)
    for d in range(n_datasets):  # a loop over datasets (a handful), not over queries
        rows = np.flatnonzero(dataset == d)
        topic[rows] = rng.choice(n_topics, size=len(rows), p=mixes[d])

    # Embeddings in float32 (as the pipeline stores them): topic vector + noise, normalised.
    embeddings = rng.standard_normal((n_queries, dim), dtype=np.float32)
    embeddings *= np.float32(noise / np.sqrt(dim))
    embeddings += centres[topic].astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)

    # Models: general ability (sorted, weakest first), per-topic skill, price growing with ability.
    ability = np.sort(rng.normal(0.0, 1.0, size=n_models))
    topic_skill = rng.normal(0.0, 0.8, size=(n_topics, n_models))
    price_per_1k = np.exp(-4.0 + 1.5 * ability + rng.normal(0.0, 0.5, size=n_models))  # USD / 1k tokens
    difficulty = rng.normal(0.0, 1.0, size=n_queries)
    tokens = np.maximum(8.0, np.round(rng.lognormal(np.log(150.0), 0.6, size=n_queries)))

    logits = ability[None, :] + topic_skill[topic] - difficulty[:, None]
    probability = 1.0 / (1.0 + np.exp(-logits))
    score = (rng.random((n_queries, n_models)) < probability).astype(np.float64)
    if judged:
        score = probability
    if reference is not None:
        score[:, reference] = 0.5
    cost = tokens[:, None] / 1000.0 * price_per_1k[None, :]

    query_ids = _names(f"{SYNTHETIC_PREFIX}-q", n_queries)
    dataset_names = _names(f"{SYNTHETIC_PREFIX}-dataset", n_datasets)
    models = _names(f"{SYNTHETIC_PREFIX}-model", n_models).tolist()
    texts = np.char.add(
        np.char.add(f"{SYNTHETIC_PREFIX} query ", np.arange(n_queries).astype(str)),
        np.char.add(" on topic ", topic.astype(str)),
    ).astype(object)

    query_row = np.repeat(np.arange(n_queries), n_models)
    model_col = np.tile(np.arange(n_models), n_queries)
    query_text = _string_column(texts, query_row)
    records = pd.DataFrame(
        {
            "query_id": _string_column(query_ids, query_row),
            "dataset": _string_column(dataset_names, dataset[query_row]),
            "query": query_text,
            "prompt": query_text.copy(deep=False),  # no few-shot context: the prompt is the query
            "model": _string_column(np.asarray(models, dtype=object), model_col),
            "score": score.ravel(),
            "cost": cost.ravel(),
        }
    )
    return SyntheticRecords(records=records, query_ids=query_ids, embeddings=embeddings, topics=topic, models=models)


def synthetic_queries(records: pd.DataFrame) -> pd.DataFrame:
    """One row per query (``query_id``, ``dataset``, ``query``, ``prompt``), like results/queries.parquet.

    Parameters
    ----------
    records
        A long records table (as :func:`synthetic_records` returns), sorted by ``query_id``.

    Returns
    -------
    pandas.DataFrame
        The first row of each query, in ``query_id`` order, index reset.
    """
    first = ~records["query_id"].duplicated()
    return records.loc[first, ["query_id", "dataset", "query", "prompt"]].reset_index(drop=True)
