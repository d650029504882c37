"""Embedding in one worker thread, with micro-batching, for the event loop of the server.

The embedder (a PyTorch model for the local backend) runs in one thread of its own, so the event
loop never blocks on a forward pass. Requests put their text on a queue; the worker takes the first
waiting text and everything else already queued (up to ``max_batch``), embeds them in ONE call of
:meth:`avengers_pro.export.Router.embed` and hands each caller its row. Concurrent requests thus
share forward passes: under load a batch holds what arrived while the previous batch ran, and an
idle server embeds a lone request at once (``max_wait`` defaults to 0: no request waits for company).
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


@dataclass
class _Job:
    text: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[np.ndarray]


def _resolve(future: asyncio.Future[np.ndarray], value: np.ndarray | None, error: BaseException | None) -> None:
    if future.done():  # the caller gave up (client gone): nobody wants the row
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)  # type: ignore[arg-type]


class EmbedBatcher:
    """Embed texts for asyncio callers in one worker thread, batching concurrent calls.

    Parameters
    ----------
    embed
        Texts → (n, dim) vectors, e.g. ``router.embed`` (called from the worker thread only).
    max_batch
        At most this many texts per call of ``embed``.
    max_wait
        Seconds the worker waits for more texts after the first of a batch (0: none).
    on_batch
        Called with each batch's size and seconds (for metrics).
    """

    def __init__(
        self,
        embed: Callable[[Sequence[str]], np.ndarray],
        *,
        max_batch: int = 64,
        max_wait: float = 0.0,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._embed = embed
        self.max_batch = int(max_batch)
        self.max_wait = float(max_wait)
        self._on_batch = on_batch
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None

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
        self._queue.put(_Job(text, loop, future))
        return await future

    def _take_batch(self, first: _Job) -> tuple[list[_Job], bool]:
        """``first`` plus what is queued (up to ``max_batch``); True when the stop signal was met."""
        batch = [first]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                remaining = deadline - time.monotonic()
                job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch, stopping = self._take_batch(first)
            started = time.perf_counter()
            try:
                vectors = self._embed([job.text for job in batch])
                error: BaseException | None = None
            except Exception as caught:  # noqa: BLE001 - handed to every caller of the batch; the worker lives on
                vectors, error = None, caught
                log.error("embedding a batch of %d failed: %s", len(batch), caught)
            if self._on_batch is not None:
                self._on_batch(len(batch), time.perf_counter() - started)
            for row, job in enumerate(batch):
                value = None if vectors is None else vectors[row]
                # RuntimeError: that event loop is closed, its caller is gone.
                with contextlib.suppress(RuntimeError):
                    job.loop.call_soon_threadsafe(_resolve, job.future, value, error)
