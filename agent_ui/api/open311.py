"""Open311 GeoReport v2: services from the catalogue, requests as cases, JSON and XML.

Field names are the specification's (service_request_id, status, status_notes,
agency_responsible, expected_datetime, ...). Service codes are the catalogue's: ``E0102`` is
the event class 0102 (exposed rubbish), ``C0101`` the component class 0101. Reading is
public and shows what the public may see of a case (``hotline.cases.publication``: no
personal data, an area-level place, free text only where it was written for the public);
posting needs an ``api_key`` (a platform token). Every error has the specification's shape,
``[{"code": ..., "description": ...}]`` (``<errors><error>`` in XML): 400 for a bad
parameter, 403 without a valid key, 404 for an unknown id or service.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from agent_ui.web.deps import DbSession, grid_index
from hotline.cases.publication import public_coordinate, public_text
from hotline.cases.reference import offered_in
from hotline.cases.service import CaseError, NewCase, create_case
from hotline.codes import CodeError, parse_grid_code
from hotline.geo import PointError, check_point, finite_or_none
from hotline.models import Area, Case, CatalogueClass, Unit
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
LIST_LIMIT = 1000  # GeoReport v2's most: a client pages with start_date/end_date
PAGE_SIZE = 100  # the default (``page_size``, as Chicago's Open311 extends it)


class SpecError(Exception):
    """A request the specification answers with an error object."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


def _service_code(kind: str | None, code: str | None) -> str:
    return f"{KIND_PREFIX.get(kind or '', '')}{code or ''}"


def _parse_service_code(service_code: str) -> tuple[str, str]:
    kind = {"E": "event", "C": "component"}.get(service_code[:1])
    if kind is None or not service_code[1:].isdigit():
        raise SpecError(400, f"unknown service_code {service_code!r}")
    return kind, service_code[1:]


def _render(
    items: list[dict[str, Any]], fmt: str, root: str, item: str, status: int = 200
) -> Response:
    if fmt == "json":
        return JSONResponse(items, status_code=status)
    top = ET.Element(root)
    for entry in items:
        _xml_object(ET.SubElement(top, item), entry)
    body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8")


def _xml_object(node: ET.Element, values: dict[str, Any]) -> None:
    """One object as child elements; a list (a definition's attributes) as repeated ones;
    text cleaned, as a row stored before text was cleaned on entry may hold controls."""
    for key, value in values.items():
        child = ET.SubElement(node, key)
        if isinstance(value, list):
            for element in value:
                _xml_object(ET.SubElement(child, key.rstrip("s")), element)
        elif value is not None:
            child.text = str(value).lower() if isinstance(value, bool) else clean_text(str(value))


def _error(fmt: str, status: int, description: str) -> Response:
    return _render([{"code": status, "description": description}], fmt, "errors", "error", status)


def spec_error(request: Request, status: int, description: str) -> Response:
    """An error in the specification's shape, in the format the path asks for."""
    fmt = "xml" if request.url.path.endswith(".xml") else "json"
    return _error(fmt, status, description)


def _answer(fmt: str, make: Any) -> Response:
    try:
        return make()  # type: ignore[no-any-return]
    except SpecError as exc:
        return _error(fmt, exc.code, exc.description)


def _classes(session: Session, district: str | None) -> list[CatalogueClass]:
    return list(
        session.scalars(
            select(CatalogueClass)
            .where(CatalogueClass.active.is_(True), offered_in(district))
            .order_by(CatalogueClass.kind, CatalogueClass.code)
        )
    )


def _jurisdiction(session: Session, jurisdiction_id: str | None) -> str | None:
    """The district a ``jurisdiction_id`` names (``None``: the city, whose services are the
    city's classes; a district's are those and the district's own types)."""
    if not jurisdiction_id:
        return None
    level = session.scalar(select(Area.level).where(Area.code == jurisdiction_id))
    if level not in ("city", "district"):
        raise SpecError(404, f"no jurisdiction {jurisdiction_id}: give a district's code")
    return jurisdiction_id if level == "district" else None


@router.get("/services.{fmt}")
def services(
    fmt: Format,
    session: DbSession,
    jurisdiction_id: Annotated[str | None, Query(max_length=12)] = None,
) -> Response:
    try:
        classes = _classes(session, _jurisdiction(session, jurisdiction_id))
    except SpecError as exc:
        return _error(fmt, exc.code, exc.description)
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


