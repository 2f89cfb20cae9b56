"""The ledger (挂账) of a month for the platforms' staff: the stock per district, unit and class
(opening, added, resolved, carried over), the cases still on it with their age and reason,
and the cases put on it in the month; printable, CSV and Excel. A district's staff see their
district; the city every district."""

from __future__ import annotations

import io
from typing import Any
from zoneinfo import ZoneInfo

import xlsxwriter
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from agent_ui.pages.evaluation import Month
from agent_ui.pages.inbox import supervisor_only
from agent_ui.pages.workspace_export import _inert, _local
from agent_ui.web.auth import Current, SignedIn
from agent_ui.web.deps import DbSession
from agent_ui.web.i18n import Texts, translator
from agent_ui.web.names import Names, names_for
from agent_ui.web.templating import render
from hotline.cases import ledger, ledger_stock
from hotline.models import utcnow
from hotline.periods import BadPeriod, Period, parse_period

router = APIRouter(prefix="/supervisor", include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _month(request: Request, month: str | None) -> Period:
    try:
        return parse_period(month, ZoneInfo(request.app.state.settings.timezone), utcnow())
    except BadPeriod as exc:
        raise HTTPException(422, str(exc)) from exc


def _figures(session: Session, current: SignedIn, period: Period) -> dict[str, Any]:
    district = None if current.actor.is_city else current.user.scope_code
    cut = period.cut(utcnow())
    stock = {
        group: ledger_stock.stock(session, group, period.start, cut, district)
        for group in ledger_stock.GROUPS
    }
    trend = []
    month = period
    for _ in range(12):  # the stock over the year before: twelve small aggregates
        if month.start <= utcnow():
            figures = ledger_stock.total(
                ledger_stock.stock(session, "district", month.start, month.cut(utcnow()), district)
            )
            trend.append((month.label, figures))
        month = month.previous()
    trend.reverse()
    return {
        "trend": trend,
        "month": period.label,
        "running": period.running(utcnow()),
        "stock": stock,
        "total": ledger_stock.total(stock["district"]),
        "carried": ledger_stock.carried_over(session, period.start, cut, district),
        "rows": ledger.ledger_rows(session, current.actor, period.start, period.end),
    }


def key_name(names: Names, group: str, key: str, t: Texts) -> str:
    if key == ledger_stock.CITY:
        return t.ev_city_platform if group == "district" else "—"
    if group == "district":
        return names.area(key)
    if group == "unit":
        return names.unit(key)
    kind, _, code = key.partition(":")
    return names.klass(kind, code)


@router.get("/ledger", response_class=HTMLResponse)
def ledger_page(
    request: Request, current: Current, session: DbSession, month: Month = None
) -> Response:
    supervisor_only(current)
    zone = ZoneInfo(request.app.state.settings.timezone)
    figures = _figures(session, current, _month(request, month))
    names = names_for(request, session)
    t = translator(request)
    return render(
        request,
        "supervisor/ledger.html",
        {
            **figures,
            "zone": zone,
            "key_name": lambda group, key: key_name(names, group, key, t),
            "chart": {
                "kind": "bar",
                "percent": False,
                "categories": [label for label, _ in figures["trend"]],
                "series": [
                    {"name": t.lg_added, "data": [s.added for _, s in figures["trend"]]},
                    {"name": t.lg_resolved, "data": [s.resolved for _, s in figures["trend"]]},
                    {
                        "name": t.lg_closing,
                        "kind": "line",
                        "data": [s.closing for _, s in figures["trend"]],
                    },
                ],
            },
        },
        session=session,
        current=current,
    )


@router.get("/ledger.csv")
def ledger_csv(
    request: Request, current: Current, session: DbSession, month: Month = None
) -> Response:
    supervisor_only(current)
    period = _month(request, month)
    rows = ledger.ledger_rows(session, current.actor, period.start, period.end)
    return Response(
        ledger.ledger_csv(rows, period.label),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="ledger-{period.label}.csv"'},
    )


@router.get("/ledger.xlsx")
def ledger_xlsx(
    request: Request, current: Current, session: DbSession, month: Month = None
) -> Response:
    """The stock per district, unit and class, and the cases carried over, in one workbook."""
    supervisor_only(current)
    figures = _figures(session, current, _month(request, month))
    names = names_for(request, session)
    t = translator(request)
    zone = ZoneInfo(request.app.state.settings.timezone)
    body = _workbook(figures, names, t, zone)
    return Response(
        body,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="ledger-{figures["month"]}.xlsx"'},
    )


def _workbook(figures: dict[str, Any], names: Names, t: Texts, zone: ZoneInfo) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    bold = book.add_format({"bold": True, "bg_color": "#EEF2F6"})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet = book.add_worksheet(t.lg_stock)
    heads = (t.lg_group, t.lg_name, t.lg_opening, t.lg_added, t.lg_resolved, t.lg_closing)
    sheet.write_row(0, 0, heads, bold)
    line = 1
    titles = {"district": t.district, "unit": t.unit, "class": t.class_label}
    for group, per_key in figures["stock"].items():
        for key, s in per_key.items():
            sheet.write_row(
                line,
                0,
                (titles[group], key_name(names, group, key, t)),
            )
            sheet.write_row(line, 2, (s.opening, s.added, s.resolved, s.closing))
            line += 1
    sheet.set_column(0, 1, 24)
    carried = book.add_worksheet(t.lg_carried)
    carried.write_row(
        0,
        0,
        (t.number, t.district, t.unit, t.class_label, t.put_on, t.lg_age_days, t.reason),
        bold,
    )
    for row, c in enumerate(figures["carried"], start=1):
        carried.write_string(row, 0, c.number)
        carried.write_string(row, 1, names.area(c.district))
        carried.write_string(row, 2, names.unit(c.unit))
        carried.write_string(row, 3, names.klass(c.kind, c.class_code))
        carried.write_datetime(row, 4, _local(c.put_on, zone), when)
        carried.write_number(row, 5, c.age_days)
        carried.write_string(row, 6, _inert(c.reason))
    carried.set_column(0, 6, 18)
    book.close()
    return out.getvalue()
