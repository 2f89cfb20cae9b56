"""The case service on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, func, select

from hotline.cases.calendar import load_calendar
from hotline.cases.service import Actor, CaseError, NewCase, create_case, get_case, transition
from hotline.db import session_factory, transaction
from hotline.models import Case, CaseHistory, Notification, OutboxEvent

AGENT = Actor("dc_agent", "agent", "110101")
SUPERVISOR = Actor("dc_super", "supervisor", "110101")
DISPATCHER = Actor("dc_dispatcher", "dispatcher", "110101")
CITY_DISPATCHER = Actor("city_dispatcher", "dispatcher", "110000")
XICHENG = Actor("xc_agent", "agent", "110102")
CITY = Actor("city_agent", "agent", "110000")
SANITATION = Actor("unit_dc_sanitation", "unit", "110101", "dongcheng.sanitation")
WATER = Actor("unit_water", "unit", "110000", "bj.water_supply")
# Monday 2026-11-30 10:00 in Beijing.
NOW = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
RUBBISH = NewCase(
    source="phone",
    kind="event",
    class_code="0102",
    district_code="110101",
    grid_code="110101001001001",
    address="王府井大街",
    description="垃圾堆在路边",
    citizen_phone="13800000000",
)


def register(engine: Engine, key: str | None = "k-1") -> str:
    with transaction(engine) as session:
        case, created = create_case(session, AGENT, RUBBISH, key, now=NOW)
        assert created
        return case.number


def step(engine: Engine, actor: Actor, number: str, action: str, **data: object) -> Case:
    with transaction(engine) as session:
        version = get_case(session, actor, number).version
        return transition(
            session, actor, number, action, version, data, now=NOW, calendar=load_calendar(session)
        )


def test_whole_life_with_history(loaded_engine: Engine) -> None:
    number = register(loaded_engine)
    dispatched = step(loaded_engine, DISPATCHER, number, "dispatch", unit_code="auto")
    assert dispatched.unit_code == "dongcheng.sanitation"  # event 0102 in Dongcheng
    assert dispatched.due_at is not None
    due = (
        dispatched.due_at.replace(tzinfo=dt.UTC)
        if dispatched.due_at.tzinfo is None
        else dispatched.due_at
    )
    # 4 working hours from 10:00: 10-12 and 13:30-15:30 local, i.e. 07:30 UTC
    assert due == dt.datetime(2026, 11, 30, 7, 30, tzinfo=dt.UTC)
    step(loaded_engine, SANITATION, number, "accept")
    step(loaded_engine, SANITATION, number, "report_handled", note="已清理")
    step(loaded_engine, DISPATCHER, number, "verify", solved=True, satisfaction=5)
    closed = step(loaded_engine, SUPERVISOR, number, "close")
    assert (closed.state, closed.solved, closed.satisfaction, closed.version) == (
        "closed",
        True,
        5,
        6,
    )
    with transaction(loaded_engine) as session:
        history = session.execute(
            select(
                CaseHistory.action, CaseHistory.from_state, CaseHistory.to_state, CaseHistory.actor
            )
            .join(Case, Case.id == CaseHistory.case_id)
            .where(Case.number == number)
            .order_by(CaseHistory.id)
        ).all()
    assert [tuple(h) for h in history] == [
        ("create", None, "registered", "dc_agent"),
        ("dispatch", "registered", "dispatched", "dc_dispatcher"),
        ("accept", "dispatched", "in_progress", "unit_dc_sanitation"),
        ("report_handled", "in_progress", "handled", "unit_dc_sanitation"),
        ("verify", "handled", "verified", "dc_dispatcher"),
        ("close", "verified", "closed", "dc_super"),
    ]


def test_same_key_makes_one_case(loaded_engine: Engine) -> None:
    first = register(loaded_engine, "same-key")
    with transaction(loaded_engine) as session:
        case, created = create_case(session, AGENT, RUBBISH, "same-key", now=NOW)
        assert (case.number, created) == (first, False)
        assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_dispatched_on_registration(loaded_engine: Engine) -> None:
    """One transaction registers and dispatches: the same case, history and events as
    registering and then dispatching, each step telling its own state."""
    with transaction(loaded_engine) as session:
        case, created = create_case(
            session,
            DISPATCHER,
            dataclasses.replace(RUBBISH, dispatch_to="auto"),
            "at-once",
            now=NOW,
            calendar=load_calendar(session),
        )
        number = case.number
    assert created
    assert (case.state, case.unit_code, case.version) == (
        "dispatched",
        "dongcheng.sanitation",
        1,
    )
    assert case.due_at is not None
    assert case.due_at.astimezone(dt.UTC) == dt.datetime(2026, 11, 30, 7, 30, tzinfo=dt.UTC)
    with transaction(loaded_engine) as session:
        rows = session.execute(
            select(CaseHistory.action, CaseHistory.from_state, CaseHistory.to_state)
            .join(Case, Case.id == CaseHistory.case_id)
            .where(Case.number == number)
            .order_by(CaseHistory.id)
        ).all()
        events = session.scalars(
            select(OutboxEvent.payload)
            .join(Case, Case.id == OutboxEvent.case_id)
            .where(Case.number == number)
            .order_by(OutboxEvent.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("create", None, "registered"),
        ("dispatch", "registered", "dispatched"),
    ]
    assert [(e["action"], e["state"], e["unit"]) for e in events] == [
        ("create", "registered", None),
        ("dispatch", "dispatched", "dongcheng.sanitation"),
    ]
    assert events[1]["due_at"] is not None and events[0]["due_at"] is None
    # It goes on like any dispatched case.
    assert step(loaded_engine, SANITATION, number, "accept").state == "in_progress"


@pytest.mark.parametrize(
    ("change", "error_id"),
    [
        ({"dispatch_to": "nobody"}, "case-bad-unit"),
        ({"dispatch_to": "auto", "kind": None, "class_code": None}, "case-missing-data"),
    ],
)
def test_dispatch_on_registration_refused(
    loaded_engine: Engine, change: dict[str, object], error_id: str
) -> None:
    with transaction(loaded_engine) as session, pytest.raises(CaseError) as caught:
        create_case(session, DISPATCHER, dataclasses.replace(RUBBISH, **change), "k", now=NOW)
    assert caught.value.error_id == error_id
    with transaction(loaded_engine) as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_inspector_files_field_reports_and_sees_only_them(loaded_engine: Engine) -> None:
    inspector = Actor("dc_inspector", "inspector", "110101")
    mine = dataclasses.replace(RUBBISH, source="field")
    with transaction(loaded_engine) as session:
        case, _ = create_case(session, inspector, mine, "field-1", now=NOW)
        assert get_case(session, inspector, case.number).created_by == "dc_inspector"
        with pytest.raises(CaseError) as caught:  # a phone case is the platform's to file
            create_case(session, inspector, RUBBISH, "phone-1", now=NOW)
        assert caught.value.status == 403
        with pytest.raises(CaseError) as outside:  # and only in the inspector's district
            create_case(
                session,
                inspector,
                dataclasses.replace(mine, district_code="110102", grid_code=None),
                None,
                now=NOW,
            )
        assert outside.value.status == 403
    other = register(loaded_engine, "agent-case")
    with transaction(loaded_engine) as session, pytest.raises(CaseError) as hidden:
        get_case(session, inspector, other)  # the agent's case in the same district
    assert hidden.value.status == 404


def test_key_of_a_case_out_of_scope_is_refused(loaded_engine: Engine) -> None:
    register(loaded_engine, "shared-key")  # a Dongcheng case
    with transaction(loaded_engine) as session, pytest.raises(CaseError) as caught:
        create_case(
            session,
            XICHENG,
            dataclasses.replace(RUBBISH, district_code="110102", grid_code=None),
            "shared-key",
            now=NOW,
        )
    assert (caught.value.error_id, caught.value.status) == ("case-key-taken", 409)
    assert "2611" not in str(caught.value)  # nothing about the case behind the key


def test_same_key_at_the_same_time_makes_one_case(loaded_engine: Engine) -> None:
    numbers: list[str] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(4)

    def submit() -> None:
        try:
            barrier.wait()
            with transaction(loaded_engine) as session:
                case, _ = create_case(session, AGENT, RUBBISH, "double-click", now=NOW)
                numbers.append(case.number)
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with transaction(loaded_engine) as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1
    assert len(set(numbers)) == 1, (numbers, errors)


def test_two_people_edit_at_once(loaded_engine: Engine) -> None:
    number = register(loaded_engine)
    # Both load version 1; the first change wins, the second gets a clear conflict.
    step(loaded_engine, DISPATCHER, number, "dispatch", unit_code="dongcheng.enforcement")
    with transaction(loaded_engine) as session, pytest.raises(CaseError) as caught:
        transition(session, SUPERVISOR, number, "mark_invalid", 1, {"note": "x"}, now=NOW)
    assert (caught.value.error_id, caught.value.status) == ("case-conflict", 409)


def test_stale_session_loses(loaded_engine: Engine) -> None:
    number = register(loaded_engine)
    sessions = session_factory(loaded_engine)
    with sessions() as slow:
        get_case(slow, DISPATCHER, number)  # loaded at version 1, not yet written
        slow.commit()  # end the read so the other writer can go (SQLite)
        step(loaded_engine, SUPERVISOR, number, "dispatch", unit_code="dongcheng.enforcement")
        with pytest.raises(CaseError) as caught:
            transition(slow, DISPATCHER, number, "mark_invalid", 1, {"note": "late"}, now=NOW)
        assert caught.value.error_id == "case-conflict"


@pytest.mark.parametrize(
    ("actor", "action", "data", "error_id"),
    [
        (SANITATION, "dispatch", {"unit_code": "auto"}, "case-not-found"),  # not its case yet
        (XICHENG, "dispatch", {"unit_code": "auto"}, "case-not-found"),  # other district
        (AGENT, "accept", {}, "case-forbidden"),  # agents do not handle jobs
        (AGENT, "dispatch", {"unit_code": "auto"}, "case-forbidden"),  # nor dispatch
        (AGENT, "escalate", {"note": "x"}, "case-forbidden"),  # the platform's staff escalate
        (DISPATCHER, "close", {}, "case-bad-state"),  # not verified yet
        (DISPATCHER, "dispatch", {"unit_code": "nobody"}, "case-bad-unit"),
        (DISPATCHER, "dispatch", {"unit_code": "xicheng.sanitation"}, "case-bad-unit"),
        (DISPATCHER, "dispatch", {"unit_code": "bj.water_supply"}, "case-forbidden"),
        (CITY_DISPATCHER, "escalate", {"note": "x"}, "case-forbidden"),  # the city is the top
        (DISPATCHER, "hand_down", {"note": "x"}, "case-forbidden"),  # the city hands down
        (DISPATCHER, "mark_duplicate", {"duplicate_of": "2612319999"}, "case-bad-duplicate"),
        (DISPATCHER, "mark_duplicate", {"duplicate_of": 1}, "case-bad-data"),  # an internal id
    ],
)
def test_refused(
    loaded_engine: Engine, actor: Actor, action: str, data: dict[str, object], error_id: str
) -> None:
    number = register(loaded_engine)
    with pytest.raises(CaseError) as caught:
        step(loaded_engine, actor, number, action, **data)
    assert caught.value.error_id == error_id
    with transaction(loaded_engine) as session:  # nothing changed
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None and (case.state, case.version) == ("registered", 1)


def test_scope(loaded_engine: Engine) -> None:
    number = register(loaded_engine)
    with transaction(loaded_engine) as session:
        assert get_case(session, CITY_DISPATCHER, number).number == number  # the city: all
        assert get_case(session, DISPATCHER, number).number == number  # the district: its own
        assert get_case(session, AGENT, number).number == number  # the agent who filed it
        for outside in (CITY, WATER, Actor("dc_agent2", "agent", "110101")):
            with pytest.raises(CaseError):  # other agents, even of the city, see only theirs
                get_case(session, outside, number)
        with pytest.raises(CaseError) as caught:
            create_case(session, XICHENG, RUBBISH, None, now=NOW)  # a Dongcheng case
        assert caught.value.status == 403


@pytest.mark.parametrize(
    ("change", "error_id"),
    [
        ({"class_code": "0198"}, "case-bad-class"),
        ({"class_code": "01"}, "case-bad-class"),  # a major class is not a class to file
        ({"district_code": "110199"}, "case-bad-district"),
        ({"grid_code": "110102001001001"}, "case-bad-grid"),
        ({"grid_code": "123"}, "case-bad-grid"),
        ({"urgency": "asap"}, "case-bad-urgency"),
        ({"kind": None}, "case-bad-class"),
    ],
)
def test_bad_input(loaded_engine: Engine, change: dict[str, object], error_id: str) -> None:
    with transaction(loaded_engine) as session, pytest.raises(CaseError) as caught:
        create_case(session, CITY, dataclasses.replace(RUBBISH, **change), None, now=NOW)
    assert caught.value.error_id == error_id and caught.value.status == 422


def test_extension_requested_then_approved(loaded_engine: Engine) -> None:
    from hotline.cases.service import decide_extension, request_extension

    number = register(loaded_engine)
    dispatched = step(loaded_engine, DISPATCHER, number, "dispatch", unit_code="auto")
    first_due = dispatched.due_at
    with transaction(loaded_engine) as session:
        with pytest.raises(CaseError) as none_waiting:
            decide_extension(session, SUPERVISOR, number, 2, True, load_calendar(session), now=NOW)
        assert none_waiting.value.error_id == "case-no-extension"
        with pytest.raises(CaseError):  # only the unit asks
            request_extension(session, AGENT, number, 2, 4, "x", now=NOW)
        request_extension(session, SANITATION, number, 2, 4, "需协调", now=NOW)
        with pytest.raises(CaseError) as second:  # one request at a time, never replaced
            request_extension(session, SANITATION, number, 3, 8, "再延", now=NOW)
        assert second.value.error_id == "case-extension-waiting"
        case = decide_extension(
            session, SUPERVISOR, number, 3, True, load_calendar(session), now=NOW
        )
        assert first_due is not None and case.due_at is not None
        moved = case.due_at if case.due_at.tzinfo else case.due_at.replace(tzinfo=dt.UTC)
        before = first_due if first_due.tzinfo else first_due.replace(tzinfo=dt.UTC)
        assert moved - before == dt.timedelta(hours=4) or moved > before
        with pytest.raises(CaseError):  # decided: nothing waits any more
            decide_extension(session, SUPERVISOR, number, 4, True, load_calendar(session), now=NOW)


def notes_of(engine: Engine, number: str) -> list[tuple[str | None, str | None, str]]:
    with transaction(engine) as session:
        rows = session.execute(
            select(Notification.unit_code, Notification.scope_code, Notification.kind)
            .join(Case, Case.id == Notification.case_id)
            .where(Case.number == number)
            .order_by(Notification.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_urge_tells_the_unit_and_the_platform_and_counts(loaded_engine: Engine) -> None:
    number = register(loaded_engine)
    step(loaded_engine, DISPATCHER, number, "dispatch", unit_code="auto")
    with pytest.raises(CaseError) as no_note:
        step(loaded_engine, DISPATCHER, number, "urge")
    assert no_note.value.error_id == "case-missing-data"
    first = step(loaded_engine, DISPATCHER, number, "urge", note="请今日完成")
    second = step(loaded_engine, SUPERVISOR, number, "urge", note="再次督办")
    assert (first.state, first.urge_count, second.urge_count) == ("dispatched", 1, 2)
    assert notes_of(loaded_engine, number) == [
        ("dongcheng.sanitation", None, "urge"),
        (None, "110101", "urge"),
        ("dongcheng.sanitation", None, "urge"),
        (None, "110101", "urge"),
    ]


def test_escalate_then_the_city_hands_it_down(loaded_engine: Engine) -> None:
    number = register(loaded_engine)
    escalated = step(loaded_engine, DISPATCHER, number, "escalate", note="需市级协调")
    assert (escalated.state, escalated.platform_level) == ("escalated", "city")
    assert notes_of(loaded_engine, number) == [(None, "110000", "escalated")]
    back = step(loaded_engine, CITY_DISPATCHER, number, "hand_down", note="属区级事权")
    assert (back.state, back.platform_level, back.district_code) == (
        "registered",
        "district",
        "110101",
    )
    assert notes_of(loaded_engine, number)[-1] == (None, "110101", "handed_down")
    # The district goes on with it.
    assert step(loaded_engine, DISPATCHER, number, "dispatch", unit_code="auto").state == (
        "dispatched"
    )


def test_the_city_hands_down_a_case_with_no_district(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        case, _ = create_case(
            session,
            CITY_DISPATCHER,
            dataclasses.replace(RUBBISH, district_code=None, grid_code=None),
            "no-district",
            now=NOW,
        )
        number = case.number
    with pytest.raises(CaseError) as unnamed:
        step(loaded_engine, CITY_DISPATCHER, number, "hand_down", note="x")
    assert unnamed.value.error_id == "case-no-district"
    with pytest.raises(CaseError) as district_unit:  # a district's unit would never see it
        step(loaded_engine, CITY_DISPATCHER, number, "dispatch", unit_code="dongcheng.sanitation")
    assert district_unit.value.error_id == "case-no-district"
    down = step(
        loaded_engine, CITY_DISPATCHER, number, "hand_down", note="x", district_code="110102"
    )
    assert (down.district_code, down.state) == ("110102", "registered")