COMPONENT_ATTRIBUTE = {
    "variable": True,
    "code": "component_id",
    "datatype": "string",
    "required": False,
    "datatype_description": "16 digits: district (6), class (4), serial (6)",
    "order": 1,
    "description": "部件编码（如井盖、路灯上标注的16位编码）",
}


@router.get("/services/{service_code}.{fmt}")
def service_definition(service_code: str, fmt: Format, session: DbSession) -> Response:
    """A service's definition: a component service asks, optionally, which component
    (``attribute[component_id]``: its 16-digit id, whose owner unit takes the request);
    an event service asks nothing beyond the standard fields."""

    def make() -> Response:
        kind, code = _parse_service_code(service_code)
        known = session.scalar(
            select(CatalogueClass.code).where(
                CatalogueClass.kind == kind,
                CatalogueClass.code == code,
                CatalogueClass.minor.is_not(None),
                CatalogueClass.active.is_(True),
            )
        )
        if known is None:
            raise SpecError(404, f"no service {service_code}")
        attributes = [COMPONENT_ATTRIBUTE] if kind == "component" else []
        definition = {"service_code": service_code, "attributes": attributes}
        if fmt == "json":
            return JSONResponse(definition)
        return _render([definition], fmt, "service_definitions", "service_definition")

    return _answer(fmt, make)


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


class _Lookups:
    """Names a public request shows: units, classes, districts and streets."""

    def __init__(self, session: Session) -> None:
        self.units = {c: n for c, n in session.execute(select(Unit.code, Unit.name_zh))}
        self.classes = {
            (k, c): n
            for k, c, n in session.execute(
                select(CatalogueClass.kind, CatalogueClass.code, CatalogueClass.name_zh)
            )
        }
        self.areas = {
            c: n
            for c, n in session.execute(
                select(Area.code, Area.name_zh).where(Area.level.in_(("district", "street")))
            )
        }

    def place(self, case: Case) -> str:
        """The area a case lies in (district and street), never its exact address."""
        parts = [self.areas.get(case.district_code or "", "")]
        if case.grid_code:
            parts.append(self.areas.get(case.grid_code[:9], ""))
        return " ".join(p for p in parts if p)


def _request_item(case: Case, names: _Lookups) -> dict[str, Any]:
    return {
        "service_request_id": case.number,
        "status": "closed" if case.state in CLOSED else "open",
        "status_notes": STATUS_NOTES.get(case.state, case.state),
        "service_name": names.classes.get((case.kind or "", case.class_code or ""), ""),
        "service_code": _service_code(case.kind, case.class_code),
        "description": public_text(case.source, case.description, case.public_text),
        "agency_responsible": names.units.get(case.unit_code or "", ""),
        "service_notice": "",
        "requested_datetime": _iso(case.created_at),
        "updated_datetime": _iso(case.updated_at),
        "expected_datetime": _iso(case.due_at),
        "address": names.place(case),
        "address_id": case.grid_code or "",
        "zipcode": "",
        "lat": public_coordinate(finite_or_none(case.lat)),
        "long": public_coordinate(finite_or_none(case.lon)),
        "media_url": case.media_url or "",
    }


def _list_of(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _filtered(
    service_request_id: str | None,
    service_code: str | None,
    status: str | None,
    start_date: dt.datetime | None,
    end_date: dt.datetime | None,
) -> Select[Case]:
    query = select(Case).order_by(Case.id.desc())
    ids = _list_of(service_request_id)
    if ids:  # the specification: service_request_id overrides every other filter
        return query.where(Case.number.in_(ids))
    codes = [_parse_service_code(code) for code in _list_of(service_code)]
    if codes:
        query = query.where(or_(*(and_(Case.kind == k, Case.class_code == c) for k, c in codes)))
    statuses = set(_list_of(status))
    if statuses - {"open", "closed"}:
        raise SpecError(400, "status is open, closed, or both separated by a comma")
    if statuses == {"closed"}:
        query = query.where(Case.state.in_(CLOSED))
    elif statuses == {"open"}:
        query = query.where(Case.state.not_in(CLOSED))
    for moment in (start_date, end_date):
        if moment is not None and not dt.datetime(2000, 1, 1) <= moment.replace(
            tzinfo=None
        ) <= dt.datetime(2100, 1, 1):
            raise SpecError(400, "start_date and end_date lie between 2000 and 2100")
    if start_date:
        query = query.where(Case.created_at >= start_date)
    if end_date:
        query = query.where(Case.created_at <= end_date)
    return query


@router.get("/requests.{fmt}")
def list_requests(
    fmt: Format,
    session: DbSession,
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=400)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    start_date: dt.datetime | None = None,
    end_date: dt.datetime | None = None,
    page_size: Annotated[int, Query(ge=1, le=LIST_LIMIT)] = PAGE_SIZE,
) -> Response:
    """The newest requests first, ``page_size`` of them (default 100, at most 1000); the
    next page: ``end_date`` just before the last one's ``requested_datetime``."""

    def make() -> Response:
        query = _filtered(service_request_id, service_code, status, start_date, end_date)
        names = _Lookups(session)
        cases = session.scalars(query.limit(page_size)).all()
        return _render([_request_item(c, names) for c in cases], fmt, "service_requests", "request")

    return _answer(fmt, make)


