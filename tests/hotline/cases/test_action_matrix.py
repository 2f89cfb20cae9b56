"""Role × scope × action: every action on a case is refused for every role and scope that
must not take it, and taken by those that may. The expected table is written out here
from the rules as people state them (hotline/roles.py), not read from the code's tables.

Each (action, actor) pair gets a fresh Dongcheng case in a state where the action is
possible, so a refusal is about who asks, never about the case's state. A refusal leaves
the case as it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select

from hotline.cases.calendar import load_calendar
from hotline.cases.joint import assign_joint
from hotline.cases.service import (
    Actor,
    CaseError,
    NewCase,
    create_case,
    decide_extension,
    request_extension,
    transition,
)
from hotline.db import transaction
from hotline.models import Case

NOW = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)  # Monday 10:00 in Beijing
ACTORS = {
    "dc_agent": Actor("dc_agent", "agent", "110101"),
    "xc_agent": Actor("xc_agent", "agent", "110102"),
    "city_agent": Actor("city_agent", "agent", "110000"),
    "dc_dispatcher": Actor("dc_dispatcher", "dispatcher", "110101"),
    "xc_dispatcher": Actor("xc_dispatcher", "dispatcher", "110102"),
    "city_dispatcher": Actor("city_dispatcher", "dispatcher", "110000"),
    "dc_super": Actor("dc_super", "supervisor", "110101"),
    "xc_super": Actor("xc_super", "supervisor", "110102"),
    "city_super": Actor("city_super", "supervisor", "110000"),
    "unit_dc": Actor("unit_dc_sanitation", "unit", "110101", "dongcheng.sanitation"),
    "unit_xc": Actor("unit_xc_sanitation", "unit", "110102", "xicheng.sanitation"),
    "unit_water": Actor("unit_water", "unit", "110000", "bj.water_supply"),
    "dc_inspector": Actor("dc_inspector", "inspector", "110101"),
    "admin": Actor("admin", "admin", "110000"),
}
DC_STAFF = {"dc_dispatcher", "dc_super"}
CITY_STAFF = {"city_dispatcher", "city_super"}
STAFF = DC_STAFF | CITY_STAFF
LEAD_UNIT = {"unit_dc"}
# Who may take each action on a Dongcheng case registered by dc_agent.
EXPECTED: dict[str, set[str]] = {
    "register": {"dc_agent"} | STAFF,  # the agent who received it, and the platforms' staff
    "mark_invalid": STAFF,
    "mark_duplicate": STAFF,
    "dispatch": STAFF,
    "accept": LEAD_UNIT,
    "return": LEAD_UNIT,
    "report_handled": LEAD_UNIT,
    "verify": STAFF,
    "rework": STAFF,
    "close": STAFF,
    "urge": STAFF,
    "escalate": DC_STAFF,  # the district goes up to the city; the city has no one above
    "hand_down": CITY_STAFF,  # the city gives a case back to a district
    "to_ledger": STAFF,
    "resume": STAFF,
    "request_extension": LEAD_UNIT,
    "decide_extension": STAFF,
    "joint_job": CITY_STAFF,  # joint jobs are the city platform's to assign
}

DC = Actor("dc_agent", "agent", "110101")
DISPATCHER = ACTORS["dc_dispatcher"]
UNIT = ACTORS["unit_dc"]


def _case(engine: Engine, key: str, steps: list[tuple[Actor, str, dict[str, object]]]) -> str:
    """A Dongcheng case filed by dc_agent (received, or registered with a class), then the
    steps that bring it to the state an action needs."""
    classified = not steps or steps[0][1] != "register_pending"
    with transaction(engine) as session:
        case, _ = create_case(
            session,
            DC,
            NewCase(
                source="phone",
                kind="event" if classified else None,
                class_code="0102" if classified else None,
                district_code="110101",
                description="路边垃圾",
            ),
            key,
            now=NOW,
        )
        number = case.number
    for actor, action, data in steps:
        if action == "register_pending":
            continue
        with transaction(engine) as session:
            current = session.scalar(select(Case).where(Case.number == number))
            assert current is not None
            if action == "request_extension":
                request_extension(session, actor, number, current.version, 4, "需协调", now=NOW)
            else:
                transition(
                    session,
                    actor,
                    number,
                    action,
                    current.version,
                    data,
                    now=NOW,
                    calendar=load_calendar(session),
                )
    return number


DISPATCHED = [(DISPATCHER, "dispatch", {"unit_code": "dongcheng.sanitation"})]
IN_PROGRESS = [*DISPATCHED, (UNIT, "accept", {})]
HANDLED = [*IN_PROGRESS, (UNIT, "report_handled", {"note": "已清理"})]
SETUP: dict[str, list[tuple[Actor, str, dict[str, object]]]] = {
    "register": [(DC, "register_pending", {})],
    "mark_invalid": [],
    "mark_duplicate": [],
    "dispatch": [],
    "accept": DISPATCHED,
    "return": DISPATCHED,
    "report_handled": IN_PROGRESS,
    "verify": HANDLED,
    "rework": HANDLED,
    "close": [*HANDLED, (DISPATCHER, "verify", {"solved": True, "satisfaction": 5})],
    "urge": DISPATCHED,
    "escalate": IN_PROGRESS,
    "hand_down": [(DISPATCHER, "escalate", {"note": "需市级协调"})],
    "to_ledger": IN_PROGRESS,
    "resume": [*IN_PROGRESS, (DISPATCHER, "to_ledger", {"note": "需整体改造"})],
    "request_extension": IN_PROGRESS,
    "decide_extension": [*IN_PROGRESS, (UNIT, "request_extension", {})],
    "joint_job": IN_PROGRESS,
}
DATA: dict[str, dict[str, object]] = {
    "register": {"kind": "event", "class_code": "0102"},
    "mark_invalid": {"note": "无效"},
    "dispatch": {"unit_code": "dongcheng.sanitation"},
    "return": {"note": "非本单位"},
    "report_handled": {"note": "已处理"},
    "verify": {"solved": True, "satisfaction": 4},
    "rework": {"note": "未处理干净"},
    "urge": {"note": "请尽快"},
    "escalate": {"note": "需协调"},
    "hand_down": {"note": "区级事权"},
    "to_ledger": {"note": "需改造"},
    "resume": {"note": "可以处置"},
}


def _attempt(engine: Engine, action: str, actor: Actor, number: str, original: str) -> None:
    with transaction(engine) as session:
        version = session.scalar(select(Case.version).where(Case.number == number))
        assert version is not None
        calendar = load_calendar(session)
        runs: dict[str, Callable[[], object]] = {
            "request_extension": lambda: request_extension(
                session, actor, number, version, 8, "需要更多时间", now=NOW
            ),
            "decide_extension": lambda: decide_extension(
                session, actor, number, version, True, calendar, now=NOW
            ),
            "joint_job": lambda: assign_joint(
                session, actor, number, version, ["bj.water_supply"], "协同", now=NOW
            ),
            "mark_duplicate": lambda: transition(
                session, actor, number, action, version, {"duplicate_of": original}, now=NOW
            ),
        }
        run = runs.get(action) or (
            lambda: transition(
                session,
                actor,
                number,
                action,
                version,
                dict(DATA.get(action, {})),
                now=NOW,
                calendar=calendar,
            )
        )
        run()


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_every_role_and_scope(loaded_engine: Engine, action: str) -> None:
    original = _case(loaded_engine, f"{action}-original", [])
    outcomes: dict[str, str] = {}
    for name, actor in ACTORS.items():
        number = _case(loaded_engine, f"{action}-{name}", SETUP[action])
        with transaction(loaded_engine) as session:
            before = session.scalar(select(Case.version).where(Case.number == number))
        try:
            _attempt(loaded_engine, action, actor, number, original)
            outcomes[name] = "done"
        except CaseError as exc:
            outcomes[name] = exc.error_id
            assert exc.status in (403, 404), (name, exc.error_id, exc.status, str(exc))
            with transaction(loaded_engine) as session:  # a refusal changes nothing
                after = session.scalar(select(Case.version).where(Case.number == number))
            assert after == before, name
    allowed = {name for name, outcome in outcomes.items() if outcome == "done"}
    assert allowed == EXPECTED[action], outcomes
