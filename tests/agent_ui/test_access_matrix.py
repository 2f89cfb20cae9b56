"""Every signed-in route x every kind of user: a table that fails on any leak.

Users: nobody signed in, agents and supervisors of Dongcheng, an agent of Xicheng, the
city platform's agent and supervisor, two units, the admin and a Dongcheng field inspector.
A Dongcheng call and case and a Xicheng call exist; who may see what follows from role and
district alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction
from hotline.demo import load_demo_users
from hotline.models import Call, User
from hotline.users import agent_queues

PASSWORDS = {
    "dc_agent": "agent-demo-123",
    "xc_agent": "agent-demo-123",
    "city_agent": "agent-demo-123",
    "dc_super": "super-demo-123",
    "city_super": "super-demo-123",
    "dc_dispatcher": "dispatch-demo-123",
    "city_dispatcher": "dispatch-demo-123",
    "unit_dc_sanitation": "unit-demo-123",
    "unit_water": "unit-demo-123",
    "admin": "admin-demo-123",
    "dc_inspector": "inspect-demo-123",
}
USERS = ["anon", *PASSWORDS]
R = 303  # redirected to the sign-in page
# route: statuses in the order of USERS
TABLE: dict[str, list[int]] = {
    #                          anon dc_a xc_a ci_a dc_s ci_s dc_d ci_d u_dc u_wa admin dc_i
    "/": [R, 200, 200, 200, 200, 200, 200, 200, 303, 303, 303, 303],
    "/admin": [R, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 403],
    "/supervisor": [R, 403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 403],
    "/reports": [R, 403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 403],
    "/reports/cases": [R, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403],
    "/reports/cases.json": [R, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403],
    "/reports/cases.csv": [R, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403],
    "/reports/cases.xlsx": [R, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403],
    "/supervisor/inbox": [R, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403],
    "/field": [R, 200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 200],
    "/supervisor/ledger": [R, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403],
    "/supervisor/ledger.csv": [R, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403],
    "/supervisor/ledger.xlsx": [R, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403],
    "/supervisor/evaluation": [R, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403],
    "/supervisor/evaluation.json": [R, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403],
    "/supervisor/city": [R, 403, 403, 403, 403, 200, 403, 200, 403, 403, 403, 403],
    "/supervisor/city.json": [R, 403, 403, 403, 403, 200, 403, 200, 403, 403, 403, 403],
    "/supervisor/city/report": [R, 403, 403, 403, 403, 200, 403, 200, 403, 403, 403, 403],
    "/unit": [R, 403, 403, 403, 403, 403, 403, 403, 200, 200, 403, 403],
    "/unit/cases/{dc_case}": [R, 403, 403, 403, 403, 403, 403, 403, 200, 404, 403, 403],
    "/cases": [R, 200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 403],
    "/cases.csv": [R, 200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 403],
    "/cases.xlsx": [R, 200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 403],
    # the Dongcheng case dc_agent registered, dispatched to Dongcheng's sanitation unit
    "/cases/{dc_case}": [R, 200, 404, 404, 200, 200, 200, 200, 200, 404, 404, 404],
    "/desk/catalogue?q=bllj": [R, 200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 403],
    "/desk/places?q=dhm": [R, 200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 403],
    "/calls/{dc_call}/pop": [R, 200, 404, 200, 200, 200, 200, 200, 403, 403, 403, 403],
    "/calls/{xc_call}/pop": [R, 404, 200, 200, 404, 200, 404, 200, 403, 403, 403, 403],
    "/map/areas.geojson?level=street": [R, 200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 200],
    "/map/cells.geojson?bbox=116.4,39.91,116.41,39.92": [
        R,
        200,
        200,
        200,
        200,
        200,
        200,
        200,
        403,
        403,
        403,
        200,
    ],
    "/map/locate?lon=116.41&lat=39.91": [R, 200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 200],
    "/map/nearby?lon=116.41&lat=39.91&kind=event&class_code=0102": [
        *[R, 200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 403]
    ],
    "/cases/map.geojson": [R, 200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 403],
    "/map/components.geojson?bbox=116.4,39.91,116.41,39.92": [
        *[R, 200, 200, 200, 200, 200, 200, 200, 403, 403, 403, 200]
    ],
    "/supervisor/map": [R, 403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 403],
    "/events": [R, None, None, None, None, None, None, None, None, None, None, None],
    "/supervisor/stream": [R, None, None, None, None, None, None, None, None, None, None, None],
}
CASES = [
    (route, user, status)
    for route, statuses in TABLE.items()
    for user, status in zip(USERS, statuses, strict=True)
    if status is not None
]


def world(engine: Engine) -> dict[str, str]:
    load_demo_users(engine)
    with transaction(engine) as session:
        agent = Actor("dc_agent", "agent", "110101")
        case, _ = create_case(
            session,
            agent,
            NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
            "m",
        )
        dispatcher = Actor("dc_dispatcher", "dispatcher", "110101")
        transition(session, dispatcher, case.number, "dispatch", 1, {"unit_code": "auto"})
        ids = {}
        for name, district in (("dc_call", "110101"), ("xc_call", "110102")):
            call = Call(
                uniqueid=name, linkedid=name, caller_number="13800000000", district_code=district
            )
            session.add(call)
            session.flush()
            ids[name] = str(call.id)
        return {"dc_case": case.number, **ids}


def sign_in(client: Any, user: str) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    done = client.post(
        "/login",
        data={"username": user, "password": PASSWORDS[user], "csrf_token": csrf.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303


@pytest.mark.parametrize(("route", "user", "status"), CASES)
def test_matrix(api: Any, loaded_engine: Engine, route: str, user: str, status: int) -> None:
    ids = world(loaded_engine)
    if user != "anon":
        sign_in(api.client, user)
    response = api.client.get(route.format(**ids), follow_redirects=False)
    assert response.status_code == status, (route, user, response.text[:200])


def test_admin_adds_and_deactivates(api: Any, loaded_engine: Engine) -> None:
    world(loaded_engine)
    sign_in(api.client, "admin")
    page = api.client.get("/admin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None and "东城区" in page.text and ">hotline-110101" not in page.text
    made = api.client.post(
        "/admin/users",
        data={
            "csrf_token": csrf.group(1),
            "username": "dc_agent2",
            "password": "long-enough-1",
            "role": "agent",
            "scope": "110101",
            "name": "新坐席",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    bad = api.client.post(
        "/admin/users",
        data={
            "csrf_token": csrf.group(1),
            "username": "x",
            "password": "short",
            "role": "agent",
            "scope": "110101",
        },
    )
    assert bad.status_code == 422
    assert "密码至少 8 个字符" in bad.text and 'value="x"' in bad.text  # beside it, input kept
    confirmable = api.client.get("/admin").text
    assert 'action="/admin/users/dc_agent2/deactivate" data-confirm=' in confirmable
    gone = api.client.post(
        "/admin/users/dc_agent2/deactivate",
        data={"csrf_token": csrf.group(1)},
        follow_redirects=False,
    )
    assert gone.status_code == 303
    assert 'action="/admin/users/dc_agent2/reactivate"' in api.client.get("/admin").text
    back = api.client.post(
        "/admin/users/dc_agent2/reactivate",
        data={"csrf_token": csrf.group(1)},
        follow_redirects=False,
    )
    assert back.status_code == 303
    with transaction(loaded_engine) as session:
        again = session.scalar(select(User).where(User.username == "dc_agent2"))
        assert again is not None and again.active
    forged = api.client.post("/admin/users/dc_agent/deactivate", data={"csrf_token": "x"})
    assert forged.status_code == 403


def test_admin_sets_queue_memberships_with_penalties(api: Any, loaded_engine: Engine) -> None:
    world(loaded_engine)
    sign_in(api.client, "admin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', api.client.get("/admin").text)
    assert csrf is not None
    token = csrf.group(1)

    def member(queue: str, penalty: int, username: str = "dc_agent") -> Any:
        return api.client.post(
            "/admin/memberships",
            data={"csrf_token": token, "username": username, "queue": queue, "penalty": penalty},
            follow_redirects=False,
        )

    assert member("hotline-110101", 0).status_code == 303
    assert member("hotline-city", 5).status_code == 303  # overflow skill: the city queue
    assert member("hotline-city", 3).status_code == 303  # changed, not doubled
    with transaction(loaded_engine) as session:
        agent = session.scalar(select(User).where(User.username == "dc_agent"))
        assert agent is not None
        assert agent_queues(session, agent) == [("hotline-110101", 0), ("hotline-city", 3)]
    page = api.client.get("/admin")
    assert "市级平台 (3)" in page.text
    assert "请选择平台的队列" in member("hotline-nowhere", 0).text
    assert "只有受理员可以加入队列" in member("hotline-city", 0, username="dc_super").text
    assert member("hotline-city", 11).status_code == 422  # penalty 0 to 10
    removed = api.client.post(
        "/admin/memberships/remove",
        data={"csrf_token": token, "username": "dc_agent", "queue": "hotline-city"},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    forged = api.client.post(
        "/admin/memberships",
        data={"csrf_token": "x", "username": "dc_agent", "queue": "hotline-city"},
    )
    assert forged.status_code == 403
    sign_in(api.client, "dc_super")
    assert member("hotline-city", 0).status_code == 403  # only admins


def test_an_agent_without_memberships_joins_the_platform_queue(loaded_engine: Engine) -> None:
    world(loaded_engine)
    with transaction(loaded_engine) as session:
        agent = session.scalar(select(User).where(User.username == "xc_agent"))
        assert agent is not None
        assert agent_queues(session, agent) == [("hotline-110102", 0)]


def test_supervisor_pages(api: Any, loaded_engine: Engine) -> None:
    world(loaded_engine)
    sign_in(api.client, "dc_super")
    board = api.client.get("/supervisor")
    # The wallboard draws its tables from the JSON in the page (non-ASCII escaped there).
    assert json.dumps("东城区平台")[1:-1] in board.text
    assert json.dumps("西城区平台")[1:-1] not in board.text
    report = api.client.get("/reports", params={"start": "2026-11-01", "end": "2026-11-30"})
    assert "指标定义" in report.text and "服务水平" in report.text
    assert "Definitions" not in report.text  # words for people, not the module's docstring
    for start, end in (("0001-01-01", "0001-01-02"), ("9999-12-30", "9999-12-31")):
        far = api.client.get("/reports", params={"start": start, "end": end})
        assert far.status_code == 422, (start, far.status_code)  # not a 500
    month_zero = api.client.get("/public/evaluation.json", params={"month": "0000-01"})
    assert month_zero.status_code == 422
    csv_text = api.client.get("/reports", params={"format": "csv"}).text
    assert csv_text.lstrip("\ufeff").startswith("group,key,offered")
    page = api.client.get("/")
    csrf = re.search(r'csrf: "([^"]+)"', page.text)
    assert csrf is not None
    forced = api.client.post(
        "/supervisor/agents/dc_agent/state",
        json={"state": "paused"},
        headers={"X-CSRF-Token": csrf.group(1)},
    )
    assert forced.status_code == 503  # no Asterisk here
    other = api.client.post(
        "/supervisor/agents/xc_agent/state",
        json={"state": "paused"},
        headers={"X-CSRF-Token": csrf.group(1)},
    )
    assert other.status_code == 404  # not on this supervisor's platform
    assert (
        api.client.get("/reports", params={"start": "2026-11-30", "end": "2026-11-01"}).status_code
        == 422
    )
