"""With several instances only the holder of the tracker lease stores AMI events; when it
stops, another takes over."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import Engine

from hotline.calls.tracker import CallTracker, track_while_leader


def test_one_instance_tracks_and_another_takes_over(engine: Engine) -> None:
    async def main() -> None:
        first, second = CallTracker(engine), CallTracker(engine)
        lead_first = asyncio.create_task(track_while_leader(first, engine, "a", interval=0.05))
        await asyncio.sleep(0.1)
        lead_second = asyncio.create_task(track_while_leader(second, engine, "b", interval=0.05))
        await asyncio.sleep(0.2)
        assert (first.active, second.active) == (True, False)
        lead_first.cancel()  # a clean stop gives the lease up at once
        with contextlib.suppress(asyncio.CancelledError):
            await lead_first
        assert not first.active
        for _ in range(40):
            if second.active:
                break
            await asyncio.sleep(0.05)
        assert second.active
        lead_second.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lead_second

    asyncio.run(main())
