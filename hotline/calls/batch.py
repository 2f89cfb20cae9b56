"""Database work of many calls in one transaction (group commit), off the event loop.

Every call through the IVR writes its record twice and reads the caller's history. Run one
by one, each step paid for a thread hand-off, a pooled connection, BEGIN and COMMIT; in a
burst of calls that overhead was most of the IVR's CPU. Here a worker thread takes whatever
work is waiting (up to ``max_batch`` items), runs it all on one connection in one
transaction, and hands each result back to its caller's event loop. A quiet system runs
batches of one, as before; a busy one shares the commit.

On PostgreSQL the batch's statements go out in one pipeline (psycopg's pipeline mode): a
step can be staged, ``send`` (execute, no fetch) then ``receive`` (read its results), so the
batch waits for the server once instead of once per step (in the burst benchmark a batch
of about twenty IVR steps took 16 ms one by one, 8-12 ms in a pipeline).

An item that fails rolls the whole batch back; the batch is then run again one item per
transaction, so one bad item never fails the others, and each caller gets its own result
or its own exception. Items must therefore be safe to run again after a rollback (they
are: nothing they did survived it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger("hotline.calls")
T = TypeVar("T")
S = TypeVar("S")


@dataclass
class _Item:
    send: Callable[[Connection], Any]
    receive: Callable[[Any], Any] | None  # None: ``send`` does all the work, results too
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop

    def run(self, connection: Connection) -> Any:
        sent = self.send(connection)
        return sent if self.receive is None else self.receive(sent)


class BatchedWork:
    """``threads`` workers share the queue. One by default, on both databases: SQLite has
    one writer anyway, and on PostgreSQL one worker's bigger batches cost less CPU and lost
    fewer callers than two or four workers' smaller ones (the burst in docs/benchmarks.md).
    A database that stalls holds every IVR step up, which ``ivr.entry.RECORDS_TIMEOUT``
    bounds: the caller goes to the fallback queue."""

    def __init__(
        self,
        engine: Engine,
        max_batch: int = 100,
        threads: int | None = None,
        linger: float = 0.02,
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._linger = linger
        self._threads = threads or 1
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` in the next batch's transaction; its result."""
        return await self.submit(work)

    def submit(self, work: Callable[[Connection], T]) -> asyncio.Future[T]:
        """Queue ``work`` now (call from the event loop) and return its future. With one
        worker thread (the default), work runs in the order it was submitted."""
        return self._enqueue(work, None)

    async def run_staged(self, send: Callable[[Connection], S], receive: Callable[[S], T]) -> T:
        """``send(connection)`` executes without reading results; ``receive(sent)`` reads
        them once every step of the batch is sent (on PostgreSQL, after one pipeline sync).
        ``receive`` may run more statements, each then a round trip of its own."""
        return await self._enqueue(send, receive)

    def _enqueue(
        self, send: Callable[[Connection], Any], receive: Callable[[Any], T] | None
    ) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ensure_workers()
        self._queue.put(_Item(send, receive, future, loop))
        return future

    def close(self) -> None:
        """Finish what is queued, then stop the threads."""
        with self._lock:
            workers, self._workers = self._workers, []
        for _ in workers:
            self._queue.put(None)
        for worker in workers:
            worker.join(timeout=30)

    def _ensure_workers(self) -> None:
        with self._lock:
            if self._workers:
                return
            for n in range(self._threads):
                worker = threading.Thread(target=self._loop, name=f"call-records-{n}", daemon=True)
                worker.start()
                self._workers.append(worker)

    def _loop(self) -> None:
        busy = False
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            # Under load (the last batch had company) wait a moment for more: steps that
            # arrive a few milliseconds apart then share a commit. A quiet system never waits.
            # The wait is a sleep, not a wait on the queue: a step queued meanwhile does not
            # wake this thread, it is simply taken (in the burst benchmark the server's
            # voluntary context switches fell from about 5,400 to 2,300 per 1,000 calls).
            if busy and self._queue.qsize() < self._max_batch:
                time.sleep(self._linger)
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # this worker stops after this batch
                    break
                batch.append(item)
            busy = len(batch) > 1
            self._run_batch(batch)

    def _run_batch(self, batch: list[_Item]) -> None:
        try:
            with self._engine.begin() as connection:
                staged = [item for item in batch if item.receive is not None]
                with _pipeline(connection, len(staged)):
                    sent = {id(item): item.send(connection) for item in staged}
                results = [
                    item.receive(sent[id(item)]) if item.receive else item.run(connection)
                    for item in batch
                ]
        except Exception:
            if len(batch) > 1:
                log.warning("a batch of %d call-record steps failed: one by one", len(batch))
            for item in batch:
                self._run_alone(item)
            return
        _deliver([(item, result, None) for item, result in zip(batch, results, strict=True)])

    def _run_alone(self, item: _Item) -> None:
        try:
            with self._engine.begin() as connection:
                result = item.run(connection)
        except Exception as exc:
            _deliver([(item, None, exc)])
            return
        _deliver([(item, result, None)])


def _pipeline(connection: Connection, steps: int) -> contextlib.AbstractContextManager[Any]:
    """psycopg's pipeline for a batch of several steps on PostgreSQL; otherwise nothing
    (SQLite runs in this process: a statement there costs no round trip)."""
    driver: Any = connection.connection.driver_connection
    if steps > 1 and hasattr(driver, "pipeline"):
        return driver.pipeline()  # type: ignore[no-any-return]
    return contextlib.nullcontext()


_Outcome = tuple[_Item, Any, BaseException | None]  # a step, its result or its error


def _deliver(outcomes: list[_Outcome]) -> None:
    """Hand results back to their event loops, waking each loop once per batch (a wake-up
    is a write to the loop's self-pipe)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, group in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_settle, group)


def _settle(outcomes: list[_Outcome]) -> None:
    for item, result, error in outcomes:
        if item.future.done():  # the caller gave up (timeout, hang-up)
            continue
        if error is not None:
            item.future.set_exception(error)
        else:
            item.future.set_result(result)
