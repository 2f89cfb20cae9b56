"""The city platform over the districts (the seed: 市级平台 监督 各区): every district's live
state on one page. SQL aggregates only: open cases by state, overdue open jobs (those of
city-level units apart), the ledger's stock, and today's calls per platform queue."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from hotline.cases.lifecycle import ACTIVE_JOBS, FINAL_STATES
from hotline.models import Call, CallPlatform, Case

CITY = "city"  # the key of the city platform's own cases (no district)
STALE_WAIT = dt.timedelta(hours=2)  # a queued call older than this is a lost end event


@dataclass
class District:
    backlog: dict[str, int] = field(default_factory=dict)  # open cases by state
    overdue: int = 0  # open jobs past their deadline
    overdue_city_units: int = 0  # of those, jobs of city-level units
    ledger: int = 0  # cases on the ledger now
    waiting: int = 0  # calls in the platform's queue now
    offered: int = 0  # calls that reached the platform's queue today
    answered: int = 0  # of those, answered by an agent

    @property
    def open_cases(self) -> int:
        return sum(self.backlog.values())


def overview(
    session: Session,
    now: dt.datetime,
    day_start: dt.datetime,
    cases: Mapping[str, District] | None = None,
) -> dict[str, District]:
    """Every district's state at ``now``; calls counted from ``day_start`` (local midnight).
    ``cases``: the case figures (:func:`case_overview`) as read a moment ago (a page keeps
    them while no case changes); the calls are read now."""
    result: dict[str, District] = defaultdict(District)
    for key, entry in (case_overview(session, now) if cases is None else cases).items():
        result[key] = replace(entry, backlog=dict(entry.backlog))
    waiting = and_(
        Call.connected_at.is_(None),
        Call.ended_at.is_(None),
        Call.queue_joined_at >= now - STALE_WAIT,
    )
    today = Call.queue_joined_at >= day_start
    for area, level, waits, offered, answered in session.execute(
        select(
            CallPlatform.area_code,
            CallPlatform.level,
            func.sum(case((waiting, 1), else_=0)),
            func.sum(case((today, 1), else_=0)),
            func.sum(case((and_(today, Call.connected_at.is_not(None)), 1), else_=0)),
        )
        .join(CallPlatform, CallPlatform.queue == Call.queue)
        .where(Call.queue_joined_at >= min(day_start, now - STALE_WAIT))
        .group_by(CallPlatform.area_code, CallPlatform.level)
    ):
        entry = result[CITY if level == "city" else area]
        entry.waiting, entry.offered, entry.answered = (
            int(waits or 0),
            int(offered or 0),
            int(answered or 0),
        )
    return dict(result)


def case_overview(session: Session, now: dt.datetime) -> dict[str, District]:
    """The case figures of :func:`overview`: every open case of the city, grouped (at a
    million cases, tens of thousands of rows), and the overdue jobs."""
    result: dict[str, District] = defaultdict(District)
    open_states = select(Case.district_code, Case.state, func.count()).where(
        Case.state.not_in(FINAL_STATES)
    )
    for district, state, count in session.execute(
        open_states.group_by(Case.district_code, Case.state)
    ):
        entry = result[district or CITY]
        entry.backlog[state] = int(count)
        if state == "ledger":
            entry.ledger = int(count)
    late = and_(Case.state.in_(ACTIVE_JOBS), Case.due_at < now)
    for district, overdue, city_units in session.execute(
        select(
            Case.district_code,
            func.count(),
            func.sum(case((Case.platform_level == "city", 1), else_=0)),
        )
        .where(late)
        .group_by(Case.district_code)
    ):
        entry = result[district or CITY]
        entry.overdue, entry.overdue_city_units = int(overdue), int(city_units or 0)
    return dict(result)
