"""A case's whole life worked in the browser only, as the platforms' staff and a unit would:
registered at the desk with the citizen's consent, found in the dispatcher's work queue,
dispatched to a chosen unit, accepted and reported with a photo on the unit portal,
verified and closed; and the other paths of a real day: a job returned and re-dispatched,
an extension asked and approved, an urge, rework, an escalation to the city, a joint job, the
ledger in and out, a duplicate. Every step is a click on a page (no API call, no database
write); the test reads the database only to check what the pages did. Screenshots of each
screen go to test-artifacts/ (linked from the README)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from agent_ui.live.events import EventHub
from agent_ui.main import create_app
from hotline.db import transaction
from hotline.models import Call, Case, CaseHistory
from hotline.settings import Settings
from hotline.testing.browser import ARTIFACTS, FLAGS, signed_in_page
from hotline.testing.cases import handled_case
from hotline.testing.pbx import Pbx, Scene, play
from hotline.testing.web import serving

pytestmark = pytest.mark.browser


def case_of(engine: Engine, number: str) -> Case:
    with transaction(engine) as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        session.expunge(case)
        return case


def actions_of(engine: Engine, number: str) -> list[str]:
    with transaction(engine) as session:
        return list(
            session.scalars(
                select(CaseHistory.action)
                .join(Case, Case.id == CaseHistory.case_id)
                .where(Case.number == number)
                .order_by(CaseHistory.id)
            )
        )


async def register_at_desk(page: Any, base: str, description: str, phone: str) -> str:
    """The agent types a walk-in citizen's report at the desk; the case number it shows."""
    await page.goto(f"{base}/")
    await page.fill("#class-search", "bllj")
    await page.wait_for_selector("#class-hits li")
    await page.press("#class-search", "Enter")
    await page.fill("#place-search", "王府井大街")
    await page.wait_for_selector("#place-hits li")
    await page.click("#place-hits li")
    await page.fill("#f-address", "王府井大街1号")
    await page.fill("#f-description", description)
    await page.select_option("#f-source", "walk_in")
    await page.fill("#f-citizen", "张三丰")
    await page.fill("#f-phone", phone)
    await page.check("input[name=callback_consent]")
    await page.click("#case-form button[type=submit]")
    await page.wait_for_selector("#case-number:not(:empty)")
    return (await page.inner_text("#case-number")).strip()


async def act(page: Any, base: str, number: str, action: str, **fields: Any) -> None:
    """Open the case page, fill the action's form and send it; the page must say it is done."""
    await page.goto(f"{base}/cases/{number}")
    form = f"#act-{action}"
    await page.wait_for_selector(form)
    for name, value in fields.items():
        target = f"{form} [name={name}]"
        kind = await page.eval_on_selector(target, "e => e.tagName + ':' + (e.type || '')")
        if kind.startswith("SELECT"):
            await page.select_option(target, value)
        elif kind.endswith(":radio"):
            await page.check(f"{form} [name={name}][value={value}]")
        else:
            await page.fill(target, value)
    await page.click(f"{form} button[type=submit]")
    await page.wait_for_url(re.compile(rf"/cases/{number}\?done=\w+"))


async def unit_acts(page: Any, base: str, number: str, action: str, **fields: str) -> None:
    """The unit opens the job on its portal and sends one action's form."""
    await page.goto(f"{base}/unit/cases/{number}")
    form = f"form[action='/unit/cases/{number}/{action}']"
    await page.wait_for_selector(form)
    for name, value in fields.items():
        if name == "photo":
            await page.set_input_files(f"{form} input[name=photo]", value)
        else:
            await page.fill(f"{form} [name={name}]", value)
    await page.click(f"{form} button[type=submit]")
    await page.wait_for_load_state()
    assert await page.query_selector(f"{form} .error") is None, await page.content()


