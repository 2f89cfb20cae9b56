"""Case reports: how many cases came in, were registered, dispatched, handled, closed and
solved, and how many jobs went overdue, for a period, per place, class or source, and over
the period's days (hours, weeks, months) — SQL aggregates, two ``GROUP BY`` queries per
table, never a loop over the cases.

Counts (the same words are on the page and in docs/indicators.md), for [start, cut), cut =
the period's end or now while it runs:

* received (受理) — cases created in the period, every way in (a call, a visit, the web, an
  inspector, a callback request, another system, Open311), later invalid or duplicate too;
* registered (立案) — cases registered in the period (on creation or by ``register``);
* dispatched (派遣) — cases dispatched to a unit in the period (a case dispatched again after a
  return counts once);
* handled (处置) — cases a unit reported handled in the period (once per case);
* closed (结案) — cases closed in the period;
* solved (解决) — of those, the ones verified as really solved;
* due (到期) and overdue (超期) — jobs whose deadline fell in the period, and of those the ones
  not handled by it: the evaluation's own count (``indicators.due_jobs``), so a job due later
  is not overdue yet and a job its unit returned is not counted.

Groups: the whole city, district (none: the city platform's own cases), street (of the case's
grid cell; none without one), unit (责任单位: a dispatch counts for the unit it went to, as in
the evaluation, every other figure for the case's unit now; none before a dispatch), class
(``kind:class_code``; none before registration) and source.
The trend splits the period into buckets (hours of a day, days of a week or month, weeks of a
quarter, months of a year) with a ``CASE`` over the bucket bounds, so the local calendar is
the city's on both databases.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    SQLColumnExpression,
    String,
    and_,
    case,
    distinct,
    func,
    literal,
    union_all,
)
from sqlalchemy import select as select_
from sqlalchemy.orm import Session, aliased

from hotline.cases.indicators import CITY, Rows, due_jobs
from hotline.db import without_jit
from hotline.models import Area, Case, CaseHistory, GridCell
from hotline.periods import Period

GROUPS = ("city", "district", "street", "unit", "class", "source")
PLACES = ("district", "street", "unit", "class", "source")  # the report's groupings
NONE = "-"  # the key of cases with no district, street or class
# The IVR's callback request makes its case with a step of its own (hotline.cases.callback).
RECEIVED = ("create", "callback_request")
EVENTS = (*RECEIVED, "register", "dispatch", "report_handled", "close")


@dataclass(frozen=True)
class CaseFigures:
    received: int = 0
    registered: int = 0
    dispatched: int = 0
    handled: int = 0
    closed: int = 0
    solved: int = 0
    due: int = 0
    overdue: int = 0

    @property
    def overdue_rate(self) -> float | None:
        return round(self.overdue / self.due, 4) if self.due else None

    @property
    def solved_rate(self) -> float | None:
        return round(self.solved / self.closed, 4) if self.closed else None


FIGURES = tuple(f.name for f in dataclasses.fields(CaseFigures))


def figures(
    session: Session,
    group: str,
    start: dt.datetime,
    cut: dt.datetime,
    district: str | None = None,
) -> dict[str, CaseFigures]:
    """The counts per ``group`` key over [start, cut); ``district``'s cases only when given."""
    if group not in GROUPS:
        raise ValueError(f"no group {group!r}")
    per = _run(session, (group,), start, cut, district, None)[group]
    return {key: counts for (key, _), counts in per.items()}


@dataclass(frozen=True)
class Report:
    """What the case report shows: the totals of the period and the one before, every
    grouping, the trend."""

    district: str | None
    total: CaseFigures
    previous: CaseFigures
    groups: dict[str, dict[str, CaseFigures]]
    trend: list[CaseFigures]


def report(session: Session, period: Period, now: dt.datetime, district: str | None) -> Report:
    """The whole report in four queries: the period's history and due jobs, each read once
    for the five groupings and the trend, and the period before per district (the totals are
    the district grouping's sums: every case has exactly one district key)."""
    cut = period.cut(now)
    before = period.previous()
    starts = [_utc(b, period) for b in buckets(period)]
    per = _run(session, (*PLACES, "trend"), period.start, cut, district, starts)
    earlier = _run(session, ("district",), before.start, before.cut(now), district, None)
    groups = {group: {key: f for (key, _), f in per[group].items()} for group in PLACES}
    return Report(
        district,
        _sum(groups["district"].values()),
        _sum(earlier["district"].values()),
        groups,
        [per["trend"].get((CITY, i), CaseFigures()) for i in range(len(starts))],
    )


