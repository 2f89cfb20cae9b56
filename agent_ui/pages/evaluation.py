"""The evaluation (考核评价): the indicators of a period and a scope beside the period before,
with every formula on the page. The public reads the whole city (counts and rates only); a
platform's staff read theirs: a district's staff their district, the city every district."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from agent_ui.web.auth import Current, SignedIn
from agent_ui.web.deps import DbSession
from agent_ui.web.i18n import language, translator
from agent_ui.web.kept import (
    View,
    kept_for_page,
    recompute_for_page,
    recompute_offer,
    require_recompute_role,
)
from agent_ui.web.names import names_for
from agent_ui.web.templating import render
from hotline.cases import kept_figures
from hotline.cases.indicators import CITY, Counts, Indicators, derive
from hotline.models import utcnow
from hotline.periods import KINDS, PATTERN, BadPeriod, Period, current, parse_period
from hotline.roles import PLATFORM_STAFF

router = APIRouter(include_in_schema=False)
PeriodText = Annotated[str | None, Query(pattern=PATTERN)]
MONTH = r"^(19|20)\d{2}-(0[1-9]|1[0-2])$"
Month = Annotated[str | None, Query(pattern=MONTH)]
ScopeName = Literal["city", "district", "street", "unit", "class"]
Scope = Annotated[ScopeName, Query()]
# The figures of a card, in order, and the formula of each (texts ev_<name>, evf_<name>).
FIGURES = (
    ("registered", "count"),
    ("registration_on_time_rate", "rate"),
    ("dispatched", "count"),
    ("returned", "count"),
    ("dispatch_accuracy", "rate"),
    ("due", "count"),
    ("handling_rate", "rate"),
    ("on_time_rate", "rate"),
    ("overdue_rate", "rate"),
    ("overdue_open", "count"),
    ("extension_rate", "rate"),
    ("urged", "count"),
    ("rework_rate", "rate"),
    ("verification_on_time_rate", "rate"),
    ("closure_rate", "rate"),
    ("closure_on_time_rate", "rate"),
    ("resolution_rate", "rate"),
    ("satisfaction", "number"),
    ("average_handling_hours", "number"),
)
NOT_FOR_UNITS = frozenset({"registered", "registration_on_time_rate", "dispatch_accuracy"})


def now() -> dt.datetime:
    """The moment the figures stop at while a period runs (tests set it)."""
    return utcnow()


def period_of(request: Request, text: str | None, month: str | None) -> Period:
    zone = ZoneInfo(request.app.state.settings.timezone)
    try:
        return parse_period(text or month, zone, now())
    except BadPeriod as exc:
        raise HTTPException(422, str(exc)) from exc


def build(
    request: Request,
    session: Session,
    period: Period,
    scope: str,
    district: str | None,
) -> dict[str, Any]:
    """What the page and its JSON show: the period, its comparison and a row per key."""
    moment = now()
    running = period.running(moment)
    before = period.previous()
    kept = period_figures(request, session, period, scope, district, moment)
    figures = kept.value
    earlier = period_figures(request, session, before, scope, district, moment).value
    names = names_for(request, session)
    t = translator(request)
    rows = []
    for key in sorted(set(figures) | set(earlier)):
        rows.append(
            {
                "code": key,
                "name": _name(names, t, scope, key),
                **dataclasses.asdict(figures.get(key) or _empty()),
                "previous": dataclasses.asdict(earlier.get(key) or _empty()),
            }
        )
    zone = ZoneInfo(request.app.state.settings.timezone)
    return {
        "period": period.label,
        "kind": period.kind,
        "running": running,
        "to": kept.cut.astimezone(zone).isoformat(),
        "previous_period": before.label,
        "scope": scope,
        "district": district,
        "rows": rows,
    }


def period_figures(
    request: Request,
    session: Session,
    period: Period,
    scope: str,
    district: str | None,
    moment: dt.datetime,
    *,
    due_only: bool = False,
) -> kept_figures.Figures:
    """The period's figures as kept (``agent_ui.web.kept``)."""
    key, kind, _ = view(period, scope, district, due_only)
    return kept_for_page(request, session, key, kind, period, moment)


