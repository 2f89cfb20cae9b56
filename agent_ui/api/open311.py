"""Open311 GeoReport v2: services from the catalogue, requests as cases, JSON and XML.

Field names are the specification's (service_request_id, status, status_notes,
agency_responsible, expected_datetime, ...). Service codes are the catalogue's: ``E0102`` is
the event class 0102 (exposed rubbish), ``C0101`` the component class 0101. Reading is
public and carries no personal data; posting needs an ``api_key`` (a system token).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Header, Query, Request, Response
from sqlalchemy import select

from agent_ui.web.deps import DbSession, grid_index
from hotline.cases.service import CaseError, NewCase, create_case
from hotline.geo import PointError, check_point, finite_or_none
from hotline.models import Case, CatalogueClass, Unit
from hotline.text import clean_text
from hotline.tokens import actor_for_token

router = APIRouter(prefix="/open311/v2", tags=["open311"])
Format = Literal["json", "xml"]
CLOSED = ("closed", "invalid", "duplicate")
STATUS_NOTES = {
    "received": "已受理",
    "registered": "已立案",
    "dispatched": "已派遣到责任单位",
    "in_progress": "正在处理",
    "handled": "已处理，等待核查",
    "verified": "已核查",
    "closed": "已结案",
    "returned": "正在重新派遣",
    "rework": "返工处理中",
    "escalated": "已上报市级平台协调",
    "ledger": "已列入挂账问题",
    "invalid": "不予受理",
    "duplicate": "与其他案件合并处理",
}
KIND_PREFIX = {"event": "E", "component": "C"}


def _service_code(kind: str | None, code: str | None) -> str:
    return f"{KIND_PREFIX.get(kind or '', '')}{code or ''}"


def _render(
    items: list[dict[str, Any]], fmt: Format, root: str, item: str, status: int = 200
) -> Response:
    if fmt == "json":
        from fastapi.responses import JSONResponse

        return JSONResponse(items, status_code=status)
    top = ET.Element(root)
    for entry in items:
        node = ET.SubElement(top, item)
        for key, value in entry.items():
            child = ET.SubElement(node, key)
            if value is not None:  # cleaned: a row stored before text was cleaned on entry
                child.text = (
                    str(value).lower() if isinstance(value, bool) else clean_text(str(value))
                )
    body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8")


def _error(fmt: Format, status: int, description: str) -> Response:
    return _render([{"code": status, "description": description}], fmt, "errors", "error", status)


def spec_error(request: Request, status: int, description: str) -> Response:
    """An error in the specification's shape, in the format the path asks for."""
    fmt: Format = "xml" if request.url.path.endswith(".xml") else "json"
    return _error(fmt, status, description)


@router.get("/services.{fmt}")
def services(fmt: Format, session: DbSession) -> Response:
    classes = session.scalars(
        select(CatalogueClass)
        .where(CatalogueClass.active.is_(True))
        .order_by(CatalogueClass.kind, CatalogueClass.code)
    ).all()
    majors = {(c.kind, c.major): c.name_zh for c in classes if c.minor is None}
    items = [
        {
            "service_code": _service_code(c.kind, c.code),
            "service_name": c.name_zh,
            "description": c.name_en,
            "metadata": False,
            "type": "realtime",
            "keywords": ",".join(filter(None, c.aliases.split("|"))),
            "group": majors.get((c.kind, c.major), ""),
        }
        for c in classes
        if c.minor is not None
    ]
    return _render(items, fmt, "services", "service")


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


def _request_item(
    case: Case, units: dict[str, str], names: dict[tuple[str, str], str]
) -> dict[str, Any]:
    return {
        "service_request_id": case.number,
        "status": "closed" if case.state in CLOSED else "open",
        "status_notes": STATUS_NOTES.get(case.state, case.state),
        "service_name": names.get((case.kind or "", case.class_code or ""), ""),
        "service_code": _service_code(case.kind, case.class_code),
        "description": case.description,
        "agency_responsible": units.get(case.unit_code or "", ""),
        "service_notice": "",
        "requested_datetime": _iso(case.created_at),
        "updated_datetime": _iso(case.updated_at),
        "expected_datetime": _iso(case.due_at),
        "address": case.address,
        "address_id": case.grid_code or "",
        "zipcode": "",
        "lat": finite_or_none(case.lat),
        "long": finite_or_none(case.lon),
        "media_url": "",
    }


