"""A supervisor's inbox (extension requests, notifications) and ledger page; the unit's
overdue warnings on its portal. Scope: a district sees its own, the city all."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from typing import Any

import openpyxl
from sqlalchemy import Engine, select

from agent_ui.pages import city, evaluation
from hotline.cases.calendar import load_calendar
from hotline.cases.joint import assign_joint
from hotline.cases.service import Actor, NewCase, create_case, request_extension, transition
from hotline.db import transaction
from hotline.demo import load_demo_users
from hotline.models import Call, Case, CaseHistory, Notification
from hotline.testing.cases import ledger_month

AGENT = Actor("dc_dispatcher", "dispatcher", "110101")
SUPER = Actor("dc_super", "supervisor", "110101")
UNIT = Actor("u", "unit", "110101", "dongcheng.sanitation")
PASSWORDS = {
    "dc_super": "super-demo-123",
    "city_super": "super-demo-123",
    "dc_agent": "agent-demo-123",
    "unit_dc_sanitation": "unit-demo-123",
    "unit_water": "unit-demo-123",
}


def world(engine: Engine) -> tuple[str, str]:
    """A job with an extension request waiting, and a case put on the ledger this month."""
    load_demo_users(engine)
    numbers = []
    with transaction(engine) as session:
        for key in ("ext", "ledger"):
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
                calendar=load_calendar(session),  # sets the deadline
            )
            transition(session, UNIT, case.number, "accept", 2)
            numbers.append(case.number)
        request_extension(session, UNIT, numbers[0], 3, 8, "需要调配吊车")
        transition(session, SUPER, numbers[1], "to_ledger", 3, {"note": "需市政改造，年内无法解决"})
        case_id = session.scalar(select(Case.id).where(Case.number == numbers[0]))
        assert case_id is not None
        for scope, unit in (("110101", None), (None, "dongcheng.sanitation")):
            session.add(
                Notification(
                    case_id=case_id,
                    scope_code=scope,
                    unit_code=unit,
                    kind="overdue",
                    text=f"案件 {numbers[0]} 已超过处置期限",
                )
            )
    return numbers[0], numbers[1]


def a_phone_case(session: Any, key: str) -> None:
    """One more Dongcheng case, registered by the district's dispatcher."""
    new = NewCase(source="phone", kind="event", class_code="0102", district_code="110101")
    create_case(session, AGENT, new, key, calendar=load_calendar(session))


