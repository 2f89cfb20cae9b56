"""Long-running tasks that come back when they die.

``hotline serve`` runs a dozen loops beside the web and FastAGI servers (AMI connections,
queue polls, the call tracker, its lease, the overdue scheduler, webhook delivery). Each
catches what it expects; :func:`supervise` is the net under the rest. A bare task that
raises is gone for good and says so only when it is garbage-collected, if ever: live queue
state once went blind that way, behind an AMI connection that looked fine. Here the end of
a run is logged and the run started again, after a delay that doubles up to ``max_delay``
(so a loop that fails at once costs a line a minute, not a busy loop), and is back to
``delay`` after a run that lasted ``max_delay`` or more.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger("hotline.tasks")
Run = Callable[[], Coroutine[Any, Any, None]]


def supervise(
    name: str, run: Run, *, delay: float = 1.0, max_delay: float = 60.0
) -> asyncio.Task[None]:
    """A task running ``run()`` until it is cancelled (:func:`stop` it)."""
    return asyncio.create_task(_supervised(name, run, delay, max_delay), name=name)


async def _supervised(name: str, run: Run, delay: float, max_delay: float) -> None:
    loop = asyncio.get_running_loop()
    wait, last = delay, ""
    while True:
        started = loop.time()
        try:
            await run()
            outcome, exc_info = "ended", None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = f"died: {type(exc).__name__}: {exc}"
            exc_info = exc if outcome != last else None  # the same death: no traceback again
        if loop.time() - started >= max_delay:
            wait = delay
        log.error("task %r %s; restarting in %.3g s", name, outcome, wait, exc_info=exc_info)
        last = outcome
        await asyncio.sleep(wait)
        wait = min(wait * 2, max_delay)


async def stop(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait for it; whatever it ends with is logged, never raised (a
    shutdown goes on to its next step)."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the caller itself is being cancelled, not only ``task``
    except Exception:
        log.exception("task %r failed while stopping", task.get_name())


class Shutdown:
    """The steps that take a server down, registered as its parts come up and run last
    first. Each step runs whatever the ones before it did: one that raises is logged and
    the next one runs (a dead poller must not keep the call records from being written)."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], Awaitable[None] | None]]] = []

    def add(self, name: str, step: Callable[[], Awaitable[None] | None]) -> None:
        self._steps.append((name, step))

    async def run(self) -> None:
        while self._steps:
            name, step = self._steps.pop()
            try:
                done = step()
                if inspect.isawaitable(done):
                    await done
            except Exception:
                log.exception("shutdown: %s failed; going on", name)
