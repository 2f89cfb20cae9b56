"""The city-sized history written in bulk: a copy of a case is row for row what the services
wrote for the original (its history, outbox events, notifications, call and call events, the
callbacks placed from it), with only its own ids, number and key; the figures grow by the
number of copies; numbers stay unique and the next registration gets a fresh one."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, Table, func, literal, select
from sqlalchemy.orm import Session

from hotline.calls import reports
from hotline.cases.indicators import compute
from hotline.cases.service import Actor, NewCase, create_case
from hotline.db import transaction
from hotline.demo_bulk import COPY_MARK, BulkError, _number, multiply_history
from hotline.demo_history import demo_cases, generate_history, load_mix
from hotline.models import (
    Call,
    CallEvent,
    Case,
    CaseHistory,
    Notification,
    OutboxEvent,
)

END = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
DAYS = 6
SEED = 5
COPIES = 2

OWN = {"id", "number", "idempotency_key", "call_id", "duplicate_of"}  # a copy's own columns


def _row(row: Any, skip: set[str]) -> dict[str, Any]:
    table: Table = row.__table__
    return {c.name: getattr(row, c.key) for c in table.columns if c.name not in skip}


def _by_key(session: Session) -> dict[str, Case]:
    return {
        c.idempotency_key: c
        for c in session.scalars(select(Case).where(demo_cases(SEED)))
        if c.idempotency_key
    }


def _history(session: Session, case: Case) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(CaseHistory).where(CaseHistory.case_id == case.id).order_by(CaseHistory.id)
    )
    return [_row(r, {"id", "case_id"}) for r in rows]


def _same_case(
    session: Session, cases: dict[str, Case], original: Case, copy: Case, mark: str
) -> None:
    assert _row(copy, OWN) == _row(original, OWN)
    assert copy.number != original.number and copy.id != original.id
    if original.duplicate_of is not None:
        first = session.get(Case, original.duplicate_of)
        assert first is not None and first.idempotency_key
        assert copy.duplicate_of == cases[first.idempotency_key + mark].id
    # The history, row for row; a duplicate's mark names the original's copy.
    # A callback step names the copy of its call, which is its original's row for row.
    numbers = {c.number: c for c in cases.values()}
    want, got = _history(session, original), _history(session, copy)
    for row in want:
        if row["action"] == "mark_duplicate":
            named = numbers[row["data"]["duplicate_of"]]
            twin = cases[f"{named.idempotency_key}{mark}"]
            row["data"] = {**row["data"], "duplicate_of": twin.number}
        if row["action"] == "callback":
            placed = session.get(Call, row["data"]["call"])
            assert placed is not None and placed.route_target == "callback"
            twin_call = session.scalar(select(Call).where(Call.uniqueid == placed.uniqueid + mark))
            assert twin_call is not None
            _same_call(session, placed, twin_call)
            row["data"] = {**row["data"], "call": twin_call.id}
    assert got == want and want

    # The events for the dispatch system and the notifications name the copy.
    def outbox(case: Case) -> list[dict[str, Any]]:
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.case_id == case.id).order_by(OutboxEvent.id)
        )
        return [{**_row(r, {"id", "case_id"}), "payload": {**r.payload, "case": ""}} for r in rows]

    assert outbox(copy) == outbox(original) and outbox(original)
    assert all(
        r.payload["case"] == copy.number
        for r in session.scalars(select(OutboxEvent).where(OutboxEvent.case_id == copy.id))
    )

    def notes(case: Case) -> list[dict[str, Any]]:
        rows = session.scalars(
            select(Notification).where(Notification.case_id == case.id).order_by(Notification.id)
        )
        return [
            {**_row(r, {"id", "case_id"}), "text": r.text.replace(case.number, "<n>")} for r in rows
        ]

    assert notes(copy) == notes(original)
    # The call it was registered from, and that call's events.
    if original.call_id is None:
        assert copy.call_id is None
        return
    call, twin_call = session.get(Call, original.call_id), session.get(Call, copy.call_id)
    assert call is not None and twin_call is not None
    _same_call(session, call, twin_call)


def _same_call(session: Session, call: Call, twin_call: Call) -> None:
    """The copy of a call is its original's row and events, with its own id and names."""
    assert call.id != twin_call.id
    own_call = {"id", "uniqueid", "linkedid"}
    assert _row(twin_call, own_call) == _row(call, own_call)
    assert twin_call.uniqueid.startswith(call.uniqueid + COPY_MARK)

    def events(c: Call) -> list[dict[str, Any]]:
        rows = session.scalars(
            select(CallEvent).where(CallEvent.call_id == c.id).order_by(CallEvent.id)
        )
        return [_row(r, {"id", "call_id"}) for r in rows]

    assert events(twin_call) == events(call) and events(call)