def test_a_case_from_the_desk_to_closed_and_the_other_paths(
    loaded_engine: Engine, loaded_db_url: str, tmp_path: Path, chromium: str
) -> None:
    from playwright.async_api import async_playwright

    from hotline.demo import load_demo_users

    load_demo_users(loaded_engine)
    settings = Settings(database_url=loaded_db_url, media_dir=tmp_path / "media")
    photo = tmp_path / "after.jpg"
    shot = ARTIFACTS / "case-life"
    shot.mkdir(parents=True, exist_ok=True)

    async def main() -> None:
        async with serving(create_app(settings, loaded_engine)) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
            await life(browser, base)
            await browser.close()

    async def life(browser: Any, base: str) -> None:
        agent = await signed_in_page(browser, base, "dc_agent", "agent-demo-123")
        boss = await signed_in_page(browser, base, "dc_dispatcher", "dispatch-demo-123")
        unit = await signed_in_page(
            browser, base, "unit_dc_sanitation", "unit-demo-123", width=390, height=844
        )
        city = await signed_in_page(browser, base, "city_dispatcher", "dispatch-demo-123")
        for page in (agent, boss, unit, city):  # the "are you sure?" of close, escalate …
            page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        camera = await browser.new_page(viewport={"width": 320, "height": 240})
        await camera.set_content('<body style="margin:0;background:#3a7d44"><h1>已清运</h1>')
        await camera.screenshot(path=str(photo), type="jpeg")  # a real JPEG for the report
        await camera.close()

        # 1. The agent registers a walk-in report with the citizen's consent to a callback.
        first = await register_at_desk(agent, base, "王府井大街路边堆放垃圾", "13800138000")
        await agent.screenshot(path=str(shot / "1-desk-registered.png"))
        case = case_of(loaded_engine, first)
        assert (case.source, case.callback_consent, case.district_code) == (
            "walk_in",
            True,
            "110101",
        )
        await agent.goto(f"{base}/cases?view=mine")
        assert first in await agent.inner_text("main")

        # 2. The district dispatcher finds it in 待派遣 and sends it to the unit of the rules.
        await boss.goto(f"{base}/cases?view=to_dispatch")
        await boss.wait_for_selector(f"a[href='/cases/{first}']")
        await boss.screenshot(path=str(shot / "2-work-queue.png"), full_page=True)
        await boss.click(f"a[href='/cases/{first}']")
        await boss.wait_for_selector("#act-dispatch")
        assert "张三丰" in await boss.inner_text("main")
        await boss.screenshot(path=str(shot / "3-case-to-dispatch.png"), full_page=True)
        await act(boss, base, first, "dispatch", unit_code="dongcheng.sanitation")
        assert case_of(loaded_engine, first).unit_code == "dongcheng.sanitation"

        # 3. The unit accepts on its phone and reports the job done with a photo.
        await unit.goto(f"{base}/unit")
        await unit.wait_for_selector(f"text={first}")
        await unit.screenshot(path=str(shot / "4-unit-jobs.png"), full_page=True)
        await unit_acts(unit, base, first, "accept")
        await unit_acts(unit, base, first, "report_handled", note="已清运完毕", photo=str(photo))
        await unit.screenshot(path=str(shot / "5-unit-reported.png"), full_page=True)
        assert case_of(loaded_engine, first).state == "handled"

        # 4. The dispatcher sees it in 待核查 with the photo, verifies after the callback, closes.
        await boss.goto(f"{base}/cases?view=to_verify")
        await boss.wait_for_selector(f"a[href='/cases/{first}']")
        await boss.goto(f"{base}/cases/{first}")
        assert await boss.is_visible(f"img[src^='/cases/{first}/photos/']")
        assert await boss.is_visible("#verify")  # the callback button or the verify form
        await act(boss, base, first, "verify", solved="yes", satisfaction="5", note="回访满意")
        await act(boss, base, first, "close", note="结案")
        await boss.screenshot(path=str(shot / "6-case-closed.png"), full_page=True)
        closed = case_of(loaded_engine, first)
        assert (closed.state, closed.solved, closed.satisfaction) == ("closed", True, 5)
        assert actions_of(loaded_engine, first)[-6:] == [
            "dispatch",
            "accept",
            "report_handled",
            "attach",  # the photo
            "verify",
            "close",
        ]

        # 5. Returned → re-dispatched; an extension asked and approved; an urge; rework.
        # (The desk is reloaded, not reset with "next case": the saved draft's key must not
        # come back and turn this report into the first case again.)
        second = await register_at_desk(agent, base, "东华门路口垃圾桶满溢", "13800138001")
        await act(boss, base, second, "dispatch", unit_code="dongcheng.sanitation")
        await unit_acts(unit, base, second, "return", note="不属于本单位职责")
        assert case_of(loaded_engine, second).state == "returned"
        await boss.goto(f"{base}/cases?view=returned")
        await boss.wait_for_selector(f"a[href='/cases/{second}']")
        await act(boss, base, second, "dispatch", unit_code="dongcheng.sanitation")
        await unit_acts(unit, base, second, "accept")
        await unit_acts(unit, base, second, "request_extension", note="需调配车辆", hours="24")
        await boss.goto(f"{base}/cases?view=extension")
        await boss.wait_for_selector(f"a[href='/cases/{second}']")
        await boss.goto(f"{base}/cases/{second}")
        await boss.screenshot(path=str(shot / "7-extension-waiting.png"), full_page=True)
        await boss.click("#act-extension button[value=approve]")
        await boss.wait_for_url(re.compile(rf"/cases/{second}\?done=\w+"))
        assert case_of(loaded_engine, second).pending_extension_hours is None
        await act(boss, base, second, "urge", note="请尽快处置")
        assert case_of(loaded_engine, second).urge_count == 1
        await unit_acts(unit, base, second, "report_handled", note="已清理")
        await act(boss, base, second, "rework", note="现场仍有垃圾，请返工")
        assert case_of(loaded_engine, second).state == "rework"
        assert actions_of(loaded_engine, second)[1:] == [
            "dispatch",
            "return",
            "dispatch",
            "accept",
            "request_extension",
            "approve_extension",
            "urge",
            "report_handled",
            "rework",
        ]

        # 6. Escalated to the city, which sends it to a city unit with district units assisting.
        third = await register_at_desk(agent, base, "主干道大面积积水", "13800138002")
        await act(boss, base, third, "escalate", note="涉及市级供水管线")
        assert case_of(loaded_engine, third).platform_level == "city"
        await city.goto(f"{base}/cases?view=to_dispatch")
        await city.wait_for_selector(f"a[href='/cases/{third}']")
        await act(city, base, third, "dispatch", unit_code="bj.water_supply")
        await act(
            city, base, third, "joint_job", units=["dongcheng.sanitation"], note="协助清理积水"
        )
        await city.screenshot(path=str(shot / "8-joint-job.png"), full_page=True)
        assert case_of(loaded_engine, third).unit_code == "bj.water_supply"
        assert "joint_job" in actions_of(loaded_engine, third)

        # 7. The ledger in and out; a duplicate linked to the first case.
        fourth = await register_at_desk(agent, base, "违章建筑需规划部门认定", "13800138003")
        await act(boss, base, fourth, "dispatch", unit_code="dongcheng.sanitation")
        await act(boss, base, fourth, "to_ledger", note="需市规划部门认定后处置")
        assert case_of(loaded_engine, fourth).state == "ledger"
        await boss.goto(f"{base}/cases?view=ledger")
        await boss.wait_for_selector(f"a[href='/cases/{fourth}']")
        await boss.screenshot(path=str(shot / "9-ledger-view.png"), full_page=True)
        await act(boss, base, fourth, "resume", note="已认定，可以处置")
        assert case_of(loaded_engine, fourth).state == "in_progress"
        fifth = await register_at_desk(agent, base, "王府井大街路边堆放垃圾", "13800138004")
        await act(boss, base, fifth, "mark_duplicate", duplicate_of=first, note="同一地点")
        await boss.screenshot(path=str(shot / "10-duplicate.png"), full_page=True)
        assert case_of(loaded_engine, fifth).state == "duplicate"

    asyncio.run(main())


