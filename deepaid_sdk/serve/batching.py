"""A dynamic batcher: concurrent requests' alerts gathered into one interpreter call, split back.

Requests wait in a queue; the batcher takes the first, then whatever arrives within ``max_wait_ms`` up to
``max_batch`` alerts (it waits only while other requests are arriving), and runs ``work(rows, ids)`` on
its one worker thread (off the event loop). A row's record never depends on the batch it came in (the
interpreter's batch invariance), so a request's answer is the one it would get alone. Where a batch
fails, each request is run alone, so an error reaches only the request that caused it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Callable, Sequence

import attrs
import numpy as np


class QueueFull(Exception):
    """More alerts wait than ``max_queue``: the client should retry later (503)."""


@attrs.define
class _Pending:
    rows: np.ndarray
    ids: list[Any]
    future: asyncio.Future[Any]


@attrs.define
class Batcher:
    """Gathers ``submit`` calls into batches of at most ``max_batch`` alerts for ``work``."""

    work: Callable[[np.ndarray, Sequence[Any]], list[Any]]
    max_batch: int = 64
    max_wait_ms: float = 2.0
    max_queue: int = 4096
    """Alerts that may wait at once; more are refused (``QueueFull``)."""
    on_batch: Callable[[int], None] = lambda n: None
    queued: int = 0
    arriving: int = 0
    """Requests read and checked but not yet submitted: the batch waits for them, not for nobody."""
    _queue: asyncio.Queue[_Pending] | None = None
    _task: asyncio.Task[None] | None = None
    _pool: concurrent.futures.ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="deepaid-serve")
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    async def submit(self, rows: np.ndarray, ids: list[Any]) -> list[Any]:
        """The records of ``rows`` (one request), from whichever batch they join."""
        assert self._queue is not None, "Batcher.start() first"
        if self.queued + len(ids) > self.max_queue:
            raise QueueFull(f"{self.queued} alerts are waiting (at most {self.max_queue})")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queued += len(ids)
        self._queue.put_nowait(_Pending(rows, ids, future))
        return await future

    async def _loop(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            size = len(batch[0].ids)
            deadline = loop.time() + self.max_wait_ms / 1000.0
            while size < self.max_batch:
                if self._queue.empty() and not self.arriving:
                    break  # nothing else on its way: do not wait max_wait_ms for nobody
                left = deadline - loop.time()
                try:
                    item = self._queue.get_nowait() if left <= 0 else await asyncio.wait_for(self._queue.get(), left)
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
                batch.append(item)
                size += len(item.ids)
            self.queued -= size
            batch = [p for p in batch if not p.future.cancelled()]
            if batch:
                self.on_batch(sum(len(p.ids) for p in batch))
                await loop.run_in_executor(self._pool, self._run, loop, batch)

    def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        """On the worker thread: one call for the batch, split back; alone per request where it fails."""
        try:
            rows = np.concatenate([p.rows for p in batch])
            records = self.work(rows, [i for p in batch for i in p.ids])
        except Exception:
            if len(batch) == 1:
                loop.call_soon_threadsafe(_settle, batch[0].future, None, _current_error())
                return
            for p in batch:
                self._run(loop, [p])
            return
        start = 0
        for p in batch:
            part = records[start : start + len(p.ids)]
            start += len(p.ids)
            loop.call_soon_threadsafe(_settle, p.future, part, None)


def _current_error() -> BaseException:
    import sys

    exc = sys.exc_info()[1]
    assert exc is not None
    return exc


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
