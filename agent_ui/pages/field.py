"""The inspectors' mobile form (城管通): photo, position from the phone's GPS (or typed),
class and description become a registered case in the point's grid cell, like the API.
Signed in as a field inspector (城管监督员) of the district, or as platform staff."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from agent_ui.api.field import FieldReport, register_report
from agent_ui.pages.map_layers import place_of
from agent_ui.web.auth import Current, SignedIn, check_csrf
from agent_ui.web.deps import DbSession, grid_index
from agent_ui.web.errors import refusal_text
from agent_ui.web.templating import render
from hotline.cases.reference import offered_in
from hotline.cases.service import CaseError
from hotline.models import CatalogueClass
from hotline.roles import DESK

router = APIRouter(prefix="/field", include_in_schema=False)


def _staff(current: SignedIn) -> None:
    if current.user.role not in ("inspector", *DESK):
        raise HTTPException(403, "the field form is for inspectors and platform staff")


def _page(
    request: Request, current: SignedIn, session: DbSession, status: int = 200, **extra: object
) -> HTMLResponse:
    classes = session.execute(
        select(CatalogueClass.kind, CatalogueClass.code, CatalogueClass.name_zh)
        .where(
            CatalogueClass.minor.is_not(None),
            CatalogueClass.active.is_(True),
            offered_in(None if current.actor.is_city else current.actor.scope_code),
        )
        .order_by(CatalogueClass.kind, CatalogueClass.code)
    ).all()
    return render(
        request,
        "field/form.html",
        {
            "classes": classes,
            "key": uuid.uuid4().hex,  # one report per page: a double tap makes one case
            "typed": {},
            **extra,
        },
        session=session,
        current=current,
        status=status,
    )


@router.get("", response_class=HTMLResponse)
def form(request: Request, current: Current, session: DbSession) -> Response:
    _staff(current)
    return _page(request, current, session)


@router.post("", response_class=HTMLResponse)
async def submit(
    request: Request,
    current: Current,
    session: DbSession,
    photo: Annotated[UploadFile, File()],
    csrf_token: Annotated[str, Form(max_length=64)],
    key: Annotated[str, Form(pattern=r"^[0-9a-f]{32}$")],
    lat: Annotated[float, Form()],
    lon: Annotated[float, Form()],
    kind_code: Annotated[str, Form(pattern=r"^(component|event):\d{4,5}$")],
    description: Annotated[str, Form(max_length=4000)] = "",
    urgency: Annotated[Literal["normal", "urgent"], Form()] = "normal",
    component_id: Annotated[str, Form(pattern=r"^(\d{16})?$")] = "",
) -> Response:
    _staff(current)
    check_csrf(current, csrf_token)
    kind, code = kind_code.split(":")
    report = FieldReport(lat, lon, kind, code, description, urgency, component_id or None)
    try:
        case, _ = await register_report(
            request, session, current.actor, photo, report, f"field-{current.user.id}-{key}"
        )
    except CaseError as exc:  # the page (a database read) off the event loop, like the rest
        typed = {
            "lat": lat,
            "lon": lon,
            "kind_code": kind_code,
            "description": description,
            "urgency": urgency,
            "component_id": component_id,
        }
        nearest = None
        if exc.error_id == "case-outside-grid":  # offer the nearest cell, form kept
            grid = await run_in_threadpool(grid_index, request, session)
            nearest = (await run_in_threadpool(place_of, request, session, grid, lon, lat))[
                "nearest"
            ]
        return await run_in_threadpool(
            _page,
            request,
            current,
            session,
            exc.status,
            error=refusal_text(request, exc),
            typed=typed,
            key=key,  # the same report when sent again
            nearest=nearest,
        )
    return await run_in_threadpool(_page, request, current, session, saved=case.number)
