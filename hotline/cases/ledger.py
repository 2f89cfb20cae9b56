"""The ledger (挂账): cases put on it in a period with the stated reason, and the monthly
summary per district, unit and class. One query for the page, its CSV and the API's CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.cases.service import Actor
from hotline.models import Case, CaseHistory, CatalogueClass


@dataclass(frozen=True)
class LedgerRow:
    number: str
    district: str
    unit: str
    class_code: str
    class_name: str
    put_on: dt.datetime
    reason: str


def ledger_rows(
    session: Session, actor: Actor, start: dt.datetime, end: dt.datetime
) -> list[LedgerRow]:
    """Cases put on the ledger in [start, end) that ``actor``'s platform may see."""
    query = (
        select(
            Case.number,
            Case.district_code,
            Case.unit_code,
            Case.kind,
            Case.class_code,
            CaseHistory.at,
            CaseHistory.note,
        )
        .join(CaseHistory, CaseHistory.case_id == Case.id)
        .where(CaseHistory.action == "to_ledger", CaseHistory.at >= start, CaseHistory.at < end)
        .order_by(CaseHistory.at)
    )
    if not actor.is_city:
        query = query.where(Case.district_code == actor.scope_code)
    names = {
        (kind, code): name
        for kind, code, name in session.execute(
            select(CatalogueClass.kind, CatalogueClass.code, CatalogueClass.name_zh)
        )
    }
    return [
        LedgerRow(
            number,
            district or "",
            unit or "",
            code or "",
            names.get((kind or "", code or ""), ""),
            when,
            note,
        )
        for number, district, unit, kind, code, when, note in session.execute(query)
    ]


def summary(rows: list[LedgerRow]) -> dict[str, Counter[str]]:
    """Counts per district, per unit and per class."""
    return {
        "district": Counter(r.district for r in rows),
        "unit": Counter(r.unit for r in rows),
        "class": Counter(f"{r.class_code} {r.class_name}".strip() for r in rows),
    }


def ledger_csv(rows: list[LedgerRow], month: str) -> str:
    """One row per case, then the summary by district, unit and class (UTF-8 with BOM so
    that spreadsheet programs read the Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["month", "case", "district", "unit", "class", "class_name", "put_on", "reason"]
    )
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
    writer.writerow([])
    writer.writerow(["summary", "district", "unit", "class", "cases"])
    grouped = Counter((r.district, r.unit, r.class_code) for r in rows)
    for (district, unit, code), count in sorted(grouped.items()):
        writer.writerow(["", district, unit, code, count])
    return "\ufeff" + out.getvalue()
