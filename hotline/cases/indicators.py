"""Evaluation indicators (the seed's 考核评价) for a period and a scope, as SQL aggregates.

A period is judged on what happened in it, and on the jobs that were *due* in it: a job due
later is not overdue yet, and while a period runs its figures stop at "now" (to date). Every
figure is one of two aggregates, each a single ``GROUP BY`` over the rows of the period:

* events — history rows with ``at`` in [start, cut), cut = min(end, now);
* due jobs — cases whose deadline (``due_at``) lies in [start, cut) and that are with a unit
  now. A unit that returns a job (退回) is not judged on it: a returned case is with no unit
  until it is dispatched again, with a new deadline, to the next unit; the return counts
  against the accuracy of the platform that dispatched it (准确派遣率).

Formulas (the same text is on the pages and in docs/indicators.md):

* 按时立案率 registration on time = cases registered in the period within ``REGISTER_WITHIN``
  of their receipt / cases registered in the period;
* 准确派遣率 dispatch accuracy = (dispatches − returns) / dispatches, both in the period;
* 处置率 handling rate = due jobs handled by the cut / due jobs;
* 按期处置率 on-time rate = due jobs handled by their deadline / due jobs;
* 超期率 overdue rate = due jobs not handled by their deadline / due jobs;
* 延期率 extension rate = due jobs whose deadline was extended (approved) / due jobs;
* 督办 urges = urges (督办) in the period;
* 返工率 rework rate = reworks / verification decisions (verified + reworked) in the period;
* 按时核查率 verification on time = decisions within ``VERIFY_WITHIN`` of the unit's report
  / decisions;
* 结案率 closure rate = cases registered in the period and closed by the cut / registered;
* 按时结案率 closure on time = cases closed in the period no later than their deadline plus
  ``VERIFY_WITHIN`` (or without a deadline) / cases closed in the period;
* 解决率 resolution rate = verified as really solved / verified (closed is not solved);
* 满意度 satisfaction = mean callback score (1–5) of the cases verified in the period;
* average handling time = mean hours from a job's dispatch to the unit's report, of the
  reports in the period.

Scopes: the city, a district (``district_code``; none: the city platform's own cases), a
street (the street of the case's grid cell), a unit, a class (``kind:class_code``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Float

from hotline.db import without_jit
from hotline.models import Area, Case, CaseHistory, GridCell

SCOPES = ("city", "district", "street", "unit", "class")
REGISTER_WITHIN = dt.timedelta(hours=1)
VERIFY_WITHIN = dt.timedelta(hours=24)
WITH_A_UNIT = ("dispatched", "in_progress", "rework", "handled", "verified", "closed", "ledger")
CITY = "city"
Rows = Select[*tuple[Any, ...]]  # a query of any columns


class seconds_between(FunctionElement[float]):  # an SQL function: lower case
    """Seconds from the first timestamp to the second, on SQLite and PostgreSQL."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between, "postgresql")
def _seconds_pg(element: seconds_between, compiler: Any, **kw: Any) -> str:
    first, second = list(element.clauses)
    return (
        f"EXTRACT(EPOCH FROM ({compiler.process(second, **kw)} - {compiler.process(first, **kw)}))"
    )


@compiles(seconds_between)
def _seconds_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    first, second = list(element.clauses)
    return (
        f"((julianday({compiler.process(second, **kw)}) - "
        f"julianday({compiler.process(first, **kw)})) * 86400.0)"
    )


@dataclass(frozen=True)
class Counts:
    """The raw counts of one scope's row; rates are derived (``Indicators``)."""

    registered: int = 0
    registered_on_time: int = 0
    registered_closed: int = 0
    dispatched: int = 0
    returned: int = 0
    handled: int = 0
    handling_hours_total: float = 0.0
    urged: int = 0
    verified: int = 0
    reworked: int = 0
    checked_on_time: int = 0
    solved: int = 0
    satisfaction_total: int = 0
    satisfaction_count: int = 0
    closed: int = 0
    closed_on_time: int = 0
    due: int = 0
    due_handled: int = 0
    due_on_time: int = 0
    extended: int = 0


