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
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, String, and_, case, func, literal, or_, select, union, union_all
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from hotline.cases import keyset
from hotline.db import without_jit
from hotline.models import Case, CaseHistory

GROUPS = ("district", "unit", "class")
LEDGER = ("to_ledger", "resume")  # the ledger's own history rows
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


def _per_case(start: dt.datetime, cut: dt.datetime, district: str | None) -> Any:
    """Per case with ledger history before ``cut``: on the ledger at ``start`` (0 or 1),
    times put on and taken off in [start, cut), on it at ``cut``; only the cases with one
    of these (a case on and off before ``start`` is left out before the join to cases)."""
    h = CaseHistory
    on = h.action == "to_ledger"
    off = h.action == "resume"
    early = h.at < start
    added = func.sum(case((and_(on, h.at >= start), 1), else_=0))
    resolved = func.sum(case((and_(off, h.at >= start), 1), else_=0))
    on_at_cut = _on(func.max(case((on, h.at))), func.max(case((off, h.at))))
    return (
        select(
            h.case_id.label("case_id"),
            case(
                (
                    _on(
                        func.max(case((and_(on, early), h.at))),
                        func.max(case((and_(off, early), h.at))),
                    ),
                    1,
                ),
                else_=0,
            ).label("opening"),
            added.label("added"),
            resolved.label("resolved"),
            case((on_at_cut, 1), else_=0).label("closing"),
        )
        .where(
            h.action.in_(LEDGER), h.at < cut, h.case_id.in_(_candidates(start, district, LEDGER))
        )
        .group_by(h.case_id)
        .having(or_(added > 0, resolved > 0, on_at_cut))
        .subquery()
    )


def _candidates(since: dt.datetime, district: str | None, actions: tuple[str, ...]) -> Any:
    """The cases that may have been on the ledger at or after ``since``: those on it now
    (their state, through its index) and those with one of ``actions`` since (through the
    history's (action, at) index). A short list for a recent moment, however long the
    ledger's history: a case on and off before ``since`` is not read at all."""
    now_on = select(Case.id).where(Case.state == "ledger")
    if district is not None:
        now_on = now_on.where(Case.district_code == district)
    since_then = select(CaseHistory.case_id).where(
        CaseHistory.action.in_(actions), CaseHistory.at >= since
    )
    return union(now_on, since_then)


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
    return stocks(session, start, cut, district, (group,))[group]


def stocks(
    session: Session,
    start: dt.datetime,
    cut: dt.datetime,
    district: str | None = None,
    groups: tuple[str, ...] = GROUPS,
) -> dict[str, dict[str, Stock]]:
    """The stock over [start, cut) per key of each of ``groups``, in one query: the cases'
    ledger figures are read once and grouped once per group (``UNION ALL``)."""
    for group in groups:
        if group not in GROUPS:
            raise ValueError(f"no group {group!r}")
    without_jit(session)
    per = _per_case(start, cut, district)
    rows = (
        select(
            per.c.opening,
            per.c.added,
            per.c.resolved,
            per.c.closing,
            Case.district_code.label("district"),
            Case.unit_code.label("unit"),
            (Case.kind + ":" + Case.class_code).label("class"),
        )
        .select_from(per)
        .join(Case, Case.id == per.c.case_id)
    )
    if district is not None:
        rows = rows.where(Case.district_code == district)
    cases = rows.cte("ledger_cases")
    query = union_all(
        *(
            select(
                literal(group, String).label("grp"),
                cases.c[group].label("key"),
                func.sum(cases.c.opening),
                func.sum(cases.c.added),
                func.sum(cases.c.resolved),
                func.sum(cases.c.closing),
            ).group_by(cases.c[group])
            for group in groups
        )
    )
    result: dict[str, dict[str, Stock]] = {group: {} for group in groups}
    for group, code, opening, added, resolved, closing in session.execute(query):
        figures = Stock(int(opening or 0), int(added or 0), int(resolved or 0), int(closing or 0))
        if figures != Stock(0, 0, 0, 0):
            result[group][CITY if code is None else str(code)] = figures
    return {group: dict(sorted(per_key.items())) for group, per_key in result.items()}


