"""The city platform's pages over the districts: every district's live state on one page
(open cases by state, overdue jobs and those of city-level units, the ledger's stock, calls
waiting and answered today), and the monthly report for the municipal government (重大问题与
考核结果: the month's figures, the worst districts and units, the major cases on the ledger),
printable and as Excel. The city platform's staff only: a district sees its own pages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import xlsxwriter
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from agent_ui.pages import evaluation
from agent_ui.pages.evaluation import MONTH, Month
from agent_ui.pages.ledger_pages import XLSX
from agent_ui.pages.workspace_export import _inert, _local
from agent_ui.web.auth import Current, SignedIn
from agent_ui.web.deps import DbSession
from agent_ui.web.i18n import Texts, translator
from agent_ui.web.kept import (
    View,
    kept_for_page,
    recompute_for_page,
    recompute_offer,
    require_recompute_role,
    while_unchanged,
)
from agent_ui.web.names import names_for
from agent_ui.web.templating import render
from hotline import oversight
from hotline.cases import ledger_stock
from hotline.cases.kept_figures import Kind
from hotline.cases.ledger_stock import Carried
from hotline.models import utcnow
from hotline.periods import Period, current
from hotline.roles import PLATFORM_STAFF

router = APIRouter(prefix="/supervisor", include_in_schema=False)
STATES = ("received", "registered", "dispatched", "in_progress", "rework", "returned")
STATES_LATER = ("handled", "verified", "escalated", "ledger")


def _city_staff(current: SignedIn) -> None:
    if current.user.role not in PLATFORM_STAFF or not current.actor.is_city:
        raise HTTPException(403, "for the city platform's staff")


def _rows(request: Request, session: DbSession) -> list[dict[str, Any]]:
    now = utcnow()
    today = current("day", ZoneInfo(request.app.state.settings.timezone), now)
    cases = while_unchanged(  # every open case of the city, grouped
        request, session, ("city-cases",), lambda: oversight.case_overview(session, now)
    )
    state = oversight.overview(session, now, today.start, cases)
    names = names_for(request, session)
    keys = [*sorted(names.districts()), oversight.CITY]
    keys += sorted(k for k in state if k not in keys)
    rows = []
    for key in keys:
        entry = state.get(key) or oversight.District()
        rows.append(
            {
                "code": key,
                "name": names.area(key),
                "open": entry.open_cases,
                "backlog": entry.backlog,
                "overdue": entry.overdue,
                "overdue_city_units": entry.overdue_city_units,
                "ledger": entry.ledger,
                "waiting": entry.waiting,
                "offered": entry.offered,
                "answered": entry.answered,
            }
        )
    return rows


@router.get("/city", response_class=HTMLResponse)
def city_page(request: Request, current: Current, session: DbSession) -> Response:
    _city_staff(current)
    return render(
        request,
        "supervisor/city.html",
        {"rows": _rows(request, session), "states": STATES + STATES_LATER},
        session=session,
        current=current,
    )


@router.get("/city.json")
def city_json(request: Request, current: Current, session: DbSession) -> list[dict[str, Any]]:
    _city_staff(current)
    return _rows(request, session)


WORST = 5  # districts and units named in the report
MAJOR_DAYS = 30  # a case on the ledger this long is a major problem for the report
MAJOR_LIMIT = 2000  # the longest on the ledger that the report reads (and its workbook lists)
MAJOR_SHOWN = 50  # of those, the longest on the printed page


REPORT_SCOPES = ("city", "district", "unit")  # the report's evaluation figures


def _month(request: Request, month: str | None) -> Period:
    period = evaluation.period_of(request, None, month)
    if period.kind != "month":  # the route's pattern allows months only; kept for safety
        raise HTTPException(422, "a month")
    return period


def _report(request: Request, session: DbSession, month: str | None) -> dict[str, Any]:
    period = _month(request, month)
    city, districts, units = (
        evaluation.build(request, session, period, scope, None) for scope in REPORT_SCOPES
    )
    key, kind, _ = _major(period)
    found = kept_for_page(request, session, key, kind, period, utcnow())
    carried = found.value
    return {
        "kept": found,
        "period": period.label,
        "running": city["running"],
        "previous_period": city["previous_period"],
        "city": city["rows"][0] if city["rows"] else None,
        "worst_districts": _worst(districts["rows"]),
        "worst_units": _worst(units["rows"]),
        "major": sorted(
            (c for c in carried if c.age_days >= MAJOR_DAYS), key=lambda c: -c.age_days
        ),
        "figures": evaluation.FIGURES,
    }


def _major(period: Period) -> View:
    return f"major|{period.label}", MAJOR_KIND, period


def _views(period: Period) -> list[View]:
    """Every kept figure the report reads: the city's evaluation by each of its scopes, this
    month's and the one before's, and the cases longest on the ledger."""
    months = (period, period.previous())
    evaluated = [evaluation.view(p, scope, None) for scope in REPORT_SCOPES for p in months]
    return [*evaluated, _major(period)]


def _carried(session: Session, _start: dt.datetime, cut: dt.datetime) -> list[Carried]:
    return list(ledger_stock.carried_over(session, cut, limit=MAJOR_LIMIT))


def _encode_carried(rows: list[Carried]) -> list[dict[str, Any]]:
    return [{**dataclasses.asdict(c), "put_on": c.put_on.isoformat()} for c in rows]


def _decode_carried(stored: list[dict[str, Any]]) -> list[Carried]:
    return [Carried(**{**c, "put_on": dt.datetime.fromisoformat(c["put_on"])}) for c in stored]


# The longest on the ledger, as kept (agent_ui.web.kept): 2,000 rows read for every reader.
MAJOR_KIND = Kind(_carried, _encode_carried, _decode_carried)


def _worst(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lowest on-time rates of those with jobs due, then the most overdue."""
    judged = [r for r in rows if r["due"]]
    return sorted(judged, key=lambda r: (r["on_time_rate"], -r["overdue"], r["name"]))[:WORST]


