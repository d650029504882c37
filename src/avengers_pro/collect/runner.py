"""One collect job: every question of one benchmark asked of one endpoint, graded, priced, written.

The job reads the benchmark (its first ``limit`` questions), builds each request's messages (system
prompt, few-shot turns, the question; ``n`` samples each, each its own cache key), looks every request
up in the persistent cache and sends only the missing ones, at most ``max_concurrency`` at a time, storing each answer the moment it
arrives (a rerun sends nothing; a killed run resumes where it stopped). A progress bar with
done/total, the request rate and the time left goes to the console. The answers are graded, priced
(the provider's ``usage.cost`` when the response carries one, else prompt and completion tokens times
the endpoint's ``price`` per 1M tokens) and written as one LLMRouterBench result file. Each record's
``extra_fields`` hold the question's own id, the ``finish_reason`` and the latency of its answer (and
every sample when ``n`` > 1); answers cut at ``max_tokens`` are counted and warned about.

``collection.budget`` caps the USD one job spends on new requests: once reached, no request is sent any
more (those in flight finish and are cached) and the questions not asked are handled as failed ones.

A request that still fails after its retries is recorded as failed and counted, never scored 0. With
``collection.on_failure: fail`` (the default) the job then stops with one line naming the endpoint,
the benchmark, the count and the first reason, and writes nothing; with ``skip`` it writes the answers
it has and lists the failed questions under ``failed`` at the top of the file, leaving their records
out, so ingest's ``missing:`` policy decides about them. A 401, 403 or 404 stops the job at once,
whatever ``on_failure`` says: every other request would fail the same way.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avengers_pro.collect.benchmarks import Question, read_benchmark, render_messages
from avengers_pro.collect.cache import ChatCache
from avengers_pro.collect.client import ChatAnswer, ChatClient
from avengers_pro.collect.graders import GRADERS_VERSION, Grade, grade
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
    """What a collect job did: questions, answers taken from the cache, requests sent, failures.

    ``truncated`` counts the answers cut at ``max_tokens`` (``finish_reason: length``); ``unsent`` the
    requests the ``budget`` held back; ``path`` is the result file (``None`` when nothing was written).
    """

    questions: int
    cached: int
    requested: int
    failed: int
    seconds: float
    cost: float
    truncated: int = 0
    unsent: int = 0
    path: Path | None = None


class _NotSent:
    """The result of a request the budget held back."""


NOT_SENT = _NotSent()
BUDGET_REASON = "not sent: collection.budget reached"


def answer_cost(answer: ChatAnswer, price: Mapping[str, float] | None) -> float:
    """The provider-reported cost when present, else tokens x ``price`` (USD per 1M tokens)."""
    if answer.reported_cost is not None:
        return float(answer.reported_cost)
    if price is None:  # the client refuses such answers; kept as a guard
        raise ValueError("no reported cost and no price")
    return (answer.prompt_tokens * float(price["input"]) + answer.completion_tokens * float(price["output"])) / 1e6


@dataclass(frozen=True)
class Plan:
    """The requests of one job: each question's messages and the cache key of each of its samples."""

    questions: list[Question]
    messages: list[list[dict[str, str]]]
    keys: list[list[str]]  # [question][sample]


def plan_requests(benchmark: Mapping[str, Any], client: ChatClient, benchmark_path: PathLike | None = None) -> Plan:
    """Read the benchmark (its first ``limit`` questions) and build every request's messages and key."""
    questions = read_benchmark(benchmark_path or benchmark["path"], str(benchmark["grader"]))
    if benchmark.get("limit"):
        questions = questions[: int(benchmark["limit"])]
    messages = [render_messages(benchmark, question) for question in questions]
    samples = range(int(benchmark.get("n") or 1))
    keys = [[client.cache_key(m, sample) for sample in samples] for m in messages]
    return Plan(questions, messages, keys)