def test_the_callback_is_placed_from_the_page_on_the_real_asterisk(pbx: Pbx, chromium: str) -> None:
    """The dispatcher presses 拨打回访电话 on a handled case: the real Asterisk rings the
    dispatcher's phone, then the citizen (who sees the hotline's number); the recorded call
    appears on the page, and the verification beside it closes the case."""
    from playwright.async_api import async_playwright

    citizen = "13800000952"
    number = handled_case(pbx.engine, "browser-callback", citizen)
    settings = pbx.settings.model_copy(
        update={
            "recordings_dir": pbx.recordings,
            "agent_interface": "Local/{username}@test-agents-long/n",  # answers, stays on
        }
    )
    shot = ARTIFACTS / "case-life"
    shot.mkdir(parents=True, exist_ok=True)

    async def scenario(scene: Scene) -> None:
        app = create_app(settings, pbx.engine, hub=EventHub(), ami=scene.ami)
        async with serving(app) as base, async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium, args=FLAGS, headless=True
            )
            page = await signed_in_page(browser, base, "dc_dispatcher", "dispatch-demo-123")
            await page.goto(f"{base}/cases/{number}")
            await page.click("form#verify button[type=submit]")
            await page.wait_for_url(re.compile(rf"/cases/{number}\?done=callback"))
            answered = await scene.wait_for(
                lambda e: e.event == "UserEvent" and e.get("UserEvent") == "TestCitizenAnswered"
            )
            assert (answered.get("Number"), answered.get("Caller")) == (citizen, "12319")
            with transaction(pbx.engine) as session:
                call = session.scalar(
                    select(Call).where(
                        Call.route_target == "callback", Call.caller_number == citizen
                    )
                )
                assert call is not None
                call_id, uniqueid = call.id, call.uniqueid
            await scene.wait_for(lambda e: e.event == "Hangup" and e.get("Uniqueid") == uniqueid)
            recording = pbx.recordings / f"call-{call_id}.wav"
            async with asyncio.timeout(15):  # MixMonitor closes the file after the hangup
                while not (recording.is_file() and recording.stat().st_size > 44):
                    await asyncio.sleep(0.1)
            async with asyncio.timeout(15):
                await scene.tracker.drained()
            await page.goto(f"{base}/cases/{number}")
            await page.wait_for_selector(f"audio[src='/cases/{number}/calls/{call_id}/recording']")
            await page.screenshot(path=str(shot / "11-callback-recorded.png"), full_page=True)
            await act(page, base, number, "verify", solved="yes", satisfaction="5", note="回访确认")
            page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await act(page, base, number, "close", note="")
            await browser.close()

    play(pbx, scenario, app=False)
    closed = case_of(pbx.engine, number)
    assert (closed.state, closed.solved, closed.satisfaction) == ("closed", True, 5)
    assert "callback" in actions_of(pbx.engine, number)
