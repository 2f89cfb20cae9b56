"""The admin's page: users (create, deactivate) and the queues each agent joins, with
penalties (skills)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from agent_ui.web.auth import Current, SignedIn, check_csrf
from agent_ui.web.deps import DbSession
from agent_ui.web.templating import render
from hotline.models import CallPlatform, QueueMembership, Unit, User, WebSession
from hotline.roles import ROLES
from hotline.users import (
    UserError,
    add_user,
    agent_queues,
    remove_membership,
    set_membership,
)

router = APIRouter(prefix="/admin", include_in_schema=False)


def _admin_only(current: SignedIn) -> None:
    if current.user.role != "admin":
        raise HTTPException(403, "for administrators")


@router.get("", response_class=HTMLResponse)
def users_page(request: Request, current: Current, session: DbSession) -> Response:
    return users(request, current, session)


def users(
    request: Request,
    current: SignedIn,
    session: Session,
    error: str = "",
    status: int = 200,
    typed: dict[str, str] | None = None,
) -> Response:
    """The page; after a refused change, with the reason beside its field (in the reader's
    language), what was typed kept and a 4xx status."""
    _admin_only(current)
    queues = dict(session.execute(select(CallPlatform.area_code, CallPlatform.queue)).all())
    rows = session.scalars(select(User).order_by(User.role, User.username)).all()
    agents = [u for u in rows if u.role == "agent" and u.active]
    memberships = {u.username: agent_queues(session, u) for u in agents}
    explicit = {  # the ones an admin added (removable); the home queue is always there
        (username, queue)
        for username, queue in session.execute(
            select(User.username, QueueMembership.queue).join(
                QueueMembership, QueueMembership.user_id == User.id
            )
        )
    }
    return render(
        request,
        "admin/users.html",
        {
            "users": rows,
            "queues": queues,
            "agents": agents,
            "memberships": memberships,
            "explicit": explicit,
            "platform_queues": sorted(set(queues.values())),
            "error": error,
            "error_field": error.split(":", 1)[0] if ":" in error else "",
            "typed": typed or {},
            "roles": ROLES,
            "units": session.execute(
                select(Unit.code, Unit.name_zh).where(Unit.active.is_(True)).order_by(Unit.code)
            ).all(),
            "done": request.query_params.get("done", ""),
        },
        session=session,
        current=current,
        status=status,
    )


@router.post("/users")
def create(
    request: Request,
    current: Current,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=64)],
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    role: Annotated[str, Form(max_length=16)],
    scope: Annotated[str, Form(max_length=12)],
    name: Annotated[str, Form(max_length=128)] = "",
    unit: Annotated[str, Form(max_length=32)] = "",
    sip_endpoint: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    _admin_only(current)
    check_csrf(current, csrf_token)
    typed = {
        "username": username,
        "name": name,
        "role": role,
        "scope": scope,
        "unit": unit,
        "sip_endpoint": sip_endpoint,
    }
    return _change(
        request,
        current,
        session,
        typed,
        lambda: add_user(
            session,
            username,
            password,
            role,
            scope,
            display_name=name,
            unit_code=unit or None,
            sip_endpoint=sip_endpoint or None,
        ),
    )


def _change(
    request: Request,
    current: SignedIn,
    session: Session,
    typed: dict[str, str],
    change: Callable[[], object],
) -> Response:
    """Apply a change; a refused one shows the page again with the reason."""
    try:
        with session.begin_nested():
            change()
    except UserError as exc:
        return users(request, current, session, error=str(exc), status=422, typed=typed)
    return RedirectResponse("/admin", status_code=303)


@router.post("/users/{username}/{change}")
def set_active(
    username: str,
    change: Literal["deactivate", "reactivate"],
    current: Current,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=64)],
) -> Response:
    """Deactivate a user (their sessions end at once) or take them back: never delete, as
    cases and calls name their users."""
    _admin_only(current)
    check_csrf(current, csrf_token)
    target = session.scalar(select(User).where(User.username == username))
    if target is None:
        raise HTTPException(404, "no such user")
    if target.id == current.user.id:
        raise HTTPException(409, "you cannot deactivate yourself")
    target.active = change == "reactivate"
    if not target.active:
        session.execute(delete(WebSession).where(WebSession.user_id == target.id))
    return RedirectResponse(f"/admin?done={change}#user-{username}", status_code=303)


@router.post("/memberships")
def add_membership(
    request: Request,
    current: Current,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=64)],
    username: Annotated[str, Form(max_length=64)],
    queue: Annotated[str, Form(max_length=64)],
    penalty: Annotated[int, Form(ge=0, le=10)] = 0,
) -> Response:
    """Put an agent in a queue with a penalty (or change the penalty): takes effect the next
    time the agent goes ready."""
    _admin_only(current)
    check_csrf(current, csrf_token)
    return _change(
        request,
        current,
        session,
        {"m_username": username, "m_queue": queue},
        lambda: set_membership(session, username, queue, penalty),
    )


@router.post("/memberships/remove")
def drop_membership(
    current: Current,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=64)],
    username: Annotated[str, Form(max_length=64)],
    queue: Annotated[str, Form(max_length=64)],
) -> Response:
    _admin_only(current)
    check_csrf(current, csrf_token)
    if not remove_membership(session, username, queue):
        raise HTTPException(404, "no such membership")
    return RedirectResponse("/admin", status_code=303)
