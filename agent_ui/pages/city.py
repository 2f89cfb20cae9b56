"""The city platform's page over the districts: every district's live state on one page
(open cases by state, overdue jobs and those of city-level units, the ledger's stock, calls
waiting and answered today). The city platform's staff only: a district sees its own pages."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from agent_ui.web.auth import Current, SignedIn
from agent_ui.web.deps import DbSession
from agent_ui.web.names import names_for
from agent_ui.web.templating import render
from hotline import oversight
from hotline.models import utcnow
from hotline.periods import current
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
    state = oversight.overview(session, now, today.start)
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