def _lookups(session: DbSession) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    units = dict(session.execute(select(Unit.code, Unit.name_zh)).all())
    names = {
        (k, c): n
        for k, c, n in session.execute(
            select(CatalogueClass.kind, CatalogueClass.code, CatalogueClass.name_zh)
        )
    }
    return units, names


@router.get("/requests.{fmt}")
def list_requests(
    fmt: Format,
    session: DbSession,
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=8)] = None,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
    start_date: dt.datetime | None = None,
    end_date: dt.datetime | None = None,
) -> Response:
    query = select(Case).order_by(Case.id.desc())
    if service_request_id:
        query = query.where(Case.number.in_([s.strip() for s in service_request_id.split(",")]))
    if service_code:
        query = query.where(
            Case.class_code == service_code[1:],
            Case.kind == ("event" if service_code[:1] == "E" else "component"),
        )
    if status == "closed":
        query = query.where(Case.state.in_(CLOSED))
    elif status == "open":
        query = query.where(Case.state.not_in(CLOSED))
    if start_date:
        query = query.where(Case.created_at >= start_date)
    if end_date:
        query = query.where(Case.created_at <= end_date)
    query = query.limit(1000)  # bounded: page with start_date/end_date
    units, names = _lookups(session)
    items = [_request_item(c, units, names) for c in session.scalars(query).all()]
    return _render(items, fmt, "service_requests", "request")


@router.get("/requests/{number}.{fmt}")
def one_request(number: str, fmt: Format, session: DbSession) -> Response:
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None:
        return _error(fmt, 404, f"no service request {number}")
    units, names = _lookups(session)
    return _render([_request_item(case, units, names)], fmt, "service_requests", "request")


@router.post("/requests.{fmt}")
def post_request(
    fmt: Format,
    request: Request,
    session: DbSession,
    api_key: Annotated[str, Form()] = "",
    service_code: Annotated[str, Form(max_length=8)] = "",
    lat: Annotated[float | None, Form()] = None,
    long: Annotated[float | None, Form()] = None,
    address_string: Annotated[str, Form(max_length=256)] = "",
    description: Annotated[str, Form(max_length=4000)] = "",
    first_name: Annotated[str, Form(max_length=32)] = "",
    last_name: Annotated[str, Form(max_length=32)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    device_id: Annotated[str, Form(max_length=128)] = "",
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> Response:
    """File a request. GeoReport v2 defines no idempotency key (``device_id`` names the
    phone, which files many reports): a client that wants a repeat to return the first
    request sends an ``Idempotency-Key`` header, scoped to its api_key."""
    actor = actor_for_token(session, api_key) if api_key else None
    if actor is None:
        return _error(fmt, 403, "a valid api_key is required")
    kind = {"E": "event", "C": "component"}.get(service_code[:1])
    if kind is None or not service_code[1:].isdigit():
        return _error(fmt, 400, f"unknown service_code {service_code!r}")
    if (lat is None or long is None) and not address_string:
        return _error(fmt, 400, "lat and long, or address_string, are required")
    bounds = request.app.state.settings.bounds
    try:
        check_point(long, lat, bounds)
    except PointError as exc:
        return _error(fmt, 400, str(exc))
    grid = (
        grid_index(request, session).locate(long, lat)
        if lat is not None and long is not None
        else None
    )
    new = NewCase(
        source="open311",
        kind=kind,
        class_code=service_code[1:],
        district_code=grid[:6] if grid else None,
        grid_code=grid,
        address=address_string,
        lon=long,
        lat=lat,
        description=description,
        citizen_name=f"{last_name}{first_name}",
        citizen_phone=phone,
    )
    key = f"open311:{actor.username}:{idempotency_key}" if idempotency_key else None
    try:
        case, _ = create_case(session, actor, new, key, bounds=bounds)
    except CaseError as exc:
        return _error(fmt, exc.status if exc.status != 422 else 400, str(exc))
    return _render(
        [{"service_request_id": case.number, "service_notice": "", "account_id": None}],
        fmt,
        "service_requests",
        "request",
        201,
    )
