"""Supervisors: the live wallboard of their platform's queues and agents, reports for a
period (page, chart, CSV, with the definitions), and control over agents (force a pause or a
log-out; listen, whisper or barge through ChanSpy to the supervisor's phone)."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import datetime as dt
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from agent_ui.live.phone import live_client, phone_of, set_agent_state
from agent_ui.pages import call_charts
from agent_ui.web.auth import Current, SignedIn, StreamUser, check_csrf
from agent_ui.web.deps import DbSession
from agent_ui.web.i18n import translator
from agent_ui.web.names import names_for
from agent_ui.web.shared_cache import SharedCache
from agent_ui.web.templating import render
from agi.ami import AmiError
from hotline.agent_states import LOGGED_OUT, load_states
from hotline.calls import report_sql, reports
from hotline.db import session_factory
from hotline.models import Call, CallPlatform, User
from hotline.users import agent_queues

router = APIRouter(include_in_schema=False)
# The figures the reports page explains beside its tables (words in the catalogue:
# def_<name>); hotline/calls/reports.py holds the same definitions for programmers.
REPORT_DEFINITIONS = (
    "offered",
    "answered",
    "abandoned",
    "service_level",
    "asa",
    "aht",
    "queue_log",
)
WALLBOARD_SECONDS = 2.0


def _supervisor_only(current: SignedIn) -> None:
    if current.user.role != "supervisor":
        raise HTTPException(403, "for supervisors")


def _queues(session: Session, current: SignedIn) -> list[str]:
    query = select(CallPlatform.queue).where(CallPlatform.active.is_(True))
    if current.actor.is_city:
        return list(session.scalars(query.order_by(CallPlatform.level, CallPlatform.queue)))
    return list(session.scalars(query.where(CallPlatform.area_code == current.user.scope_code)))


def _today(zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


def wallboard_data(
    request: Request,
    queues: list[str],
    agents: list[User],
    session: Session | None = None,
    queue_names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The wallboard's figures; read in the request's ``session`` when it has one (never a
    second connection while holding the first)."""
    settings = request.app.state.settings
    bind = session if session is not None else request.app.state.engine
    live = request.app.state.queues() or {}
    zone = ZoneInfo(settings.timezone)
    start, end = _today(zone)
    figures = _figures(request, bind, start, end, queues, zone, WALLBOARD_SECONDS)
    today = figures["queue"]
    states = load_states(bind, [a.username for a in agents])
    now = time.time()
    return {
        "queues": [
            {
                "queue": q,
                "name": (queue_names or {}).get(q, q),
                "waiting": getattr(live.get(q), "waiting", None),
                "longest_wait": getattr(live.get(q), "longest_wait", None),
                "members": getattr(live.get(q), "members", None),
                "available": getattr(live.get(q), "available", None),
                **(
                    {k: v for k, v in dataclasses.asdict(today[q]).items()}
                    if q in today
                    else {
                        "answered": 0,
                        "abandoned": 0,
                        "service_level_15": None,
                        "service_level_20": None,
                    }
                ),
            }
            for q in queues
        ],
        "agents": [
            {
                "username": a.username,
                "name": a.display_name,
                "state": states[a.username].state if a.username in states else LOGGED_OUT,
                "seconds": round(now - states[a.username].since) if a.username in states else 0,
                "reason": states[a.username].reason if a.username in states else "",
            }
            for a in agents
        ],
        "live": bool(live),
        # Today hour by hour (the city's hours): the chart under the tables.
        "hours": [
            {
                "hour": hour,
                "answered": f.answered,
                "abandoned": f.abandoned,
                "service_level_20": f.service_level_20,
            }
            for hour, f in sorted(figures["hour"].items())
        ],
    }


def _figures(
    request: Request,
    bind: Engine | Session,
    start: dt.datetime,
    end: dt.datetime,
    queues: list[str],
    zone: ZoneInfo,
    ttl: float,
) -> dict[str, dict[str, reports.Figures]]:
    """The period's call figures (SQL aggregates), computed once for everyone asking within
    ``ttl`` s."""
    cache: SharedCache = request.app.state.shared_cache
    return cache.get(
        ("calls", start, end, tuple(queues), str(zone)),
        ttl,
        lambda: report_sql.figures(bind, start, end, queues, zone),
    )


def _queue_names(request: Request, session: Session, queues: list[str]) -> dict[str, str]:
    names = names_for(request, session)
    return {q: names.queue(q) for q in queues}


def _agents(session: Session, current: SignedIn) -> list[User]:
    query = select(User).where(User.role == "agent", User.active.is_(True))
    if not current.actor.is_city:
        query = query.where(User.scope_code == current.user.scope_code)
    return list(session.scalars(query.order_by(User.username)))


@router.get("/supervisor", response_class=HTMLResponse)
def wallboard(request: Request, current: Current, session: DbSession) -> HTMLResponse:
    _supervisor_only(current)
    queues = _queues(session, current)
    return render(
        request,
        "supervisor/wallboard.html",
        {
            "data": wallboard_data(
                request,
                queues,
                _agents(session, current),
                session,
                _queue_names(request, session, queues),
            ),
        },
        session=session,
        current=current,
    )


