"""The ledger (挂账) of a month for the platforms' staff: the stock per district, unit and class
(opening, added, resolved, carried over) and over the twelve months before, the cases still
on it with their age and reason, and the cases put on it in the month; printable, CSV and
Excel. A district's staff see their district; the city every district.

The page shows a keyset page of each list (a city's month puts thousands of cases on the
ledger); the printable view (``print=1``), the CSV and the workbook hold every case."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import xlsxwriter
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from agent_ui.pages.evaluation import MONTH, Month
from agent_ui.pages.inbox import supervisor_only
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
)
from agent_ui.web.names import Names, names_for
from agent_ui.web.shared_cache import SharedCache
from agent_ui.web.templating import render
from hotline.cases import keyset, ledger, ledger_stock
from hotline.cases.kept_figures import Kind
from hotline.cases.ledger_stock import Stock
from hotline.models import utcnow
from hotline.periods import BadPeriod, Period, parse_period

router = APIRouter(prefix="/supervisor", include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _month(request: Request, month: str | None) -> Period:
    try:
        return parse_period(month, ZoneInfo(request.app.state.settings.timezone), utcnow())
    except BadPeriod as exc:
        raise HTTPException(422, str(exc)) from exc


Cursor = Annotated[str | None, Query(max_length=64)]
LISTS = ("carried", "added")  # the page's two lists, each paged on its own


def _stock(request: Request, session: Session, current: SignedIn, period: Period) -> dict[str, Any]:
    """The month's stock per district, unit and class and its twelve-month trend, as kept
    (``agent_ui.web.kept``: a past month's computed once, a running one's renewed behind
    the page): two SQL aggregates, which at a city's volume take a fraction of a second,
    for every supervisor opening the page."""
    district = _district(current)
    key, kind, _ = _view(period, district)
    found = kept_for_page(request, session, key, kind, period, utcnow())
    stock, trend = found.value
    return {
        "district": district,
        "kept": found,
        "cut": found.cut,
        "month": period.label,
        "running": period.running(utcnow()),
        "stock": stock,
        "total": ledger_stock.total(stock["district"]),
        "trend": trend,
    }


def _district(current: SignedIn) -> str | None:
    return None if current.actor.is_city else current.user.scope_code


def _view(period: Period, district: str | None) -> View:
    """The key and kind the month's stock and trend are kept under."""
    key = "|".join(("ledger", period.label, district or "*"))
    kind = Kind(lambda s, start, cut: _computed(s, period, district, start, cut), _encode, _decode)
    return key, kind, period


Stocks = dict[str, dict[str, Stock]]
Trend = list[tuple[str, Stock]]


def _computed(
    session: Session, period: Period, district: str | None, start: dt.datetime, cut: dt.datetime
) -> tuple[Stocks, Trend]:
    stock = ledger_stock.stocks(session, start, cut, district)
    return stock, _trend(session, period, cut, district)


def _encode(value: tuple[Stocks, Trend]) -> dict[str, Any]:
    stock, trend = value
    return {
        "stock": {
            group: {key: dataclasses.asdict(v) for key, v in per.items()}
            for group, per in stock.items()
        },
        "trend": [[label, dataclasses.asdict(v)] for label, v in trend],
    }


def _decode(stored: dict[str, Any]) -> tuple[Stocks, Trend]:
    stock = {g: {k: Stock(**v) for k, v in per.items()} for g, per in stored["stock"].items()}
    return stock, [(label, Stock(**v)) for label, v in stored["trend"]]


def _trend(
    session: Session, period: Period, cut: dt.datetime, district: str | None
) -> list[tuple[str, Stock]]:
    """The stock of the twelve months up to ``period`` (those begun by ``cut``): one SQL
    aggregate."""
    months = [period]
    while len(months) < 12:
        months.append(months[-1].previous())
    begun = [month for month in reversed(months) if month.start <= cut]
    if not begun:
        return []
    figures = ledger_stock.trend(session, [m.start for m in begun], cut, district)
    return [(month.label, s) for month, s in zip(begun, figures, strict=True)]


