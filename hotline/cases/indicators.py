"""Evaluation indicators for a period, per unit and per district (the seed's 考核评价).

Definitions (cases counted once each; "in the period" = the event happened in [start, end)):

* registered — cases registered (立案) in the period;
* dispatched — cases dispatched (派遣) to the unit in the period: the jobs due to handle;
* handled — of those, jobs the unit reported handled by the end of the period;
* handling rate (处置率) = handled / dispatched;
* on-time rate (按期处置率) = handled by their deadline / dispatched;
* overdue rate (超期待处置率) = unhandled jobs past their deadline at the end / dispatched;
* rework rate (返工率) = jobs sent back for rework / jobs that reached verification;
* closure rate (结案率) = registered cases closed by the end / registered;
* average handling time = mean hours from dispatch to the handled report;
* resolution rate (解决率) = verified as really solved / verified — a case closed but not
  solved is never counted as solved; satisfaction = mean callback score (1–5).

The computation is a pure function over plain history rows; ``load`` reads them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.models import Case, CaseHistory


@dataclass(frozen=True)
class Event:
    case_id: int
    action: str
    to_state: str
    at: dt.datetime
    unit: str | None  # the case's unit when the event happened (dispatch: the new unit)
    district: str | None
    due_at: dt.datetime | None
    solved: bool | None = None
    satisfaction: int | None = None


@dataclass
class Tally:
    registered: set[int] = field(default_factory=set)
    closed: set[int] = field(default_factory=set)
    dispatched: dict[int, dt.datetime] = field(default_factory=dict)
    handled: dict[int, dt.datetime] = field(default_factory=dict)
    due: dict[int, dt.datetime | None] = field(default_factory=dict)
    reworked: set[int] = field(default_factory=set)
    verified: set[int] = field(default_factory=set)
    solved: set[int] = field(default_factory=set)
    scores: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Indicators:
    registered: int
    dispatched: int
    handled: int
    handled_on_time: int
    overdue_unhandled: int
    reworked: int
    verified: int
    closed: int
    solved: int
    handling_rate: float | None
    on_time_rate: float | None
    overdue_rate: float | None
    rework_rate: float | None
    closure_rate: float | None
    resolution_rate: float | None
    average_handling_hours: float | None
    satisfaction: float | None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def compute(
    events: Iterable[Event], start: dt.datetime, end: dt.datetime
) -> tuple[dict[str, Indicators], dict[str, Indicators]]:
    """(per unit, per district) indicators for [start, end)."""
    units: dict[str, Tally] = defaultdict(Tally)
    districts: dict[str, Tally] = defaultdict(Tally)
    current_unit: dict[int, str] = {}  # a redispatched case counts for the unit it was with
    for event in sorted(events, key=lambda e: (e.at, e.case_id)):
        if event.at >= end:
            continue
        in_period = event.at >= start
        district = districts[event.district or "city"]
        if event.action == "dispatch" and event.unit:
            current_unit[event.case_id] = event.unit
        unit_code = current_unit.get(event.case_id)
        unit = units[unit_code] if unit_code else None
        if event.to_state == "registered" and in_period:
            district.registered.add(event.case_id)
        if event.action == "dispatch" and in_period and unit is not None:
            for tally in (unit, district):
                tally.dispatched[event.case_id] = event.at
                tally.due[event.case_id] = event.due_at
        if event.action == "report_handled" and unit is not None:
            for tally in (unit, district):
                if event.case_id in tally.dispatched:
                    tally.handled.setdefault(event.case_id, event.at)
        if event.action in ("rework", "verify") and unit is not None:
            for tally in (unit, district):
                if event.case_id not in tally.dispatched:
                    continue
                if event.action == "rework":
                    tally.reworked.add(event.case_id)
                tally.verified.add(event.case_id)
                if event.action == "verify":
                    if event.solved:
                        tally.solved.add(event.case_id)
                    if event.satisfaction:
                        tally.scores.append(event.satisfaction)
        if event.action == "close" and event.case_id in district.registered:
            district.closed.add(event.case_id)
    return (
        {k: _finish(t, end) for k, t in units.items()},
        {k: _finish(t, end) for k, t in districts.items()},
    )


def _finish(tally: Tally, end: dt.datetime) -> Indicators:
    on_time = sum(
        1 for case, at in tally.handled.items() if (due := tally.due.get(case)) is None or at <= due
    )
    overdue = sum(
        1
        for case, due in tally.due.items()
        if case not in tally.handled and due is not None and due < end
    )
    hours = [(tally.handled[c] - tally.dispatched[c]).total_seconds() / 3600 for c in tally.handled]
    verified_solved = len(tally.solved & tally.verified)
    return Indicators(
        registered=len(tally.registered),
        dispatched=len(tally.dispatched),
        handled=len(tally.handled),
        handled_on_time=on_time,
        overdue_unhandled=overdue,
        reworked=len(tally.reworked),
        verified=len(tally.verified),
        closed=len(tally.closed),
        solved=verified_solved,
        handling_rate=_rate(len(tally.handled), len(tally.dispatched)),
        on_time_rate=_rate(on_time, len(tally.dispatched)),
        overdue_rate=_rate(overdue, len(tally.dispatched)),
        rework_rate=_rate(len(tally.reworked), len(tally.verified)),
        closure_rate=_rate(len(tally.closed), len(tally.registered)),
        resolution_rate=_rate(verified_solved, len(tally.verified)),
        average_handling_hours=round(sum(hours) / len(hours), 2) if hours else None,
        satisfaction=round(sum(tally.scores) / len(tally.scores), 2) if tally.scores else None,
    )


def load(session: Session, end: dt.datetime) -> list[Event]:
    """History rows up to ``end`` with what the indicators need."""
    rows = session.execute(
        select(
            CaseHistory.case_id,
            CaseHistory.action,
            CaseHistory.to_state,
            CaseHistory.at,
            CaseHistory.data,
            Case.unit_code,
            Case.district_code,
            Case.due_at,
        )
        .join(Case, Case.id == CaseHistory.case_id)
        .where(CaseHistory.at < end)
    ).all()
    events = []
    for case_id, action, to_state, at, data, unit, district, due in rows:
        data = data or {}
        events.append(
            Event(
                case_id,
                action,
                to_state,
                _aware(at),
                str(data.get("unit_code") or unit) if (data.get("unit_code") or unit) else None,
                district,
                _aware(due) if due else None,
                solved=_typed(data.get("solved"), bool),
                satisfaction=_score(data.get("satisfaction")),
            )
        )
    return events


def _typed(value: object, kind: type[bool]) -> bool | None:
    """A stored value of the expected type, or None: rows written before each action's
    data was checked (``"false"``, ``"5"``) must not break a whole month's figures."""
    return value if isinstance(value, kind) else None


def _score(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        return None
    return value


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
