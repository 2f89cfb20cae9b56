"""After-call work on the real Asterisk: when the agent's call completes the member is
paused with the reason, and the timer resumes it."""

from __future__ import annotations

import asyncio
import datetime as dt

from agent_ui.live.events import EventHub
from agent_ui.live.wrapup import WrapUp
from hotline.agent_states import state_of
from hotline.testing.pbx import Pbx, Scene, district_menu_flow, keyed, play

NOON = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.UTC)
CALLER = "13800000401"
MEMBER = "Local/wrapagent@test-agents/n"


async def member(scene: Scene) -> dict[str, str]:
    items = await scene.ami.list_action("QueueStatus", Queue="hotline-110101")
    found = [m for m in items if m.event == "QueueMember" and m.get("Location") == MEMBER]
    assert found, "the agent is not in the queue"
    return found[0].as_dict()


def test_wrapup_pauses_then_resumes(pbx: Pbx) -> None:
    async def scenario(scene: Scene) -> None:
        wrapup = WrapUp(scene.ami, EventHub(), pbx.engine, seconds=2)
        scene.tracker.subscribe(wrapup)
        await scene.ami.action(
            "QueueAdd", Queue="hotline-110101", Interface=MEMBER, MemberName="dc_agent"
        )
        scene.members.append(("hotline-110101", MEMBER))
        await scene.monitor.refresh()
        await scene.call(CALLER, answers=keyed("01"), hold=15)
        await scene.wait_for(
            lambda e: e.event == "AgentComplete" and e.get("CallerIDNum") == CALLER
        )
        await scene.tracker.drained()
        for _ in range(40):
            if (await member(scene)).get("Paused") == "1":
                break
            await asyncio.sleep(0.05)
        paused = await member(scene)
        assert (paused["Paused"], paused["PausedReason"]) == ("1", "after_call_work")
        assert state_of(pbx.engine, "dc_agent")[::2] == ("wrapup", "after_call_work")
        await asyncio.sleep(2.5)
        assert (await member(scene))["Paused"] == "0"
        assert state_of(pbx.engine, "dc_agent").state == "ready"
        await wrapup.stop()

    play(pbx, scenario, flow=district_menu_flow(), clock=lambda: NOON)
