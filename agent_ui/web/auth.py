"""Sign-in for the web pages: argon2 passwords, server-side sessions, CSRF on every form,
failed sign-ins limited and logged.

The session cookie holds a random token (only its SHA-256 is stored); it is HttpOnly and
SameSite=Strict. Each session carries its own CSRF token, put in every form and checked on
every POST. The sign-in form, shown before any session exists, uses a double-submit cookie.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, select

from agent_ui.web.deps import DbSession
from agent_ui.web.i18n import translator
from agent_ui.web.templating import render
from hotline.cases.service import Actor
from hotline.db import session_factory
from hotline.models import User, WebSession, utcnow
from hotline.users import verify_password

log = logging.getLogger("hotline.auth")
router = APIRouter(tags=["auth"])
SESSION_COOKIE = "hotline_session"
LOGIN_CSRF_COOKIE = "hotline_login_csrf"
SESSION_HOURS = 12
HOME = {
    "agent": "/",
    "dispatcher": "/",
    "supervisor": "/",
    "admin": "/",
    "unit": "/unit",
    "inspector": "/field",
}


class LoginLimiter:
    """At most ``limit`` failed sign-ins per user and per address in ``window`` seconds."""

    def __init__(self, limit: int = 5, window: float = 300.0, max_keys: int = 10_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._failures: dict[str, collections.deque[float]] = {}

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        failures = self._failures.get(key, collections.deque())
        while failures and failures[0] < now - self.window:
            failures.popleft()
        return failures

    def blocked(self, username: str, address: str) -> bool:
        now = time.monotonic()
        return any(
            len(self._recent(k, now)) >= self.limit * (4 if k.startswith("ip:") else 1)
            for k in (f"user:{username.lower()}", f"ip:{address}")
        )

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        if len(self._failures) >= self.max_keys:  # bounded memory under a flood
            self._failures.clear()
        for key in (f"user:{username.lower()}", f"ip:{address}"):
            recent = self._recent(key, now)
            recent.append(now)
            self._failures[key] = recent


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: WebSession

    @property
    def actor(self) -> Actor:
        return Actor(self.user.username, self.user.role, self.user.scope_code, self.user.unit_code)


def signed_in(request: Request, session: DbSession) -> SignedIn:
    """The signed-in user, or a redirect to the sign-in page."""
    token = request.cookies.get(SESSION_COOKIE, "")
    row = (
        session.scalar(select(WebSession).where(WebSession.token_hash == _hash(token)))
        if token
        else None
    )
    now = utcnow()
    if row is not None and _aware(row.expires_at) > now:
        user = session.get(User, row.user_id)
        if user is not None and user.active:
            return SignedIn(user, row)
    raise HTTPException(303, headers={"Location": f"/login?next={request.url.path}"})


Current = Annotated[SignedIn, Depends(signed_in)]


def signed_in_brief(request: Request) -> SignedIn:
    """Like ``signed_in`` but with its own short session, closed before the response: for
    long-lived streams, which must not hold a database connection while they are open."""
    with session_factory(request.app.state.engine)() as session:
        return signed_in(request, session)


StreamUser = Annotated[SignedIn, Depends(signed_in_brief)]


def check_csrf(current: SignedIn, submitted: str) -> None:
    if not hmac.compare_digest(current.session.csrf_token, submitted or ""):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page")


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str = "/", error: str = "") -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "auth/login.html",
        {"csrf": token, "next": _safe_next(next), "error": error},
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=256)] = "/",
) -> Response:
    t = translator(request)
    limiter: LoginLimiter = request.app.state.login_limiter
    address = request.client.host if request.client else "-"
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        raise HTTPException(403, "CSRF token missing or wrong: reload the sign-in page")
    if limiter.blocked(username, address):
        log.warning("sign-in blocked for %r from %s: too many failures", username, address)
        return _login_again(request, t["too_many"], next, 429)
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None or not verify_password(user.password_hash, password):
        limiter.failed(username, address)
        log.warning("failed sign-in for %r from %s", username, address)
        return _login_again(request, t["bad_login"], next, 401)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.add(
        WebSession(
            token_hash=_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + dt.timedelta(hours=SESSION_HOURS),
        )
    )
    log.info("%s signed in from %s", user.username, address)
    target = _safe_next(next) if next != "/" else HOME.get(user.role, "/")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=SESSION_HOURS * 3600,
    )
    return response


@router.post("/logout", include_in_schema=False)
def logout(
    current: Current, session: DbSession, csrf_token: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    check_csrf(current, csrf_token)
    session.execute(delete(WebSession).where(WebSession.id == current.session.id))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _login_again(request: Request, error: str, next: str, status: int) -> Response:
    response = login_page(request, next, error)
    response.status_code = status
    return response


def _safe_next(target: str) -> str:
    """Only local paths: never redirect a signed-in user to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
