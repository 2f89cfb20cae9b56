"""A real call, a real PBX, a real browser: the agent signs in, goes ready, a citizen's call
through Asterisk pops on the page, and the case saved from the pop is in the dispatch core.
Screenshots of the pages go to test-artifacts/ (linked from the README)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select

from agent_ui.live.events import EventHub
from agent_ui.main import create_app
from agi.ami import AmiClient
from agi.queues import QueueMonitor
from agi.server import FastAgiServer
from hotline.calls.tracker import CallTracker
from hotline.db import transaction
from hotline.models import Call, Case
from hotline.service import EmbeddedWebServer
from hotline.settings import WebBind
from hotline.testing.browser import ARTIFACTS, FLAGS, signed_in_page
from hotline.testing.originate import hotline_channel, place_call
from hotline.testing.pbx import Pbx, free_port
from ivr.entry import call_handler

CALLER = "13800000201"

pytestmark = pytest.mark.browser


def test_real_call_pops_and_becomes_a_case(pbx: Pbx, chromium: str) -> None:
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    from playwright.async_api import async_playwright

    web_port = free_port()
    settings = pbx.settings.model_copy(update={"web": WebBind(port=web_port)})
    node = settings.ami[0]

    async def main() -> None:
        ami = AmiClient(node.host, node.port, node.username, node.secret.get_secret_value())
        await ami.connect()
        monitor = QueueMonitor(ami)
        await monitor.refresh()
        hub = EventHub()
        tracker = CallTracker(pbx.engine)
        tracker.attach(ami)
        tracker.subscribe(hub.on_connected)
        tracker.start()
        agi = FastAgiServer(call_handler(settings, pbx.engine, queues=monitor.snapshot))
        await agi.start(settings.fastagi.host, settings.fastagi.port)
        web = EmbeddedWebServer(
            uvicorn.Config(
                create_app(settings, pbx.engine, hub=hub, ami=ami),
                host="127.0.0.1",
                port=web_port,
                log_config=None,
            )
        )
        web_task = asyncio.create_task(web.serve())
        while not web.started:
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{web_port}"
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=chromium, args=FLAGS, headless=True
                )
                page = await browser.new_page(viewport={"width": 1366, "height": 768})
                await page.goto(f"{base}/login")
                await page.screenshot(path=str(ARTIFACTS / "login.png"))
                await page.fill("#username", "dc_agent")
                await page.fill("#password", "agent-demo-123")
                await page.click("button[type=submit]")
                await page.wait_for_url(f"{base}/")
                await page.click("#ready")
                await page.wait_for_function(
                    "document.getElementById('state').dataset.state === 'ready'"
                )
                await monitor.refresh()

                # A citizen calls Dongcheng's own number (the default flow has no menu).
                await place_call(
                    ami, CALLER, channel=hotline_channel("65120001"), script="silent", HOLD=40
                )
                try:
                    await page.wait_for_selector("#pop-caller", timeout=45_000)
                except PlaywrightTimeout:  # say where the call stopped
                    raise AssertionError(
                        f"no pop; pages connected: {hub.subscribers('dc_agent')}; "
                        f"calls: {calls_seen(pbx.engine)}"
                    ) from None
                assert await page.inner_text("#pop-caller") == CALLER
                await page.screenshot(path=str(ARTIFACTS / "desktop-pop.png"))

                # Enter in the class search takes the first hit; it never submits the form.
                await page.fill("#class-search", "bllj")
                await page.wait_for_selector("#class-hits li")
                await page.press("#class-search", "Enter")
                assert await page.is_visible("#case-form")
                assert "0102" in await page.inner_text("#class-chosen")
                # Picking a place fills its district and grid cell.
                await page.fill("#place-search", "王府井大街")
                await page.wait_for_selector("#place-hits li")
                await page.click("#place-hits li")
                assert (await page.input_value("input[name=grid_code]")).startswith("110101")
                assert await page.input_value("select[name=district_code]") == "110101"
                await page.fill("textarea[name=description]", "王府井大街路边暴露垃圾")
                await page.fill("input[name=address]", "王府井大街")
                await page.screenshot(path=str(ARTIFACTS / "desktop-form.png"), full_page=True)
                await page.reload()  # the draft survives a reload
                assert await page.input_value("input[name=class_code]") == "0102"
                await page.click("#case-form button[type=submit]")
                await page.wait_for_selector("#case-number:not(:empty)")
                number = await page.inner_text("#case-number")
                await page.screenshot(path=str(ARTIFACTS / "desktop-case-saved.png"))
                await browser.close()
        finally:
            web.should_exit = True
            await web_task
            await agi.stop(grace=5)
            await tracker.stop()
            with contextlib.suppress(Exception):
                await ami.action(
                    "QueueRemove", Queue="hotline-110101", Interface="Local/dc_agent@test-agents/n"
                )
            await ami.close()
        with transaction(pbx.engine) as session:
            case = session.scalar(select(Case).where(Case.number == number))
            assert case is not None
            assert (case.state, case.class_code, case.district_code, case.source) == (
                "registered",
                "0102",
                "110101",
                "phone",
            )
            assert case.grid_code is not None and case.grid_code.startswith("110101")
            assert case.citizen_phone == CALLER and case.call_id is not None

    asyncio.run(main())


def test_wallboard_shows_a_waiting_call(pbx: Pbx, chromium: str) -> None:
    """The city supervisor's wallboard counts a caller waiting in the city queue (a caller
    who keyed Xicheng, where no agent is in, overflows there)."""
    from playwright.async_api import async_playwright

    web_port = free_port()
    settings = pbx.settings.model_copy(update={"web": WebBind(port=web_port)})
    node = settings.ami[0]
    caller = "13800000202"

    async def main() -> None:
        ami = AmiClient(node.host, node.port, node.username, node.secret.get_secret_value())
        await ami.connect()
        monitor = QueueMonitor(ami, interval=0.5)
        await monitor.refresh()
        monitor.start()
        agi = FastAgiServer(call_handler(settings, pbx.engine, queues=monitor.snapshot))
        await agi.start(settings.fastagi.host, settings.fastagi.port)
        web = EmbeddedWebServer(
            uvicorn.Config(
                create_app(settings, pbx.engine, ami=ami, queues=monitor.snapshot),
                host="127.0.0.1",
                port=web_port,
                log_config=None,
            )
        )
        web_task = asyncio.create_task(web.serve())
        while not web.started:
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{web_port}"
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=chromium, args=FLAGS, headless=True
                )
                page = await signed_in_page(browser, base, "city_super", "super-demo-123")
                await page.goto(f"{base}/supervisor")
                await place_call(ami, caller, KEYS="0ww02", HOLD=25)
                cell = "tr[data-queue='hotline-city'] td:nth-child(2)"
                await page.wait_for_function(
                    f"document.querySelector(\"{cell}\")?.textContent === '1'", timeout=30_000
                )
                await page.wait_for_selector("#hours-chart svg")  # today by the hour, drawn
                await page.screenshot(path=str(ARTIFACTS / "wallboard.png"), full_page=True)
                await browser.close()
        finally:
            web.should_exit = True
            await web_task
            await agi.stop(grace=5)
            await monitor.stop()
            with contextlib.suppress(Exception):
                await ami.action("Hangup", Channel="/^Local/.*/")
            await ami.close()

    asyncio.run(main())


def calls_seen(engine: Any) -> list[tuple[object, ...]]:
    """The calls table as the tracker wrote it (a failed pop's message)."""
    with transaction(engine) as session:
        return [
            tuple(row)
            for row in session.execute(
                select(Call.id, Call.queue, Call.agent, Call.connected_at, Call.outcome)
            )
        ]