def test_copies_are_what_the_services_wrote(loaded_engine: Engine) -> None:
    mix = load_mix()  # side roads taken often, so that a few days have every one of them
    mix = dataclasses.replace(
        mix,
        rates={**mix.rates, "duplicate": 0.4, "invalid": 0.1},
        calls=dataclasses.replace(mix.calls, callback_share=1.0),
    )
    written = generate_history(loaded_engine, mix, seed=SEED, end=END, days=DAYS, per_day=12)
    with transaction(loaded_engine) as session:
        start = END - dt.timedelta(days=DAYS)
        before = compute(session, "district", start, END)
        calls_before = session.scalar(select(func.count()).select_from(Call))
    done = multiply_history(loaded_engine, SEED, written.cases * (COPIES + 1), calls_per_case=3)
    assert done.copies == COPIES and done.cases == written.cases * (COPIES + 1)
    with transaction(loaded_engine) as session:
        cases = _by_key(session)
        assert len(cases) == done.cases
        originals = [c for key, c in cases.items() if COPY_MARK not in key]
        roads = Counter(c.state for c in originals)
        assert roads["closed"] and roads["duplicate"] + roads["invalid"]  # the side roads too
        requests = [c for c in originals if c.source == "callback_request"]
        assert {c.state for c in requests} - {"received", "invalid"}  # some worked as cases
        checked = Counter[str]()
        for original in originals:  # every case: a small history is cheap to compare
            for k in range(1, COPIES + 1):
                mark = f"{COPY_MARK}{k}"
                copy = cases[f"{original.idempotency_key}{mark}"]
                _same_case(session, cases, original, copy, mark)
                checked[original.state] += 1
        assert checked["duplicate"] and checked["closed"], checked
        numbers = [c.number for c in cases.values()]
        assert len(set(numbers)) == len(numbers)
        # The figures are the services' figures times the copies.
        after = compute(session, "district", start, END)
        assert set(after) == set(before)
        for district, row in before.items():
            for name, value in vars(row).items():
                grown = getattr(after[district], name)
                if isinstance(value, int):
                    assert grown == value * (COPIES + 1), (district, name)
                elif isinstance(value, float):
                    assert grown == pytest.approx(value), (district, name)
        calls = session.scalar(select(func.count()).select_from(Call))
        assert calls == (calls_before or 0) + done.calls - written.calls
        ratio = done.calls / done.cases
        assert 2.5 < ratio < 3.5, ratio
        # Every call was offered to a queue but the callbacks the desk placed.
        placed = session.scalar(
            select(func.count()).select_from(Call).where(Call.route_target == "callback")
        )
        assert placed and placed % (COPIES + 1) == 0
        figures = reports.compute(reports.load(session, start, END), dt.UTC)
        assert sum(f.offered for f in figures["queue"].values()) == done.calls - placed
    # Copying again is refused; the next registration gets a number after every copy's.
    with pytest.raises(BulkError, match="copied already"):
        multiply_history(loaded_engine, SEED, done.cases * 2)
    with transaction(loaded_engine) as session:
        day = max(originals, key=lambda c: c.created_at).created_at
        new, _ = create_case(
            session,
            Actor("dc_agent", "agent", "110101"),
            NewCase(source="walk_in", kind="event", class_code="0102", district_code="110101"),
            "after-bulk",
            now=day.replace(tzinfo=dt.UTC) if day.tzinfo is None else day,
        )
        assert new.number not in numbers


def test_nothing_to_copy_is_said(loaded_engine: Engine) -> None:
    with pytest.raises(BulkError, match="no demo history of seed 4"):
        multiply_history(loaded_engine, 4, 1000)


@pytest.mark.parametrize("add", [0, 12, 9_998, 123_456])
def test_a_copys_number_keeps_every_digit(engine: Engine, add: int) -> None:
    with transaction(engine) as session:
        number = session.scalar(select(_number(session, literal("2611300007"), add)))
    assert number == f"261130{7 + add:04d}"
