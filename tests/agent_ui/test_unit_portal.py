"""Sign-in, CSRF and the units' portal, with a role x scope table over its routes."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction
from hotline.demo import load_demo_users
from hotline.models import Attachment, Case, CaseHistory

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100
PASSWORDS = {
    "unit_dc_sanitation": "unit-demo-123",
    "unit_water": "unit-demo-123",
    "dc_agent": "agent-demo-123",
    "city_agent": "agent-demo-123",
    "admin": "admin-demo-123",
    "dc_super": "super-demo-123",
}


def a_job(engine: Engine) -> str:
    load_demo_users(engine)
    agent = Actor("dc_dispatcher", "dispatcher", "110101")
    with transaction(engine) as session:
        case, _ = create_case(
            session,
            agent,
            NewCase(
                source="phone",
                kind="event",
                class_code="0102",
                district_code="110101",
                address="王府井大街",
                description="垃圾",
            ),
            "job",
        )
        transition(session, agent, case.number, "dispatch", 1, {"unit_code": "auto"})
        return case.number


def sign_in(client: TestClient, username: str, password: str | None = None) -> Any:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    return client.post(
        "/login",
        data={
            "username": username,
            "csrf_token": csrf.group(1),
            "password": password or PASSWORDS[username],
        },
        follow_redirects=False,
    )


def form_csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_unit_works_a_job_from_the_portal(api: Any, loaded_engine: Engine) -> None:
    number = a_job(loaded_engine)
    client = api.client
    signed = sign_in(client, "unit_dc_sanitation")
    assert signed.status_code == 303 and signed.headers["location"] == "/unit"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    jobs = client.get("/unit")
    assert number in jobs.text and "我的任务" in jobs.text
    page = client.get(f"/unit/cases/{number}")
    csrf = form_csrf(page.text)
    no_csrf = client.post(
        f"/unit/cases/{number}/accept", data={"version": 2, "csrf_token": "forged"}
    )
    assert no_csrf.status_code == 403
    accepted = client.post(
        f"/unit/cases/{number}/accept",
        data={"version": 2, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    extension = client.post(
        f"/unit/cases/{number}/request_extension",
        data={"version": 3, "csrf_token": csrf, "hours": 8, "note": "需要协调交通管制"},
        follow_redirects=False,
    )
    assert extension.status_code == 303
    handled = client.post(
        f"/unit/cases/{number}/report_handled",
        data={"version": 4, "csrf_token": csrf, "note": "已清运"},
        files={"photo": ("done.jpg", JPEG, "image/jpeg")},
        follow_redirects=False,
    )
    assert handled.status_code == 303, handled.text
    stale = client.post(
        f"/unit/cases/{number}/return", data={"version": 2, "csrf_token": csrf, "note": "x"}
    )
    assert stale.status_code == 409
    with transaction(loaded_engine) as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None and case.state == "handled"
        actions = session.scalars(
            select(CaseHistory.action)
            .where(CaseHistory.case_id == case.id)
            .order_by(CaseHistory.id)
        ).all()
        assert actions == [
            "create",
            "dispatch",
            "accept",
            "request_extension",
            "report_handled",
            "attach",
        ]
        assert (
            session.scalar(select(Attachment.purpose).where(Attachment.case_id == case.id))
            == "feedback"
        )
    english = client.get("/unit?lang=en")
    assert "My jobs" in english.text


def test_failed_sign_ins_are_limited(
    api: Any, loaded_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    load_demo_users(loaded_engine)
    for _ in range(5):
        assert sign_in(api.client, "dc_agent", "wrong-password").status_code == 401
    assert sign_in(api.client, "dc_agent").status_code == 429  # even the right password
    assert "failed sign-in for 'dc_agent'" in caplog.text
    assert api.client.post("/login", data={"username": "x", "password": "y"}).status_code == 403


# route -> {user: expected status}; "anon" is not signed in.
MATRIX = {
    "/unit": {
        "anon": 303,
        "unit_dc_sanitation": 200,
        "unit_water": 200,
        "dc_agent": 403,
        "city_agent": 403,
        "admin": 403,
    },
    "/unit/cases/{number}": {
        "anon": 303,
        "unit_dc_sanitation": 200,
        "unit_water": 404,
        "dc_agent": 403,
        "city_agent": 403,
        "admin": 403,
    },
}
CASES = [(route, user, status) for route, table in MATRIX.items() for user, status in table.items()]


@pytest.mark.parametrize(("route", "user", "status"), CASES)
def test_role_matrix(api: Any, loaded_engine: Engine, route: str, user: str, status: int) -> None:
    number = a_job(loaded_engine)
    if user != "anon":
        assert sign_in(api.client, user).status_code == 303
    response = api.client.get(route.format(number=number), follow_redirects=False)
    assert response.status_code == status
    if user == "unit_water" and status == 200:
        assert number not in response.text  # another unit's job is not listed


def test_the_unit_sees_why_a_job_came_back(api: Any, loaded_engine: Engine) -> None:
    number = a_job(loaded_engine)
    unit = Actor("unit_dc_sanitation", "unit", "110101", "dongcheng.sanitation")
    staff = Actor("dc_dispatcher", "dispatcher", "110101")
    with transaction(loaded_engine) as session:
        transition(session, unit, number, "accept", 2, {})
        transition(session, unit, number, "report_handled", 3, {"note": "已清理"})
        transition(session, staff, number, "rework", 4, {"note": "回访市民称垃圾仍在路东侧"})
    sign_in(api.client, "unit_dc_sanitation")
    page = api.client.get(f"/unit/cases/{number}")
    assert "返工原因" in page.text and "回访市民称垃圾仍在路东侧" in page.text
    assert "东城派遣员 孙丽" in page.text  # who sent it back, by name


def test_one_extension_request_at_a_time(api: Any, loaded_engine: Engine) -> None:
    number = a_job(loaded_engine)
    sign_in(api.client, "unit_dc_sanitation")
    page = api.client.get(f"/unit/cases/{number}")
    csrf = form_csrf(page.text)
    too_many = api.client.post(
        f"/unit/cases/{number}/request_extension",
        data={"csrf_token": csrf, "version": "2", "hours": "900", "note": "需要协调"},
    )
    assert too_many.status_code == 422
    assert "1 至 400 个工作小时" in too_many.text and "需要协调" in too_many.text  # kept
    asked = api.client.post(
        f"/unit/cases/{number}/request_extension",
        data={"csrf_token": csrf, "version": "2", "hours": "8", "note": "需要协调"},
    )
    assert asked.status_code == 200 and "等待平台审批" in asked.text
    assert 'action="/unit/cases/' + number + '/request_extension"' not in asked.text


def test_a_page_of_jobs_at_a_time(api: Any, loaded_engine: Engine) -> None:
    load_demo_users(loaded_engine)
    staff = Actor("dc_dispatcher", "dispatcher", "110101")
    undated: list[str] = []
    with transaction(loaded_engine) as session:
        for n in range(53):
            case, _ = create_case(
                session,
                staff,
                NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
                f"many-{n}",
            )
            transition(session, staff, case.number, "dispatch", 1, {"unit_code": "auto"})
            if n < 2:
                undated.append(case.number)
    with transaction(loaded_engine) as session:  # jobs without a deadline come last
        due = dt.datetime(2026, 12, 31, 9, tzinfo=dt.UTC)
        session.execute(update(Case).where(Case.number.not_in(undated)).values(due_at=due))
    sign_in(api.client, "unit_dc_sanitation")
    first = api.client.get("/unit")
    numbers = re.findall(r'href="/unit/cases/(\d+)"', first.text)
    assert len(numbers) == 50 and "未办结 53 件" in first.text
    cursor = re.search(r'href="/unit\?after=([^"]+)"', first.text)
    assert cursor is not None
    second = api.client.get(f"/unit?after={cursor.group(1)}")  # the link as the page gives it
    rest = re.findall(r'href="/unit/cases/(\d+)"', second.text)
    assert len(rest) == 3 and not set(rest) & set(numbers)
    assert rest[1:] == undated
    assert api.client.get("/unit", params={"after": "junk"}).status_code == 400


def test_a_job_card_follows_its_case(api: Any, loaded_engine: Engine) -> None:
    """The job list's cards are kept once rendered (agent_ui.web.templating.cached_case): an
    urge shows on the next load."""
    number = a_job(loaded_engine)
    sign_in(api.client, "unit_dc_sanitation")
    before = api.client.get("/unit").text
    assert number in before and "已督办" not in before and "未办结 1 件" in before
    dispatcher = Actor("dc_dispatcher", "dispatcher", "110101")
    with transaction(loaded_engine) as session:
        transition(session, dispatcher, number, "urge", 2, {"note": "尽快处理"})
    after = api.client.get("/unit").text
    assert "已督办 1 次" in after and "未办结 1 件" in after
