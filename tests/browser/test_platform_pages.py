"""The supervisor's inbox and ledger, the admin's queue memberships and the inspectors'
mobile form in a real browser (Debian's chromium): each page renders, its main control
works, and a screenshot is kept in test-artifacts/ (linked from the README)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine

from agent_ui.main import create_app
from hotline.service import EmbeddedWebServer
from hotline.settings import Settings
from hotline.testing.browser import ARTIFACTS, FLAGS, signed_in_page
from hotline.testing.cases import ledger_month
from hotline.testing.pbx import free_port

pytestmark = pytest.mark.browser


def test_platform_pages(
    loaded_engine: Engine, loaded_db_url: str, tmp_path: Path, chromium: str
) -> None:
    from playwright.async_api import async_playwright

    from hotline.demo import load_demo_users

    load_demo_users(loaded_engine)
    month, numbers = ledger_month(loaded_engine, 53, 2)
    port = free_port()
    settings = Settings(database_url=loaded_db_url, media_dir=tmp_path / "media")

    async def main() -> None:
        web = EmbeddedWebServer(
            uvicorn.Config(
                create_app(settings, loaded_engine), host="127.0.0.1", port=port, log_config=None
            )
        )
        serving = asyncio.create_task(web.serve())
        while not web.started:
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=chromium, args=FLAGS, headless=True
                )

                boss = await signed_in_page(browser, base, "dc_super", "super-demo-123")
                await boss.goto(f"{base}/supervisor/inbox")
                await boss.screenshot(path=str(ARTIFACTS / "inbox.png"))
                await boss.goto(f"{base}/supervisor/ledger?month={month}")
                assert await boss.is_visible("text=CSV")
                assert await boss.is_visible("text=结转挂账案件 (51)")
                await boss.screenshot(path=str(ARTIFACTS / "ledger.png"))
                # the month's list, second page: its last three cases; the month is kept
                await boss.click("#added ~ p.pager >> text=下一页")
                await boss.wait_for_selector(f"text={numbers[-1]}")
                assert not await boss.is_visible(f"a:text-is('{numbers[0]}')")
                assert await boss.input_value("input[name=month]") == month
                await boss.screenshot(path=str(ARTIFACTS / "ledger-paged.png"), full_page=True)

                admin = await signed_in_page(browser, base, "admin", "admin-demo-123")
                await admin.goto(f"{base}/admin")
                await admin.select_option("#memberships select[name=username]", "dc_agent")
                await admin.select_option("#memberships select[name=queue]", "hotline-city")
                await admin.fill("#memberships input[name=penalty]", "5")
                await admin.click("#memberships button.primary")
                await admin.wait_for_selector("#memberships .chip:has-text('市级平台 (5)')")
                await admin.screenshot(
                    path=str(ARTIFACTS / "admin-memberships.png"), full_page=True
                )

                phone = await signed_in_page(
                    browser, base, "dc_agent", "agent-demo-123", width=390, height=844
                )
                await phone.goto(f"{base}/field")
                photo = tmp_path / "photo.jpg"
                photo.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 200)
                await phone.set_input_files("input[name=photo]", str(photo))
                await phone.fill("#lat", "39.9175")
                await phone.fill("#lon", "116.406")
                await phone.fill("textarea[name=description]", "无照游商占道")
                await phone.click("button.primary")
                await phone.wait_for_selector(".num")
                number = await phone.text_content(".num")
                assert number and number.strip().isdigit()
                await phone.screenshot(path=str(ARTIFACTS / "field-form.png"), full_page=True)
                await browser.close()
        finally:
            web.should_exit = True
            await serving

    asyncio.run(main())
