"""The responsible units' portal: pages for a phone. A unit's staff see their unit's open
jobs (soonest deadline first, a page at a time), accept them, return what is not theirs,
report the result with a photo and ask for more time; each job shows why it came back
(rework, urging) in its timeline. Every form carries the session's CSRF token and the
version it was read at; a refused form comes back with the reason beside it and what was
typed kept."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from agent_ui.web.auth import Current, SignedIn, check_csrf
from agent_ui.web.deps import DbSession
from agent_ui.web.errors import refusal_text
from agent_ui.web.kept import while_unchanged
from agent_ui.web.templating import render
from hotline.cases.calendar import load_calendar
from hotline.cases.joint import assist_done, assisting_jobs
from hotline.cases.lifecycle import actions_for
from hotline.cases.media import attach_photo
from hotline.cases.service import CaseError, get_case, request_extension, transition
from hotline.models import Case, CaseHistory, Notification, utcnow

router = APIRouter(prefix="/unit", tags=["unit portal"], include_in_schema=False)
OPEN = ("dispatched", "in_progress", "rework")  # models.UNIT_JOB: ix_cases_unit_jobs
PAGE = 50
# What a unit reads in its job's timeline: how the job reached it and came back to it.
UNIT_TIMELINE = (
    "dispatch",
    "accept",
    "return",
    "report_handled",
    "rework",
    "urge",
    "request_extension",
    "approve_extension",
    "refuse_extension",
    "joint_job",
    "to_ledger",
    "resume",
    "overdue",
)


def _unit_only(current: SignedIn) -> None:
    if current.user.role != "unit":
        raise HTTPException(403, "the unit portal is for responsible units")


def _cursor(case: Case) -> str:
    due = case.due_at.isoformat() if case.due_at else "none"
    return f"{due}|{case.id}"


def _page_of_jobs(session: Session, unit: str, after: str) -> tuple[list[Case], str]:
    """Open jobs, soonest deadline first (those without one last), keyset-paged: a unit
    with tens of thousands of open jobs gets a page, not all of them."""
    mine = and_(Case.unit_code == unit, Case.state.in_(OPEN))
    query = select(Case).where(mine)
    if after:
        due_text, _, last_id = after.partition("|")
        if not last_id.isdigit():
            raise HTTPException(400, "bad page cursor")
        if due_text == "none":
            query = query.where(Case.due_at.is_(None), Case.id > int(last_id))
        else:
            try:
                due = dt.datetime.fromisoformat(due_text)
            except ValueError:
                raise HTTPException(400, "bad page cursor") from None
            query = query.where(
                or_(
                    Case.due_at > due,
                    and_(Case.due_at == due, Case.id > int(last_id)),
                    Case.due_at.is_(None),
                )
            )
    rows = list(
        session.scalars(query.order_by(Case.due_at.asc().nulls_last(), Case.id).limit(PAGE + 1))
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return rows, (_cursor(rows[-1]) if more and rows else "")


@router.get("", response_class=HTMLResponse)
def jobs(request: Request, current: Current, session: DbSession, after: str = "") -> HTMLResponse:
    _unit_only(current)
    unit = current.user.unit_code or ""
    cases, next_cursor = _page_of_jobs(session, unit, after[:64])
    total = while_unchanged(  # tens of thousands of open jobs at a city's volume
        request,
        session,
        ("unit-open", unit),
        lambda: session.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.unit_code == unit, Case.state.in_(OPEN))
        ),
    )
    notes = session.execute(  # what the platform told this unit in the last 14 days
        select(Notification.text, Notification.created_at)
        .where(
            Notification.unit_code == unit,
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
            "total": total,
            "next_cursor": next_cursor,
            "first_page": not after,
            "notes": notes,
            "assisting": assisting_jobs(session, unit),
        },
        session=session,
        current=current,
    )


def _job_page(
    request: Request,
    current: SignedIn,
    session: Session,
    number: str,
    *,
    done: bool = False,
    error: tuple[str, str] | None = None,
    typed: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    case = get_case(session, current.actor, number)
    history = session.scalars(
        select(CaseHistory)
        .where(CaseHistory.case_id == case.id, CaseHistory.action.in_(UNIT_TIMELINE))
        .order_by(CaseHistory.id)
    ).all()
    actions = actions_for(case.state, "unit")
    if case.state in OPEN and case.pending_extension_hours is None:
        actions.append("request_extension")
    rework = next((h for h in reversed(history) if h.action == "rework"), None)
    return render(
        request,
        "unit/case.html",
        {
            "case": case,
            "done": done,
            "actions": actions,
            "history": history,
            "rework": rework if case.state in ("rework", "in_progress") else None,
            "error": error,
            "typed": typed or {},
        },
        session=session,
        current=current,
        status=status,
    )


@router.get("/cases/{number}", response_class=HTMLResponse)
def job(
    number: str, request: Request, current: Current, session: DbSession, done: str = ""
) -> HTMLResponse:
    _unit_only(current)
    return _job_page(request, current, session, number, done=bool(done))


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
    hours: Annotated[str, Form(max_length=8)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    _unit_only(current)
    check_csrf(current, csrf_token)
    settings = request.app.state.settings
    now = utcnow()
    content = await photo.read(settings.max_upload_bytes + 1) if photo else b""

    def apply() -> None:  # database and disk work, off the event loop
        with session.begin_nested():  # a refusal undoes only this form's work
            change()

    def change() -> None:
        if action == "assist_done":  # a joint job's assisting unit: its part is done
            assist_done(session, current.actor, number, note, now=now)
            return
        if action == "request_extension":
            asked = int(hours) if hours.isdigit() else 0
            request_extension(session, current.actor, number, version, asked, note, now=now)
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

    try:
        await run_in_threadpool(apply)
    except CaseError as exc:
        if exc.status == 404 or action == "assist_done":
            raise
        message = refusal_text(request, exc)
        return await run_in_threadpool(
            _job_page,
            request,
            current,
            session,
            number,
            error=(action, message),
            typed={"note": note, "hours": hours},
            status=exc.status,
        )
    if action == "assist_done":
        return RedirectResponse("/unit", status_code=303)
    return RedirectResponse(f"/unit/cases/{number}?done=1", status_code=303)