@dataclass(frozen=True)
class Indicators:
    registered: int
    registered_on_time: int
    dispatched: int
    returned: int
    handled: int
    due: int
    handled_on_time: int
    overdue: int
    overdue_open: int
    extended: int
    urged: int
    verified: int
    reworked: int
    closed: int
    solved: int
    registration_on_time_rate: float | None
    dispatch_accuracy: float | None
    handling_rate: float | None
    on_time_rate: float | None
    overdue_rate: float | None
    extension_rate: float | None
    rework_rate: float | None
    verification_on_time_rate: float | None
    closure_rate: float | None
    closure_on_time_rate: float | None
    resolution_rate: float | None
    average_handling_hours: float | None
    satisfaction: float | None


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def derive(c: Counts) -> Indicators:
    checked = c.verified + c.reworked
    return Indicators(
        registered=c.registered,
        registered_on_time=c.registered_on_time,
        dispatched=c.dispatched,
        returned=c.returned,
        handled=c.handled,
        due=c.due,
        handled_on_time=c.due_on_time,
        overdue=c.due - c.due_on_time,
        overdue_open=c.due - c.due_handled,
        extended=c.extended,
        urged=c.urged,
        verified=c.verified,
        reworked=c.reworked,
        closed=c.closed,
        solved=c.solved,
        registration_on_time_rate=rate(c.registered_on_time, c.registered),
        dispatch_accuracy=rate(max(c.dispatched - c.returned, 0), c.dispatched),
        handling_rate=rate(c.due_handled, c.due),
        on_time_rate=rate(c.due_on_time, c.due),
        overdue_rate=rate(c.due - c.due_on_time, c.due),
        extension_rate=rate(c.extended, c.due),
        rework_rate=rate(c.reworked, checked),
        verification_on_time_rate=rate(c.checked_on_time, checked),
        closure_rate=rate(c.registered_closed, c.registered),
        closure_on_time_rate=rate(c.closed_on_time, c.closed),
        resolution_rate=rate(c.solved, c.verified),
        average_handling_hours=round(c.handling_hours_total / c.handled, 2) if c.handled else None,
        satisfaction=(
            round(c.satisfaction_total / c.satisfaction_count, 2) if c.satisfaction_count else None
        ),
    )


def compute(
    session: Session,
    scope: str,
    start: dt.datetime,
    cut: dt.datetime,
    district: str | None = None,
    *,
    due_only: bool = False,
) -> dict[str, Indicators]:
    """Indicators per ``scope`` key for [start, cut); only ``district``'s cases when given
    (a district platform's staff see their district only). ``due_only``: the due jobs'
    figures alone (handling, on-time, overdue, extension rates), one query, for the
    evaluation's trend over several periods."""
    if scope not in SCOPES:
        raise ValueError(f"no scope {scope!r}")
    queries = [_due(scope, start, cut, district)]
    if not due_only:
        queries.insert(0, _events(scope, start, cut, district))
    return _collect(session, queries, district)


def due_part(rows: dict[str, Indicators], scope: str) -> dict[str, Indicators]:
    """``compute(..., due_only=True)`` out of the full figures of the same period and scope:
    the due jobs' counts are the same query's in both, so the renewal of the kept figures
    need not read the period twice. A key without due jobs is not in the due figures, except
    the city's (one row, as an aggregate without groups always is)."""
    return {
        key: derive(
            Counts(
                due=row.due,
                due_handled=row.due - row.overdue_open,
                due_on_time=row.handled_on_time,
                extended=row.extended,
            )
        )
        for key, row in rows.items()
        if row.due or scope == "city"
    }


def of_district(rows: dict[str, Indicators], district: str) -> dict[str, Indicators]:
    """``compute("district", ..., district)`` out of the figures by district of the whole
    city: a district's staff see their district's row, the same as the city's row for it."""
    return {district: rows[district]} if district in rows else {}


def _collect(session: Session, queries: list[Rows], district: str | None) -> dict[str, Indicators]:
    counts: dict[str, dict[str, Any]] = {}
    without_jit(session)  # compiling the aggregates took longer than running them
    for query in queries:
        if district is not None:
            query = query.where(Case.district_code == district)
        for row in session.execute(query).mappings():
            values = dict(row)
            key = values.pop("key")
            counts.setdefault(_key(key), {}).update(
                {
                    k: (float(v) if k == "handling_hours_total" else int(v or 0))
                    for k, v in values.items()
                }
            )
    return {key: derive(Counts(**values)) for key, values in sorted(counts.items())}


def _key(value: object) -> str:
    return CITY if value is None else str(value)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _scoped(query: Rows, scope: str, unit: SQLColumnExpression[Any]) -> Rows:
    """``query`` with the scope's key as column ``key`` and grouped by it."""
    if scope == "city":
        return query.add_columns(literal(CITY).label("key"))
    if scope == "street":
        community = aliased(Area)
        key: SQLColumnExpression[Any] = community.parent_code
        query = query.outerjoin(GridCell, GridCell.code == Case.grid_code).outerjoin(
            community, community.code == GridCell.community_code
        )
    elif scope == "district":
        key = Case.district_code
    elif scope == "unit":
        key = unit
    else:
        key = Case.kind + ":" + Case.class_code
    return query.add_columns(key.label("key")).group_by(key)


EVENTS = (
    "create",
    "register",
    "dispatch",
    "return",
    "report_handled",
    "urge",
    "verify",
    "rework",
    "close",
)


