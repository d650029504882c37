"""One collect job: every question of one benchmark asked of one endpoint, graded, priced, written.

The job reads the benchmark, builds each prompt, looks every request up in the persistent cache and
sends only the missing ones, at most ``max_concurrency`` at a time, storing each answer the moment it
arrives (a rerun sends nothing; a killed run resumes where it stopped). A progress bar with
done/total, the request rate and the time left goes to the console. The answers are graded, priced
(the provider's ``usage.cost`` when the response carries one, else prompt and completion tokens times
the endpoint's ``price`` per 1M tokens) and written as one LLMRouterBench result file.

A request that still fails after its retries is recorded as failed and counted, never scored 0. With
``collection.on_failure: fail`` (the default) the job then stops with one line naming the endpoint,
the benchmark, the count and the first reason, and writes nothing; with ``skip`` it writes the answers
it has and lists the failed questions under ``failed`` at the top of the file, leaving their records
out, so ingest's ``missing:`` policy decides about them. A 401, 403 or 404 stops the job at once,
whatever ``on_failure`` says: every other request would fail the same way.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from avengers_pro.collect.benchmarks import Question, read_benchmark, render_prompt
from avengers_pro.collect.cache import ChatCache
from avengers_pro.collect.client import ChatAnswer, ChatClient
from avengers_pro.collect.graders import grade
from avengers_pro.collect.settings import endpoint_settings
from avengers_pro.console import Progress
from avengers_pro.errors import CollectError
from avengers_pro.formats.llmrouterbench import write_result_file
from avengers_pro.http import RequestFailed, bounded_map
from avengers_pro.io import PathLike

log = logging.getLogger(__name__)

#: Statuses that no retry and no other question can fix: the job stops at the first.
FATAL_STATUSES = frozenset({401, 403, 404})


@dataclass(frozen=True)
class CollectResult:
    """What a collect job did: questions, answers taken from the cache, requests sent, failures."""

    questions: int
    cached: int
    requested: int
    failed: int
    seconds: float
    cost: float


def answer_cost(answer: ChatAnswer, price: Mapping[str, float] | None) -> float:
    """The provider-reported cost when present, else tokens x ``price`` (USD per 1M tokens)."""
    if answer.reported_cost is not None:
        return float(answer.reported_cost)
    if price is None:  # the client refuses such answers; kept as a guard
        raise ValueError("no reported cost and no price")
    return (answer.prompt_tokens * float(price["input"]) + answer.completion_tokens * float(price["output"])) / 1e6


def collect(
    *,
    benchmark: Mapping[str, Any],
    endpoint: Mapping[str, Any],
    collection: Mapping[str, Any],
    benchmark_path: PathLike | None = None,
    output: PathLike,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> CollectResult:
    """Collect, grade and write the records of one (benchmark, endpoint).

    Parameters
    ----------
    benchmark, endpoint, collection
        One validated ``benchmarks:`` entry, one ``endpoints:`` entry and the ``collection:`` block.
    benchmark_path
        The benchmark file (default: the entry's ``path``).
    output
        The result file to write (LLMRouterBench layout).
    progress
        Show the progress bar on the console.
    sleep
        Waits between retries (tests pass a recorder).

    Returns
    -------
    CollectResult
        Counts and the total cost.

    Raises
    ------
    DataError
        A bad benchmark file or cache file.
    CollectError
        Requests failed after their retries and ``on_failure`` is ``fail``, or a 401/403/404.
    """
    settings = endpoint_settings(endpoint, collection)
    grader = str(benchmark["grader"])
    pattern = re.compile(benchmark["pattern"]) if benchmark.get("pattern") else None
    questions = read_benchmark(benchmark_path or benchmark["path"], grader)
    prompts = [render_prompt(benchmark.get("prompt"), grader, q) for q in questions]
    where = f"collect {endpoint['name']} on {benchmark['name']}"

    started = time.perf_counter()
    client = ChatClient(
        settings,
        max_retries=int(collection["max_retries"]),
        retry_backoff=float(collection["retry_backoff"]),
        sleep=sleep,
    )
    failures: dict[str, str] = {}  # request key -> reason
    try:
        keys = [client.cache_key(prompt) for prompt in prompts]
        with ChatCache(collection["cache"]) as cache:
            answers = cache.get(keys)
            todo = list(dict.fromkeys(key for key in keys if key not in answers))  # a repeated prompt is asked once
            prompt_of = dict(zip(keys, prompts, strict=True))
            cached = len(keys) - sum(1 for key in keys if key not in answers)
            log.info(
                "%s: %d questions, %d answers cached, %d requests to send to %s (at most %d at a time)",
                where,
                len(questions),
                cached,
                len(todo),
                client.endpoint,
                client.max_concurrency,
            )

            def ask(key: str) -> ChatAnswer | RequestFailed:
                try:
                    return client.complete(prompt_of[key])
                except RequestFailed as failure:
                    return failure

            label = f"collect {endpoint['name']} x {benchmark['name']}"
            with Progress(label, len(todo), "requests", quiet=not progress) as bar:
                for position, result in bounded_map(ask, todo, client.max_concurrency):
                    key = todo[position]
                    if isinstance(result, RequestFailed):
                        failures[key] = result.reason
                        if result.status in FATAL_STATUSES:
                            raise CollectError(f"{where}: {client.endpoint}: {result.reason}")
                        bar.label = f"{label} ({len(failures)} failed)"
                    else:
                        cache.put(key, client.endpoint, client.model, result)
                        answers[key] = result
                    bar.update(1)
    finally:
        client.close()
    seconds = time.perf_counter() - started

    # A repeated prompt shares one request: its failure covers every question that sent it.
    failed_questions = [(q, failures[key]) for q, key in zip(questions, keys, strict=True) if key in failures]
    if failed_questions and collection["on_failure"] != "skip":
        first, reason = failed_questions[0]
        raise CollectError(
            f"{where}: {len(failed_questions)} of {len(questions)} requests failed after retries (first: question "
            f"{first.id}: {reason}); the {len(questions) - len(failed_questions)} answers received are cached, so a rerun "
            "asks only for the rest; or set collection.on_failure: skip to go on without them"
        )

    records = []
    for question, prompt, key in zip(questions, prompts, keys, strict=True):
        if key in failures:
            continue
        answer = answers[key]
        graded = grade(
            grader,
            answer.content,
            question.answer,
            n_choices=len(question.choices or ()),
            choices=question.choices,
            pattern=pattern,
        )
        records.append(
            _record(
                question, prompt, answer, graded.prediction, graded.score, answer_cost(answer, settings.get("price"))
            )
        )
    write_result_file(
        output,
        dataset=str(benchmark["name"]),
        split=str(benchmark["split"]),
        model=str(endpoint["name"]),
        records=records,
        time_taken=seconds,
        extra={
            "collector": {
                "tool": "avengers-pro",
                "endpoint": client.endpoint,
                "served_model": client.model,
                "grader": grader,
                "parameters": client.parameters,
            },
            "failed": [{"index": q.id, "error": reason} for q, reason in failed_questions],
        },
    )
    total_cost = sum(float(r["cost"]) for r in records)
    n_requested = len(todo)
    log.info(
        "%s: %d records written to %s (%d failed and left out), %d requests in %.1f s (%.1f req/s), cost %.6f USD",
        where,
        len(records),
        output,
        len(failed_questions),
        n_requested,
        seconds,
        n_requested / max(seconds, 1e-9),
        total_cost,
    )
    if failed_questions:
        log.warning(
            "%s: %d questions failed after retries and are left out (on_failure: skip); first: %s",
            where,
            len(failed_questions),
            failed_questions[0][1],
        )
    return CollectResult(len(questions), cached, n_requested, len(failed_questions), seconds, total_cost)


def _record(
    question: Question, prompt: str, answer: ChatAnswer, prediction: str | None, score: float, cost: float
) -> dict[str, Any]:
    return {
        "index": question.id,
        "origin_query": question.question,
        "prompt": prompt,
        "prediction": prediction,
        "raw_output": answer.content,
        "ground_truth": question.ground_truth,
        "score": score,
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "cost": cost,
    }


def run_collect_job(
    config: Mapping[str, Any], benchmark_name: str, endpoint_name: str, *, benchmark_path: PathLike, output: PathLike
) -> CollectResult:
    """The ``collect`` rule's job: look up the named entries in the validated config and :func:`collect`."""
    benchmark = next(b for b in config["benchmarks"] if b["name"] == benchmark_name)
    endpoint = next(e for e in config["endpoints"] if e["name"] == endpoint_name)
    return collect(
        benchmark=benchmark,
        endpoint=endpoint,
        collection=config["collection"],
        benchmark_path=benchmark_path,
        output=output,
    )
