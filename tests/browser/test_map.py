"""The maps in a real browser (Debian's chromium) with every request beyond the app's own
origin blocked and counted: the field form's point is dragged, a point outside the grid is
moved to the nearest cell and the case is filed; the desk's map sets the district and cell.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from agent_ui.main import create_app
from hotline.cases.service import Actor, NewCase, create_case
from hotline.db import transaction
from hotline.models import Case
from hotline.settings import Settings
from hotline.testing.browser import ARTIFACTS, FLAGS, signed_in_page
from hotline.testing.web import serving

pytestmark = pytest.mark.browser


async def _offline(page: Any, base: str, outside: list[str]) -> None:
    """Requests to anywhere but the app are refused and remembered."""

    async def only_ours(route: Any) -> None:
        if route.request.url.startswith(base):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_ours)


async def _drag_marker(page: Any, dx: float, dy: float) -> None:
    marker = await page.wait_for_selector(".leaflet-marker-icon")
    box = await marker.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 4
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x + dx / 2, y + dy / 2, steps=5)
    await page.mouse.move(x + dx, y + dy, steps=5)
    await page.mouse.up()


def test_maps(loaded_engine: Engine, loaded_db_url: str, tmp_path: Path, chromium: str) -> None:
    from playwright.async_api import async_playwright

    from hotline.demo import load_demo_users

    load_demo_users(loaded_engine)
    with transaction(loaded_engine) as session:  # an open case at 王府井大街: the duplicate
        case, _ = create_case(
            session,
            Actor("dc_agent", "agent", "110101"),
            NewCase(
                source="phone",
                kind="event",
                class_code="0102",
                district_code="110101",
                lon=116.4112,
                lat=39.9128,
                address="王府井大街北口",
            ),
            "map-earlier",
        )
        earlier = case.number
        late = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        case.state, case.due_at, case.grid_code = "dispatched", late, "110101001004007"
    settings = Settings(database_url=loaded_db_url, media_dir=tmp_path / "media")
    outside: list[str] = []
    found: dict[str, str] = {}

    async def main() -> None:
        async with (
            serving(create_app(settings, loaded_engine)) as base,
            async_playwright() as playwright,
        ):
            browser = await playwright.chromium.launch(
                executable_path=chromium, args=FLAGS, headless=True
            )
            phone = await signed_in_page(
                browser, base, "dc_inspector", "inspect-demo-123", width=390, height=844
            )
            await _offline(phone, base, outside)
            await phone.goto(f"{base}/field")
            await phone.wait_for_selector("#field-map[data-ready='1'] path.leaflet-interactive")
            # A point east of Dongcheng (in Chaoyang, off the demo grid): the nearest cell
            # is offered.
            await phone.fill("#lat", "39.930000")
            await phone.fill("#lon", "116.458000")
            await phone.dispatch_event("#lon", "change")
            await phone.wait_for_selector("#map-place.error:has-text('最近的单元网格')")
            await phone.click("#map-nearest")
            await phone.wait_for_selector("#map-place:has-text('单元网格 110101')")
            # Dragged a little west: still on the grid, the position follows the marker.
            before = await phone.input_value("#lon")
            await _drag_marker(phone, -40, 10)
            await phone.wait_for_function(
                "before => document.getElementById('lon').value !== before", arg=before
            )
            await phone.wait_for_selector("#map-place:not(.error):has-text('单元网格 110101')")
            photo = tmp_path / "photo.jpg"
            photo.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 200)
            await phone.set_input_files("input[name=photo]", str(photo))
            await phone.fill("textarea[name=description]", "井盖缺失")
            await phone.screenshot(path=str(ARTIFACTS / "field-map.png"), full_page=True)
            await phone.click("button.primary")
            await phone.wait_for_selector(".num")
            number = await phone.text_content(".num")
            assert number and number.strip().isdigit()

            # The desk: a class, then a place from the gazetteer: the point, the district and
            # cell are set and the open case of that class nearby is offered.
            desk = await signed_in_page(browser, base, "dc_agent", "agent-demo-123")
            await _offline(desk, base, outside)
            await desk.goto(base + "/")
            await desk.wait_for_selector("#desk-map[data-ready='1'] path.leaflet-interactive")
            await desk.fill("#class-search", "bllj")
            await desk.click("#class-hits li >> nth=0")
            assert await desk.input_value("input[name=class_code]") == "0102"
            await desk.fill("#place-search", "王府井大街")
            await desk.click("#place-hits li >> nth=0")
            await desk.wait_for_selector(f"#nearby-list a:has-text('{earlier}')")
            await desk.wait_for_selector("#map-place:has-text('东华门街道')")
            assert (await desk.input_value("#f-grid")).startswith("110101001")
            # The caller reports what that open case is about: the agent links the report
            # to it; it is registered as its duplicate and the caller given its number.
            await desk.click(f"#nearby-list button[data-link='{earlier}']")
            await desk.wait_for_selector(f"#linked:not([hidden]):has-text('{earlier}')")
            await desk.fill("#f-description", "王府井大街北口垃圾又满了")
            await desk.fill("#f-phone", "13900000002")
            await desk.screenshot(path=str(ARTIFACTS / "desk-duplicate.png"), full_page=True)
            await desk.click("#case-form button.primary")
            await desk.wait_for_selector(f"#case-outcome:has-text('{earlier}')")
            found["repeat"] = (await desk.text_content("#case-number") or "").strip()
            await desk.screenshot(path=str(ARTIFACTS / "desk-duplicate-saved.png"), full_page=True)
            await desk.goto(f"{base}/cases/{found['repeat']}")
            await desk.wait_for_selector(f"#case-duplicate-of a:has-text('{earlier}')")
            await desk.goto(f"{base}/cases/{earlier}")
            await desk.wait_for_selector(f"#case-duplicates a:has-text('{found['repeat']}')")
            await desk.screenshot(path=str(ARTIFACTS / "case-duplicates.png"), full_page=True)
            # The next report: the same place, not linked (the link went with the saved one).
            await desk.goto(base + "/")
            await desk.wait_for_selector("#desk-map[data-ready='1'] path.leaflet-interactive")
            assert await desk.is_hidden("#linked")
            await desk.fill("#class-search", "bllj")
            await desk.click("#class-hits li >> nth=0")
            await desk.fill("#place-search", "王府井大街")
            await desk.click("#place-hits li >> nth=0")
            await desk.wait_for_selector(f"#nearby-list a:has-text('{earlier}')")
            # A click elsewhere on the map moves the point and fills the cell again.
            box = await (await desk.query_selector("#desk-map")).bounding_box()
            await desk.mouse.click(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2)
            await desk.wait_for_function(
                "() => document.querySelector('input[name=lon]').value !== '116.4109'"
            )
            await desk.wait_for_selector("#map-place:has-text('单元网格')")
            assert await desk.input_value("#f-district") == "110101"
            # Zoomed in, the components show; a click on one makes the case about it.
            await desk.click("#desk-map .leaflet-control-zoom-in")
            await desk.wait_for_selector("#desk-map path.component")
            legend = await desk.text_content("#desk-map .map-legend")  # the classes, by name
            assert legend and "公用设施" in legend, legend
            await desk.click("#desk-map path.component >> nth=0", force=True)
            await desk.wait_for_function(
                "() => document.querySelector('input[name=component_id]').value.length === 16"
            )
            picked = await desk.input_value("input[name=component_id]")
            assert await desk.input_value("input[name=kind]") == "component"
            assert await desk.input_value("input[name=class_code]") == picked[6:10]
            await desk.wait_for_selector("#class-chosen:has-text('权属单位')")
            await desk.screenshot(path=str(ARTIFACTS / "desk-map.png"), full_page=True)
            await desk.click("#case-form button.primary")
            await desk.wait_for_selector("#case-number:not(:empty)")
            saved = (await desk.text_content("#case-number") or "").strip()
            assert saved.isdigit()
            found["picked"] = picked
            # The next report names the same component by the id on its plate.
            await desk.click("#next-case")
            await desk.fill("#f-component", picked)
            await desk.wait_for_selector(f"#class-chosen:has-text('{picked[6:10]}')")
            await desk.fill("#f-description", "井盖松动")
            await desk.click("#case-form button.primary")
            await desk.wait_for_selector(f"#case-number:not(:empty):not(:text-is('{saved}'))")
            found["typed"] = (await desk.text_content("#case-number") or "").strip()

            # The supervisor: the list's filter (overdue) is what the map shows, by symbol;
            # the density map counts the open cases per cell.
            boss = await signed_in_page(browser, base, "dc_super", "super-demo-123")
            await _offline(boss, base, outside)
            await boss.goto(base + "/cases?view=overdue")
            await boss.wait_for_selector("#cases-map[data-shown='1'] path.case-dot.overdue")
            await boss.screenshot(path=str(ARTIFACTS / "cases-map.png"), full_page=True)
            await boss.goto(base + "/supervisor/map")
            await boss.wait_for_selector("#density-map[data-shown='2']")
            await boss.screenshot(path=str(ARTIFACTS / "density-map.png"), full_page=True)

            # The public page: the districts' figures on their outlines, no case point.
            public = await browser.new_page(viewport={"width": 1366, "height": 900})
            await _offline(public, base, outside)
            await public.goto(base + "/public/evaluation")
            await public.wait_for_selector("#district-map[data-ready='1'] path.leaflet-interactive")
            assert await public.locator("#district-map .leaflet-tooltip").count() == 2  # 东城, 西城
            assert await public.locator("#district-map circle, #district-map img").count() == 0
            await public.screenshot(path=str(ARTIFACTS / "public-map.png"), full_page=True)
            await browser.close()

    asyncio.run(main())
    with transaction(loaded_engine) as session:
        cases = session.scalars(
            select(Case).where(Case.component_id.is_not(None)).order_by(Case.id)
        ).all()
        assert [c.component_id for c in cases] == [found["picked"]] * 2
        typed = cases[1]
        assert typed.number == found["typed"] and typed.kind == "component"
        # where the component is: the report said nothing of the place
        assert typed.grid_code is not None and typed.lon is not None
        repeat = session.scalar(select(Case).where(Case.number == found["repeat"]))
        original = session.scalar(select(Case).where(Case.number == earlier))
        assert repeat is not None and original is not None
        assert (repeat.state, repeat.duplicate_of, original.state) == (
            "duplicate",
            original.id,
            "dispatched",
        )
    assert outside == []  # the library, the layers and the marker images: all the app's own