@router.get("/city/report", response_class=HTMLResponse)
def report_page(
    request: Request, current: Current, session: DbSession, month: Month = None
) -> Response:
    _city_staff(current)
    data = _report(request, session, month)
    offer = recompute_offer(
        request,
        current,
        data["kept"],
        "/supervisor/city/report/recompute",
        {"month": data["period"]},
    )
    return render(
        request,
        "supervisor/city_report.html",
        {**data, "major_days": MAJOR_DAYS, "major_shown": MAJOR_SHOWN, "kept_offer": offer},
        session=session,
        current=current,
    )


@router.post("/city/report/recompute")
def report_recompute(
    request: Request,
    current: Current,
    session: DbSession,
    month: Annotated[str, Form(pattern=MONTH)],
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A past month's report computed again from the cases as they are now (``_views``);
    back to the page with a notice."""
    require_recompute_role(current)
    _city_staff(current)
    period = _month(request, month)
    back = ("/supervisor/city/report", {"month": period.label})
    return recompute_for_page(
        request, session, current, csrf_token, _views(period), evaluation.now(), back
    )


@router.get("/city/report.xlsx")
def report_xlsx(
    request: Request, current: Current, session: DbSession, month: Month = None
) -> Response:
    _city_staff(current)
    data = _report(request, session, month)
    t = translator(request)
    names = names_for(request, session)
    zone = ZoneInfo(request.app.state.settings.timezone)
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    bold = book.add_format({"bold": True, "bg_color": "#EEF2F6"})
    _figures_sheet(book, bold, t, data)
    for title, rows in (
        (t.rp_worst_districts, data["worst_districts"]),
        (t.rp_worst_units, data["worst_units"]),
    ):
        sheet = book.add_worksheet(title[:31])
        sheet.write_row(0, 0, (t.lg_name, t.ev_due, t.ev_on_time_rate, t.ev_overdue_rate), bold)
        for line, r in enumerate(rows, start=1):
            sheet.write_row(line, 0, (r["name"], r["due"], r["on_time_rate"], r["overdue_rate"]))
        sheet.set_column(0, 0, 28)
    major = book.add_worksheet(t.rp_major[:31])
    major.write_row(0, 0, (t.number, t.district, t.unit, t.put_on, t.lg_age_days, t.reason), bold)
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for line, c in enumerate(data["major"], start=1):
        major.write_string(line, 0, c.number)
        major.write_string(line, 1, names.area(c.district))
        major.write_string(line, 2, names.unit(c.unit))
        major.write_datetime(line, 3, _local(c.put_on, zone), when)
        major.write_number(line, 4, c.age_days)
        major.write_string(line, 5, _inert(c.reason))
    major.set_column(0, 5, 18)
    book.close()
    return Response(
        out.getvalue(),
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="city-report-{data["period"]}.xlsx"'
        },
    )


def _figures_sheet(book: Any, bold: Any, t: Texts, data: dict[str, Any]) -> None:
    sheet = book.add_worksheet(t.rp_figures[:31])
    sheet.write_row(0, 0, (t.lg_name, data["period"], data["previous_period"]), bold)
    city = data["city"]
    for line, (name, _) in enumerate(data["figures"], start=1):
        sheet.write_string(line, 0, t["ev_" + name])
        if city is not None:
            for column, value in ((1, city[name]), (2, city["previous"][name])):
                if value is not None:
                    sheet.write_number(line, column, value)
    sheet.set_column(0, 0, 28)
