"""REST API for cases: for responsible units' systems and other city systems (bearer tokens).
Thin handlers: validate, call the case service, serialise."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from agent_ui.web.deps import DbSession, TokenActor
from hotline.cases.calendar import load_calendar
from hotline.cases.joint import assign_joint, assist_done, assisting_jobs
from hotline.cases.lifecycle import actions_for
from hotline.cases.service import (
    CaseError,
    NewCase,
    create_case,
    decide_extension,
    get_case,
    may_see,
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
        created_at=case.created_at,
        updated_at=case.updated_at,
        actions=actions_for(case.state, role),
    )


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


@router.get("", response_model=list[CaseOut])
def list_cases(
    session: DbSession,
    actor: TokenActor,
    state: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CaseOut]:
    """The caller's cases: a unit's jobs, or the cases in a system's scope."""
    query = select(Case).order_by(Case.id.desc())
    if actor.role == "unit":
        query = query.where(Case.unit_code == actor.unit_code)
    elif not actor.is_city:
        query = query.where(Case.district_code == actor.scope_code)
    if state:
        query = query.where(Case.state == state)
    cases = session.scalars(query.limit(limit)).all()
    return [case_out(c, actor.role) for c in cases if may_see(actor, c)]


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