def _events(scope: str, start: dt.datetime, cut: dt.datetime, district: str | None) -> Rows:
    """One pass over the history of the cases with events in the period: window functions
    carry each row's last dispatch and last report, and the case's close (before the cut)."""
    h = CaseHistory
    touched = select(h.case_id).where(h.at >= start, h.at < cut, h.action.in_(EVENTS))
    if district is not None:
        touched = touched.join(Case, Case.id == h.case_id).where(Case.district_code == district)
    order = (h.at, h.id)
    rows = (
        select(
            h.case_id,
            h.action,
            h.to_state,
            h.at,
            h.data["unit_code"].as_string().label("data_unit"),
            func.max(case((h.action == "dispatch", h.at)))
            .over(partition_by=h.case_id, order_by=order)
            .label("last_dispatch"),
            func.max(case((h.action == "report_handled", h.at)))
            .over(partition_by=h.case_id, order_by=order)
            .label("last_report"),
            func.max(case((h.action == "close", h.at)))
            .over(partition_by=h.case_id)
            .label("closed_at"),
        )
        .where(h.case_id.in_(touched), h.at < cut, h.action.in_(EVENTS))
        .subquery()
    )
    action = rows.c.action
    registered = and_(rows.c.to_state == "registered", action.in_(("create", "register")))
    checked = action.in_(("verify", "rework"))
    satisfied = and_(action == "verify", Case.satisfaction.between(1, 5))
    handling = seconds_between(rows.c.last_dispatch, rows.c.at) / 3600.0
    # A dispatch row names the unit it went to; other rows are counted for the case's unit.
    unit = func.coalesce(rows.c.data_unit, Case.unit_code)
    query = (
        select(
            _count(registered).label("registered"),
            _count(
                and_(
                    registered,
                    seconds_between(Case.created_at, rows.c.at) <= REGISTER_WITHIN.total_seconds(),
                )
            ).label("registered_on_time"),
            _count(and_(registered, rows.c.closed_at.is_not(None))).label("registered_closed"),
            _count(action == "dispatch").label("dispatched"),
            _count(action == "return").label("returned"),
            _count(action == "report_handled").label("handled"),
            func.coalesce(
                func.sum(case((action == "report_handled", handling), else_=0.0)), 0.0
            ).label("handling_hours_total"),
            _count(action == "urge").label("urged"),
            _count(action == "verify").label("verified"),
            _count(action == "rework").label("reworked"),
            _count(
                and_(
                    checked,
                    seconds_between(rows.c.last_report, rows.c.at) <= VERIFY_WITHIN.total_seconds(),
                )
            ).label("checked_on_time"),
            _count(and_(action == "verify", Case.solved.is_(True))).label("solved"),
            func.sum(case((satisfied, Case.satisfaction), else_=0)).label("satisfaction_total"),
            _count(satisfied).label("satisfaction_count"),
            _count(action == "close").label("closed"),
            _count(
                and_(
                    action == "close",
                    or_(
                        Case.due_at.is_(None),
                        seconds_between(Case.due_at, rows.c.at) <= VERIFY_WITHIN.total_seconds(),
                    ),
                )
            ).label("closed_on_time"),
        )
        .select_from(rows)
        .join(Case, Case.id == rows.c.case_id)
        .where(rows.c.at >= start)
    )
    return _scoped(query, scope, unit)


def _due(scope: str, start: dt.datetime, cut: dt.datetime, district: str | None) -> Rows:
    """The jobs due in [start, cut), judged on what was known at the cut: their last report
    and rework and any approved extension, aggregated once per case."""
    flags = due_jobs(start, cut, district)
    query: Rows = select(
        func.count().label("due"),
        _count(flags.handled).label("due_handled"),
        _count(and_(flags.handled, flags.last_report <= Case.due_at)).label("due_on_time"),
        func.coalesce(func.sum(flags.extended), 0).label("extended"),
    ).select_from(flags.cases)
    return _scoped(query.where(flags.due), scope, Case.unit_code)


@dataclass(frozen=True)
class DueJobs:
    """The jobs due in a period with what was known of them at the cut (from ``cases``
    joined to their history facts, filtered by ``due``)."""

    cases: Any  # FROM clause: cases outer-joined to the facts
    due: ColumnElement[bool]
    handled: ColumnElement[bool]  # last report not followed by a rework
    last_report: ColumnElement[Any]
    extended: ColumnElement[Any]  # 1 when an extension was approved


def due_jobs(start: dt.datetime, cut: dt.datetime, district: str | None) -> DueJobs:
    """Due jobs (deadline in [start, cut), with a unit), shared by the evaluation and the
    case reports so that both count overdue the same way."""
    h = CaseHistory
    due = and_(Case.due_at >= start, Case.due_at < cut, Case.state.in_(WITH_A_UNIT))
    if district is not None:
        due = and_(due, Case.district_code == district)
    facts = (
        select(
            h.case_id,
            func.max(case((h.action == "report_handled", h.at))).label("last_report"),
            func.max(case((h.action == "rework", h.at))).label("last_rework"),
            func.max(case((h.action == "approve_extension", 1), else_=0)).label("extended"),
        )
        .where(
            h.case_id.in_(select(Case.id).where(due)),
            h.action.in_(("report_handled", "rework", "approve_extension")),
            h.at < cut,
        )
        .group_by(h.case_id)
        .subquery()
    )
    last_report, last_rework = facts.c.last_report, facts.c.last_rework
    handled = and_(last_report.is_not(None), or_(last_rework.is_(None), last_rework < last_report))
    return DueJobs(
        Case.__table__.outerjoin(facts, facts.c.case_id == Case.id),
        due,
        handled,
        last_report,
        facts.c.extended,
    )