def _lists(
    request: Request,
    session: Session,
    current: SignedIn,
    period: Period,
    figures: dict[str, Any],
    cursors: dict[str, str | None],
) -> dict[str, Any]:
    """One page of each list (cases carried over, cases put on the ledger in the month).
    A page of the cases on the ledger at the kept figures' cut is the same for every reader
    while they are kept: it is read once for all (0.1 s at a million cases)."""
    try:
        cut, district = figures["cut"], figures["district"]
        after, before = cursors["carried_after"], cursors["carried_before"]
        ttl = max(request.app.state.settings.figures_refresh_seconds, 1.0)
        cache: SharedCache = request.app.state.shared_cache
        carried = cache.get(
            ("carried", cut, district, after, before),
            ttl,
            lambda: ledger_stock.carried_page(session, cut, district, after=after, before=before),
        )
        added, count = ledger.page(
            session,
            current.actor,
            period.start,
            period.end,
            after=cursors["added_after"],
            before=cursors["added_before"],
        )
    except keyset.BadCursor as exc:
        raise HTTPException(422, str(exc)) from exc
    return {
        "carried": carried.rows,
        "carried_count": figures["total"].closing,
        "rows": added.rows,
        "rows_count": count,
        "paging": {
            "carried": _links(period.label, cursors, "carried", carried),
            "added": _links(period.label, cursors, "added", added),
        },
    }


def _links(
    month: str, cursors: dict[str, str | None], name: str, page: keyset.Page[Any]
) -> dict[str, str | None]:
    """The first, previous and next page of list ``name``; the other list stays where it is."""
    kept = {"month": month} | {
        key: value for key, value in cursors.items() if value and not key.startswith(name)
    }

    def link(**cursor: str) -> str:
        return f"/supervisor/ledger?{urlencode(kept | cursor)}#{name}"

    return {
        "first": link() if page.previous else None,
        "previous": link(**{f"{name}_before": page.previous}) if page.previous else None,
        "next": link(**{f"{name}_after": page.next}) if page.next else None,
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
    request: Request,
    current: Current,
    session: DbSession,
    month: Month = None,
    carried_after: Cursor = None,
    carried_before: Cursor = None,
    added_after: Cursor = None,
    added_before: Cursor = None,
    printable: Annotated[bool, Query(alias="print")] = False,
) -> Response:
    """The month's stock, its trend and a page of each list; ``print=1``: every case of
    both lists, for printing."""
    supervisor_only(current)
    zone = ZoneInfo(request.app.state.settings.timezone)
    period = _month(request, month)
    figures = _stock(request, session, current, period)
    trend = figures["trend"]
    if printable:
        lists: dict[str, Any] = {
            "carried": list(
                ledger_stock.carried_over(session, figures["cut"], figures["district"])
            ),
            "rows": list(ledger.every(session, current.actor, period.start, period.end)),
            "paging": None,
        }
        lists["carried_count"], lists["rows_count"] = len(lists["carried"]), len(lists["rows"])
    else:
        cursors = {
            "carried_after": carried_after,
            "carried_before": carried_before,
            "added_after": added_after,
            "added_before": added_before,
        }
        lists = _lists(request, session, current, period, figures, cursors)
    names = names_for(request, session)
    t = translator(request)
    return render(
        request,
        "supervisor/ledger.html",
        {
            **figures,
            **lists,
            "printable": printable,
            "trend": trend,
            "kept_offer": recompute_offer(
                request,
                current,
                figures["kept"],
                "/supervisor/ledger/recompute",
                {"month": period.label},
            ),
            "zone": zone,
            "key_name": lambda group, key: key_name(names, group, key, t),
            "chart": {
                "kind": "bar",
                "percent": False,
                "categories": [label for label, _ in trend],
                "series": [
                    {"name": t.lg_added, "data": [s.added for _, s in trend]},
                    {"name": t.lg_resolved, "data": [s.resolved for _, s in trend]},
                    {"name": t.lg_closing, "kind": "line", "data": [s.closing for _, s in trend]},
                ],
            },
        },
        session=session,
        current=current,
    )


@router.post("/ledger/recompute")
def ledger_recompute(
    request: Request,
    current: Current,
    session: DbSession,
    month: Annotated[str, Form(pattern=MONTH)],
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A past month's stock and trend of the reader's scope computed again from the ledger's
    history as it is now; back to the page with a notice. (The lists are read live.)"""
    require_recompute_role(current)
    supervisor_only(current)
    period = _month(request, month)
    back = ("/supervisor/ledger", {"month": period.label})
    view = _view(period, _district(current))
    return recompute_for_page(request, session, current, csrf_token, [view], utcnow(), back)


@router.get("/ledger.csv")
def ledger_csv(
    request: Request, current: Current, session: DbSession, month: Month = None
) -> Response:
    supervisor_only(current)
    period = _month(request, month)
    rows = ledger.every(session, current.actor, period.start, period.end)
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
    figures = _stock(request, session, current, _month(request, month))
    figures["carried"] = ledger_stock.carried_over(session, figures["cut"], figures["district"])
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
