"""A supervisor's desk work beside the wallboard: the inbox (notifications the scheduler
sent to the platform: overdue jobs, escalations; and the units' extension requests waiting
for a decision). The ledger (挂账) pages are in ``ledger_pages``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from agent_ui.web.auth import Current, SignedIn, check_csrf
from agent_ui.web.deps import DbSession
from agent_ui.web.errors import refusal_text
from agent_ui.web.templating import render
from hotline.cases.calendar import load_calendar
from hotline.cases.service import CaseError, decide_extension, waiting_extension_requests
from hotline.models import Case, Notification, utcnow
from hotline.roles import PLATFORM_STAFF

router = APIRouter(prefix="/supervisor", include_in_schema=False)
ACTIVE = ("dispatched", "in_progress", "rework")


def supervisor_only(current: SignedIn) -> None:
    """The inbox and the ledger are the platform staff's: dispatchers and shift leaders."""
    if current.user.role not in PLATFORM_STAFF:
        raise HTTPException(403, "for the platforms' staff")


NOTES_PAGE = 50  # notifications a page, newest first; older ones a link away
EXTENSIONS_SHOWN = 200  # requests waiting, soonest deadline first


def _waiting_extensions(session: Session, current: SignedIn) -> list[dict[str, Any]]:
    query = (
        select(Case)
        .where(Case.pending_extension_hours.is_not(None), Case.state.in_(ACTIVE))
        .order_by(Case.due_at)
        .limit(EXTENSIONS_SHOWN)
    )
    if not current.actor.is_city:
        query = query.where(Case.district_code == current.user.scope_code)
    cases = list(session.scalars(query))
    asked = waiting_extension_requests(session, [case.id for case in cases])
    return [
        {
            "case": case,
            "hours": asked[case.id].data.get("hours"),
            "reason": asked[case.id].note,
            "by": asked[case.id].actor,
        }
        for case in cases
        if case.id in asked
    ]


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, current: Current, session: DbSession) -> Response:
    return inbox(request, current, session)


def inbox(
    request: Request, current: SignedIn, session: Session, error: str = "", status: int = 200
) -> Response:
    """The page; after a refused decision, with the reason and a 4xx status."""
    supervisor_only(current)
    before = request.query_params.get("before", "")
    if before and not (before.isdigit() and len(before) < 19):
        raise HTTPException(400, "before: the number of a notification")
    query = (
        select(Notification, Case.number)
        .join(Case, Case.id == Notification.case_id)
        .where(Notification.scope_code == current.user.scope_code)
        .order_by(Notification.id.desc())
        .limit(NOTES_PAGE + 1)
    )
    if before:
        query = query.where(Notification.id < int(before))
    notes = session.execute(query).all()
    older = notes[NOTES_PAGE - 1][0].id if len(notes) > NOTES_PAGE else None
    return render(
        request,
        "supervisor/inbox.html",
        {
            "notes": notes[:NOTES_PAGE],
            "older_url": f"/supervisor/inbox?before={older}" if older else "",
            "newest_url": "/supervisor/inbox" if before else "",
            "extensions": _waiting_extensions(session, current),
            "error": error,
        },
        session=session,
        current=current,
        status=status,
    )


@router.post("/notifications/{note_id}/read")
def mark_read(
    note_id: int,
    current: Current,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=64)],
) -> Response:
    supervisor_only(current)
    check_csrf(current, csrf_token)
    done = session.execute(
        update(Notification)
        .where(Notification.id == note_id, Notification.scope_code == current.user.scope_code)
        .values(read_at=utcnow())
    ).rowcount  # type: ignore[attr-defined]
    if not done:
        raise HTTPException(404, "no such notification for your platform")
    return RedirectResponse("/supervisor/inbox", status_code=303)


@router.post("/extensions/{number}")
def decide(
    number: str,
    request: Request,
    current: Current,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=64)],
    version: Annotated[int, Form(ge=1)],
    decision: Annotated[str, Form(pattern=r"^(approve|refuse)$")],
) -> Response:
    """Approve (the deadline moves by the working hours asked) or refuse a unit's request."""
    supervisor_only(current)
    check_csrf(current, csrf_token)
    try:
        with session.begin_nested():
            decide_extension(
                session,
                current.actor,
                number,
                version,
                decision == "approve",
                load_calendar(session),
            )
    except CaseError as exc:
        if exc.status == 404:
            raise HTTPException(404, str(exc)) from exc
        return inbox(request, current, session, error=refusal_text(request, exc), status=exc.status)
    return RedirectResponse("/supervisor/inbox", status_code=303)
