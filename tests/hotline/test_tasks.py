"""Supervised tasks come back when they die, and a shutdown runs every step."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hotline.tasks import Shutdown, stop, supervise


def test_a_task_that_dies_is_restarted_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) <= 3:
            raise ValueError(f"bad input {len(runs)}")
        if len(runs) == 4:
            return  # ended by itself: restarted too
        await asyncio.Event().wait()  # the fifth run lives on

    async def main() -> None:
        task = supervise("flaky", flaky, delay=0.001, max_delay=0.004)
        async with asyncio.timeout(10):
            while len(runs) < 5:
                await asyncio.sleep(0.001)
        assert not task.done()
        await stop(task)
        assert task.cancelled()

    with caplog.at_level(logging.ERROR, "hotline.tasks"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "task 'flaky' died: ValueError: bad input 1; restarting in 0.001 s",
        "task 'flaky' died: ValueError: bad input 2; restarting in 0.002 s",
        "task 'flaky' died: ValueError: bad input 3; restarting in 0.004 s",
        "task 'flaky' ended; restarting in 0.004 s",  # the delay stops at max_delay
    ]
    assert all(r.exc_info for r in caplog.records[:3])  # each new death with its traceback


def test_the_same_death_again_has_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    runs = 0

    async def broken() -> None:
        nonlocal runs
        runs += 1
        raise KeyError("x")

    async def main() -> None:
        task = supervise("broken", broken, delay=0.001, max_delay=0.001)
        async with asyncio.timeout(10):
            while runs < 3:
                await asyncio.sleep(0.001)
        await stop(task)

    with caplog.at_level(logging.ERROR, "hotline.tasks"):
        asyncio.run(main())
    assert caplog.records[0].exc_info and not caplog.records[1].exc_info


def test_stop_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    async def dies() -> None:
        raise RuntimeError("gone")

    async def main() -> None:
        task = asyncio.create_task(dies())
        await asyncio.sleep(0)
        await stop(task)  # what it died of is logged, not raised
        await stop(None)

    asyncio.run(main())
    assert "failed while stopping" in caplog.text


def test_every_shutdown_step_runs_last_first(caplog: pytest.LogCaptureFixture) -> None:
    done: list[str] = []

    async def flush() -> None:
        done.append("records written")

    def broken() -> None:
        raise ValueError("Calls: abc")

    async def main() -> None:
        shutdown = Shutdown()
        shutdown.add("call records", flush)
        shutdown.add("queue poll", broken)
        shutdown.add("AMI", lambda: done.append("AMI closed"))
        await shutdown.run()

    asyncio.run(main())
    assert done == ["AMI closed", "records written"]
    assert "shutdown: queue poll failed; going on" in caplog.text