def make_client(
    endpoint: Mapping[str, Any], collection: Mapping[str, Any], sleep: Callable[[float], None] = time.sleep
) -> ChatClient:
    """The chat client of an endpoint, its null settings taken from ``collection``."""
    return ChatClient(
        endpoint_settings(endpoint, collection),
        max_retries=int(collection["max_retries"]),
        retry_backoff=float(collection["retry_backoff"]),
        sleep=sleep,
    )


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
        The run's folder in LLMRouterBench's tree (``.../<benchmark>/<split>/<endpoint>/``); the file
        gets LLMRouterBench's name.
    progress
        Show the progress bar on the console.
    sleep
        Waits between retries (tests pass a recorder).

    Returns
    -------
    CollectResult
        Counts, the total cost and the file written.

    Raises
    ------
    DataError
        A bad benchmark file or cache file.
    CollectError
        Requests failed after their retries, or the budget held some back, and ``on_failure`` is
        ``fail``; or a 401/403/404.
    """
    settings = endpoint_settings(endpoint, collection)
    grader = str(benchmark["grader"])
    pattern = re.compile(benchmark["pattern"]) if benchmark.get("pattern") else None
    where = f"collect {endpoint['name']} on {benchmark['name']}"
    budget = collection.get("budget")
    price = settings.get("price")

    started = time.perf_counter()
    client = make_client(endpoint, collection, sleep)
    failures: dict[str, str] = {}  # request key -> reason
    spent = [0.0]  # USD of the answers received in this run (a list: read by the request threads)
    try:
        plan = plan_requests(benchmark, client, benchmark_path)
        all_keys = [key for keys in plan.keys for key in keys]
        with ChatCache(collection["cache"]) as cache:
            answers = cache.get(all_keys)
            todo = list(dict.fromkeys(key for key in all_keys if key not in answers))  # a repeated prompt: once
            message_of = {key: m for keys, m in zip(plan.keys, plan.messages, strict=True) for key in keys}
            cached = sum(1 for key in all_keys if key in answers)
            log.info(
                "%s: %d questions x %d samples, %d answers cached, %d requests to send to %s (at most %d at a time)%s",
                where,
                len(plan.questions),
                int(benchmark.get("n") or 1),
                cached,
                len(todo),
                client.endpoint,
                client.max_concurrency,
                f", budget {budget} USD" if budget else "",
            )

            def ask(key: str) -> ChatAnswer | RequestFailed | _NotSent:
                if budget is not None and spent[0] >= float(budget):
                    return NOT_SENT
                try:
                    return client.complete(message_of[key])
                except RequestFailed as failure:
                    return failure

            label = f"collect {endpoint['name']} x {benchmark['name']}"
            with Progress(label, len(todo), "requests", quiet=not progress) as bar:
                for position, result in bounded_map(ask, todo, client.max_concurrency):
                    key = todo[position]
                    if isinstance(result, _NotSent):
                        failures[key] = BUDGET_REASON
                    elif isinstance(result, RequestFailed):
                        failures[key] = result.reason
                        if result.status in FATAL_STATUSES:
                            raise CollectError(f"{where}: {client.endpoint}: {result.reason}")
                        bar.label = f"{label} ({len(failures)} failed)"
                    else:
                        cache.put(key, client.endpoint, client.model, result)
                        answers[key] = result
                        spent[0] += answer_cost(result, price)
                    bar.update(1)
    finally:
        client.close()
    seconds = time.perf_counter() - started
    unsent = sum(1 for reason in failures.values() if reason == BUDGET_REASON)
    if unsent:
        log.warning(
            "%s: collection.budget of %s USD reached after %.6f USD: %d requests not sent (the answers received "
            "are cached; raise the budget and rerun to ask the rest)",
            where,
            budget,
            spent[0],
            unsent,
        )

    # A question fails when any of its samples failed; a repeated prompt's failure covers every question that sent it.
    failed_questions = [
        (i, next(failures[key] for key in keys if key in failures))
        for i, keys in enumerate(plan.keys)
        if any(key in failures for key in keys)
    ]
    if failed_questions and collection["on_failure"] != "skip":
        first, reason = failed_questions[0]
        total = len(plan.questions)
        cause = "were not sent (budget) or failed" if unsent else "failed after retries"
        raise CollectError(
            f"{where}: {len(failed_questions)} of {total} questions {cause} (first: question "
            f"{plan.questions[first].id}: {reason}); the {total - len(failed_questions)} answers received are "
            "cached, so a rerun asks only for the rest; or set collection.on_failure: skip to go on without them"
        )

    failed_set = {i for i, _ in failed_questions}
    records = []
    truncated = 0
    for i, (question, messages, keys) in enumerate(zip(plan.questions, plan.messages, plan.keys, strict=True)):
        if i in failed_set:
            continue
        samples = [answers[key] for key in keys]
        truncated += sum(1 for answer in samples if answer.finish_reason == "length")
        grades = [
            grade(
                grader,
                answer.content,
                question.answer,
                n_choices=len(question.choices or ()),
                choices=question.choices,
                pattern=pattern,
            )
            for answer in samples
        ]
        records.append(_record(i + 1, question, messages, samples, grades, [answer_cost(a, price) for a in samples]))
    answered = len(records) * int(benchmark.get("n") or 1)
    if truncated:
        log.warning(
            "%s: %d of %d answers were cut at max_tokens (finish_reason 'length') and are graded as they are, "
            "usually wrong; raise max_tokens for this endpoint (reasoning models need more)",
            where,
            truncated,
            answered,
        )
    path = write_result_file(
        output,
        dataset=str(benchmark["name"]),
        split=str(benchmark["split"]),
        model=str(endpoint["name"]),
        records=records,
        time_taken=seconds,
        extra_metrics={
            "collector": {
                "tool": "avengers-pro",
                "endpoint": client.endpoint,
                "served_model": client.model,
                "grader": grader,
                "graders_version": GRADERS_VERSION,
                "samples": int(benchmark.get("n") or 1),
                "parameters": client.parameters,
            },
            "truncated": truncated,
            "failed": [{"index": i + 1, "id": plan.questions[i].id, "error": reason} for i, reason in failed_questions],
        },
    )
    total_cost = sum(float(r["cost"]) for r in records) * int(benchmark.get("n") or 1)
    n_requested = len(todo) - unsent
    log.info(
        "%s: %d records written to %s (%d failed and left out), %d requests in %.1f s (%.1f req/s), %.6f USD "
        "spent on new requests, records' total %.6f USD",
        where,
        len(records),
        path,
        len(failed_questions),
        n_requested,
        seconds,
        n_requested / max(seconds, 1e-9),
        spent[0],
        total_cost,
    )
    if failed_questions:
        log.warning(
            "%s: %d questions failed and are left out (on_failure: skip); first: %s",
            where,
            len(failed_questions),
            failed_questions[0][1],
        )
    return CollectResult(
        len(plan.questions), cached, n_requested, len(failed_questions), seconds, total_cost, truncated, unsent, path
    )


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values))


def _record(
    index: int,
    question: Question,
    messages: list[dict[str, str]],
    samples: Sequence[ChatAnswer],
    grades: Sequence[Grade],
    costs: Sequence[float],
) -> dict[str, Any]:
    """One record: the first sample's text; score, cost and tokens the means over the samples (the
    expected outcome of one call); each sample in ``extra_fields``.
    """
    first, graded = samples[0], grades[0]

    def details(answer: ChatAnswer, mark: Grade, cost: float) -> dict[str, Any]:
        return {
            "prediction": mark.prediction,
            "score": mark.score,
            "cost": cost,
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "finish_reason": answer.finish_reason,
            "latency_s": None if answer.latency is None else round(answer.latency, 4),
        }

    extra: dict[str, Any] = {
        "id": question.id,
        "finish_reason": first.finish_reason,
        "latency_s": None if first.latency is None else round(first.latency, 4),
    }
    if len(samples) > 1:
        extra["samples"] = [details(a, g, c) for a, g, c in zip(samples, grades, costs, strict=True)]
    return {
        "index": index,
        "origin_query": question.question,
        "prompt": messages[-1]["content"] if len(messages) == 1 else json.dumps(messages, ensure_ascii=False),
        "prediction": graded.prediction,
        "raw_output": first.content,
        "ground_truth": question.ground_truth,
        "score": _mean([g.score for g in grades]),
        "prompt_tokens": round(_mean([a.prompt_tokens for a in samples])),
        "completion_tokens": round(_mean([a.completion_tokens for a in samples])),
        "cost": _mean(costs),
        "extra_fields": extra,
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
