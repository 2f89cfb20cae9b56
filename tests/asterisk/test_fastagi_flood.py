"""A real call through Asterisk 22 while 1,000 peers hold our FastAGI server's connections
open with half a header (on 127.0.0.1): the call still gets the IVR. It joins the district
queue the caller keyed, which only the IVR can choose; refused, the dialplan's fallback
would have sent it to the city queue."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

from agi.server import raise_open_files_limit
from hotline.testing.pbx import Pbx, Scene, district_menu_flow, keyed, last_call, play

NOON = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.UTC)  # 12:00 in Beijing, a Monday
CALLER = "13800000131"
PEERS = 1000
# Each peer connects again when the server drops it (its header deadline): at most this
# many times, far more than the call needs.
RECONNECTS = 50


async def half_open_peer(port: int, up: asyncio.Event, count: list[int]) -> None:
    """Connect, send half an AGI header, wait until the server closes; again at once.
    ``count`` counts the peers that have connected; ``up`` is set when all have."""
    for _ in range(RECONNECTS):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        try:
            writer.write(b"agi_network: yes\nagi_network_script: ivr\nagi_chan")
            if not up.is_set():
                count[0] += 1
                if count[0] == PEERS:
                    up.set()
            with contextlib.suppress(OSError):
                await reader.read()  # until the server drops us
        finally:
            writer.close()


def test_a_real_call_gets_the_ivr_while_peers_hold_half_headers(pbx: Pbx) -> None:
    assert raise_open_files_limit() >= 2 * PEERS + 200  # both ends live in this process

    async def scenario(scene: Scene) -> None:
        assert scene.agi is not None
        await scene.add_agent("hotline-110101", "agent-flood")  # no overflow for lack of one
        up, count = asyncio.Event(), [0]
        port = pbx.settings.fastagi.port
        peers = [asyncio.create_task(half_open_peer(port, up, count)) for _ in range(PEERS)]
        try:
            async with asyncio.timeout(60):
                await up.wait()
            await scene.call(CALLER, answers=keyed("01"), hold=6)
            joined = await scene.wait_for(
                lambda e: e.event == "QueueCallerJoin" and e.get("CallerIDNum") == CALLER
            )
            assert joined.get("Queue") == "hotline-110101"
            assert not any(peer.done() for peer in peers)  # still holding connections
        finally:
            for peer in peers:
                peer.cancel()
            await asyncio.gather(*peers, return_exceptions=True)

    play(pbx, scenario, flow=district_menu_flow(), clock=lambda: NOON)
    call = last_call(pbx, CALLER)
    assert (call.queue, call.route_reason) == ("hotline-110101", "district-known")