@router.get("/supervisor/stream")
async def wallboard_stream(request: Request, current: StreamUser) -> StreamingResponse:
    _supervisor_only(current)
    with session_factory(request.app.state.engine)() as session:  # released before streaming
        queues, agents = _queues(session, current), _agents(session, current)
        names = _queue_names(request, session, queues)

    async def frames() -> AsyncIterator[str]:
        while not await request.is_disconnected():
            data = await asyncio.to_thread(wallboard_data, request, queues, agents, None, names)
            yield f"event: wallboard\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
            await asyncio.sleep(WALLBOARD_SECONDS)

    return StreamingResponse(
        frames(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


@router.get("/reports", response_model=None)
def report_page(
    request: Request,
    current: Current,
    session: DbSession,
    start: dt.date | None = None,
    end: dt.date | None = None,
    format: Annotated[str, Query(pattern="^(html|csv|xlsx)$")] = "html",
) -> Response:
    _supervisor_only(current)
    zone = ZoneInfo(request.app.state.settings.timezone)
    first = start or dt.datetime.now(zone).date()
    last = end or first
    if not (dt.date(2000, 1, 1) <= first <= last <= dt.date(2100, 12, 31)):
        raise HTTPException(422, "dates from 2000 to 2100, the end on or after the start")
    if (last - first).days > 366:
        raise HTTPException(422, "end must follow start, within a year")
    begin = dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC)
    finish = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    figures = _figures(request, session, begin, finish, _queues(session, current), zone, 10.0)
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        fields = [f.name for f in dataclasses.fields(reports.Figures)] + ["abandon_rate"]
        writer.writerow(["group", "key", *fields])
        for group, rows in figures.items():
            for key, row in rows.items():
                writer.writerow([group, key, *(getattr(row, f) for f in fields)])
        return Response(
            "\ufeff" + out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="calls-{first}-{last}.csv"'},
        )
    names, t = names_for(request, session), translator(request)
    if format == "xlsx":
        return Response(
            call_charts.workbook(figures, names, t),
            media_type=call_charts.XLSX,
            headers={"Content-Disposition": f'attachment; filename="calls-{first}-{last}.xlsx"'},
        )
    return render(
        request,
        "supervisor/reports.html",
        {
            "figures": figures,
            "start": first,
            "end": last,
            "charts": call_charts.charts(figures, first, last, names, t),
            "shortcuts": call_charts.shortcuts(zone),
            "definitions": REPORT_DEFINITIONS,
        },
        session=session,
        current=current,
    )


class ForceIn(BaseModel):
    state: str = Field(pattern=r"^(paused|logged_out)$")
    reason: str = Field(default="supervisor", max_length=32)


def _agent_in_scope(session: Session, current: SignedIn, username: str) -> User:
    agent = session.scalar(select(User).where(User.username == username, User.role == "agent"))
    if agent is None or not (current.actor.is_city or agent.scope_code == current.user.scope_code):
        raise HTTPException(404, "no such agent on your platform")
    return agent


def _agent_queues(
    session: Session, current: SignedIn, username: str
) -> tuple[User, list[tuple[str, int]]]:
    agent = _agent_in_scope(session, current, username)
    return agent, agent_queues(session, agent)


@router.post("/supervisor/agents/{username}/state")
async def force_state(
    username: str,
    body: ForceIn,
    request: Request,
    current: Current,
    session: DbSession,
    x_csrf_token: Annotated[str, Header()] = "",
) -> dict[str, str]:
    _supervisor_only(current)
    check_csrf(current, x_csrf_token)
    agent, queues = await run_in_threadpool(_agent_queues, session, current, username)
    await set_agent_state(request.app.state, session, agent, queues, body.state, body.reason)
    return {"agent": agent.username, "state": body.state}


class SpyIn(BaseModel):
    mode: str = Field(pattern=r"^(listen|whisper|barge)$")


def _call_node(session: Session, username: str) -> str:
    """The node of the call ``username`` is talking on, or "" (none, or one node)."""
    return (
        session.scalar(
            select(Call.node)
            .where(Call.agent == username, Call.connected_at.is_not(None))
            .where(Call.ended_at.is_(None))
            .order_by(Call.id.desc())
            .limit(1)
        )
        or ""
    )


SPY_OPTIONS = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}


@router.post("/supervisor/agents/{username}/spy")
async def spy(
    username: str,
    body: SpyIn,
    request: Request,
    current: Current,
    session: DbSession,
    x_csrf_token: Annotated[str, Header()] = "",
) -> dict[str, str]:
    """Ring the supervisor's phone; on answer it listens to (whispers to, barges into) the
    agent's call through ChanSpy."""
    _supervisor_only(current)
    check_csrf(current, x_csrf_token)
    agent = await run_in_threadpool(_agent_in_scope, session, current, username)
    node = await run_in_threadpool(_call_node, session, agent.username)
    ami = live_client(request.app.state, node)  # ChanSpy finds the call on its own node
    if ami is None or not current.user.sip_endpoint:
        raise HTTPException(503, "telephony or the supervisor's phone is not set up")
    settings = request.app.state.settings
    interface = phone_of(settings, agent)
    target = interface.split("@")[0] if interface.startswith("Local/") else interface
    try:
        await ami.action(
            "Originate",
            Channel=phone_of(settings, current.user),  # supervisors' phones like agents'
            Application="ChanSpy",
            Data=f"{target},{SPY_OPTIONS[body.mode]}",
            CallerID=f'"{body.mode}" <{agent.username}>',
            Async="true",
        )
    except AmiError as exc:
        raise HTTPException(502, f"Asterisk refused: {exc}") from exc
    return {"agent": agent.username, "mode": body.mode}
