"""REST API for cases: for responsible units' systems and other city systems (bearer tokens).
Thin handlers: validate, call the case service, serialise."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import object_session

from agent_ui.web.deps import DbSession, TokenActor
from hotline.cases import queries
from hotline.cases.calendar import load_calendar
from hotline.cases.joint import assign_joint, assist_done, assisting_jobs
from hotline.cases.lifecycle import actions_for
from hotline.cases.queries import default_view, parse_query
from hotline.cases.service import (
    CaseError,
    NewCase,
    create_case,
    decide_extension,
    get_case,
    request_extension,
    transition,
)
from hotline.models import Case

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


class CaseIn(BaseModel):
    kind: Literal["component", "event"] | None = None
    class_code: str | None = Field(default=None, pattern=r"^\d{4,5}$")
    district_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    grid_code: str | None = Field(default=None, pattern=r"^\d{14,15}$")
    address: str = Field(default="", max_length=256)
    lon: float | None = Field(default=None, allow_inf_nan=False, description="WGS 84")
    lat: float | None = Field(default=None, allow_inf_nan=False, description="WGS 84")
    description: str = Field(default="", max_length=4000)
    urgency: Literal["normal", "urgent"] = "normal"
    citizen_name: str = Field(default="", max_length=64)
    citizen_phone: str = Field(default="", max_length=32)
    callback_consent: bool = False
    dispatch_to: str | None = Field(
        default=None,
        max_length=64,
        description="dispatch on registration: a unit's code, or `auto` for the rules",
    )
    component_id: str | None = Field(
        default=None,
        pattern=r"^\d{16}$",
        description="the component (部件) the case is about; its owner takes the case first",
    )
    duplicate_of: str | None = Field(
        default=None,
        pattern=r"^\d{10,16}$",
        description="the number of an open case this report repeats (重复件): the new case is "
        "recorded as its duplicate, the original goes on being worked; not with dispatch_to",
    )


class CaseOut(BaseModel):
    number: str
    state: str
    version: int
    source: str
    kind: str | None
    class_code: str | None
    district_code: str | None
    grid_code: str | None
    address: str
    description: str
    urgency: str
    unit_code: str | None
    platform_level: str
    due_at: dt.datetime | None
    overdue: bool
    solved: bool | None
    duplicate_of: str | None = Field(
        default=None, description="the number of the case this report repeats (重复件)"
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    actions: list[str]

    @field_validator("due_at", "created_at", "updated_at", mode="before")
    @classmethod
    def _in_utc(cls, value: object) -> object:
        """SQLite gives stored UTC times back without their zone: say it (RFC 3339)."""
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class ActionIn(BaseModel):
    version: int = Field(ge=1, description="The version the change was made on.")
    note: str = Field(default="", max_length=4000)
    data: dict[str, Any] = Field(default_factory=dict)


def case_out(case: Case, role: str) -> CaseOut:
    return CaseOut(
        number=case.number,
        state=case.state,
        version=case.version,
        source=case.source,
        kind=case.kind,
        class_code=case.class_code,
        district_code=case.district_code,
        grid_code=case.grid_code,
        address=case.address,
        description=case.description,
        urgency=case.urgency,
        unit_code=case.unit_code,
        platform_level=case.platform_level,
        due_at=case.due_at,
        overdue=case.overdue_at is not None,
        solved=case.solved,
        duplicate_of=_original_number(case),
        created_at=case.created_at,
        updated_at=case.updated_at,
        actions=actions_for(case.state, role),
    )


def _original_number(case: Case) -> str | None:
    """The number of the case ``case`` is a duplicate of (few cases are: one small read)."""
    session = object_session(case)
    if case.duplicate_of is None or session is None:
        return None
    return session.scalar(select(Case.number).where(Case.id == case.duplicate_of))


@router.post("", status_code=201, response_model=CaseOut)
def create(
    body: CaseIn,
    request: Request,
    session: DbSession,
    actor: TokenActor,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> CaseOut:
    """File a case. Send an ``Idempotency-Key``: repeating it returns the same case (200)."""
    calendar = load_calendar(session) if body.dispatch_to else None
    case, created = create_case(
        session,
        actor,
        NewCase(source="api", **body.model_dump()),
        f"rest:{actor.username}:{idempotency_key}" if idempotency_key else None,
        calendar=calendar,
        bounds=request.app.state.settings.bounds,
    )
    if not created:
        response.status_code = 200
    return case_out(case, actor.role)


# The list's query parameters, for the API's description (hotline.cases.queries reads them).
LIST_PARAMETERS = [
    ("view", "to_dispatch, returned, to_verify, due_soon, overdue, extension, ledger, joint, "
     "mine or all (default: all; an agent's only view is mine)"),
    ("state", "a case state; repeat for several"),
    ("district", "a district's code (6 digits)"),
    ("street", "a street's code (9 digits): the grid code's beginning"),
    ("unit", "a responsible unit's code"),
    ("kind", "component or event"),
    ("class", "a major class (2 digits) or a class code; or KIND:CODE"),
    ("source", "how the case came in (phone, web, field, ...)"),
    ("urgency", "normal or urgent"),
    ("from", "registered on or after this date (YYYY-MM-DD, the city's time zone)"),
    ("to", "registered on or before this date"),
    ("due_from", "due on or after this date"),
    ("due_to", "due on or before this date"),
    ("overdue", "1: open jobs past their deadline only"),
    ("q", "a case number (from its beginning), the caller's number (platform roles only), "
     "or words of the address or description (at least 2 characters)"),
    ("sort", "due (soonest first, none last), newest or oldest (default: the view's own)"),
    ("after", "the cursor of the next page (from the Link header)"),
    ("limit", "rows per page, 1 to 500 (default 100)"),
]  # fmt: skip


@router.get(
    "",
    response_model=list[CaseOut],
    openapi_extra={
        "parameters": [
            {"name": name, "in": "query", "required": False, "description": text,
             "schema": {"type": "string"}}
            for name, text in LIST_PARAMETERS
        ]
    },
)  # fmt: skip
def list_cases(
    request: Request, session: DbSession, actor: TokenActor, response: Response
) -> list[CaseOut]:
    """The cases in the caller's scope (a unit's jobs; an agent's own cases; a platform's
    district or the whole city), filtered, one page at a time: the same list as the
    workspace page (``hotline.cases.queries``). When there is more, the ``Link`` header
    holds the next page's address (``rel="next"``)."""
    query = parse_query(
        request.query_params.multi_items(),
        ZoneInfo(request.app.state.settings.timezone),
        view=default_view(actor),
        limit=100,
    )
    page = queries.list_cases(
        session,
        actor,
        query.filter,
        query.sort,
        after=query.after,
        limit=query.limit,
        due_soon=dt.timedelta(hours=request.app.state.settings.due_soon_hours),
    )
    if page.next_cursor is not None:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
        following = f"{request.url.path}?{urlencode([*kept, ('after', page.next_cursor)])}"
        response.headers["Link"] = f'<{following}>; rel="next"'
    return [case_out(c, actor.role) for c in page.rows]


