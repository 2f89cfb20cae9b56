"""The reports page: its cases, figures per period and place for the supervisors, scoped as
the calls report (a district's supervisor sees their district only), in Chinese with the
English switch, names not codes, the same figures in the CSV and the Excel file; its calls,
charted per hour, day and agent and exported to Excel."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine

from agent_ui.pages import evaluation
from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction
from hotline.demo import load_demo_users
from hotline.models import Call

WHEN = dt.datetime(2026, 11, 10, 2, tzinfo=dt.UTC)
PASSWORDS = {
    "dc_super": "super-demo-123",
    "city_super": "super-demo-123",
    "dc_dispatcher": "dispatch-demo-123",
    "city_dispatcher": "dispatch-demo-123",
}


def world(engine: Engine) -> None:
    """Two Dongcheng cases (a call, a walk-in; one dispatched) and a Xicheng call."""
    load_demo_users(engine)
    with transaction(engine) as session:
        for key, source, district in (
            ("a", "phone", "110101"),
            ("b", "walk_in", "110101"),
            ("c", "phone", "110102"),
        ):
            actor = Actor(f"{key}_dispatcher", "dispatcher", district)
            case, _ = create_case(
                session,
                actor,
                NewCase(
                    source=source,
                    kind="event",
                    class_code="0102",
                    district_code=district,
                    grid_code="110101001001001" if district == "110101" else None,
                ),
                key,
                now=WHEN,
            )
            if key == "a":
                transition(
                    session, actor, case.number, "dispatch", 1, {"unit_code": "auto"}, now=WHEN
                )


def sign_in(client: Any, user: str) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"username": user, "password": PASSWORDS[user], "csrf_token": csrf.group(1)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303


@pytest.fixture
def december(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluation, "now", lambda: dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC))


def test_a_district_supervisor_sees_their_district_only(
    api: Any, loaded_engine: Engine, december: None
) -> None:
    world(loaded_engine)
    sign_in(api.client, "dc_super")
    own = api.client.get("/reports/cases.json", params={"period": "2026-11"}).json()
    assert own["district"] == "110101" and own["running"] is False
    assert own["total"]["received"] == 2 and own["total"]["dispatched"] == 1
    assert set(own["groups"]["district"]) == {"110101"}
    assert own["groups"]["source"] == {
        "phone": {**own["groups"]["source"]["phone"], "received": 1},
        "walk_in": {**own["groups"]["source"]["walk_in"], "received": 1},
    }
    page = api.client.get("/reports/cases", params={"period": "2026-11", "by": "district"})
    assert page.status_code == 200
    assert "东城区" in page.text and "西城区" not in page.text
    assert "热线电话" in page.text and "来访" in page.text  # sources by name
    assert "案卷统计" in page.text and "2026年11月" in page.text and "统计口径" in page.text
    assert "phone" not in re.sub(r"<script.*?</script>", "", page.text, flags=re.S)
    street = api.client.get("/reports/cases", params={"period": "2026-11", "by": "street"})
    assert "东华门街道" in street.text
    # Another district's figures are nowhere in the files either.
    csv_text = api.client.get("/reports/cases.csv", params={"period": "2026-11"}).text
    assert csv_text.startswith("\ufeff分组,代码,名称,受理数") and "西城区" not in csv_text
    assert api.client.get("/reports/cases", params={"period": "2026-13"}).status_code == 422


def test_the_city_sees_every_district_and_the_files_agree(
    api: Any, loaded_engine: Engine, december: None
) -> None:
    world(loaded_engine)
    sign_in(api.client, "city_super")
    data = api.client.get("/reports/cases.json", params={"period": "2026-11"}).json()
    assert data["district"] is None and data["total"]["received"] == 3
    assert {k: v["received"] for k, v in data["groups"]["district"].items()} == {
        "110101": 2,
        "110102": 1,
    }
    assert data["previous"]["received"] == 0 and len(data["trend"]) == 30
    assert data["trend"][9]["received"] == 3  # 10 Nov, local
    book = openpyxl.load_workbook(
        io.BytesIO(api.client.get("/reports/cases.xlsx", params={"period": "2026-11"}).content)
    )
    assert book.sheetnames == ["合计", "按区", "按街道", "按责任单位", "按类别", "按来源", "趋势"]
    rows = list(book["按区"].iter_rows(values_only=True))
    assert rows[0][:3] == ("代码", "名称", "受理数")
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ("110101", "东城区", 2),
        ("110102", "西城区", 1),
    ]
    # per unit (责任单位): names, not codes, on the page, in its chart and in the files
    assert {k: (v["received"], v["dispatched"]) for k, v in data["groups"]["unit"].items()} == {
        "-": (2, 0),  # b and c, never dispatched
        "dongcheng.sanitation": (1, 1),
    }
    units = [r[:4] for r in book["按责任单位"].iter_rows(min_row=2, values_only=True)]
    assert units == [
        ("-", "未派遣（无责任单位）", 2, 2),
        ("dongcheng.sanitation", "东城区环境卫生服务中心", 1, 1),
    ]
    by_unit = api.client.get("/reports/cases", params={"period": "2026-11", "by": "unit"}).text
    assert "按责任单位" in by_unit and 'id="cr-unit"' in by_unit
    assert "东城区环境卫生服务中心" in by_unit and "未派遣（无责任单位）" in by_unit
    assert "dongcheng.sanitation" not in by_unit
    group_chart = re.search(r'id="cr-group-data">(.*?)</script>', by_unit, re.S)
    assert group_chart is not None
    assert json.loads(group_chart.group(1))["categories"] == [
        "未派遣（无责任单位）",
        "东城区环境卫生服务中心",
    ]
    csv_text = api.client.get("/reports/cases.csv", params={"period": "2026-11"}).text
    assert "按责任单位,dongcheng.sanitation,东城区环境卫生服务中心,1,1,1" in csv_text
    english = api.client.get(
        "/reports/cases", params={"period": "2026-11", "by": "unit", "lang": "en"}
    )
    assert "By unit" in english.text and "Not dispatched (no unit)" in english.text
    english = api.client.get(
        "/reports/cases", params={"period": "2026-11", "by": "class", "lang": "en"}
    )
    assert "Case report" in english.text and "Registered" in english.text
    assert "受理数" not in english.text
    year = api.client.get("/reports/cases.json", params={"period": "2026"}).json()
    assert year["total"]["received"] == 3 and len(year["trend"]) == 12


def test_dispatchers_read_their_platforms_cases(
    api: Any, loaded_engine: Engine, december: None
) -> None:
    """A district's dispatcher (派遣员) reads their district's case report, the city's
    dispatcher every district's; the calls report stays the supervisors'."""
    world(loaded_engine)
    sign_in(api.client, "dc_dispatcher")
    own = api.client.get("/reports/cases.json", params={"period": "2026-11"}).json()
    assert own["district"] == "110101" and set(own["groups"]["district"]) == {"110101"}
    assert own["total"]["received"] == 2
    page = api.client.get("/reports/cases", params={"period": "2026-11", "by": "unit"})
    assert page.status_code == 200 and "西城区" not in page.text
    assert re.search(r'<a href="/reports/cases"[^>]*>案卷统计</a>', page.text)  # their menu
    assert 'href="/reports"' not in page.text  # no tab to the calls report they cannot open
    assert api.client.get("/reports").status_code == 403
    csv_text = api.client.get("/reports/cases.csv", params={"period": "2026-11"}).text
    assert "西城区" not in csv_text
    api.client.cookies.clear()
    sign_in(api.client, "city_dispatcher")
    every = api.client.get("/reports/cases.json", params={"period": "2026-11"}).json()
    assert every["district"] is None and every["total"]["received"] == 3
    assert set(every["groups"]["district"]) == {"110101", "110102"}


def some_calls(engine: Engine) -> None:
    """Dongcheng's queue on 9 and 10 Nov (local 10:00): two answered by dc_agent after 10 and
    30 s, talking 100 and 200 s, one abandoned after 40 s; Xicheng's queue: one answered."""
    calls = [
        ("d1", "hotline-110101", 9, 10, 100),
        ("d2", "hotline-110101", 10, 30, 200),
        ("d3", "hotline-110101", 10, None, 40),
        ("x1", "hotline-110102", 10, 5, 50),
    ]
    with transaction(engine) as session:
        for uniqueid, queue, day, wait, seconds in calls:
            joined = dt.datetime(2026, 11, day, 2, tzinfo=dt.UTC)
            connected = joined + dt.timedelta(seconds=wait) if wait is not None else None
            session.add(
                Call(
                    uniqueid=uniqueid,
                    linkedid=uniqueid,
                    queue=queue,
                    agent=("dc_agent" if queue.endswith("110101") else "xc_agent")
                    if wait
                    else None,
                    queue_joined_at=joined,
                    connected_at=connected,
                    ended_at=(connected or joined) + dt.timedelta(seconds=seconds),
                    outcome="answered" if wait else "abandoned_queue",
                )
            )


