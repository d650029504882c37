"""Embedding in one worker thread, with length-aware micro-batching, for the event loop of the server.

The embedder (a PyTorch model for the local backend) runs in one thread of its own, so the event
loop never blocks on a forward pass. Requests put their text on a queue; the worker takes every
text waiting, measures each in tokens, and forms batches of texts of similar length:

* the texts fall in buckets by token length (up to 16, 32, 64, 128 tokens, more);
* the next batch is the bucket of the OLDEST waiting text (so a long text is not starved by a
  stream of short ones), in arrival order, topped up with shorter texts while room is left;
* a batch holds at most ``max_batch`` texts and at most ``max_batch_tokens`` padded tokens (its
  length times its longest text), since a forward pass costs what its padded batch holds: one
  256-token prompt in a batch of 32 short ones would make every row 256 tokens long.

A text that has waited longer than ``max_queue_wait`` when its turn comes is not embedded: its
caller gets :class:`QueueTimeout` (the server answers 503). And a batch is also kept to about
``max_batch_seconds`` of work, by the seconds per padded token the last batches took (a running
mean): on a slow or busy CPU a batch of 16 long prompts may take seconds. Together they bound what
the embedder adds to a request to about ``max_queue_wait + max_batch_seconds``, however long the
queue and the texts.

Each batch is ONE call of ``embed`` (e.g. :meth:`avengers_pro.export.Router.embed`). An idle server
embeds a lone request at once (``max_wait`` defaults to 0: no request waits for company).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

#: Upper token length of each bucket (the last bucket holds everything longer).
BUCKETS = (16, 32, 64, 128)


class QueueTimeout(Exception):
    """A text waited longer than ``max_queue_wait`` for the embedder and was dropped."""


@dataclass
class _Job:
    text: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[np.ndarray]
    tokens: int = 0
    queued: float = 0.0


def _resolve(future: asyncio.Future[np.ndarray], value: np.ndarray | None, error: BaseException | None) -> None:
    if future.done():  # the caller gave up (client gone): nobody wants the row
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)  # type: ignore[arg-type]


def rough_token_count(texts: Sequence[str]) -> list[int]:
    """A token count without a tokenizer: about 4 characters a token, plus 2 special tokens."""
    return [len(text) // 4 + 2 for text in texts]


def _bucket(tokens: int) -> int:
    return next((i for i, top in enumerate(BUCKETS) if tokens <= top), len(BUCKETS))


def next_batch(jobs: list[_Job], max_batch: int, max_tokens: int) -> list[_Job]:
    """Take the next batch out of ``jobs`` (in arrival order, each with its ``tokens``): the oldest
    job's bucket, then shorter jobs, within ``max_batch`` texts and ``max_tokens`` padded tokens
    (always at least the oldest job).
    """
    anchor = _bucket(jobs[0].tokens)
    chosen: list[int] = []
    longest = 0
    for bucket in range(anchor, -1, -1):
        for i, job in enumerate(jobs):
            if len(chosen) >= max_batch:
                break
            if _bucket(job.tokens) != bucket:
                continue
            width = max(longest, job.tokens)
            if chosen and width * (len(chosen) + 1) > max_tokens:
                continue
            chosen.append(i)
            longest = width
    taken = set(chosen)
    batch = [jobs[i] for i in sorted(chosen)]
    jobs[:] = [job for i, job in enumerate(jobs) if i not in taken]
    return batch


class EmbedBatcher:
    """Embed texts for asyncio callers in one worker thread, batching concurrent calls by length.

    Parameters
    ----------
    embed
        Texts → (n, dim) vectors, e.g. ``router.embed`` (called from the worker thread only).
    max_batch
        At most this many texts per call of ``embed``.
    max_wait
        Seconds the worker waits for more texts after the first of a batch (0: none).
    max_batch_tokens
        At most this many padded tokens (texts times the longest one) per call of ``embed``; a
        text longer than this alone still makes a batch of one.
    count_tokens
        Texts → their token counts as the embedder sees them (called from the worker thread);
        default :func:`rough_token_count`.
    max_queue_wait
        Seconds a text may wait before its forward pass starts; older ones get :class:`QueueTimeout`
        (``None``: no limit).
    max_batch_seconds
        Keep a batch's padded tokens to what the last batches did in this many seconds (``None``:
        only ``max_batch_tokens`` counts).
    on_batch
        Called with each batch's size and seconds (for metrics).
    """

    def __init__(
        self,
        embed: Callable[[Sequence[str]], np.ndarray],
        *,
        max_batch: int = 64,
        max_wait: float = 0.0,
        max_batch_tokens: int = 4096,
        count_tokens: Callable[[Sequence[str]], Sequence[int]] | None = None,
        max_queue_wait: float | None = None,
        max_batch_seconds: float | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens must be >= 1, got {max_batch_tokens}")
        self._embed = embed
        self.max_batch = int(max_batch)
        self.max_wait = float(max_wait)
        self.max_batch_tokens = int(max_batch_tokens)
        self._count_tokens = count_tokens or rough_token_count
        self.max_queue_wait = max_queue_wait
        self.max_batch_seconds = max_batch_seconds
        self.seconds_per_token: float | None = None
        self.expired = 0
        self._on_batch = on_batch
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._waiting = 0
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """Texts queued and not yet in a forward pass."""
        return self._waiting

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="avengers-pro-embed", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Finish the queued texts, then end the worker thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    async def embed(self, text: str) -> np.ndarray:
        """The (dim,) vector of one text, computed in the worker thread together with its neighbours.

        Raises
        ------
        RuntimeError
            The worker is not running.
        Exception
            Whatever the embedder raised for the batch.
        """
        if self._thread is None:
            raise RuntimeError("EmbedBatcher.start() was not called")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        with self._lock:
            self._waiting += 1
        self._queue.put(_Job(text, loop, future, queued=time.monotonic()))
        return await future

    def _drain(self, pending: list[_Job], block: bool) -> bool:
        """Move queued jobs to ``pending`` (waiting for the first when ``block``, then up to
        ``max_wait`` for more); True when the stop signal was met.
        """
        fresh: list[_Job] = []
        stopping = False
        deadline = None
        while True:
            try:
                if block and not fresh:
                    job = self._queue.get()
                    deadline = time.monotonic() + self.max_wait
                else:
                    remaining = 0.0 if deadline is None else deadline - time.monotonic()
                    job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                stopping = True
                break
            fresh.append(job)
            if len(pending) + len(fresh) >= 4 * self.max_batch and not block:
                break
        if fresh:
            try:
                counts = self._count_tokens([job.text for job in fresh])
            except Exception as error:  # noqa: BLE001 - a tokenizer failure must not kill the worker
                log.warning("counting tokens failed (%s): using a rough count", error)
                counts = rough_token_count([job.text for job in fresh])
            for job, count in zip(fresh, counts, strict=True):
                job.tokens = int(count)
            pending.extend(fresh)
        return stopping

    def token_budget(self) -> int:
        """Padded tokens the next batch may hold: ``max_batch_tokens``, less when the last batches
        say that many would take longer than ``max_batch_seconds``.
        """
        if self.max_batch_seconds is None or not self.seconds_per_token:
            return self.max_batch_tokens
        return max(1, min(self.max_batch_tokens, int(self.max_batch_seconds / self.seconds_per_token)))

    def _learn(self, seconds: float, padded_tokens: int) -> None:
        rate = seconds / max(padded_tokens, 1)
        previous = self.seconds_per_token
        self.seconds_per_token = rate if previous is None else 0.8 * previous + 0.2 * rate

    def _expire(self, pending: list[_Job]) -> None:
        """Drop the jobs that waited longer than ``max_queue_wait``: their callers get QueueTimeout."""
        if self.max_queue_wait is None or not pending:
            return
        oldest = time.monotonic() - self.max_queue_wait
        expired = [job for job in pending if job.queued < oldest]
        if not expired:
            return
        pending[:] = [job for job in pending if job.queued >= oldest]
        with self._lock:
            self._waiting -= len(expired)
            self.expired += len(expired)
        error = QueueTimeout(f"waited more than {self.max_queue_wait:g} s for the embedder")
        for job in expired:
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(_resolve, job.future, None, error)

    def _run(self) -> None:
        pending: list[_Job] = []
        stopping = False
        while pending or not stopping:
            if not stopping:
                stopping = self._drain(pending, block=not pending)
            self._expire(pending)
            if not pending:
                continue
            batch = next_batch(pending, self.max_batch, self.token_budget())
            with self._lock:
                self._waiting -= len(batch)
            started = time.perf_counter()
            try:
                vectors = self._embed([job.text for job in batch])
                error: BaseException | None = None
            except Exception as caught:  # noqa: BLE001 - handed to every caller of the batch; the worker lives on
                vectors, error = None, caught
                log.error("embedding a batch of %d failed: %s", len(batch), caught)
            seconds = time.perf_counter() - started
            if error is None:
                self._learn(seconds, len(batch) * max(job.tokens for job in batch))
            if self._on_batch is not None:
                self._on_batch(len(batch), seconds)
            for row, job in enumerate(batch):
                value = None if vectors is None else vectors[row]
                # RuntimeError: that event loop is closed, its caller is gone.
                with contextlib.suppress(RuntimeError):
                    job.loop.call_soon_threadsafe(_resolve, job.future, value, error)