@router.get("/{number}", response_model=CaseOut)
def read(number: str, session: DbSession, actor: TokenActor) -> CaseOut:
    return case_out(get_case(session, actor, number), actor.role)


@router.post("/{number}/actions/{action}", response_model=CaseOut)
def act(number: str, action: str, body: ActionIn, session: DbSession, actor: TokenActor) -> CaseOut:
    """Take a lifecycle action (accept, return, report_handled, ...) on the version you read;
    a stale version gets 409 ``case-conflict``."""
    data = dict(body.data)
    if body.note:
        data["note"] = body.note
    case = transition(
        session, actor, number, action, body.version, data, calendar=load_calendar(session)
    )
    return case_out(case, actor.role)


class ExtensionIn(BaseModel):
    version: int = Field(ge=1)
    approve: bool
    hours: int | None = Field(default=None, ge=1, le=400, description="Units: hours asked.")
    reason: str = Field(default="", max_length=4000)


@router.post("/{number}/extension", response_model=CaseOut)
def extension(number: str, body: ExtensionIn, session: DbSession, actor: TokenActor) -> CaseOut:
    """A unit asks for more working hours (``hours``, ``reason``); the platform decides
    (``approve``), which moves the deadline."""
    if actor.role == "unit":
        case = request_extension(session, actor, number, body.version, body.hours or 0, body.reason)
    else:
        case = decide_extension(
            session, actor, number, body.version, body.approve, load_calendar(session)
        )
    return case_out(case, actor.role)


class JointIn(BaseModel):
    version: int = Field(ge=1)
    units: list[str] = Field(min_length=1, max_length=10, description="Assisting units' codes.")
    note: str = Field(default="", max_length=4000)


@router.post("/{number}/joint", response_model=CaseOut)
def joint(number: str, body: JointIn, session: DbSession, actor: TokenActor) -> CaseOut:
    """The city platform makes a dispatched job a joint job (联合处置): the lead unit keeps
    it, the ``units`` assist (each is told, and sees its part in ``/assisting``)."""
    case = assign_joint(session, actor, number, body.version, body.units, body.note)
    return case_out(case, actor.role)


class AssistDoneIn(BaseModel):
    note: str = Field(default="", max_length=4000)


@router.get("/assisting/mine", response_model=list[dict[str, Any]])
def assisting(session: DbSession, actor: TokenActor) -> list[dict[str, Any]]:
    """The open joint jobs the calling unit assists on."""
    if actor.role != "unit" or not actor.unit_code:
        raise CaseError("case-forbidden", "for units", 403)
    return [dataclasses.asdict(job) for job in assisting_jobs(session, actor.unit_code)]


@router.post("/{number}/assist-done", status_code=204)
def assist_finished(
    number: str, body: AssistDoneIn, session: DbSession, actor: TokenActor
) -> Response:
    """An assisting unit reports its part of a joint job done."""
    assist_done(session, actor, number, body.note)
    return Response(status_code=204)
