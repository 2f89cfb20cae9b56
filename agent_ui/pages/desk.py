"""The agent desktop: the page, its live events, the screen pop, the case form's searches and
saving, and the agent's state in the queues (over AMI).

JSON calls from the page send the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, Field, model_validator
from pypinyin import Style, lazy_pinyin
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from agent_ui.api.cases import CaseIn
from agent_ui.live.phone import bridged_with, node_client, set_agent_state
from agent_ui.web.auth import Current, SignedIn, StreamUser, check_csrf
from agent_ui.web.deps import DbSession, grid_index
from agent_ui.web.i18n import language, translator
from agent_ui.web.names import names_for
from agent_ui.web.templating import city_zone, local_time, render
from agi.ami import AmiError
from dialplan.render import CONSULT_EMERGENCY
from hotline.agent_states import state_of
from hotline.cases.calendar import load_calendar
from hotline.cases.service import NewCase, create_case
from hotline.gazetteer import search
from hotline.models import Call, CallEvent, CallPlatform, Case, CatalogueClass, utcnow
from hotline.roles import DESK, PLATFORM_STAFF
from hotline.users import agent_queues

router = APIRouter(include_in_schema=False)
PAUSE_REASONS = ("meal", "training", "after_call_work", "meeting", "other")
CLOSED = ("closed", "invalid", "duplicate")


def _platform_only(current: Current) -> None:
    if current.user.role not in DESK:
        raise HTTPException(403, "the desk is for the platforms' agents and staff")


@router.get("/", response_class=HTMLResponse)
def desktop(request: Request, current: Current, session: DbSession) -> Response:
    if current.user.role == "unit":
        return RedirectResponse("/unit", status_code=303)
    if current.user.role == "admin":
        return RedirectResponse("/admin", status_code=303)
    if current.user.role == "inspector":
        return RedirectResponse("/field", status_code=303)
    _platform_only(current)
    state = state_of(session, current.user.username)
    return render(
        request,
        "desk/desk.html",
        {
            "state": state,
            "reasons": PAUSE_REASONS,
            "sources": DESK_SOURCES,
            "can_dispatch": current.user.role in PLATFORM_STAFF,
        },
        session=session,
        current=current,
    )


@router.get("/events")
async def events(request: Request, current: StreamUser) -> StreamingResponse:
    """The desk's live events (``EventHub.stream``: the call in progress first)."""
    hub = request.app.state.hub
    return StreamingResponse(
        hub.stream(current.user.username, request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@router.get("/calls/{call_id}/pop")
def screen_pop(
    call_id: int, request: Request, current: Current, session: DbSession
) -> dict[str, Any]:
    """What the agent needs the moment a call connects."""
    _platform_only(current)
    call = session.get(Call, call_id)
    actor = current.actor
    if call is None or not (actor.is_city or call.district_code in (None, actor.scope_code)):
        raise HTTPException(404, "no such call")
    joined, connected = _aware(call.queue_joined_at), _aware(call.connected_at)
    # A district's desk sees its district's cases only (as in every case list); of the
    # caller's cases elsewhere it learns how many there are, so it can transfer the caller.
    in_scope = [] if actor.is_city else [Case.district_code == actor.scope_code]
    earlier: list[Case] = []
    elsewhere = 0
    if call.caller_number:
        callers = Case.citizen_phone == call.caller_number
        earlier = list(
            session.scalars(
                select(Case).where(callers, *in_scope).order_by(Case.id.desc()).limit(10)
            )
        )
        if not actor.is_city:
            elsewhere = (
                session.scalar(
                    select(func.count())
                    .select_from(Case)
                    .where(callers, Case.district_code.is_distinct_from(actor.scope_code))
                )
                or 0
            )
    nearby: list[Case] = []
    if call.grid_code:
        nearby = list(
            session.scalars(
                select(Case)
                .where(
                    Case.grid_code.startswith(call.grid_code[:12]),
                    Case.state.not_in(CLOSED),
                    *in_scope,
                )
                .order_by(Case.id.desc())
                .limit(10)
            )
        )
    result = call.ivr_result or {}
    names = names_for(request, session)
    return {
        "call_id": call.id,
        "caller": call.caller_number,
        "did": call.did,
        "waited_seconds": round((connected - joined).total_seconds())
        if joined and connected
        else None,
        "district": call.district_code,
        "district_name": names.area(call.district_code),
        "grid": call.grid_code,
        "intent": call.intent,
        "district_source": result.get("district_source"),
        "queue": call.queue,
        "reason": call.route_reason,
        "case_number": result.get("case_number"),
        "earlier_cases": [
            {
                "number": c.number,
                "state": c.state,
                "class_code": c.class_code,
                "class_name": names.klass(c.kind, c.class_code),
                "created_at": _aware(c.created_at).isoformat(),  # type: ignore[union-attr]
                "created": local_time(c.created_at, city_zone(request), "%Y-%m-%d"),
            }
            for c in earlier
        ],
        "earlier_elsewhere": elsewhere,
        "nearby_open_cases": [
            {
                "number": c.number,
                "state": c.state,
                "address": c.address,
                "class_code": c.class_code,
                "class_name": names.klass(c.kind, c.class_code),
            }
            for c in nearby
        ],
    }


DESK_SOURCES = ("phone", "walk_in", "web", "field", "other")


class DeskCase(CaseIn):
    idempotency_key: str = Field(min_length=8, max_length=128)
    call_id: int | None = None
    source: Literal["phone", "walk_in", "web", "field", "other"] = "phone"

    @model_validator(mode="after")
    def _says_something(self) -> DeskCase:
        """An empty form (Enter pressed in a search box) is not a case."""
        if not self.class_code and not self.description.strip():
            raise ValueError("give the class, or describe the problem")
        return self


@router.post("/desk/cases", status_code=201)
def save_case(
    body: DeskCase,
    request: Request,
    current: Current,
    session: DbSession,
    x_csrf_token: Annotated[str, Header()] = "",
) -> dict[str, Any]:
    """Register the case the agent typed; the same form saved twice makes one case."""
    _platform_only(current)
    check_csrf(current, x_csrf_token)
    fields = body.model_dump(exclude={"idempotency_key", "call_id", "source"})
    case, created = create_case(
        session,
        current.actor,
        NewCase(source=body.source, call_id=body.call_id, **fields),
        f"desk:{current.user.username}:{body.idempotency_key}",
        calendar=load_calendar(session) if body.dispatch_to else None,
        bounds=request.app.state.settings.bounds,
    )
    names = names_for(request, session)
    original = session.get(Case, case.duplicate_of) if case.duplicate_of else None
    return {
        "number": case.number,
        "state": case.state,
        "duplicate_of": original.number if original else None,
        "original_state": translator(request).get(f"state_{original.state}", original.state)
        if original
        else None,
        "unit_code": case.unit_code,
        "unit": names.unit(case.unit_code),
        "due": local_time(case.due_at, city_zone(request), "%m月%d日 %H:%M")
        if language(request) == "zh"
        else local_time(case.due_at, city_zone(request)),
        "created": created,
    }


@router.get("/desk/catalogue")
def catalogue(
    request: Request,
    current: Current,
    session: DbSession,
    q: Annotated[str, Query(max_length=32)] = "",
) -> list[dict[str, str]]:
    """Classes whose name, alias, code or pinyin initials match (渣土 / zt / 0103)."""
    _platform_only(current)
    entries = getattr(request.app.state, "catalogue_entries", None)
    if entries is None:
        entries = []
        for c in session.scalars(
            select(CatalogueClass).where(
                CatalogueClass.active.is_(True), CatalogueClass.minor.is_not(None)
            )
        ):
            initials = "".join(s[0] for s in lazy_pinyin(c.name_zh, style=Style.NORMAL) if s)
            entries.append(
                {
                    "kind": c.kind,
                    "code": c.code,
                    "name": c.name_zh,
                    "name_en": c.name_en,
                    "aliases": c.aliases,
                    "initials": initials,
                    "district": c.district_code or "",
                }
            )
        request.app.state.catalogue_entries = entries
    # The city's classes, and a district desk's own types (district_catalogue.csv).
    mine = "" if current.actor.is_city else current.actor.scope_code
    offered = [e for e in entries if e["district"] in ("", mine)]
    needle = q.strip().lower()
    if not needle:
        return offered[:50]
    return [
        e
        for e in offered
        if needle in e["name"]
        or needle in e["aliases"]
        or e["code"].startswith(needle)
        or e["initials"].startswith(needle)
        or needle in e["name_en"].lower()
    ][:50]


@router.get("/desk/places")
def places(
    request: Request,
    current: Current,
    session: DbSession,
    q: Annotated[str, Query(max_length=32)] = "",
) -> list[dict[str, Any]]:
    """Places from the gazetteer, each with its district and the grid cell of its point
    (picking one fills both on the form)."""
    _platform_only(current)
    grid = grid_index(request, session)
    names = names_for(request, session)
    found = []
    for p in search(session, q):
        cell = grid.locate(p.lon, p.lat) if p.lon is not None and p.lat is not None else None
        found.append(
            {
                "kind": p.kind,
                "name": p.name_zh,
                "area": p.area_code,
                "area_name": names.area(p.area_code[:6]),
                "district": (cell or p.area_code)[:6],
                "grid": cell,
                "lon": p.lon,
                "lat": p.lat,
            }
        )
    return found


class StateIn(BaseModel):
    state: str = Field(pattern=r"^(ready|paused|logged_out)$")
    reason: str = Field(default="", max_length=32)


@router.post("/agent/state")
async def set_state(
    body: StateIn,
    request: Request,
    current: Current,
    session: DbSession,
    x_csrf_token: Annotated[str, Header()] = "",
) -> dict[str, Any]:
    """Ready (join the platform's queue), paused with a reason, or logged out (leave it)."""
    _platform_only(current)
    check_csrf(current, x_csrf_token)
    if body.state == "paused" and body.reason not in PAUSE_REASONS:
        raise HTTPException(422, f"pause reason: one of {', '.join(PAUSE_REASONS)}")
    queues = await run_in_threadpool(agent_queues, session, current.user)
    if not queues:
        raise HTTPException(409, "no queue for your scope: ask an administrator")
    await set_agent_state(request.app.state, session, current.user, queues, body.state, body.reason)
    return {
        "state": body.state,
        "reason": body.reason,
        "queue": queues[0][0],
        "queues": [{"queue": q, "penalty": p} for q, p in queues],
        "since": utcnow().isoformat(),
    }


class TransferIn(BaseModel):
    target: str = Field(pattern=r"^(emergency|city|district:\d{6})$")


def _controlled_call(session: DbSession, current: SignedIn, call_id: int) -> Call:
    _platform_only(current)
    call = session.get(Call, call_id)
    actor = current.actor
    if call is None or not (actor.is_city or call.district_code in (None, actor.scope_code)):
        raise HTTPException(404, "no such call")
    if not call.channel or call.ended_at is not None:
        raise HTTPException(409, "the call is not live")
    return call


@router.post("/calls/{call_id}/hangup")
async def hang_up(
    call_id: int,
    request: Request,
    current: Current,
    session: DbSession,
    x_csrf_token: Annotated[str, Header()] = "",
) -> dict[str, Any]:
    check_csrf(current, x_csrf_token)
    call = await run_in_threadpool(_controlled_call, session, current, call_id)
    await _ami(request, "Hangup", node=call.node or "", Channel=call.channel)
    session.add(
        CallEvent(
            call_id=call.id,
            at=utcnow(),
            kind="HangupByAgent",
            detail={"agent": current.user.username},
        )
    )
    return {"call_id": call.id, "done": "hangup"}


@router.post("/calls/{call_id}/transfer")
async def transfer(
    call_id: int,
    body: TransferIn,
    request: Request,
    current: Current,
    session: DbSession,
    x_csrf_token: Annotated[str, Header()] = "",
) -> dict[str, Any]:
    """Blind transfer of the caller: to the emergency command center, the city platform's
    queue or another district's queue. The call (and any case saved from it) keeps its id."""
    check_csrf(current, x_csrf_token)
    call = await run_in_threadpool(_controlled_call, session, current, call_id)
    exten = body.target if ":" not in body.target else f"dq-{body.target.split(':')[1]}"
    if exten.startswith("dq-") and (
        await run_in_threadpool(_platform_queue, session, exten[3:]) is None
    ):
        raise HTTPException(422, f"no platform for district {exten[3:]}")
    await _ami(
        request,
        "Redirect",
        node=call.node or "",
        Channel=call.channel,
        Context="hotline-transfer",
        Exten=exten,
        Priority="1",
    )
    session.add(
        CallEvent(
            call_id=call.id,
            at=utcnow(),
            kind="TransferByAgent",
            detail={"agent": current.user.username, "target": body.target},
        )
    )
    call.outcome = "transferred"
    return {"call_id": call.id, "target": body.target}


class AttendedIn(BaseModel):
    action: str = Field(pattern=r"^(start|complete|cancel)$")


ATTENDED_KINDS = {
    "start": "AttendedTransferStarted",
    "complete": "AttendedTransferCompleted",
    "cancel": "AttendedTransferCancelled",
}


def _consulting_channel(session: Session, call_id: int) -> str | None:
    """The agent's channel recorded when the consultation started (it has left the
    caller's bridge for the consultation's)."""
    detail = session.scalars(
        select(CallEvent.detail)
        .where(CallEvent.call_id == call_id, CallEvent.kind == ATTENDED_KINDS["start"])
        .order_by(CallEvent.id.desc())
        .limit(1)
    ).first()
    return str(detail["agent_channel"]) if detail and detail.get("agent_channel") else None


@router.post("/calls/{call_id}/attended")
async def attended_transfer(
    call_id: int,
    body: AttendedIn,
    request: Request,
    current: Current,
    session: DbSession,
    x_csrf_token: Annotated[str, Header()] = "",
) -> dict[str, Any]:
    """Attended transfer to the emergency command center. ``start``: the caller waits on
    hold while the agent's line rings the center; the agent talks first. ``complete``: the
    agent leaves, the caller and the center talk. ``cancel``: back to the caller."""
    check_csrf(current, x_csrf_token)
    call = await run_in_threadpool(_controlled_call, session, current, call_id)
    ami = node_client(request.app.state, call.node or "")
    if ami is None:
        raise HTTPException(503, "telephony is not connected")
    try:
        if body.action == "start":
            agent_channel = await bridged_with(ami, call.channel)
            if agent_channel is None:
                raise HTTPException(409, "the caller is not talking to an agent")
            await ami.action(
                "Atxfer", Channel=agent_channel, Exten=CONSULT_EMERGENCY, Context="hotline-consult"
            )
        else:
            agent_channel = await run_in_threadpool(_consulting_channel, session, call.id)
            if agent_channel is None:
                raise HTTPException(409, "no attended transfer was started on this call")
            if body.action == "complete":  # the transferer leaving completes the transfer
                await ami.action("Hangup", Channel=agent_channel)
                call.outcome = "transferred"
            else:
                await ami.action("CancelAtxfer", Channel=agent_channel)
    except AmiError as exc:
        raise HTTPException(502, f"Asterisk refused: {exc}") from exc
    session.add(
        CallEvent(
            call_id=call.id,
            at=utcnow(),
            kind=ATTENDED_KINDS[body.action],
            detail={"agent": current.user.username, "agent_channel": agent_channel},
        )
    )
    return {"call_id": call.id, "attended": body.action}


def _platform_queue(session: Session, area_code: str) -> str | None:
    return session.scalar(
        select(CallPlatform.queue).where(
            CallPlatform.area_code == area_code, CallPlatform.active.is_(True)
        )
    )


async def _ami(request: Request, action: str, node: str = "", **fields: str) -> None:
    """``action`` on the node a call is on (``node``, its record's), or the first."""
    ami: Any = node_client(request.app.state, node)
    if ami is None:
        raise HTTPException(503, "telephony is not connected")
    try:
        await ami.action(action, **fields)
    except AmiError as exc:
        raise HTTPException(502, f"Asterisk refused: {exc}") from exc