def _carried_query(cut: dt.datetime, district: str | None) -> tuple[keyset.Query, Any]:
    """The cases on the ledger at ``cut``: their last ``to_ledger`` before it with no
    ``resume`` after it (the lifecycle alternates the two, and a case on the ledger can
    only be resumed), of the cases on the ledger now or taken off since ``cut``."""
    put = aliased(CaseHistory)
    off = aliased(CaseHistory)
    resumed = (
        select(off.id)
        .where(off.case_id == put.case_id, off.action == "resume", off.at >= put.at, off.at < cut)
        .exists()
    )
    query = (
        select(
            Case.number,
            Case.district_code,
            Case.unit_code,
            Case.kind,
            Case.class_code,
            put.note,
            put.at.label("key_at"),
            put.id.label("key_id"),
        )
        .select_from(put)
        .join(Case, Case.id == put.case_id)
        .where(
            put.action == "to_ledger",
            put.at < cut,
            ~resumed,
            put.case_id.in_(_candidates(cut, district, ("resume",))),
        )
    )
    if district is not None:
        query = query.where(Case.district_code == district)
    return query, put


def carried_page(
    session: Session,
    cut: dt.datetime,
    district: str | None = None,
    *,
    after: str | None = None,
    before: str | None = None,
    size: int = keyset.PAGE,
) -> keyset.Page[Carried]:
    """One page of the cases on the ledger at ``cut``, oldest first (their count is the
    stock's closing figure). Raises ``keyset.BadCursor`` for a cursor no page gave."""
    query, put = _carried_query(cut, district)
    found = keyset.read(session, query, put.at, put.id, after=after, before=before, size=size)
    return found.map(lambda row: _carried(row, cut))


def carried_over(
    session: Session, cut: dt.datetime, district: str | None = None, limit: int | None = None
) -> Iterator[Carried]:
    """The cases on the ledger at ``cut``, oldest first (the first ``limit``, or every one,
    read a batch at a time)."""
    query, put = _carried_query(cut, district)
    rows = keyset.every(session, query, put.at, put.id)
    for row in rows if limit is None else itertools.islice(rows, limit):
        yield _carried(row, cut)


def _carried(row: Row[Any], cut: dt.datetime) -> Carried:
    moment = row.key_at if row.key_at.tzinfo else row.key_at.replace(tzinfo=dt.UTC)
    return Carried(
        row.number,
        row.district_code or "",
        row.unit_code or "",
        row.kind or "",
        row.class_code or "",
        moment,
        (cut - moment).days,
        row.note,
    )


def trend(
    session: Session,
    starts: list[dt.datetime],
    cut: dt.datetime,
    district: str | None = None,
) -> list[Stock]:
    """The city's (or ``district``'s) stock in consecutive periods beginning at ``starts``,
    the last ending at ``cut``: one pass over the ledger's history rows before ``cut``,
    counted per period. As the lifecycle alternates ``to_ledger`` and ``resume``, the stock
    at a moment is the number of ``to_ledger`` before it less the number of ``resume``,
    so each period's opening is the closing of the one before."""
    if not starts:
        return []
    without_jit(session)
    h = CaseHistory
    period = case(
        (h.at < starts[0], -1),
        *((h.at < bound, i) for i, bound in enumerate(starts[1:])),
        else_=len(starts) - 1,
    ).label("period")
    query = (
        select(
            period,
            func.sum(case((h.action == "to_ledger", 1), else_=0)),
            func.sum(case((h.action == "resume", 1), else_=0)),
        )
        .where(h.action.in_(LEDGER), h.at < cut)
        .group_by(period)
    )
    if district is not None:
        query = query.join(Case, Case.id == h.case_id).where(Case.district_code == district)
    counts = {int(i): (int(on or 0), int(off or 0)) for i, on, off in session.execute(query)}
    before_on, before_off = counts.get(-1, (0, 0))
    opening = before_on - before_off
    result = []
    for i in range(len(starts)):
        added, resolved = counts.get(i, (0, 0))
        closing = opening + added - resolved
        result.append(Stock(opening, added, resolved, closing))
        opening = closing
    return result


def total(figures: dict[str, Stock]) -> Stock:
    return Stock(
        sum(s.opening for s in figures.values()),
        sum(s.added for s in figures.values()),
        sum(s.resolved for s in figures.values()),
        sum(s.closing for s in figures.values()),
    )