def chart(page: str, name: str) -> dict[str, Any]:
    found = re.search(rf'id="rp-{name}-data">(.*?)</script>', page, re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_the_calls_report_charts_and_excel(api: Any, loaded_engine: Engine) -> None:
    load_demo_users(loaded_engine)
    some_calls(loaded_engine)
    sign_in(api.client, "dc_super")
    period = {"start": "2026-11-09", "end": "2026-11-10"}
    page = api.client.get("/reports", params=period).text
    day = chart(page, "day")
    assert day["categories"] == ["11-09", "11-10"]
    assert [s["data"] for s in day["series"]] == [[1, 2], [1, 1], [0, 1], [0.0, 50.0]]
    hour = chart(page, "hour")
    assert len(hour["categories"]) == 24 and hour["series"][3]["data"][10] == 20.0  # ASA
    agent = chart(page, "agent")
    assert agent["categories"] == ["东城坐席 王芳"]  # the person's name, Xicheng's not here
    assert agent["series"][1]["data"] == [150.0]  # AHT
    assert "放弃率" in page and "每日来电与放弃率" in page
    for shortcut in ("今天", "本周", "本月", "本季度", "本年度"):  # periods above the dates
        assert f">{shortcut}</a>" in page
    book = openpyxl.load_workbook(
        io.BytesIO(api.client.get("/reports", params={**period, "format": "xlsx"}).content)
    )
    assert book.sheetnames == ["按队列", "按坐席", "按小时", "按日"]
    queues = list(book["按队列"].iter_rows(values_only=True))
    assert len(queues) == 2 and queues[1][:4] == ("东城区平台", 3, 2, 1)


def test_the_evaluation_ranks_and_trends(api: Any, loaded_engine: Engine, december: None) -> None:
    """Sanitation: due 5 Oct, never reported (0 %); due 5 Nov, reported 4 Nov (100 %).
    Greening: due 6 Nov, never reported (0 %)."""
    load_demo_users(loaded_engine)
    dispatcher = Actor("dc_dispatcher", "dispatcher", "110101")
    jobs = (
        ("s-oct", "dongcheng.sanitation", 10, 5, None),
        ("s-nov", "dongcheng.sanitation", 11, 5, 4),
        ("g-nov", "dongcheng.greening", 11, 6, None),
    )
    with transaction(loaded_engine) as session:
        for key, unit, month, due_day, reported in jobs:
            when = dt.datetime(2026, month, 1, 2, tzinfo=dt.UTC)
            case, _ = create_case(
                session,
                dispatcher,
                NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
                key,
                now=when,
            )
            transition(
                session, dispatcher, case.number, "dispatch", 1, {"unit_code": unit}, now=when
            )
            case.due_at = dt.datetime(2026, month, due_day, 2, tzinfo=dt.UTC)
            session.flush()
            if reported:
                worker = Actor("u", "unit", "110101", unit)
                transition(session, worker, case.number, "accept", case.version, now=when)
                done = dt.datetime(2026, month, reported, 2, tzinfo=dt.UTC)
                transition(
                    session,
                    worker,
                    case.number,
                    "report_handled",
                    case.version,
                    {"note": "ok"},
                    now=done,
                )
            session.flush()
    sign_in(api.client, "city_super")
    page = api.client.get("/supervisor/evaluation", params={"period": "2026-11", "scope": "unit"})
    found = {
        name: json.loads(m.group(1))
        for name in ("ranking", "trend")
        if (m := re.search(rf'id="ev-{name}-data">(.*?)</script>', page.text, re.S))
    }
    ranking, trend = found["ranking"], found["trend"]
    assert ranking["categories"] == ["东城区环境卫生服务中心", "东城区园林绿化局"]
    assert ranking["series"][0]["data"] == [100.0, 0.0] and ranking["horizontal"] is True
    assert trend["categories"][0] == "2026年6月" and trend["categories"][-1] == "2026年11月"
    lines = {s["name"]: s["data"] for s in trend["series"]}
    assert lines == {
        "东城区环境卫生服务中心": [None, None, None, None, 0.0, 100.0],
        "东城区园林绿化局": [None, None, None, None, None, 0.0],
    }
    assert "按期处置率排名" in page.text and "按期处置率走势" in page.text
