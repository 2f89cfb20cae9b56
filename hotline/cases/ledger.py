"""The ledger (挂账): cases put on it in a period with the stated reason. The page reads one
keyset page of them (``page``); the CSV of the page and of the API every row (``every``),
a batch at a time, with the summary per district, unit and class."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from hotline.cases import keyset
from hotline.cases.service import Actor
from hotline.models import Case, CaseHistory, CatalogueClass


@dataclass(frozen=True)
class LedgerRow:
    number: str
    district: str
    unit: str
    kind: str
    class_code: str
    class_name: str
    put_on: dt.datetime
    reason: str


def _query(actor: Actor, start: dt.datetime, end: dt.datetime) -> keyset.Query:
    """The ``to_ledger`` rows in [start, end) that ``actor``'s platform may see (read through
    the history's (action, at) index in time order)."""
    query = (
        select(
            Case.number,
            Case.district_code,
            Case.unit_code,
            Case.kind,
            Case.class_code,
            CaseHistory.note,
            CaseHistory.at.label("key_at"),
            CaseHistory.id.label("key_id"),
        )
        .select_from(CaseHistory)
        .join(Case, Case.id == CaseHistory.case_id)
        .where(CaseHistory.action == "to_ledger", CaseHistory.at >= start, CaseHistory.at < end)
    )
    if not actor.is_city:
        query = query.where(Case.district_code == actor.scope_code)
    return query


def page(
    session: Session,
    actor: Actor,
    start: dt.datetime,
    end: dt.datetime,
    *,
    after: str | None = None,
    before: str | None = None,
    size: int = keyset.PAGE,
) -> tuple[keyset.Page[LedgerRow], int]:
    """One page of the cases put on the ledger in [start, end), oldest first, and how many
    there are. Raises ``keyset.BadCursor`` for a cursor no page gave."""
    query = _query(actor, start, end)
    found = keyset.read(
        session, query, CaseHistory.at, CaseHistory.id, after=after, before=before, size=size
    )
    counted = (
        select(func.count())
        .select_from(CaseHistory)
        .where(CaseHistory.action == "to_ledger", CaseHistory.at >= start, CaseHistory.at < end)
    )
    if not actor.is_city:  # the city counts the index alone, without a look at each case
        counted = counted.join(Case, Case.id == CaseHistory.case_id).where(
            Case.district_code == actor.scope_code
        )
    total = session.scalar(counted) or 0
    names = _class_names(session) if found.rows else {}
    return found.map(lambda row: _row(row, names)), total


def every(
    session: Session, actor: Actor, start: dt.datetime, end: dt.datetime
) -> Iterator[LedgerRow]:
    """Every case put on the ledger in [start, end), oldest first, read a batch at a time."""
    names = _class_names(session)
    for row in keyset.every(session, _query(actor, start, end), CaseHistory.at, CaseHistory.id):
        yield _row(row, names)


def _class_names(session: Session) -> dict[tuple[str, str], str]:
    return {
        (kind, code): name
        for kind, code, name in session.execute(
            select(CatalogueClass.kind, CatalogueClass.code, CatalogueClass.name_zh)
        )
    }


def _row(row: Row[Any], names: dict[tuple[str, str], str]) -> LedgerRow:
    kind, code = row.kind or "", row.class_code or ""
    return LedgerRow(
        row.number,
        row.district_code or "",
        row.unit_code or "",
        kind,
        code,
        names.get((kind, code), ""),
        row.key_at if row.key_at.tzinfo else row.key_at.replace(tzinfo=dt.UTC),
        row.note,
    )


def ledger_csv(rows: Iterable[LedgerRow], month: str) -> str:
    """One row per case, then the summary by district, unit and class (UTF-8 with BOM so
    that spreadsheet programs read the Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["month", "case", "district", "unit", "class", "class_name", "put_on", "reason"]
    )
    grouped: Counter[tuple[str, str, str]] = Counter()
    for r in rows:
        writer.writerow(
            [
                month,
                r.number,
                r.district,
                r.unit,
                r.class_code,
                r.class_name,
                r.put_on.isoformat(),
                r.reason,
            ]
        )
        grouped[(r.district, r.unit, r.class_code)] += 1
    writer.writerow([])
    writer.writerow(["summary", "district", "unit", "class", "cases"])
    for (district, unit, code), count in sorted(grouped.items()):
        writer.writerow(["", district, unit, code, count])
    return "\ufeff" + out.getvalue()
