"""An AMI client that asks the real Asterisk 22 only for the events it has handlers for
(``filter_events``, as ``hotline serve`` runs it): those arrive, others do not, list
actions still answer, and a handler added while logged in gets its events too."""

from __future__ import annotations

import asyncio

from agi.ami import AmiClient
from agi.ami_protocol import Message
from hotline.testing.pbx import Pbx, Scene, district_menu_flow, keyed, play

CALLER = "13800000311"


def test_only_the_events_asked_for_arrive(pbx: Pbx) -> None:
    node = pbx.settings.ami[0]
    seen: list[Message] = []
    late: list[Message] = []

    counts: dict[str, int] = {}

    async def scenario(scene: Scene) -> None:
        secret = node.secret.get_secret_value()
        filtered = AmiClient(node.host, node.port, node.username, secret, filter_events=True)
        unfiltered = AmiClient(node.host, node.port, node.username, secret)
        for client in (filtered, unfiltered):
            client.on("QueueCallerJoin", seen.append if client is filtered else _ignore)
            client.on("Hangup", seen.append if client is filtered else _ignore)
            await client.connect()
        try:
            filtered.on("QueueCallerLeave", late.append)  # asked for while logged in
            await asyncio.sleep(0.2)
            await scene.call(CALLER, answers=keyed("01"), hold=2)
            await scene.wait_for(
                lambda e: e.event == "Hangup" and e.get("CallerIDNum") == CALLER, timeout=45
            )
            await asyncio.sleep(0.5)
            statuses = await filtered.list_action("QueueStatus", Queue="hotline-110101")
            assert statuses[-1].event == "QueueStatusComplete"
            assert any(m.event == "QueueParams" for m in statuses)
            counts.update(filtered=filtered.events_received, all=unfiltered.events_received)
        finally:
            await filtered.close()
            await unfiltered.close()

    scene = play(pbx, scenario, flow=district_menu_flow())
    everything = {e.event for e in scene.events if e.get("CallerIDNum") == CALLER}
    assert {"Newstate", "MusicOnHoldStart", "QueueCallerJoin", "Hangup"} <= everything
    mine = [e for e in seen if e.get("CallerIDNum") == CALLER]
    assert {e.event for e in seen} == {"QueueCallerJoin", "Hangup"}
    assert [e.event for e in mine].count("QueueCallerJoin") == 1
    assert [e.event for e in late if e.get("CallerIDNum") == CALLER] == ["QueueCallerLeave"]
    # Asterisk sent the filtered session only what it asked for: a handful, not dozens.
    # (plus FullyBooted, sent at login before the filters are in place)
    assert counts["filtered"] <= len(seen) + len(late) + 1, counts
    assert counts["all"] > 3 * counts["filtered"], counts


def _ignore(message: Message) -> None:
    pass