def sign_in(client: Any, user: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    client.post(
        "/login",
        data={"username": user, "password": PASSWORDS[user], "csrf_token": token.group(1)},
    )
    inbox = client.get("/supervisor/inbox")
    found = re.search(r'name="csrf_token" value="([^"]+)"', inbox.text)
    return found.group(1) if found else ""


def test_supervisor_decides_an_extension(api: Any, loaded_engine: Engine) -> None:
    waiting, _ = world(loaded_engine)
    csrf = sign_in(api.client, "dc_super")
    page = api.client.get("/supervisor/inbox")
    assert page.status_code == 200 and waiting in page.text and "需要调配吊车" in page.text
    with transaction(loaded_engine) as session:
        case = session.scalar(select(Case).where(Case.number == waiting))
        assert case is not None
        version, due = case.version, case.due_at
    stale = api.client.post(
        f"/supervisor/extensions/{waiting}",
        data={"csrf_token": csrf, "version": version - 1, "decision": "approve"},
    )
    assert stale.status_code == 409 and "已被他人修改" in stale.text  # shown, not applied
    done = api.client.post(
        f"/supervisor/extensions/{waiting}",
        data={"csrf_token": csrf, "version": version, "decision": "approve"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with transaction(loaded_engine) as session:
        case = session.scalar(select(Case).where(Case.number == waiting))
        assert case is not None and case.due_at is not None and due is not None
        assert case.due_at.replace(tzinfo=None) > due.replace(tzinfo=None)
        actions = session.scalars(
            select(CaseHistory.action).where(CaseHistory.case_id == case.id)
        ).all()
        assert actions[-1] == "approve_extension"
    assert waiting not in api.client.get("/supervisor/inbox").text.split("通知")[0]
    again = api.client.post(
        f"/supervisor/extensions/{waiting}",
        data={"csrf_token": csrf, "version": version + 1, "decision": "refuse"},
    )
    assert "没有待审批的延期申请" in again.text


def test_notifications_are_read_in_scope(api: Any, loaded_engine: Engine) -> None:
    waiting, _ = world(loaded_engine)
    csrf = sign_in(api.client, "city_super")
    with transaction(loaded_engine) as session:
        note_id = session.scalar(select(Notification.id).where(Notification.scope_code == "110101"))
    other = api.client.post(f"/supervisor/notifications/{note_id}/read", data={"csrf_token": csrf})
    assert other.status_code == 404  # Dongcheng's message is Dongcheng's to read
    api.client.cookies.clear()
    csrf = sign_in(api.client, "dc_super")
    assert "已超过处置期限" in api.client.get("/supervisor/inbox").text
    read = api.client.post(
        f"/supervisor/notifications/{note_id}/read",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert read.status_code == 303
    forged = api.client.post(f"/supervisor/notifications/{note_id}/read", data={"csrf_token": "x"})
    assert forged.status_code == 403
    api.client.cookies.clear()
    sign_in(api.client, "unit_dc_sanitation")
    assert f"案件 {waiting} 已超过处置期限" in api.client.get("/unit").text


def test_the_inbox_pages_its_notifications(api: Any, loaded_engine: Engine) -> None:
    """50 a page, newest first; the older ones a link away; a bad link is a 400."""
    world(loaded_engine)
    with transaction(loaded_engine) as session:
        case_id = session.scalar(select(Case.id).where(Case.district_code == "110101"))
        assert case_id is not None
        session.add_all(
            Notification(case_id=case_id, scope_code="110101", kind="overdue", text=f"第{n}条")
            for n in range(60)
        )
    sign_in(api.client, "dc_super")
    first = api.client.get("/supervisor/inbox").text
    assert "第59条" in first and "第10条" in first and "第9条<" not in first
    older = re.search(r'href="(/supervisor/inbox\?before=\d+)"', first)
    assert older is not None and "较早的通知" in first
    second = api.client.get(older.group(1)).text
    assert "第9条<" in second and "第0条" in second and "第10条" not in second
    assert "第一页" in second
    assert api.client.get("/supervisor/inbox?before=abc").status_code == 400


def test_ledger_page_and_csv(api: Any, loaded_engine: Engine) -> None:
    _, on_ledger = world(loaded_engine)
    sign_in(api.client, "dc_super")
    month = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8)))
    params = {"month": month.strftime("%Y-%m")}
    page = api.client.get("/supervisor/ledger", params=params)
    assert page.status_code == 200
    assert on_ledger in page.text and "需市政改造" in page.text and "@media print" in page.text
    rows = list(
        csv.reader(
            io.StringIO(
                api.client.get("/supervisor/ledger.csv", params=params).text.lstrip("\ufeff")
            )
        )
    )
    assert rows[1][1] == on_ledger and rows[1][2] == "110101"
    # the stock: nothing at the start of this month, one added, still on it (carried over)
    assert "期初存量" in page.text and "结转挂账案件 (1)" in page.text
    workbook = api.client.get("/supervisor/ledger.xlsx", params=params)
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"
    book = openpyxl.load_workbook(io.BytesIO(workbook.content))
    stock, carried = book.worksheets
    assert ["区", "东城区", 0, 1, 0, 1] in [list(r) for r in stock.iter_rows(values_only=True)]
    assert carried.cell(2, 1).value == on_ledger and carried.cell(2, 7).value.startswith("需市政")
    assert api.client.get("/supervisor/ledger", params={"month": "2026-13"}).status_code == 422
    # The running month's stock is kept for the refresh time: a second case put on the
    # ledger shows in the stock once the kept figures are renewed.
    with transaction(loaded_engine) as session:
        waiting = session.scalar(select(Case.number).where(Case.number != on_ledger))
        assert waiting is not None
        transition(session, SUPER, waiting, "to_ledger", 4, {"note": "等待市政规划"})
    kept = api.client.get("/supervisor/ledger", params=params).text
    assert "结转挂账案件 (1)" in kept and waiting in kept  # the stock kept, the list live
    settings = api.client.app.state.settings
    api.client.app.state.settings = settings.model_copy(update={"figures_refresh_seconds": 0})
    renewed = kept
    for _ in range(100):  # served at once, renewed behind the page: a bounded wait for it
        time.sleep(0.1)
        renewed = api.client.get("/supervisor/ledger", params=params).text
        if "结转挂账案件 (2)" in renewed:
            break
    api.client.app.state.settings = settings
    assert "结转挂账案件 (2)" in renewed
    api.client.cookies.clear()
    sign_in(api.client, "city_super")
    assert on_ledger in api.client.get("/supervisor/ledger", params=params).text
    api.client.cookies.clear()
    sign_in(api.client, "dc_agent")
    assert api.client.get("/supervisor/ledger").status_code == 403
    assert api.client.get("/supervisor/inbox").status_code == 403


def listed(page: str, heading: str) -> list[str]:
    """The case numbers of the list under ``heading``, in order."""
    part = page.split(heading, 1)[1].split("</table>", 1)[0]
    return re.findall(r'<a href="/cases/([^"]+)">', part)


def follow(client: Any, page: str, list_id: str, text: str) -> str:
    """The page behind list ``list_id``'s paging link named ``text``."""
    links = re.findall(r'<a href="(/supervisor/ledger\?[^"]+)">([^<]+)</a>', page)
    wanted = [href for href, name in links if name == text and href.endswith(f"#{list_id}")]
    assert len(wanted) == 1, (list_id, text, links)
    response = client.get(wanted[0].replace("&amp;", "&"))
    assert response.status_code == 200
    month = re.search(r"month=([0-9-]+)", wanted[0])
    assert month is not None and f'name="month" value="{month.group(1)}"' in response.text
    return str(response.text)


def test_the_ledger_lists_are_paged(api: Any, loaded_engine: Engine) -> None:
    """53 cases put on the ledger in a month, 2 taken off: each list shows 50 a page with
    its count, pages forward and back on its own (keeping the month and the other list's
    page); the printable view, the CSV and the workbook hold every case."""
    load_demo_users(loaded_engine)
    month, numbers = ledger_month(loaded_engine, 53, 2)
    added_heading, carried_heading = "本月挂账案件 (53)", "结转挂账案件 (51)"
    sign_in(api.client, "dc_super")
    first = api.client.get("/supervisor/ledger", params={"month": month}).text
    assert listed(first, added_heading) == numbers[:50]
    assert listed(first, carried_heading) == numbers[2:52]
    assert "共 53 件，本页显示 50 件" in first and "上一页" not in first

    second = follow(api.client, first, "added", "下一页")
    assert listed(second, added_heading) == numbers[50:]
    assert listed(second, carried_heading) == numbers[2:52]  # the other list stays put
    back = follow(api.client, second, "added", "上一页")
    assert listed(back, added_heading) == numbers[:50]
    assert listed(follow(api.client, second, "added", "第一页"), added_heading) == numbers[:50]

    both = follow(api.client, second, "carried", "下一页")
    assert listed(both, carried_heading) == numbers[52:]
    assert listed(both, added_heading) == numbers[50:]
    assert "下一页" not in both

    bad = api.client.get("/supervisor/ledger", params={"month": month, "added_after": "x~1"})
    assert bad.status_code == 422

    printable = api.client.get("/supervisor/ledger", params={"month": month, "print": 1}).text
    assert listed(printable, added_heading) == numbers
    assert listed(printable, carried_heading) == numbers[2:]
    assert "下一页" not in printable and "window.print()" in printable
    csv_text = api.client.get("/supervisor/ledger.csv", params={"month": month}).text
    csv_rows = list(csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))))
    assert [r[1] for r in csv_rows[1:54]] == numbers and csv_rows[54] == []
    book = openpyxl.load_workbook(
        io.BytesIO(api.client.get("/supervisor/ledger.xlsx", params={"month": month}).content)
    )
    carried = book.worksheets[1]
    assert [r[0] for r in carried.iter_rows(min_row=2, values_only=True)] == numbers[2:]

    api.client.cookies.clear()
    sign_in(api.client, "city_super")  # the city's page: every district, here in English
    english = api.client.get("/supervisor/ledger", params={"month": month, "lang": "en"}).text
    assert listed(english, "Put on the ledger this month (53)") == numbers[:50]
    assert "53 cases, 50 on this page" in english and "Next page" in english


