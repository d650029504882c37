"""The server's Prometheus metrics, in a registry of their own (one per app, so tests do not mix).

Names and meanings (``model`` is the router's name of a model):

* ``avengers_pro_requests_total{model}``: chat completions routed, by the router's first choice;
* ``avengers_pro_responses_total{model, status}``: answers returned, by the model that answered
  (the last one tried when every upstream failed) and HTTP status;
* ``avengers_pro_errors_total{model}``: routed requests that ended in an error status (an upstream
  4xx passed through, or 502 when every upstream failed), by the router's first choice;
* ``avengers_pro_rejected_total{reason}``: requests refused before routing (``bad_request``,
  ``unknown_model``, ``unauthorized``, ``too_large``, ``body_timeout``, ``overloaded`` (too many
  requests in flight), ``queue_full`` (too many texts waiting for the embedder), ``queue_timeout`` (a text waited
  longer than ``--max-embed-wait``), ``routing_failed``,
  ``not_found``, ``method_not_allowed``);
* ``avengers_pro_upstream_attempts_total{model, outcome}``: every upstream call: ``ok``,
  ``client_error`` (4xx), ``rate_limited`` (a 429 that falls back), ``server_error`` (5xx),
  ``timeout``, ``connection_error``; and ``breaker_open`` for a model skipped (no call made);
* ``avengers_pro_breaker_state{model}``: the model's circuit breaker, 0 closed, 1 open (skipped),
  2 half open (the next call is a trial);
* ``avengers_pro_embed_queue_depth``: texts waiting for the embedder (not yet in a forward pass);
* ``avengers_pro_fallbacks_total{from_model, to_model}``: a model given up for the next one;
* ``avengers_pro_routing_seconds``: embedding (queue wait included) plus routing of one request;
* ``avengers_pro_upstream_seconds{model}``: one upstream call, to its whole answer (to its
  response headers when streaming);
* ``avengers_pro_embed_batch_size``: texts per forward pass of the embedder (micro-batching);
* ``avengers_pro_tokens_total{model, kind}``: ``prompt`` and ``completion`` tokens from ``usage``;
* ``avengers_pro_spend_usd_total{model}``: estimated spend, usage tokens x ``price``;
* ``avengers_pro_reference_spend_usd_total``: the same tokens at the reference model's price;
* ``avengers_pro_saving_usd``: reference spend minus spend (negative when routing cost more);
* ``avengers_pro_unpriced_responses_total{model}``: successful answers without ``usage`` (a stream
  whose client did not ask for ``stream_options.include_usage``), so not in the spend;
* ``avengers_pro_in_flight``: requests being served.

The reference spend assumes the reference model would have used the same tokens, which it would
not exactly: the saving is an estimate, as the spend is.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from avengers_pro.serve.config import UpstreamsConfig

#: Prometheus's text format media type.
CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.015,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
_UPSTREAM_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServeMetrics:
    """Every metric of one server (see the module docstring).

    Parameters
    ----------
    config
        The upstreams (their prices and the reference model).
    """

    def __init__(self, config: UpstreamsConfig) -> None:
        self.config = config
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "avengers_pro_requests", "Chat completions routed, by the router's first choice.", ["model"], registry=r
        )
        self.responses = Counter(
            "avengers_pro_responses",
            "Answers returned, by the model that answered and status.",
            ["model", "status"],
            registry=r,
        )
        self.errors = Counter(
            "avengers_pro_errors",
            "Routed requests that ended in an error status, by first choice.",
            ["model"],
            registry=r,
        )
        self.rejected = Counter("avengers_pro_rejected", "Requests refused before routing.", ["reason"], registry=r)
        self.attempts = Counter(
            "avengers_pro_upstream_attempts", "Upstream calls by outcome.", ["model", "outcome"], registry=r
        )
        self.fallbacks = Counter(
            "avengers_pro_fallbacks", "Models given up for the next one.", ["from_model", "to_model"], registry=r
        )
        self.routing_seconds = Histogram(
            "avengers_pro_routing_seconds",
            "Embedding (queue included) and routing.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "avengers_pro_upstream_seconds", "One upstream call.", ["model"], buckets=_UPSTREAM_BUCKETS, registry=r
        )
        self.batch_size = Histogram(
            "avengers_pro_embed_batch_size", "Texts per embedder forward pass.", buckets=_BATCH_BUCKETS, registry=r
        )
        self.tokens = Counter("avengers_pro_tokens", "Usage tokens.", ["model", "kind"], registry=r)
        self.spend = Counter("avengers_pro_spend_usd", "Estimated spend (usage x price).", ["model"], registry=r)
        self.reference_spend = Counter(
            "avengers_pro_reference_spend_usd", "The same tokens at the reference model's price.", registry=r
        )
        self.saving = Gauge("avengers_pro_saving_usd", "Reference spend minus spend.", registry=r)
        self.unpriced = Counter(
            "avengers_pro_unpriced_responses", "Successful answers without usage.", ["model"], registry=r
        )
        self.in_flight = Gauge("avengers_pro_in_flight", "Requests being served.", registry=r)
        self.breaker_state = Gauge(
            "avengers_pro_breaker_state", "Circuit breaker: 0 closed, 1 open, 2 half open.", ["model"], registry=r
        )
        self.queue_depth = Gauge("avengers_pro_embed_queue_depth", "Texts waiting for the embedder.", registry=r)
        self._lock = threading.Lock()
        self._spent = 0.0
        self._reference = 0.0
        for model in config.upstreams:  # every model appears at 0, so rates work from the first scrape
            self.requests.labels(model)
            self.errors.labels(model)
            self.spend.labels(model)

    def count_usage(self, model: str, usage: Any) -> None:
        """Add an answer's ``usage`` to the tokens, the spend and the saving (no usage: unpriced)."""
        prompt, completion = _tokens(usage)
        if prompt is None or completion is None:
            self.unpriced.labels(model).inc()
            return
        self.tokens.labels(model, "prompt").inc(prompt)
        self.tokens.labels(model, "completion").inc(completion)
        cost = self.config.upstreams[model].price.cost(prompt, completion)
        self.spend.labels(model).inc(cost)
        reference = self.config.reference_price
        if reference is not None:
            reference_cost = reference.cost(prompt, completion)
            self.reference_spend.inc(reference_cost)
            with self._lock:
                self._spent += cost
                self._reference += reference_cost
                self.saving.set(self._reference - self._spent)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


def _tokens(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    valid = [isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (prompt, completion)]
    return (prompt if valid[0] else None), (completion if valid[1] else None)
