"""The agent's phone in the queues on the real Asterisk: memberships with penalties
(skills) from the admin's data, pause with a reason, log out; a supervisor listening in
on a live call through ChanSpy."""

from __future__ import annotations

import datetime as dt

import httpx

from agent_ui.live.events import EventHub
from agent_ui.main import create_app
from hotline.db import transaction
from hotline.models import QueueMembership
from hotline.testing.pbx import Pbx, Scene, district_menu_flow, keyed, play
from hotline.testing.web import sign_in
from hotline.users import set_membership

NOON = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.UTC)


async def members(scene: Scene, queue: str, location: str) -> list[dict[str, str]]:
    items = await scene.ami.list_action("QueueStatus", Queue=queue)
    return [
        m.as_dict() for m in items if m.event == "QueueMember" and m.get("Location") == location
    ]


def test_ready_joins_every_queue_with_its_penalty(pbx: Pbx) -> None:
    with transaction(pbx.engine) as session:
        set_membership(session, "dc_agent", "hotline-110101", 0)
        set_membership(session, "dc_agent", "hotline-city", 4)
    location = "Local/dc_agent@test-agents/n"

    async def scenario(scene: Scene) -> None:
        app = create_app(pbx.settings, pbx.engine, hub=EventHub(), ami=scene.ami)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hotline") as web:
            headers = {"X-CSRF-Token": await sign_in(web, "dc_agent", "agent-demo-123")}
            ready = await web.post("/agent/state", json={"state": "ready"}, headers=headers)
            assert ready.status_code == 200, ready.text
            assert ready.json()["queues"] == [
                {"queue": "hotline-110101", "penalty": 0},
                {"queue": "hotline-city", "penalty": 4},
            ]
            for queue, penalty in (("hotline-110101", "0"), ("hotline-city", "4")):
                found = await members(scene, queue, location)
                assert [(m["Penalty"], m["Paused"]) for m in found] == [(penalty, "0")]
            paused = await web.post(
                "/agent/state", json={"state": "paused", "reason": "meal"}, headers=headers
            )
            assert paused.status_code == 200, paused.text
            for queue in ("hotline-110101", "hotline-city"):
                found = await members(scene, queue, location)
                assert [(m["Paused"], m["PausedReason"]) for m in found] == [("1", "meal")]
            gone = await web.post("/agent/state", json={"state": "logged_out"}, headers=headers)
            assert gone.status_code == 200, gone.text
            for queue in ("hotline-110101", "hotline-city"):
                assert await members(scene, queue, location) == []

    try:
        play(pbx, scenario, clock=lambda: NOON)
    finally:
        with transaction(pbx.engine) as session:
            session.query(QueueMembership).delete()


def test_supervisor_listens_to_a_live_call(pbx: Pbx) -> None:
    caller = "13800000801"
    settings = pbx.settings.model_copy(
        update={"agent_interface": "Local/{username}@test-agents-long/n"}
    )

    async def scenario(scene: Scene) -> None:
        app = create_app(settings, pbx.engine, hub=EventHub(), ami=scene.ami)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hotline") as agent:
            headers = {"X-CSRF-Token": await sign_in(agent, "dc_agent", "agent-demo-123")}
            ready = await agent.post("/agent/state", json={"state": "ready"}, headers=headers)
            assert ready.status_code == 200, ready.text
            scene.members.append(("hotline-110101", "Local/dc_agent@test-agents-long/n"))
        await scene.monitor.refresh()
        await scene.call(caller, answers=keyed("01"), hold=20)
        await scene.wait_for(lambda e: e.event == "AgentConnect" and e.get("CallerIDNum") == caller)
        async with httpx.AsyncClient(transport=transport, base_url="http://hotline") as boss:
            headers = {"X-CSRF-Token": await sign_in(boss, "dc_super", "super-demo-123")}
            listen = await boss.post(
                "/supervisor/agents/dc_agent/spy", json={"mode": "listen"}, headers=headers
            )
            assert listen.status_code == 200, listen.text
            started = await scene.wait_for(lambda e: e.event == "ChanSpyStart", timeout=15)
            assert started.get("SpyeeChannel").startswith("Local/dc_agent@test-agents-long")
            assert started.get("SpyerChannel").startswith("Local/dc_super@test-agents-long")
            away = await boss.post(
                "/supervisor/agents/xc_agent/spy", json={"mode": "listen"}, headers=headers
            )
            assert away.status_code == 404  # another district's agent

    play(pbx, scenario, flow=district_menu_flow(), clock=lambda: NOON)