def encode(kept: Report) -> dict[str, Any]:
    """The report as JSON (kept by ``hotline.cases.kept_figures``)."""
    return dataclasses.asdict(kept)


def decode(stored: dict[str, Any]) -> Report:
    return Report(
        stored["district"],
        CaseFigures(**stored["total"]),
        CaseFigures(**stored["previous"]),
        {
            group: {key: CaseFigures(**values) for key, values in per.items()}
            for group, per in stored["groups"].items()
        },
        [CaseFigures(**values) for values in stored["trend"]],
    )


def _sum(rows: Iterable[CaseFigures]) -> CaseFigures:
    every = list(rows)
    return CaseFigures(*(sum(getattr(f, name) for f in every) for name in FIGURES))


def total(
    session: Session, start: dt.datetime, cut: dt.datetime, district: str | None = None
) -> CaseFigures:
    return figures(session, "city", start, cut, district).get(CITY, CaseFigures())


def buckets(period: Period) -> list[dt.date | dt.datetime]:
    """The starts (local) of the trend's buckets: hours of a day, days of a week or month,
    weeks of a quarter, months of a year."""
    if period.kind == "day":
        first = dt.datetime.combine(period.first, dt.time(), period.zone)
        return [first + dt.timedelta(hours=h) for h in range(24)]
    if period.kind in ("week", "month"):
        days = (period.after - period.first).days
        return [period.first + dt.timedelta(days=d) for d in range(days)]
    if period.kind == "quarter":
        weeks = -(-(period.after - period.first).days // 7)
        return [period.first + dt.timedelta(days=7 * w) for w in range(weeks)]
    return [dt.date(period.first.year, m, 1) for m in range(1, 13)]


def trend(
    session: Session, period: Period, cut: dt.datetime, district: str | None = None
) -> list[CaseFigures]:
    """The whole scope's counts per bucket of ``period`` (``buckets``), up to ``cut``."""
    starts = [_utc(b, period) for b in buckets(period)]
    per = _run(session, ("trend",), period.start, cut, district, starts)["trend"]
    return [per.get((CITY, i), CaseFigures()) for i in range(len(starts))]


def _utc(moment: dt.date | dt.datetime, period: Period) -> dt.datetime:
    if isinstance(moment, dt.datetime):
        return moment.astimezone(dt.UTC)
    return dt.datetime.combine(moment, dt.time(), period.zone).astimezone(dt.UTC)


def _run(
    session: Session,
    groups: tuple[str, ...],
    start: dt.datetime,
    cut: dt.datetime,
    district: str | None,
    starts: list[dt.datetime] | None,
) -> dict[str, dict[tuple[str, int], CaseFigures]]:
    """{group: {(key, bucket): counts}} for ``groups`` (places, "city", "trend"): one query
    over the period's history and one over its due jobs, each grouped once per group."""
    without_jit(session)  # as the evaluation (indicators.compute)
    counts: dict[str, dict[tuple[str, int], dict[str, int]]] = {g: {} for g in groups}
    for query in (
        _events(groups, start, cut, district, starts),
        _due(groups, start, cut, district, starts),
    ):
        for row in session.execute(query).mappings():
            values = dict(row)
            group = values.pop("grp")
            key = (_key(group, values.pop("key")), int(values.pop("bucket") or 0))
            counts[group].setdefault(key, {}).update({k: int(v or 0) for k, v in values.items()})
    return {
        group: {key: CaseFigures(**values) for key, values in sorted(per.items())}
        for group, per in counts.items()
    }


def _key(group: str, value: object) -> str:
    if group in ("city", "trend"):
        return CITY
    return NONE if value is None else str(value)


def _with_places(query: Rows, unit: SQLColumnExpression[Any]) -> Rows:
    """``query`` over cases with each case's district, street (of its grid cell), ``unit``,
    class and source as columns."""
    community = aliased(Area)
    return (
        query.add_columns(
            Case.district_code.label("district"),
            community.parent_code.label("street"),
            unit.label("unit"),
            (Case.kind + ":" + Case.class_code).label("class"),
            Case.source.label("source"),
        )
        .outerjoin(GridCell, GridCell.code == Case.grid_code)
        .outerjoin(community, community.code == GridCell.community_code)
    )


def _bucket(column: Any, starts: list[dt.datetime] | None) -> ColumnElement[Any]:
    """The index of the bucket ``column`` falls in (rows before the first are filtered)."""
    if not starts or len(starts) == 1:
        return literal(0, Integer)
    return case(*((column < bound, i) for i, bound in enumerate(starts[1:])), else_=len(starts) - 1)


def _grouped(
    rows: Any, groups: tuple[str, ...], sums: Callable[[Any], dict[str, ColumnElement[Any]]]
) -> Any:
    """The rows' ``sums`` once per group (UNION ALL over one common table expression)."""
    parts = []
    for group in groups:
        key = literal(CITY, String) if group in ("city", "trend") else rows.c[group]
        bucket = rows.c.bucket if group == "trend" else literal(0, Integer)
        part = select_(
            literal(group, String).label("grp"),
            key.label("key"),
            bucket.label("bucket"),
            *(value.label(name) for name, value in sums(rows).items()),
        )
        if group == "trend":
            part = part.group_by(rows.c.bucket)
        elif group != "city":
            part = part.group_by(key)
        parts.append(part)
    return union_all(*parts)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _events(
    groups: tuple[str, ...],
    start: dt.datetime,
    cut: dt.datetime,
    district: str | None,
    starts: list[dt.datetime] | None,
) -> Any:
    h = CaseHistory
    action = h.action
    query: Rows = (
        select_(
            h.case_id.label("case_id"),
            _flag(action.in_(RECEIVED)).label("received"),
            _flag(and_(action.in_(("create", "register")), h.to_state == "registered")).label(
                "registered"
            ),
            _flag(action == "dispatch").label("dispatched"),
            _flag(action == "report_handled").label("handled"),
            _flag(action == "close").label("closed"),
            _flag(and_(action == "close", Case.solved.is_(True))).label("solved"),
            _bucket(h.at, starts).label("bucket"),
        )
        .select_from(h)
        .join(Case, Case.id == h.case_id)
        .where(h.at >= start, h.at < cut, action.in_(EVENTS))
    )
    if district is not None:
        query = query.where(Case.district_code == district)

    def sums(rows: Any) -> dict[str, ColumnElement[Any]]:
        def once(flag: Any) -> ColumnElement[int]:  # a case counted once per key and bucket
            return func.count(distinct(case((flag == 1, rows.c.case_id))))

        return {
            "received": func.sum(rows.c.received),
            "registered": func.sum(rows.c.registered),
            "dispatched": once(rows.c.dispatched),
            "handled": once(rows.c.handled),
            "closed": func.sum(rows.c.closed),
            "solved": func.sum(rows.c.solved),
        }

    # a dispatch row names the unit it went to (hotline.cases.indicators counts it so too)
    unit = case((action == "dispatch", h.data["unit_code"].as_string()), else_=Case.unit_code)
    return _grouped(_with_places(query, unit).cte("history_rows"), groups, sums)


def _due(
    groups: tuple[str, ...],
    start: dt.datetime,
    cut: dt.datetime,
    district: str | None,
    starts: list[dt.datetime] | None,
) -> Any:
    jobs = due_jobs(start, cut, district)
    on_time = and_(jobs.handled, jobs.last_report <= Case.due_at)
    query: Rows = (
        select_(
            case((on_time, 0), else_=1).label("overdue"),
            _bucket(Case.due_at, starts).label("bucket"),
        )
        .select_from(jobs.cases)
        .where(jobs.due)
    )
    return _grouped(
        _with_places(query, Case.unit_code).cte("due_rows"),
        groups,
        lambda rows: {"due": func.count(), "overdue": func.sum(rows.c.overdue)},
    )
