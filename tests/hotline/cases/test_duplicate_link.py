"""A report linked at registration to an open case it repeats (重复件): recorded as a
duplicate of it in one transaction, with the steps in both cases' histories; refused, with
nothing written, when the original is closed, elsewhere or the report would be dispatched."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from hotline.cases.service import Actor, CaseError, NewCase, create_case, transition
from hotline.db import transaction
from hotline.models import Case, CaseHistory, OutboxEvent

AGENT = Actor("dc_agent", "agent", "110101")
DISPATCHER = Actor("dc_dispatcher", "dispatcher", "110101")


def _report(duplicate_of: str | None = None, **more: object) -> NewCase:
    fields: dict[str, object] = {
        "kind": "event",
        "class_code": "0102",
        "district_code": "110101",
        "lon": 116.4112,
        "lat": 39.9128,
        "citizen_phone": "13800000001",
        "duplicate_of": duplicate_of,
        **more,
    }
    return NewCase(source="phone", **fields)  # type: ignore[arg-type]


def _original(engine: Engine) -> str:
    with transaction(engine) as session:
        case, _ = create_case(session, DISPATCHER, _report(dispatch_to="auto"), "orig")
        return case.number


def _history(engine: Engine, number: str) -> list[tuple[str, str | None, str, dict[str, object]]]:
    with transaction(engine) as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        return [
            (h.action, h.from_state, h.to_state, h.data)
            for h in session.scalars(
                select(CaseHistory).where(CaseHistory.case_id == case.id).order_by(CaseHistory.id)
            )
        ]


def test_linked_report_is_a_duplicate_and_both_histories_say_so(loaded_engine: Engine) -> None:
    original = _original(loaded_engine)
    with transaction(loaded_engine) as session:
        repeat, created = create_case(session, AGENT, _report(original), "again-1")
        assert created and repeat.state == "duplicate" and repeat.unit_code is None
        number = repeat.number
    with transaction(loaded_engine) as session:  # the same save again: the same case
        again, created = create_case(session, AGENT, _report(original), "again-1")
        assert (again.number, created) == (number, False)
    assert _history(loaded_engine, number) == [
        ("create", None, "registered", {"source": "phone"}),
        ("mark_duplicate", "registered", "duplicate", {"duplicate_of": original}),
    ]
    reported = _history(loaded_engine, original)[-1]
    assert reported == (
        "duplicate_reported",
        "dispatched",
        "dispatched",
        {"duplicate": number, "source": "phone"},
    )
    with transaction(loaded_engine) as session:
        first = session.scalar(select(Case).where(Case.number == original))
        repeat = session.scalar(select(Case).where(Case.number == number))
        assert first is not None and repeat is not None
        assert repeat.duplicate_of == first.id
        assert (first.state, first.version) == ("dispatched", 1)  # it goes on being worked
        events = session.scalars(
            select(OutboxEvent.kind).where(OutboxEvent.case_id == first.id).order_by(OutboxEvent.id)
        ).all()
        assert events[-1] == "duplicate_reported"
    # The original is worked as before: no conflict with the link.
    with transaction(loaded_engine) as session:
        transition(
            session, Actor("u", "unit", "110101", "dongcheng.sanitation"), original, "accept", 1
        )


@pytest.mark.parametrize(
    ("actor", "change", "error_id"),
    [
        (AGENT, {"dispatch_to": "auto"}, "case-bad-duplicate"),  # a repeat is not dispatched
        (Actor("xc_agent", "agent", "110102"), {"district_code": "110102"}, "case-bad-duplicate"),
        (AGENT, {"duplicate_of": "2612319999"}, "case-bad-duplicate"),  # no such case
        (AGENT, {"closed": True}, "case-duplicate-closed"),
    ],
)
def test_refused_with_nothing_written(
    loaded_engine: Engine, actor: Actor, change: dict[str, object], error_id: str
) -> None:
    original = _original(loaded_engine)
    change = dict(change)  # the parameter is shared by both databases' runs
    if change.pop("closed", False):
        with transaction(loaded_engine) as session:
            case = session.scalar(select(Case).where(Case.number == original))
            assert case is not None
            case.state = "closed"
    new = _report(str(change.pop("duplicate_of", original)), **change)
    with transaction(loaded_engine) as session:
        before = session.scalar(select(func.count()).select_from(CaseHistory))
    with transaction(loaded_engine) as session, pytest.raises(CaseError) as caught:
        create_case(session, actor, new, "refused")
    assert (caught.value.error_id, caught.value.field) == (error_id, "duplicate_of")
    with transaction(loaded_engine) as session:
        assert session.scalar(select(func.count()).select_from(CaseHistory)) == before
        assert session.scalar(select(Case).where(Case.idempotency_key == "refused")) is None


def test_the_city_desk_links_anywhere(loaded_engine: Engine) -> None:
    original = _original(loaded_engine)
    city = Actor("city_agent", "agent", "110000")
    with transaction(loaded_engine) as session:
        repeat, _ = create_case(session, city, _report(original), "city-1")
        assert repeat.state == "duplicate"