@router.get("/requests/{number}.{fmt}")
def one_request(number: str, fmt: Format, session: DbSession) -> Response:
    case = session.scalar(select(Case).where(Case.number == number[:32]))
    if case is None:
        return _error(fmt, 404, f"no service request {number[:32]}")
    return _render([_request_item(case, _Lookups(session))], fmt, "service_requests", "request")


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
    address_id: Annotated[str, Form(max_length=16)] = "",
    description: Annotated[str, Form(max_length=4000)] = "",
    first_name: Annotated[str, Form(max_length=32)] = "",
    last_name: Annotated[str, Form(max_length=32)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    device_id: Annotated[str, Form(max_length=128)] = "",
    media_url: Annotated[str, Form(max_length=512)] = "",
    component_id: Annotated[str, Form(alias="attribute[component_id]", max_length=32)] = "",
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> Response:
    """File a request, located by ``lat``/``long``, by ``address_id`` (a grid cell's code)
    or by ``address_string``. GeoReport v2 defines no idempotency key (``device_id`` names
    the phone, which files many reports): a client that wants a repeat to return the first
    request sends an ``Idempotency-Key`` header, scoped to its api_key."""

    def make() -> Response:
        actor = actor_for_token(session, api_key) if api_key else None
        if actor is None:
            raise SpecError(403, "a valid api_key is required")
        kind, code = _parse_service_code(service_code)
        if component_id and (kind != "component" or not re.fullmatch(r"\d{16}", component_id)):
            raise SpecError(400, "attribute[component_id]: 16 digits, for a component service")
        if media_url and not _web_address(media_url):
            raise SpecError(400, "media_url must be an http or https address")
        if (lat is None or long is None) and not address_string and not address_id:
            raise SpecError(400, "lat and long, address_id or address_string are required")
        bounds = request.app.state.settings.bounds
        try:
            check_point(long, lat, bounds)
        except PointError as exc:
            raise SpecError(400, str(exc)) from exc
        grid = (
            grid_index(request, session).locate(long, lat)
            if lat is not None and long is not None
            else _grid_of(address_id)
        )
        new = NewCase(
            source="open311",
            kind=kind,
            class_code=code,
            district_code=grid[:6] if grid else None,
            grid_code=grid,
            address=address_string,
            lon=long,
            lat=lat,
            description=description,
            citizen_name=f"{last_name}{first_name}",
            citizen_phone=phone,
            media_url=media_url,
            component_id=component_id or None,
        )
        key = f"open311:{actor.username}:{idempotency_key}" if idempotency_key else None
        try:
            case, _ = create_case(session, actor, new, key, bounds=bounds)
        except CaseError as exc:
            raise SpecError(exc.status if exc.status != 422 else 400, str(exc)) from exc
        return _render(
            [{"service_request_id": case.number, "service_notice": "", "account_id": None}],
            fmt,
            "service_requests",
            "request",
            201,
        )

    return _answer(fmt, make)


def _web_address(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _grid_of(address_id: str) -> str | None:
    """``address_id`` is a grid cell's code here: the cell locates the request."""
    if not address_id:
        return None
    try:
        parse_grid_code(address_id)
    except CodeError as exc:
        raise SpecError(400, f"address_id: {exc}") from exc
    return address_id
