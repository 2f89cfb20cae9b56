"""The evaluation and ledger charts, and the API's /docs, in a real browser with the network
closed to anything but the app itself: Apache ECharts and Swagger UI come from the app
(static/vendor), each chart draws with data, the public page fits a phone's width, and
screenshots are kept in test-artifacts/."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from agent_ui.main import create_app
from hotline.cases.calendar import load_calendar
from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction
from hotline.settings import Settings
from hotline.testing.browser import ARTIFACTS, FLAGS, served, signed_in_page

pytestmark = pytest.mark.browser
AGENT = Actor("dc_dispatcher", "dispatcher", "110101")
UNIT = Actor("u", "unit", "110101", "dongcheng.sanitation")


def some_cases(engine: Engine) -> None:
    with transaction(engine) as session:
        for key in ("a", "b"):
            case, _ = create_case(
                session,
                AGENT,
                NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
                key,
            )
            transition(
                session,
                AGENT,
                case.number,
                "dispatch",
                1,
                {"unit_code": "auto"},
                calendar=load_calendar(session),
            )
            transition(session, UNIT, case.number, "accept", 2)
        transition(session, AGENT, case.number, "to_ledger", 3, {"note": "需市政改造"})


async def closed_network(page: Any, base: str, refused: list[str]) -> None:
    async def only_ours(route: Any) -> None:
        if route.request.url.startswith(base):
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_ours)


def test_charts(loaded_engine: Engine, loaded_db_url: str, tmp_path: Path, chromium: str) -> None:
    from playwright.async_api import async_playwright

    from hotline.demo import load_demo_users

    load_demo_users(loaded_engine)
    some_cases(loaded_engine)
    settings = Settings(database_url=loaded_db_url, media_dir=tmp_path / "media")
    refused: list[str] = []

    async def main() -> None:
        app = create_app(settings, loaded_engine)
        async with served(app) as base, async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium, args=FLAGS, headless=True
            )
            phone = await browser.new_page(viewport={"width": 390, "height": 844})
            await closed_network(phone, base, refused)
            await phone.goto(f"{base}/public/evaluation")
            await phone.wait_for_selector(".ev-chart svg")
            assert await phone.evaluate("window.hotlineChartsDrawn") == 1
            wide = await phone.evaluate("document.documentElement.scrollWidth")
            assert wide <= 390  # cards, not a 574 px table
            await phone.screenshot(path=str(ARTIFACTS / "evaluation-phone.png"), full_page=True)

            boss = await signed_in_page(browser, base, "dc_super", "super-demo-123")
            await closed_network(boss, base, refused)
            await boss.goto(f"{base}/supervisor/evaluation?scope=unit")
            await boss.wait_for_selector(".ev-chart svg")
            await boss.screenshot(path=str(ARTIFACTS / "evaluation-chart.png"))
            await boss.goto(f"{base}/supervisor/ledger")
            await boss.wait_for_selector(".lg-chart svg")
            assert await boss.evaluate("window.hotlineChartsDrawn") == 1
            await boss.screenshot(path=str(ARTIFACTS / "ledger-chart.png"), full_page=True)
            await boss.goto(f"{base}/docs")  # Swagger UI from the app's own files too
            await boss.wait_for_selector(".opblock", timeout=20_000)
            await boss.screenshot(path=str(ARTIFACTS / "api-docs.png"))
            await browser.close()

    asyncio.run(main())
    assert refused == []


def test_report_charts(
    loaded_engine: Engine,
    loaded_db_url: str,
    tmp_path: Path,
    chromium: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reports page (calls per hour, per day, per agent; cases over the month, per
    district, class and source) and the evaluation's ranking and trend, each drawn with data."""
    from playwright.async_api import async_playwright

    from agent_ui.pages import evaluation
    from hotline.demo import load_demo_users
    from hotline.testing.report_data import report_calls, report_months

    load_demo_users(loaded_engine)
    report_months(loaded_engine)
    report_calls(loaded_engine, dt.date(2026, 11, 9))
    monkeypatch.setattr(evaluation, "now", lambda: dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC))
    settings = Settings(database_url=loaded_db_url, media_dir=tmp_path / "media")
    refused: list[str] = []

    async def drawn(page: Any, url: str, charts: int, shot: str) -> None:
        await page.goto(url)
        await page.wait_for_function(f"window.hotlineChartsDrawn === {charts}")
        assert await page.locator("[data-chart] svg").count() == charts
        for chart in await page.locator("[data-chart] svg").all():
            assert await chart.locator("path").count() > 2, url  # bars or lines, not an empty box
        await page.screenshot(path=str(ARTIFACTS / shot), full_page=True)

    async def main() -> None:
        app = create_app(settings, loaded_engine)
        async with served(app) as base, async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium, args=FLAGS, headless=True
            )
            boss = await signed_in_page(browser, base, "city_super", "super-demo-123")
            await closed_network(boss, base, refused)
            calls = f"{base}/reports?start=2026-11-09&end=2026-11-10"
            await drawn(boss, calls, 3, "report-calls.png")
            cases = f"{base}/reports/cases?period=2026-11"
            await drawn(boss, f"{cases}&by=district", 3, "report-cases-district.png")
            await drawn(boss, f"{cases}&by=class", 3, "report-cases-class.png")
            await drawn(
                boss,
                f"{base}/reports/cases?period=2026-Q4&by=source",
                3,
                "report-cases-quarter.png",
            )
            evaluation_url = f"{base}/supervisor/evaluation?period=2026-11&scope=unit"
            await drawn(boss, evaluation_url, 3, "evaluation-ranking-trend.png")
            await drawn(boss, f"{cases}&by=district&lang=en", 3, "report-cases-en.png")
            await browser.close()

    asyncio.run(main())
    assert refused == []
