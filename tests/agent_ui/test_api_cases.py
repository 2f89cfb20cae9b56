"""The cases REST API: tokens, idempotency, lifecycle actions, conflicts, scope, bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine

from hotline.db import transaction
from hotline.tokens import make_token

RUBBISH = {
    "kind": "event",
    "class_code": "0102",
    "district_code": "110101",
    "grid_code": "110101001001001",
    "address": "王府井大街",
    "description": "暴露垃圾",
}


def post_case(api: Any, body: dict[str, Any] = RUBBISH, key: str = "k-1") -> Any:
    return api.client.post(
        "/api/v1/cases", json=body, headers={**api.system, "Idempotency-Key": key}
    )


def act(
    api: Any, headers: dict[str, str], number: str, action: str, version: int, **data: Any
) -> Any:
    note = data.pop("note", "")
    return api.client.post(
        f"/api/v1/cases/{number}/actions/{action}",
        headers=headers,
        json={"version": version, "note": note, "data": data},
    )


def test_create_is_idempotent(api: Any) -> None:
    first = post_case(api)
    assert first.status_code == 201
    again = post_case(api)
    assert again.status_code == 200 and again.json()["number"] == first.json()["number"]
    body = first.json()
    assert (body["state"], body["version"], body["source"]) == ("registered", 1, "api")
    assert "dispatch" in body["actions"]


def test_create_dispatched_and_key_scope(api: Any) -> None:
    made = post_case(api, RUBBISH | {"dispatch_to": "auto"}, "k-dispatch")
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["state"], body["unit_code"]) == ("dispatched", "dongcheng.sanitation")
    assert body["due_at"] is not None
    # Keys are each client's own: another system using the same key files its own case
    # (it neither gets the first one back nor learns that it exists).
    other = api.client.post(
        "/api/v1/cases",
        json=RUBBISH | {"district_code": "110102", "grid_code": None},
        headers={**api.xicheng, "Idempotency-Key": "k-dispatch"},
    )
    assert other.status_code == 201, other.text
    assert other.json()["number"] != body["number"]
    same_scope = post_case(api, RUBBISH | {"dispatch_to": "auto"}, "k-dispatch")
    assert same_scope.status_code == 200 and same_scope.json()["number"] == body["number"]


def test_unit_works_its_job(api: Any) -> None:
    number = post_case(api).json()["number"]
    dispatched = act(api, api.system, number, "dispatch", 1, unit_code="auto")
    assert dispatched.status_code == 200, dispatched.text
    assert dispatched.json()["unit_code"] == "dongcheng.sanitation"
    jobs = api.client.get("/api/v1/cases", headers=api.unit).json()
    assert [j["number"] for j in jobs] == [number]
    assert jobs[0]["actions"] == ["accept", "return"]
    assert api.client.get("/api/v1/cases", headers=api.water).json() == []
    accepted = act(api, api.unit, number, "accept", 2)
    assert accepted.json()["state"] == "in_progress"
    done = act(api, api.unit, number, "report_handled", 3, note="已清运")
    assert done.json()["state"] == "handled"


def test_conflict_and_refusals(api: Any) -> None:
    number = post_case(api).json()["number"]
    assert act(api, api.system, number, "dispatch", 1, unit_code="auto").status_code == 200
    stale = act(api, api.system, number, "mark_invalid", 1, note="x")
    assert stale.status_code == 409 and stale.json()["error_id"] == "case-conflict"
    forbidden = act(api, api.system, number, "accept", 2)
    assert forbidden.status_code == 403 and forbidden.json()["error_id"] == "case-forbidden"
    other = api.client.get(f"/api/v1/cases/{number}", headers=api.water)
    assert other.status_code == 404  # not even a hint that it exists
    assert api.client.get(f"/api/v1/cases/{number}", headers=api.xicheng).status_code == 404


@pytest.mark.parametrize(
    ("headers", "status", "error_id"),
    [
        ({}, 401, "auth-required"),
        ({"Authorization": "Bearer nope"}, 401, "auth-required"),
        ({"Authorization": "Basic abc"}, 401, "auth-required"),
    ],
)
def test_needs_a_token(api: Any, headers: dict[str, str], status: int, error_id: str) -> None:
    response = api.client.get("/api/v1/cases", headers=headers)
    assert response.status_code == status and response.json()["error_id"] == error_id


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"class_code": "01x2"}, 422),
        ({"class_code": "0198"}, 422),
        ({"grid_code": "110102001001001"}, 422),
        ({"lat": 95}, 422),
        ({"lat": 39.9}, 422),  # half a point
        ({"lat": 30.0, "lon": 116.4}, 422),  # outside the city's bounds (Shanghai's latitude)
        ({"citizen_phone": "abc"}, 422),
        ({"urgency": "now"}, 422),
    ],
)
def test_bad_input(api: Any, change: dict[str, Any], status: int) -> None:
    response = post_case(api, RUBBISH | change, key=f"bad-{change}")
    assert response.status_code == status, response.text


def test_openapi_describes_the_api(api: Any) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "/api/v1/cases/{number}/actions/{action}" in spec["paths"]
    assert "/open311/v2/requests.{fmt}" in spec["paths"]


def test_extension_over_the_api(api: Any) -> None:
    number = post_case(api).json()["number"]
    due = act(api, api.system, number, "dispatch", 1, unit_code="auto").json()["due_at"]
    asked = api.client.post(
        f"/api/v1/cases/{number}/extension",
        headers=api.unit,
        json={"version": 2, "approve": False, "hours": 8, "reason": "需要夜间施工"},
    )
    assert asked.status_code == 200, asked.text
    decided = api.client.post(
        f"/api/v1/cases/{number}/extension",
        headers=api.system,
        json={"version": 3, "approve": True},
    )
    assert decided.status_code == 200 and decided.json()["due_at"] > due
    again = api.client.post(
        f"/api/v1/cases/{number}/extension",
        headers=api.system,
        json={"version": 4, "approve": True},
    )
    assert again.status_code == 409 and again.json()["error_id"] == "case-no-extension"


def test_joint_job_over_the_api(api: Any) -> None:
    number = post_case(api).json()["number"]
    assert act(api, api.system, number, "dispatch", 1, unit_code="auto").status_code == 200
    district = api.client.post(
        f"/api/v1/cases/{number}/joint",
        json={"version": 2, "units": ["bj.water_supply"]},
        headers=api.xicheng,
    )
    assert district.status_code == 403  # joint jobs are the city platform's to assign
    made = api.client.post(
        f"/api/v1/cases/{number}/joint",
        json={"version": 2, "units": ["bj.water_supply"], "note": "管线破损，需供水集团配合"},
        headers=api.system,
    )
    assert made.status_code == 200, made.text
    assert made.json()["unit_code"] == "dongcheng.sanitation"
    mine = api.client.get("/api/v1/cases/assisting/mine", headers=api.water).json()
    assert [(j["number"], j["done"]) for j in mine] == [(number, False)]
    assert api.client.get("/api/v1/cases/assisting/mine", headers=api.system).status_code == 403
    assert api.client.get(f"/api/v1/cases/{number}", headers=api.water).status_code == 404
    done = api.client.post(
        f"/api/v1/cases/{number}/assist-done", json={"note": "已抢修"}, headers=api.water
    )
    assert done.status_code == 204
    mine = api.client.get("/api/v1/cases/assisting/mine", headers=api.water).json()
    assert mine[0]["done"] is True
    case = api.client.get(f"/api/v1/cases/{number}", headers=api.system).json()
    assert (case["state"], case["unit_code"]) == ("dispatched", "dongcheng.sanitation")


def test_action_data_is_strictly_typed(api: Any) -> None:
    """The review's request: strings where a yes/no and a score are meant were stored as
    solved=true and broke the public evaluation for the month."""
    number = post_case(api).json()["number"]
    act(api, api.system, number, "dispatch", 1, unit_code="auto")
    act(api, api.unit, number, "accept", 2)
    act(api, api.unit, number, "report_handled", 3, note="已清运")
    forged = act(api, api.system, number, "verify", 4, solved="false", satisfaction="5")
    assert forged.status_code == 422, forged.text
    assert forged.json()["error_id"] == "case-bad-data" and "solved" in forged.json()["detail"]
    extra = act(api, api.system, number, "verify", 4, solved=False, satisfaction=5, junk=1)
    assert extra.status_code == 422 and "junk" in extra.json()["detail"]
    verified = act(api, api.system, number, "verify", 4, solved=False, satisfaction=2)
    assert verified.status_code == 200, verified.text
    assert verified.json()["solved"] is False
    assert api.client.get("/public/evaluation.json").status_code == 200


def test_history_holds_only_checked_values(api: Any) -> None:
    number = post_case(api).json()["number"]
    act(api, api.system, number, "dispatch", 1, unit_code="auto")
    forged = act(api, api.unit, number, "accept", 2, state="closed", unit_code="bj.water_supply")
    assert forged.status_code == 422 and forged.json()["error_id"] == "case-bad-data"
    huge = api.client.post(
        f"/api/v1/cases/{number}/actions/accept",
        headers=api.unit,
        json={"version": 2, "data": {"note": "x" * 5_000_000}},
    )
    assert huge.status_code == 422
    assert act(api, api.unit, number, "accept", 2).status_code == 200


def test_duplicate_takes_a_case_number_in_scope(api: Any) -> None:
    first = post_case(api, key="dup-1").json()["number"]
    second = post_case(api, key="dup-2").json()["number"]
    theirs = api.client.post(
        "/api/v1/cases",
        json=RUBBISH | {"district_code": "110102", "grid_code": None},
        headers={**api.xicheng, "Idempotency-Key": "dup-3"},
    ).json()["number"]
    # Xicheng cannot point at a Dongcheng case (nor learn that it exists).
    hidden = act(api, api.xicheng, theirs, "mark_duplicate", 1, duplicate_of=first)
    unknown = act(api, api.xicheng, theirs, "mark_duplicate", 1, duplicate_of="2001010001")
    assert hidden.status_code == unknown.status_code == 422
    assert hidden.json()["detail"].replace(first, "N") == unknown.json()["detail"].replace(
        "2001010001", "N"
    )
    done = act(api, api.system, second, "mark_duplicate", 1, duplicate_of=first)
    assert done.status_code == 200 and done.json()["state"] == "duplicate"
    # Both ways of making a duplicate say which case it repeats; the original says nothing.
    assert done.json()["duplicate_of"] == first
    linked = post_case(api, RUBBISH | {"duplicate_of": first}, "dup-4").json()
    assert (linked["state"], linked["duplicate_of"]) == ("duplicate", first)
    original = api.client.get(f"/api/v1/cases/{first}", headers=api.system).json()
    assert original["duplicate_of"] is None


def test_times_carry_their_zone(api: Any) -> None:
    body = post_case(api, key="tz").json()
    for field in ("created_at", "updated_at"):
        parsed = dt.datetime.fromisoformat(body[field])
        assert parsed.tzinfo is not None, body[field]


def test_a_district_system_files_in_its_district(api: Any) -> None:
    made = api.client.post(
        "/api/v1/cases",
        json={"kind": "event", "class_code": "0102", "description": "无地点"},
        headers={**api.xicheng, "Idempotency-Key": "no-district"},
    )
    assert made.status_code == 201 and made.json()["district_code"] == "110102"
    number = made.json()["number"]
    assert api.client.get(f"/api/v1/cases/{number}", headers=api.xicheng).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind": "event", "class_code": "0102", "lat": NaN, "lon": 116.4}',
        b'{"kind": "event", "class_code": "0102", "lat": Infinity, "lon": 116.4}',
        b'{"kind": "event", "class_code": "0102", "description": "\\ud800"}',
    ],
)
def test_odd_json_is_a_clear_422(api: Any, body: bytes) -> None:
    """NaN, Infinity and a lone surrogate made FastAPI's 422 handler fail with a 500."""
    response = api.client.post(
        "/api/v1/cases",
        content=body,
        headers={**api.system, "Idempotency-Key": "odd", "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error_id"] in ("request-invalid", "case-bad-point")


def test_tokens_carry_a_persons_role_and_scope(api: Any, loaded_engine: Engine) -> None:
    """An integration is never stuck on "an agent may not ...": a token does what the role
    it was given may do, in its scope."""
    with transaction(loaded_engine) as session:
        agent = make_token(session, "desk-system", "agent", scope_code="110101")
        boss = make_token(session, "dc-supervisor-system", "supervisor", scope_code="110101")
    as_agent = {"Authorization": f"Bearer {agent}"}
    as_boss = {"Authorization": f"Bearer {boss}"}
    made = api.client.post(
        "/api/v1/cases", json=RUBBISH, headers={**as_agent, "Idempotency-Key": "role-1"}
    )
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    refused = act(api, as_agent, number, "dispatch", 1, unit_code="auto")
    assert refused.status_code == 403 and refused.json()["error_id"] == "case-forbidden"
    assert act(api, as_boss, number, "dispatch", 1, unit_code="auto").status_code == 200
    act(api, api.unit, number, "accept", 2)
    assert act(api, as_boss, number, "to_ledger", 3, note="需整体改造").json()["state"] == "ledger"
    assert (
        act(api, as_boss, number, "resume", 4, note="已具备条件").json()["state"] == "in_progress"
    )
    escalated = act(api, as_boss, number, "escalate", 5, note="需市级协调")
    assert escalated.json()["state"] == "escalated"
