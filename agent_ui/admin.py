"""The admin's page: users (create, deactivate) and which queue each agent joins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from agent_ui.auth import Current, SignedIn, check_csrf
from agent_ui.deps import DbSession
from agent_ui.i18n import translator
from agent_ui.templating import TEMPLATES
from hotline.models import CallPlatform, User
from hotline.users import UserError, add_user

router = APIRouter(prefix="/admin", include_in_schema=False)


def _admin_only(current: SignedIn) -> None:
    if current.user.role != "admin":
        raise HTTPException(403, "for administrators")


@router.get("", response_class=HTMLResponse)
def users(request: Request, current: Current, session: DbSession, error: str = "") -> Response:
    _admin_only(current)
    queues = dict(session.execute(select(CallPlatform.area_code, CallPlatform.queue)).all())
    rows = session.scalars(select(User).order_by(User.role, User.username)).all()
    return TEMPLATES.TemplateResponse(
        request,
        "admin.html",
        {
            "t": translator(request),
            "user": current.user,
            "csrf": current.session.csrf_token,
            "users": rows,
            "queues": queues,
            "error": error,
        },
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
    try:
        with session.begin_nested():
            add_user(
                session,
                username,
                password,
                role,
                scope,
                display_name=name,
                unit_code=unit or None,
                sip_endpoint=sip_endpoint or None,
            )
    except UserError as exc:
        return users(request, current, session, error=str(exc))
    return RedirectResponse("/admin", status_code=303)


@router.post("/users/{username}/deactivate")
def deactivate(
    username: str,
    current: Current,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=64)],
) -> Response:
    _admin_only(current)
    check_csrf(current, csrf_token)
    target = session.scalar(select(User).where(User.username == username))
    if target is None:
        raise HTTPException(404, "no such user")
    if target.id == current.user.id:
        raise HTTPException(409, "you cannot deactivate yourself")
    target.active = False  # deactivate, never delete: cases and calls name their users
    return RedirectResponse("/admin", status_code=303)
