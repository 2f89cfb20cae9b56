"""The callback (回访) from a case page on the real Asterisk: the staff phone rings first and
answers, the citizen is dialled and answers, the call is recorded, its record is linked to
the case, the recording plays from the page, and the verification form on the same page
closes the loop."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from sqlalchemy import select

from agent_ui.live.events import EventHub
from agent_ui.main import create_app
from hotline.db import transaction
from hotline.models import Call, Case, CaseHistory
from hotline.testing.cases import handled_case
from hotline.testing.pbx import Pbx, Scene, play
from hotline.testing.web import sign_in

CITIZEN = "13800000951"


def test_rendered_callback_context(pbx: Pbx) -> None:
    shown = pbx.cli("dialplan show hotline-callback")
    assert "MixMonitor(call-${HOTLINE_CALL_ID}.wav)" in shown
    assert "Dial(Local/${EXTEN}@test-citizen/n,45)" in shown
    assert "12319" in shown  # the citizen sees the hotline's number


def test_callback_rings_staff_then_citizen_and_is_recorded(pbx: Pbx) -> None:
    number = handled_case(pbx.engine, "callback-test", CITIZEN)
    monitor = pbx.recordings
    settings = pbx.settings.model_copy(
        update={
            "recordings_dir": monitor,
            # staff phones that answer and stay on the line until the citizen hangs up
            "agent_interface": "Local/{username}@test-agents-long/n",
        }
    )
    seen: dict[str, object] = {}

    async def scenario(scene: Scene) -> None:
        app = create_app(settings, pbx.engine, hub=EventHub(), ami=scene.ami)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hotline") as web:
            await sign_in(web, "dc_dispatcher", "dispatch-demo-123")
            page = await web.get(f"/cases/{number}")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None and "拨打回访电话" in page.text
            placed = await web.post(f"/cases/{number}/callback", data={"csrf_token": token[1]})
            assert placed.status_code == 303, placed.text
            with transaction(pbx.engine) as session:
                call = session.scalar(
                    select(Call).where(
                        Call.route_target == "callback", Call.caller_number == CITIZEN
                    )
                )
                assert call is not None
                call_id, uniqueid = call.id, call.uniqueid
            staff = await scene.wait_for(
                lambda e: (
                    e.event == "OriginateResponse"
                    and e.get("Uniqueid") == uniqueid
                    and e.get("Response") == "Success"
                )
            )
            assert staff.get("Channel").startswith("Local/dc_dispatcher@test-agents-long")
            answered = await scene.wait_for(
                lambda e: e.event == "UserEvent" and e.get("UserEvent") == "TestCitizenAnswered"
            )
            assert answered.get("Number") == CITIZEN
            assert answered.get("Caller") == "12319"  # the hotline's number, not the staff's
            await scene.wait_for(lambda e: e.event == "Hangup" and e.get("Uniqueid") == uniqueid)
            recording = monitor / f"call-{call_id}.wav"
            async with asyncio.timeout(10):  # MixMonitor closes the file after the hangup
                while not (recording.is_file() and recording.stat().st_size > 44):
                    await asyncio.sleep(0.1)
            async with asyncio.timeout(10):
                await scene.tracker.drained()
            page = await web.get(f"/cases/{number}")
            assert f"/cases/{number}/calls/{call_id}/recording" in page.text
            played = await web.get(
                f"/cases/{number}/calls/{call_id}/recording", headers={"Range": "bytes=0-43"}
            )
            assert played.status_code == 206 and played.content[:4] == b"RIFF"
            verify = re.search(r'id="act-verify".*?name="version" value="(\d+)"', page.text, re.S)
            assert verify is not None
            verified = await web.post(
                f"/cases/{number}/actions/verify",
                data={
                    "csrf_token": token[1],
                    "version": verify[1],
                    "solved": "yes",
                    "satisfaction": "5",
                    "note": "回访确认已解决",
                },
            )
            assert verified.status_code == 303, verified.text
            seen["call_id"] = call_id

    play(pbx, scenario, app=False)
    with transaction(pbx.engine) as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None and (case.state, case.solved) == ("verified", True)
        call = session.get(Call, seen["call_id"])
        assert call is not None and call.caller_number == CITIZEN
        assert call.ended_at is not None  # the tracker followed the staff leg to its end
        links = session.scalars(
            select(CaseHistory.data).where(
                CaseHistory.case_id == case.id, CaseHistory.action == "callback"
            )
        ).all()
        assert links == [{"call": call.id}]
    assert Path(monitor / f"call-{seen['call_id']}.wav").is_file()
