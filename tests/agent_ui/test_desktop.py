"""The agent desktop's server side: page, searches, saving, screen pop, events, state."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sqlalchemy import Engine, select

from agent_ui.live.events import EventHub
from hotline.calls.tracker import CallCompleted, CallConnected, CallLost
from hotline.cases.service import Actor, NewCase, create_case
from hotline.db import transaction
from hotline.demo import load_demo_users
from hotline.models import Call, Case

PASSWORDS = {
    "dc_agent": "agent-demo-123",
    "dc_dispatcher": "dispatch-demo-123",
    "xc_agent": "agent-demo-123",
    "city_agent": "agent-demo-123",
    "unit_dc_sanitation": "unit-demo-123",
}


def sign_in(client: Any, username: str) -> str:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    client.post(
        "/login",
        data={"username": username, "password": PASSWORDS[username], "csrf_token": csrf.group(1)},
    )
    desk = client.get("/")
    found = re.search(r'csrf: "([^"]+)"', desk.text)
    return found.group(1) if found else ""


def test_desktop_and_searches(api: Any, loaded_engine: Engine) -> None:
    load_demo_users(loaded_engine)
    csrf = sign_in(api.client, "dc_agent")
    assert csrf
    page = api.client.get("/")
    assert "登记案件" in page.text and "desktop.js" in page.text
    assert api.client.get("/static/desktop.js").status_code == 200
    hits = api.client.get("/desk/catalogue", params={"q": "bllj"}).json()
    assert [h["code"] for h in hits if h["kind"] == "event"] == ["0102"]  # 暴露垃圾
    assert any(
        h["code"] == "0103" for h in api.client.get("/desk/catalogue", params={"q": "渣土"}).json()
    )
    places = api.client.get("/desk/places", params={"q": "dhm"}).json()
    assert places[0]["name"] == "东华门街道"


def test_a_report_linked_as_a_repeat(api: Any, loaded_engine: Engine) -> None:
    """The desk registers a repeated report as a duplicate of the open case it names; the
    answer names the original for the caller; a closed original is refused, nothing saved."""
    load_demo_users(loaded_engine)
    with transaction(loaded_engine) as session:
        original, _ = create_case(
            session,
            Actor("dc_dispatcher", "dispatcher", "110101"),
            NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
            "first-report",
        )
        number = original.number
    csrf = sign_in(api.client, "dc_agent")
    body = {"idempotency_key": "repeat-1234", "kind": "event", "class_code": "0102"}
    linked = api.client.post(
        "/desk/cases", json=body | {"duplicate_of": number}, headers={"X-CSRF-Token": csrf}
    )
    assert linked.status_code == 201, linked.text
    assert (linked.json()["state"], linked.json()["duplicate_of"]) == ("duplicate", number)
    assert linked.json()["original_state"] == "已立案"
    with transaction(loaded_engine) as session:
        first = session.scalar(select(Case).where(Case.number == number))
        assert first is not None
        first.state = "closed"
    late = api.client.post(
        "/desk/cases",
        json=body | {"idempotency_key": "repeat-5678", "duplicate_of": number},
        headers={"X-CSRF-Token": csrf},
    )
    assert late.status_code == 409 and late.json()["error_id"] == "case-duplicate-closed"
    with transaction(loaded_engine) as session:
        assert session.scalar(select(Case).where(Case.idempotency_key.like("%repeat-5678"))) is None


def test_saving_twice_makes_one_case(api: Any, loaded_engine: Engine) -> None:
    load_demo_users(loaded_engine)
    csrf = sign_in(api.client, "dc_agent")
    body = {
        "idempotency_key": "form-123456",
        "kind": "event",
        "class_code": "0102",
        "district_code": "110101",
        "grid_code": "110101001001001",
        "address": "王府井大街",
        "description": "垃圾",
        "citizen_phone": "13800000000",
    }
    forged = api.client.post("/desk/cases", json=body, headers={"X-CSRF-Token": "nope"})
    assert forged.status_code == 403
    first = api.client.post("/desk/cases", json=body, headers={"X-CSRF-Token": csrf})
    second = api.client.post("/desk/cases", json=body, headers={"X-CSRF-Token": csrf})
    assert first.status_code == 201 and first.json()["created"] is True
    assert second.json() == first.json() | {"created": False}
    assert first.json()["number"].isdigit() and len(first.json()["number"]) == 10
    wrong = api.client.post(
        "/desk/cases",
        json=body | {"idempotency_key": "form-999999", "district_code": "110102"},
        headers={"X-CSRF-Token": csrf},
    )
    assert wrong.status_code == 403  # a Dongcheng agent cannot file for Xicheng
    for point in ({"lat": 31.23, "lon": 121.47}, {"lat": 39.9}):  # Shanghai; half a point
        nowhere = api.client.post(
            "/desk/cases",
            json=body | {"idempotency_key": "form-888888"} | point,
            headers={"X-CSRF-Token": csrf},
        )
        assert nowhere.status_code == 422 and nowhere.json()["error_id"] == "case-bad-point"
    not_an_agents = api.client.post(
        "/desk/cases",
        json=body | {"idempotency_key": "form-666666", "dispatch_to": "auto"},
        headers={"X-CSRF-Token": csrf},
    )
    assert not_an_agents.status_code == 403  # agents register; dispatchers dispatch
    api.client.post("/logout", data={"csrf_token": csrf})
    csrf = sign_in(api.client, "dc_dispatcher")
    dispatched = api.client.post(
        "/desk/cases",
        json=body | {"idempotency_key": "form-777777", "dispatch_to": "auto"},
        headers={"X-CSRF-Token": csrf},
    )
    assert dispatched.status_code == 201, dispatched.text
    assert (dispatched.json()["state"], dispatched.json()["unit_code"]) == (
        "dispatched",
        "dongcheng.sanitation",
    )


def test_screen_pop_in_scope(api: Any, loaded_engine: Engine) -> None:
    load_demo_users(loaded_engine)
    with transaction(loaded_engine) as session:
        # The caller's case in Dongcheng, and one in Xicheng: not for Dongcheng's desk to read.
        for district, grid in (("110101", "110101001001002"), ("110102", None)):
            create_case(
                session,
                Actor("x", "agent", "110000"),
                NewCase(
                    source="phone",
                    kind="event",
                    class_code="0102",
                    district_code=district,
                    grid_code=grid,
                    citizen_phone="13811112222",
                ),
                f"earlier-{district}",
            )
        call = Call(
            uniqueid="u-pop",
            linkedid="u-pop",
            caller_number="13811112222",
            district_code="110101",
            grid_code="110101001001001",
            intent="report",
            ivr_result={"district_source": "history"},
        )
        session.add(call)
        session.flush()
        call_id = call.id
    sign_in(api.client, "dc_agent")
    pop = api.client.get(f"/calls/{call_id}/pop").json()
    assert pop["caller"] == "13811112222" and pop["district_source"] == "history"
    assert len(pop["earlier_cases"]) == 1 and len(pop["nearby_open_cases"]) == 1
    assert pop["earlier_elsewhere"] == 1  # Xicheng's case: counted, never shown
    api.client.cookies.clear()
    sign_in(api.client, "city_agent")
    city = api.client.get(f"/calls/{call_id}/pop").json()
    assert len(city["earlier_cases"]) == 2 and city["earlier_elsewhere"] == 0
    assert pop["earlier_cases"][0]["number"] in {c["number"] for c in city["earlier_cases"]}


def test_unit_and_state_without_telephony(api: Any, loaded_engine: Engine) -> None:
    load_demo_users(loaded_engine)
    sign_in(api.client, "unit_dc_sanitation")
    assert api.client.get("/", follow_redirects=False).headers["location"] == "/unit"
    assert api.client.get("/desk/catalogue").status_code == 403
    api.client.cookies.clear()
    csrf = sign_in(api.client, "dc_agent")
    state = api.client.post("/agent/state", json={"state": "ready"}, headers={"X-CSRF-Token": csrf})
    assert state.status_code == 503  # no Asterisk in this test: a clear answer, not a hang
    bad = api.client.post(
        "/agent/state", json={"state": "paused", "reason": "nap"}, headers={"X-CSRF-Token": csrf}
    )
    assert bad.status_code == 422


def test_hub_delivers_and_drops_slow_pages() -> None:
    async def main() -> None:
        hub = EventHub()
        stream = hub.stream("dc_agent", lambda: asyncio.sleep(0, result=False))
        assert await anext(stream) == "retry: 2000\n\n"
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)
        await hub.on_connected(CallConnected(7, "dc_agent"))
        assert (await waiting).startswith('event: pop\ndata: {"call_id": 7}')
        # The call's end, and a call cut off by a lost node, reach the desk as "ended".
        await hub.on_connected(CallCompleted(7, "dc_agent", "hotline-110101", "Local/dc@a/n"))
        assert (await anext(stream)).startswith('event: ended\ndata: {"call_id": 7, "lost": false}')
        await hub.on_connected(CallLost(8, "dc_agent"))
        assert (await anext(stream)).startswith('event: ended\ndata: {"call_id": 8, "lost": true}')
        assert hub.publish("nobody", "pop", {}) == 0
        for n in range(40):  # never read: the page is dropped, not buffered without bound
            hub.publish("dc_agent", "pop", {"call_id": n})
        assert hub.dropped == 1 and hub.subscribers("dc_agent") == 0
        await stream.aclose()

    asyncio.run(main())