def test_an_assisting_unit_reports_its_part_on_the_portal(api: Any, loaded_engine: Engine) -> None:
    waiting, _ = world(loaded_engine)
    with transaction(loaded_engine) as session:
        version = session.scalar(select(Case.version).where(Case.number == waiting))
        assert version is not None
        assign_joint(
            session,
            Actor("city_super", "supervisor", "110000"),
            waiting,
            version,
            ["bj.water_supply"],
        )
    sign_in(api.client, "unit_water")
    page = api.client.get("/unit")
    assert waiting in page.text and "东城区环境卫生服务中心" in page.text  # names, not codes
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    done = api.client.post(
        f"/unit/cases/{waiting}/assist_done",
        data={"csrf_token": csrf.group(1), "version": 1, "note": "阀门已关"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert (
        api.client.get(f"/unit/cases/{waiting}").status_code == 404
    )  # the lead's page stays closed
    with transaction(loaded_engine) as session:
        actions = session.scalars(
            select(CaseHistory.action).join(Case).where(Case.number == waiting)
        ).all()
        assert actions[-1] == "assist_done"


def test_evaluation_in_scope(api: Any, loaded_engine: Engine) -> None:
    """A district's staff read their district's figures; the city reads every district."""
    world(loaded_engine)
    with transaction(loaded_engine) as session:
        create_case(
            session,
            Actor("xc_dispatcher", "dispatcher", "110102"),
            NewCase(source="phone", kind="event", class_code="0102", district_code="110102"),
            "xc",
        )
    sign_in(api.client, "dc_super")
    mine = api.client.get("/supervisor/evaluation.json").json()
    assert {r["code"] for r in mine["rows"]} == {"110101"}
    page = api.client.get("/supervisor/evaluation", params={"scope": "unit"})
    assert page.status_code == 200 and "东城区环境卫生服务中心" in page.text
    assert "西城区" not in page.text
    api.client.cookies.clear()
    sign_in(api.client, "city_super")
    every = api.client.get("/supervisor/evaluation.json").json()
    assert {"110101", "110102"} <= {r["code"] for r in every["rows"]}
    api.client.cookies.clear()
    sign_in(api.client, "unit_dc_sanitation")
    assert api.client.get("/supervisor/evaluation").status_code == 403


def test_evaluation_figures_are_kept_and_renewed_behind_the_page(
    api: Any, loaded_engine: Engine, monkeypatch: Any
) -> None:
    """A running month's figures are kept for the refresh time and one more (the renewal
    job renews them; the page says to when they run); older, the page is served them at
    once while one refresh renews them behind it."""
    world(loaded_engine)
    sign_in(api.client, "dc_super")
    moment = evaluation.now()
    monkeypatch.setattr(evaluation, "now", lambda: moment)
    first = api.client.get("/supervisor/evaluation.json").json()
    registered = first["rows"][0]["registered"]
    with transaction(loaded_engine) as session:
        a_phone_case(session, "later")
    monkeypatch.setattr(evaluation, "now", lambda: moment + dt.timedelta(minutes=9))
    kept = api.client.get("/supervisor/evaluation.json").json()
    assert kept["rows"][0]["registered"] == registered and kept["to"] == first["to"]
    monkeypatch.setattr(evaluation, "now", lambda: moment + dt.timedelta(minutes=11))
    renewed = kept
    for _ in range(100):  # served at once, renewed behind the page: bounded wait for it
        renewed = api.client.get("/supervisor/evaluation.json").json()
        if renewed["rows"][0]["registered"] == registered + 1:
            break
        time.sleep(0.1)
    assert renewed["rows"][0]["registered"] == registered + 1
    assert renewed["to"] > first["to"]


def test_the_city_sees_every_district(api: Any, loaded_engine: Engine) -> None:
    """Open cases, overdue jobs and the ledger per district, for the city platform only."""
    extension, _ = world(loaded_engine)
    with transaction(loaded_engine) as session:
        case = session.scalar(select(Case).where(Case.number == extension))
        assert case is not None
        case.due_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    sign_in(api.client, "city_super")
    page = api.client.get("/supervisor/city")
    assert page.status_code == 200 and "东城区" in page.text and "西城区" in page.text
    assert 'href="/supervisor/city"' in page.text
    rows = {r["code"]: r for r in api.client.get("/supervisor/city.json").json()}
    dongcheng = rows["110101"]
    assert (dongcheng["open"], dongcheng["overdue"], dongcheng["ledger"]) == (2, 1, 1)
    assert rows["110102"]["open"] == 0
    # The case figures are kept while no case changes; a new case moves them, and the calls
    # are read on every load.
    with transaction(loaded_engine) as session:
        a_phone_case(session, "one more")
        now = dt.datetime.now(dt.UTC)
        session.add(Call(uniqueid="w-1", linkedid="w-1", queue="hotline-110101",
                         queue_joined_at=now, created_at=now))  # fmt: skip
    rows = {r["code"]: r for r in api.client.get("/supervisor/city.json").json()}
    assert (rows["110101"]["open"], rows["110101"]["waiting"]) == (3, 1)
    api.client.cookies.clear()
    sign_in(api.client, "dc_super")
    assert api.client.get("/supervisor/city").status_code == 403
    assert 'href="/supervisor/city"' not in api.client.get("/supervisor/ledger").text


def test_the_monthly_report_for_the_municipal_government(
    api: Any, loaded_engine: Engine, monkeypatch: Any
) -> None:
    """The month's figures, the rankings and the major cases on the ledger; printable, Excel."""
    load_demo_users(loaded_engine)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    with transaction(loaded_engine) as session:
        case, _ = create_case(
            session,
            AGENT,
            NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
            "old",
            now=long_ago,
        )
        old = case.number
        transition(session, AGENT, old, "dispatch", 1, {"unit_code": "auto"}, now=long_ago)
        transition(session, UNIT, old, "accept", 2, now=long_ago)
        transition(session, SUPER, old, "to_ledger", 3, {"note": "需拆迁后处理"}, now=long_ago)
    sign_in(api.client, "city_super")
    page = api.client.get("/supervisor/city/report")
    assert page.status_code == 200 and "重大挂账问题 (1)" in page.text
    assert old in page.text and "需拆迁后处理" in page.text and "@media print" in page.text
    book = openpyxl.load_workbook(
        io.BytesIO(api.client.get("/supervisor/city/report.xlsx").content)
    )
    assert [s.title for s in book.worksheets][-1] == "重大挂账问题"
    assert book.worksheets[-1].cell(2, 1).value == old
    assert api.client.get("/supervisor/city/report", params={"month": "2026-13"}).status_code == 422
    # A city with thousands on the ledger: the printed page lists the longest, says how many.
    monkeypatch.setattr(city, "MAJOR_SHOWN", 0)
    short = api.client.get("/supervisor/city/report").text
    assert old not in short and "此处列出挂账最久的 0 件（共 1 件）" in short
    api.client.cookies.clear()
    sign_in(api.client, "dc_super")
    assert api.client.get("/supervisor/city/report").status_code == 403
    assert api.client.get("/supervisor/city/report.xlsx").status_code == 403