def view(period: Period, scope: str, district: str | None, due_only: bool = False) -> View:
    """The key and kind the period's figures are kept under."""
    key = kept_figures.snapshot_key(scope, period.start, period.end, district, due_only)
    return key, kept_figures.evaluation(scope, district, due_only), period


def views(period: Period, scope: str, district: str | None) -> list[View]:
    """Every kept figure the page reads: the period's, the one before's, and the due jobs'
    of each period of the trend."""
    trend = [view(p, scope, district, due_only=True) for p in trend_periods(period)]
    return [view(period, scope, district), view(period.previous(), scope, district), *trend]


def _empty() -> Indicators:
    return derive(Counts())


def _name(names: Any, t: Any, scope: str, key: str) -> str:
    if key == CITY:
        return str(t.ev_whole_city if scope in ("city", "street", "class") else t.ev_city_platform)
    if scope in ("district", "street"):
        return str(names.area(key))
    if scope == "unit":
        return str(names.unit(key))
    kind, _, code = key.partition(":")
    return f"{names.klass(kind, code)}"


def page(
    request: Request,
    session: Session,
    data: dict[str, Any],
    base: str,
    current: Any = None,
    offer: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The page; ``offer``: a past period's "computed at" line and recompute button."""
    zone = ZoneInfo(request.app.state.settings.timezone)
    period = parse_period(data["period"], zone)
    links = {kind: current_period(kind, zone) for kind in KINDS}
    return render(
        request,
        "public/evaluation.html",
        {
            **data,
            "figures": [
                (name, kind)
                for name, kind in FIGURES
                if not (data["scope"] == "unit" and name in NOT_FOR_UNITS)
            ],
            "base": base,
            "kinds": links,
            "previous_link": period.previous().label,
            "next_link": _next(period),
            "to_local": dt.datetime.fromisoformat(data["to"]).strftime("%Y-%m-%d %H:%M"),
            "period_name": lambda label: period_name(label, language(request)),
            "chart": _chart(data["rows"], translator(request)),
            "ranking": _ranking(data["rows"], translator(request)),
            "trend": _trend(request, session, data, period, translator(request), language(request)),
            "kept_offer": offer,
        },
        session=session,
        current=current,
    )


def _chart(rows: list[dict[str, Any]], t: Any) -> dict[str, Any] | None:
    """On-time rate per key, this period beside the one before (percent)."""
    if not rows:
        return None

    def percent(value: float | None) -> float | None:
        return None if value is None else round(value * 100, 1)

    return {
        "kind": "bar",
        "percent": True,
        "categories": [r["name"] for r in rows],
        "series": [
            {"name": t.ev_this, "data": [percent(r["on_time_rate"]) for r in rows]},
            {"name": t.ev_before, "data": [percent(r["previous"]["on_time_rate"]) for r in rows]},
        ],
    }


TREND_PERIODS = 6  # the trend: this period and the five before it
TREND_KEYS = 8  # lines on the trend: the keys with the most jobs due this period


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _ranking(rows: list[dict[str, Any]], t: Any) -> dict[str, Any] | None:
    """The keys by on-time rate, best first (those with jobs due in the period)."""
    ranked = sorted(
        (r for r in rows if r["on_time_rate"] is not None),
        key=lambda r: (-r["on_time_rate"], r["overdue"], r["name"]),
    )
    if len(ranked) < 2:
        return None
    return {
        "kind": "bar",
        "percent": True,
        "horizontal": True,
        "categories": [r["name"] for r in ranked],
        "series": [
            {"name": t.ev_on_time_rate, "data": [_percent(r["on_time_rate"]) for r in ranked]}
        ],
    }


def _trend(
    request: Request,
    session: Session,
    data: dict[str, Any],
    period: Period,
    t: Any,
    lang: str,
) -> dict[str, Any] | None:
    """The on-time rate of the busiest keys over this period and the ones before, each
    judged as its own page judges it (jobs due in it, up to its end or now)."""
    keys = [r for r in sorted(data["rows"], key=lambda r: (-r["due"], r["name"])) if r["due"]][
        :TREND_KEYS
    ]
    if not keys:
        return None
    periods = trend_periods(period)
    moment = now()
    figures = [
        period_figures(
            request, session, p, data["scope"], data["district"], moment, due_only=True
        ).value
        for p in periods
    ]
    return {
        "kind": "line",
        "percent": True,
        "categories": [period_name(p.label, lang) for p in periods],
        "series": [
            {
                "name": r["name"],
                "data": [
                    _percent(f[r["code"]].on_time_rate) if r["code"] in f else None for f in figures
                ],
            }
            for r in keys
        ],
    }


def trend_periods(period: Period) -> list[Period]:
    """The trend's periods: the ``TREND_PERIODS`` up to ``period``, oldest first."""
    periods = [period]
    for _ in range(TREND_PERIODS - 1):
        periods.insert(0, periods[0].previous())
    return periods


def period_name(label: str, lang: str) -> str:
    """A period as the page's language writes it: 2026年第4季度, 2026-Q4."""
    if lang == "en":
        return label
    year, _, rest = label.partition("-")
    if not rest:
        return f"{year}年"
    if rest.startswith("W"):
        return f"{year}年第{int(rest[1:])}周"
    if rest.startswith("Q"):
        return f"{year}年第{rest[1:]}季度"
    month, _, day = rest.partition("-")
    return f"{year}年{int(month)}月" + (f"{int(day)}日" if day else "")


def current_period(kind: str, zone: ZoneInfo) -> str:
    return current(kind, zone, now()).label


def _next(period: Period) -> str | None:
    following = Period(period.kind, period.after, period.zone)
    return following.label if following.start <= now() else None


def _staff_district(current: SignedIn) -> str | None:
    """A platform's own evaluation: a district's staff see their district only."""
    if current.user.role not in PLATFORM_STAFF:
        raise HTTPException(403, "for the platforms' staff")
    return None if current.actor.is_city else current.user.scope_code


def _staff_figures(
    request: Request, current: SignedIn, session: Session, period: str | None, scope: str
) -> dict[str, Any]:
    district = _staff_district(current)
    return build(request, session, period_of(request, period, None), scope, district)


@router.get("/supervisor/evaluation", response_class=HTMLResponse)
def staff_page(
    request: Request,
    current: Current,
    session: DbSession,
    period: PeriodText = None,
    scope: Scope = "district",
) -> Response:
    district = _staff_district(current)
    chosen = period_of(request, period, None)
    data = build(request, session, chosen, scope, district)
    found = period_figures(request, session, chosen, scope, district, now())
    fields = {"period": chosen.label, "scope": scope}
    offer = recompute_offer(request, current, found, "/supervisor/evaluation/recompute", fields)
    return page(request, session, data, "/supervisor/evaluation", current, offer)


@router.post("/supervisor/evaluation/recompute")
def staff_recompute(
    request: Request,
    current: Current,
    session: DbSession,
    period: Annotated[str, Form(pattern=PATTERN)],
    scope: Annotated[ScopeName, Form()] = "district",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A past period's figures of the page (``views``) computed again from the cases as they
    are now; back to the page with a notice."""
    require_recompute_role(current)
    district = _staff_district(current)
    chosen = period_of(request, period, None)
    back = ("/supervisor/evaluation", {"period": chosen.label, "scope": scope})
    return recompute_for_page(
        request, session, current, csrf_token, views(chosen, scope, district), now(), back
    )


@router.get("/supervisor/evaluation.json")
def staff_json(
    request: Request,
    current: Current,
    session: DbSession,
    period: PeriodText = None,
    scope: Scope = "district",
) -> dict[str, Any]:
    return _staff_figures(request, current, session, period, scope)
