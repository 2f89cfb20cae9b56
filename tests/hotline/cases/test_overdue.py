"""Overdue detection and escalation on a controlled clock, across a weekend; the lease that
keeps the scheduler on one instance."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

import pytest
from sqlalchemy import Engine, func, select

from hotline.cases.calendar import load_calendar
from hotline.cases.overdue import sweep
from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction
from hotline.faults import FaultLog
from hotline.lease import acquire, every_while_holding
from hotline.models import Case, CaseHistory, Notification, OutboxEvent, utcnow

AGENT = Actor("dc_dispatcher", "dispatcher", "110101")
UNIT = Actor("unit_dc_sanitation", "unit", "110101", "dongcheng.sanitation")
GRACE = dt.timedelta(hours=4)


def beijing(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return (
        dt.datetime(2026, 11, day, hour - 8, minute, tzinfo=dt.UTC)
        if hour >= 8
        else dt.datetime(2026, 11, day - 1, hour + 16, minute, tzinfo=dt.UTC)
    )


def test_overdue_across_a_weekend_then_escalated(loaded_engine: Engine) -> None:
    friday = beijing(27, 16)
    with transaction(loaded_engine) as session:
        case, _ = create_case(
            session,
            AGENT,
            NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
            "k",
            now=friday,
        )
        transition(
            session,
            AGENT,
            case.number,
            "dispatch",
            1,
            {"unit_code": "auto"},
            now=friday,
            calendar=load_calendar(session),
        )
        transition(session, UNIT, case.number, "accept", 2, now=friday)
        number = case.number
        # Exposed rubbish: 4 working hours. Friday 16:00-17:00, Monday 09:00-12:00.
        assert case.due_at is not None

    def check(at: dt.datetime) -> tuple[list[str], list[str]]:
        with transaction(loaded_engine) as session:
            result = sweep(session, at, GRACE)
            return result.overdue, result.escalated

    assert check(beijing(28, 12)) == ([], [])  # Saturday: the clock does not run
    assert check(beijing(30, 11, 59)) == ([], [])  # Monday, just before the deadline
    assert check(beijing(30, 12, 1)) == ([number], [])
    assert check(beijing(30, 12, 5)) == ([], [])  # marked once
    assert check(beijing(30, 16, 0)) == ([], [])  # inside the grace period
    assert check(beijing(30, 16, 2)) == ([], [number])

    with transaction(loaded_engine) as session:
        stored = session.scalar(select(Case).where(Case.number == number))
        assert stored is not None
        assert (stored.state, stored.platform_level) == ("escalated", "city")
        actions = session.scalars(
            select(CaseHistory.action)
            .where(CaseHistory.case_id == stored.id)
            .order_by(CaseHistory.id)
        ).all()
        assert actions == ["create", "dispatch", "accept", "overdue", "escalate"]
        notes = session.execute(
            select(Notification.kind, Notification.unit_code, Notification.scope_code).order_by(
                Notification.id
            )
        ).all()
        assert [tuple(n) for n in notes] == [
            ("overdue", "dongcheng.sanitation", None),
            ("overdue", None, "110101"),
            ("escalated", None, "110000"),
        ]
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 5


def test_lease(engine: Engine) -> None:
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    ttl = dt.timedelta(minutes=3)
    assert acquire(engine, "job", "app-1", ttl, now)
    assert not acquire(engine, "job", "app-2", ttl, now + dt.timedelta(minutes=1))
    assert acquire(engine, "job", "app-1", ttl, now + dt.timedelta(minutes=2))  # renewal
    assert not acquire(engine, "job", "app-2", ttl, now + dt.timedelta(minutes=4))
    assert acquire(engine, "job", "app-2", ttl, now + dt.timedelta(minutes=6))  # expired
    assert acquire(engine, "other", "app-1", ttl, now)


def test_a_stopped_job_gives_its_lease_up(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """The overdue scheduler, the renewal of kept figures and the webhook outbox
    (``every_while_holding``): a pass that fails is logged once and tried again; stopped,
    the job gives its lease up, so the next instance (or the same one restarted) takes over
    at once, not when the lease runs out."""
    passes: list[int] = []

    async def job() -> None:
        passes.append(len(passes))
        if len(passes) <= 2:
            raise RuntimeError("the database is away")

    async def main() -> None:
        faults = FaultLog(logging.getLogger("test.lease"))
        ttl = dt.timedelta(minutes=15)
        running = asyncio.create_task(
            every_while_holding(engine, "job", "app-1", 0.01, ttl, job, faults)
        )
        while len(passes) < 4:
            await asyncio.sleep(0.01)
        assert not acquire(engine, "job", "app-2", ttl, utcnow())  # held meanwhile
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        assert acquire(engine, "job", "app-2", ttl, utcnow())  # given up: taken at once

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    assert caplog.text.count("job pass failed") == 1  # twice failed, logged once


def test_a_city_level_units_overdue_job_is_reported_to_the_city(loaded_engine: Engine) -> None:
    """Before: only the district of the case heard of it."""
    monday = beijing(30, 9)
    with transaction(loaded_engine) as session:
        case, _ = create_case(
            session,
            AGENT,
            NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
            "water",
            now=monday,
        )
        city = Actor("city_dispatcher", "dispatcher", "110000")
        transition(
            session, city, case.number, "dispatch", 1, {"unit_code": "bj.water_supply"}, now=monday
        )
        case.due_at = beijing(30, 12)
        number = case.number
    with transaction(loaded_engine) as session:
        assert sweep(session, beijing(30, 13), GRACE).overdue == [number]
        scopes = session.scalars(
            select(Notification.scope_code).where(Notification.scope_code.is_not(None))
        ).all()
        assert sorted(s for s in scopes if s) == ["110000", "110101"]
