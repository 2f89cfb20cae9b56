"""The ledger (挂账) as a stock: what was on it when a period began, what was added and taken
off (resumed) in it, and what is still on it at the end (carried over), with its age and the
reason given. A case leaves the ledger only by ``resume``; it may go on and off several times.

Counts are SQL aggregates over the ledger's own history rows (``to_ledger`` and ``resume``
before the cut), per district, unit or class; the carried-over list is the stock itself,
one row per case, so that its ages and reasons can be read and printed.
Identity: opening + added − resolved = closing (checked by the tests).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import SQLColumnExpression, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from hotline.models import Case, CaseHistory

GROUPS = ("district", "unit", "class")
CITY = "city"


@dataclass(frozen=True)
class Stock:
    opening: int
    added: int
    resolved: int
    closing: int


@dataclass(frozen=True)
class Carried:
    """A case still on the ledger at the cut."""

    number: str
    district: str
    unit: str
    kind: str
    class_code: str
    put_on: dt.datetime
    age_days: int
    reason: str


def _per_case(start: dt.datetime, cut: dt.datetime) -> Any:
    h = CaseHistory
    on = h.action == "to_ledger"
    off = h.action == "resume"
    early = h.at < start
    return (
        select(
            h.case_id.label("case_id"),
            func.max(case((and_(on, early), h.at))).label("on_before"),
            func.max(case((and_(off, early), h.at))).label("off_before"),
            func.max(case((on, h.at))).label("on_last"),
            func.max(case((off, h.at))).label("off_last"),
            func.sum(case((and_(on, h.at >= start), 1), else_=0)).label("added"),
            func.sum(case((and_(off, h.at >= start), 1), else_=0)).label("resolved"),
        )
        .where(h.action.in_(("to_ledger", "resume")), h.at < cut)
        .group_by(h.case_id)
        .subquery()
    )


def _on(last_on: ColumnElement[Any], last_off: ColumnElement[Any]) -> ColumnElement[bool]:
    return and_(last_on.is_not(None), or_(last_off.is_(None), last_off < last_on))


def stock(
    session: Session,
    group: str,
    start: dt.datetime,
    cut: dt.datetime,
    district: str | None = None,
) -> dict[str, Stock]:
    """The stock per ``group`` key over [start, cut); ``district``'s cases only when given."""
    if group not in GROUPS:
        raise ValueError(f"no group {group!r}")
    per = _per_case(start, cut)
    key: SQLColumnExpression[Any]
    if group == "district":
        key = Case.district_code
    elif group == "unit":
        key = Case.unit_code
    else:
        key = Case.kind + ":" + Case.class_code
    query = (
        select(
            key.label("key"),
            func.sum(case((_on(per.c.on_before, per.c.off_before), 1), else_=0)),
            func.sum(per.c.added),
            func.sum(per.c.resolved),
            func.sum(case((_on(per.c.on_last, per.c.off_last), 1), else_=0)),
        )
        .select_from(per)
        .join(Case, Case.id == per.c.case_id)
        .group_by(key)
    )
    if district is not None:
        query = query.where(Case.district_code == district)
    result = {}
    for code, opening, added, resolved, closing in session.execute(query):
        figures = Stock(int(opening or 0), int(added or 0), int(resolved or 0), int(closing or 0))
        if figures != Stock(0, 0, 0, 0):
            result[CITY if code is None else str(code)] = figures
    return dict(sorted(result.items()))


def carried_over(
    session: Session,
    start: dt.datetime,
    cut: dt.datetime,
    district: str | None = None,
    limit: int = 2000,
) -> list[Carried]:
    """The cases on the ledger at ``cut``, oldest first, with their age and reason."""
    per = _per_case(start, cut)
    reason = aliased(CaseHistory)
    query = (
        select(
            Case.number,
            Case.district_code,
            Case.unit_code,
            Case.kind,
            Case.class_code,
            per.c.on_last,
            reason.note,
        )
        .select_from(per)
        .join(Case, Case.id == per.c.case_id)
        .join(
            reason,
            and_(
                reason.case_id == per.c.case_id,
                reason.action == "to_ledger",
                reason.at == per.c.on_last,
            ),
        )
        .where(_on(per.c.on_last, per.c.off_last))
        .order_by(per.c.on_last, Case.number)
        .limit(limit)
    )
    if district is not None:
        query = query.where(Case.district_code == district)
    rows = []
    for number, area, unit, kind, code, put_on, note in session.execute(query):
        moment = put_on if put_on.tzinfo else put_on.replace(tzinfo=dt.UTC)
        rows.append(
            Carried(
                number,
                area or "",
                unit or "",
                kind or "",
                code or "",
                moment,
                (cut - moment).days,
                note,
            )
        )
    return rows


def total(figures: dict[str, Stock]) -> Stock:
    return Stock(
        sum(s.opening for s in figures.values()),
        sum(s.added for s in figures.values()),
        sum(s.resolved for s in figures.values()),
        sum(s.closing for s in figures.values()),
    )
