"""The reports page's cases (案卷统计): received, registered by source, dispatched, handled,
closed, solved and overdue for a period (day to year, beside the one before), per district,
street, unit (责任单位), class or source, and over the period's days; charts, CSV and Excel. For
the platforms' staff, supervisors and dispatchers (派遣员), in their platform's scope: a
district's staff see their district's cases only, the city's every district."""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import xlsxwriter
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from agent_ui.pages import evaluation
from agent_ui.pages.evaluation import PeriodText, current_period, period_name, period_of
from agent_ui.pages.inbox import supervisor_only as platform_staff_only
from agent_ui.pages.workspace_export import _inert
from agent_ui.web.auth import Current, SignedIn
from agent_ui.web.deps import DbSession
from agent_ui.web.i18n import Texts, language, translator
from agent_ui.web.kept import (
    kept_for_page,
    recompute_for_page,
    recompute_offer,
    require_recompute_role,
)
from agent_ui.web.names import Names, names_for
from agent_ui.web.templating import render
from hotline.cases import case_reports as reports
from hotline.cases import kept_figures
from hotline.cases.case_reports import FIGURES, NONE, CaseFigures
from hotline.cases.indicators import CITY
from hotline.periods import KINDS, PATTERN, Period

router = APIRouter(include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GroupName = Literal["district", "street", "unit", "class", "source"]
Group = Annotated[GroupName | None, Query()]
CHART_KEYS = 20  # the chart of a grouping shows the busiest keys; the table shows all


def _district(current: SignedIn) -> str | None:
    return None if current.actor.is_city else current.user.scope_code


def _data(request: Request, session: Session, current: SignedIn, period: Period) -> dict[str, Any]:
    """Every figure the page and its files show, each an SQL aggregate."""
    moment = evaluation.now()  # the evaluation's clock (tests set it)
    key, kind = kept_figures.case_report(period, _district(current))
    found = kept_for_page(request, session, key, kind, period, moment)
    figures = found.value
    return {
        "period": period,
        "running": period.running(moment),
        "kept": found,
        "cut": found.cut,
        "before": period.previous(),
        "district": figures.district,
        "total": figures.total,
        "previous": figures.previous,
        "groups": figures.groups,
        "trend": figures.trend,
    }


def key_name(names: Names, t: Texts, group: str, key: str) -> str:
    """A key as people read it: the district's, street's, unit's or class's name, the
    source's."""
    if group == "source":
        return t.get(f"source_{key}", key)
    if key in (NONE, CITY):
        return {
            "district": t.ev_city_platform,
            "street": t.cr_no_street,
            "unit": t.cr_no_unit,
        }.get(group, t.cr_unclassified)
    if group in ("district", "street"):
        return names.area(key)
    if group == "unit":
        return names.unit(key)
    kind, _, code = key.partition(":")
    return names.klass(kind, code)


def bucket_labels(period: Period, lang: str) -> list[str]:
    starts = reports.buckets(period)
    if period.kind == "day":
        return [f"{b:%H}:00" for b in starts]
    if period.kind == "year":
        return [period_name(f"{b:%Y-%m}", lang) for b in starts]
    return [f"{b:%m-%d}" for b in starts]


def _chart(categories: list[str], series: list[tuple[str, list[Any], str]]) -> dict[str, Any]:
    return {
        "kind": "bar",
        "percent": False,
        "categories": categories,
        "series": [{"name": name, "data": data, "kind": kind} for name, data, kind in series],
    }


def charts(data: dict[str, Any], group: str, names: Names, t: Texts, lang: str) -> dict[str, Any]:
    """The trend over the period, the busiest keys of the grouping, registered by source."""
    trend: list[CaseFigures] = data["trend"]
    busiest = sorted(data["groups"][group].items(), key=lambda item: (-item[1].received, item[0]))[
        :CHART_KEYS
    ]
    sources = data["groups"]["source"]
    return {
        "trend": _chart(
            bucket_labels(data["period"], lang),
            [
                (t.cr_received, [f.received for f in trend], "bar"),
                (t.cr_registered, [f.registered for f in trend], "bar"),
                (t.cr_closed, [f.closed for f in trend], "line"),
                (t.cr_overdue, [f.overdue for f in trend], "line"),
            ],
        ),
        "group": _chart(
            [key_name(names, t, group, key) for key, _ in busiest],
            [
                (t[f"cr_{name}"], [getattr(f, name) for _, f in busiest], "bar")
                for name in ("received", "registered", "dispatched", "closed", "overdue")
            ],
        ),
        "source": _chart(
            [key_name(names, t, "source", key) for key in sources],
            [
                (t.cr_received, [f.received for f in sources.values()], "bar"),
                (t.cr_registered, [f.registered for f in sources.values()], "bar"),
            ],
        ),
    }


@router.get("/reports/cases", response_class=HTMLResponse)
def case_report_page(
    request: Request,
    current: Current,
    session: DbSession,
    period: PeriodText = None,
    by: Group = None,
) -> Response:
    platform_staff_only(current)
    chosen = period_of(request, period, None)
    data = _data(request, session, current, chosen)
    group = by or ("district" if data["district"] is None else "street")
    names, t, lang = names_for(request, session), translator(request), language(request)
    zone = ZoneInfo(request.app.state.settings.timezone)
    return render(
        request,
        "supervisor/case_reports.html",
        {
            **data,
            "group": group,
            "figures": FIGURES,
            "label": chosen.label,
            "kinds": {kind: current_period(kind, zone) for kind in KINDS},
            "next_link": evaluation._next(chosen),
            "period_name": lambda label: period_name(label, lang),
            "to_local": data["cut"].astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            "key_name": lambda g, key: key_name(names, t, g, key),
            "charts": charts(data, group, names, t, lang),
            "calls_tab": current.user.role == "supervisor",  # the calls report is theirs
            "kept_offer": recompute_offer(
                request,
                current,
                data["kept"],
                "/reports/cases/recompute",
                {"period": chosen.label, "by": group},
            ),
        },
        session=session,
        current=current,
    )


@router.post("/reports/cases/recompute")
def case_report_recompute(
    request: Request,
    current: Current,
    session: DbSession,
    period: Annotated[str, Form(pattern=PATTERN)],
    by: Annotated[GroupName, Form()] = "district",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A past period's case report of the reader's scope computed again from the cases as
    they are now (every grouping is one kept figure); back to the page with a notice."""
    require_recompute_role(current)
    platform_staff_only(current)
    chosen = period_of(request, period, None)
    view = (*kept_figures.case_report(chosen, _district(current)), chosen)
    back = ("/reports/cases", {"period": chosen.label, "by": by})
    return recompute_for_page(request, session, current, csrf_token, [view], evaluation.now(), back)


def _rows(data: dict[str, Any], names: Names, t: Texts, lang: str) -> list[list[Any]]:
    """The file's rows: the totals beside the period before, every grouping, the trend."""
    heads = [t.cr_group, t.cr_code, t.cr_name, *(t[f"cr_{name}"] for name in FIGURES)]
    rows: list[list[Any]] = [heads]

    def counts(f: CaseFigures) -> list[int]:
        return [getattr(f, name) for name in FIGURES]

    label, before = data["period"].label, data["before"].label
    rows.append([t.cr_total, label, period_name(label, lang), *counts(data["total"])])
    rows.append([t.cr_total, before, period_name(before, lang), *counts(data["previous"])])
    for group, per_key in data["groups"].items():
        for key, f in per_key.items():
            name = _inert(key_name(names, t, group, key))
            rows.append([t[f"cr_by_{group}"], key, name, *counts(f)])
    for bucket, f in zip(bucket_labels(data["period"], lang), data["trend"], strict=True):
        rows.append([t.cr_trend, bucket, bucket, *counts(f)])
    return rows


def _file(
    request: Request, current: SignedIn, session: Session, period: str | None
) -> tuple[dict[str, Any], list[list[Any]]]:
    platform_staff_only(current)
    data = _data(request, session, current, period_of(request, period, None))
    return data, _rows(data, names_for(request, session), translator(request), language(request))


@router.get("/reports/cases.csv")
def case_report_csv(
    request: Request, current: Current, session: DbSession, period: PeriodText = None
) -> Response:
    data, rows = _file(request, current, session, period)
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": _attachment(data["period"], "csv")},
    )


@router.get("/reports/cases.xlsx")
def case_report_xlsx(
    request: Request, current: Current, session: DbSession, period: PeriodText = None
) -> Response:
    """One sheet per grouping, the totals beside the period before, the trend."""
    data, rows = _file(request, current, session, period)
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    bold = book.add_format({"bold": True, "bg_color": "#EEF2F6"})
    sheets: dict[str, Any] = {}
    for row in rows[1:]:
        title = row[0]
        if title not in sheets:
            sheet = book.add_worksheet(title)
            sheet.write_row(0, 0, rows[0][1:], bold)
            sheet.set_column(0, 1, 22)
            sheets[title] = [sheet, 1]
        sheet, line = sheets[title]
        sheet.write_string(line, 0, str(row[1]))
        sheet.write_string(line, 1, str(row[2]))
        sheet.write_row(line, 2, row[3:])
        sheets[title][1] = line + 1
    book.close()
    return Response(
        out.getvalue(),
        media_type=XLSX,
        headers={"Content-Disposition": _attachment(data["period"], "xlsx")},
    )


def _attachment(period: Period, extension: str) -> str:
    return f'attachment; filename="cases-{period.label}.{extension}"'


@router.get("/reports/cases.json")
def case_report_json(
    request: Request, current: Current, session: DbSession, period: PeriodText = None
) -> dict[str, Any]:
    """The figures as plain data, codes as keys (for scripts and tests)."""
    platform_staff_only(current)
    data = _data(request, session, current, period_of(request, period, None))
    return {
        "period": data["period"].label,
        "running": data["running"],
        "district": data["district"],
        "total": dataclasses.asdict(data["total"]),
        "previous": dataclasses.asdict(data["previous"]),
        "groups": {
            group: {key: dataclasses.asdict(f) for key, f in per_key.items()}
            for group, per_key in data["groups"].items()
        },
        "trend": [dataclasses.asdict(f) for f in data["trend"]],
    }
