"""The responsible units' portal: pages for a phone. A unit's staff see their unit's open
jobs, accept them, return what is not theirs, report the result with a photo and ask for
more time. Every form carries the session's CSRF token and the version it was read at."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from agent_ui.web.auth import Current, check_csrf
from agent_ui.web.deps import DbSession
from agent_ui.web.templating import render
from hotline.cases.calendar import load_calendar
from hotline.cases.joint import assist_done, assisting_jobs
from hotline.cases.lifecycle import actions_for
from hotline.cases.media import attach_photo
from hotline.cases.service import get_case, request_extension, transition
from hotline.models import Case, CatalogueClass, Notification, utcnow

router = APIRouter(prefix="/unit", tags=["unit portal"], include_in_schema=False)
OPEN = ("dispatched", "in_progress", "rework")


def _unit_only(current: Current) -> None:
    if current.user.role != "unit":
        raise HTTPException(403, "the unit portal is for responsible units")


@router.get("", response_class=HTMLResponse)
def jobs(request: Request, current: Current, session: DbSession) -> HTMLResponse:
    _unit_only(current)
    cases = session.scalars(
        select(Case)
        .where(Case.unit_code == current.user.unit_code, Case.state.in_(OPEN))
        .order_by(Case.due_at.is_(None), Case.due_at)
    ).all()
    notes = session.execute(  # overdue warnings the scheduler sent this unit, last 14 days
        select(Notification.text, Notification.created_at)
        .where(
            Notification.unit_code == current.user.unit_code,
            Notification.created_at >= utcnow() - dt.timedelta(days=14),
        )
        .order_by(Notification.id.desc())
        .limit(20)
    ).all()
    return render(
        request,
        "unit/jobs.html",
        {
            "cases": cases,
            "notes": notes,
            "assisting": assisting_jobs(session, current.user.unit_code or ""),
            "now": utcnow(),
            "names": _names(session),
        },
        session=session,
        current=current,
    )


@router.get("/cases/{number}", response_class=HTMLResponse)
def job(
    number: str, request: Request, current: Current, session: DbSession, done: str = ""
) -> HTMLResponse:
    _unit_only(current)
    case = get_case(session, current.actor, number)
    return render(
        request,
        "unit/case.html",
        {
            "case": case,
            "done": done,
            "names": _names(session),
            "now": utcnow(),
            "actions": actions_for(case.state, "unit")
            + (["request_extension"] if case.state in OPEN else []),
        },
        session=session,
        current=current,
    )


@router.post("/cases/{number}/{action}")
async def act(
    number: str,
    action: str,
    request: Request,
    current: Current,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=64)],
    version: Annotated[int, Form(ge=1)],
    note: Annotated[str, Form(max_length=4000)] = "",
    hours: Annotated[int, Form(ge=0, le=400)] = 0,
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    _unit_only(current)
    check_csrf(current, csrf_token)
    settings = request.app.state.settings
    now = utcnow()
    content = await photo.read(settings.max_upload_bytes + 1) if photo else b""

    def apply() -> None:  # database and disk work, off the event loop
        if action == "assist_done":  # a joint job's assisting unit: its part is done
            assist_done(session, current.actor, number, note, now=now)
            return
        if action == "request_extension":
            request_extension(session, current.actor, number, version, hours, note, now=now)
            return
        data = {"note": note} if note else {}
        case = transition(
            session,
            current.actor,
            number,
            action,
            version,
            data,
            now=now,
            calendar=load_calendar(session),
        )
        if content:
            attach_photo(
                session,
                settings.media_dir,
                case,
                content,
                "feedback",
                current.user.username,
                settings.max_upload_bytes,
                now,
            )

    await run_in_threadpool(apply)
    if action == "assist_done":
        return RedirectResponse("/unit", status_code=303)
    return RedirectResponse(f"/unit/cases/{number}?done=1", status_code=303)


def _names(session: DbSession) -> dict[tuple[str, str], str]:
    return {
        (k, c): n
        for k, c, n in session.execute(
            select(CatalogueClass.kind, CatalogueClass.code, CatalogueClass.name_zh)
        )
    }
