"""Sign-in for the web pages: argon2 passwords, server-side sessions, CSRF on every form,
failed sign-ins limited and logged.

The session cookie holds a random token (only its SHA-256 is stored); it is HttpOnly and
SameSite=Strict. Each session carries its own CSRF token, put in every form and checked on
every POST. The sign-in form, shown before any session exists, uses a double-submit cookie.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from agent_ui.web.deps import DbSession
from agent_ui.web.i18n import translator
from agent_ui.web.templating import render
from hotline.cases.service import Actor
from hotline.db import session_factory
from hotline.models import SignInFailure, User, WebSession, utcnow
from hotline.users import hash_password, verify_password

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
    """Failed sign-ins in a sliding ``window``: at most ``limit`` per account from one
    address, and ``address_limit`` per address over all accounts.

    Per account *and address*, not per account: a stranger's wrong passwords cannot lock a
    user out of their own desk. Per address over all accounts, more generously (an office
    behind one NAT address shares it): one address cannot go through the accounts. The
    address is the client's as the web server sees it, which believes X-Forwarded-For only
    from the proxies ``forwarded_allow_ips`` names (``hotline.service.web_config``).

    The failures are rows in the database (``sign_in_failures``), so every web process of
    ``hotline serve`` and every app instance counts the same ones: a limit kept in each
    process's memory let an attacker try ``limit`` passwords per process. Each failure
    deletes the rows that left the window; the rows inside it are bounded by the failures
    the server can check (each one pays for a password hash), and a blocked key is not
    recorded again, so no flood can push a blocked key out before its window is over.
    """

    def __init__(
        self,
        limit: int = 5,
        address_limit: int = 50,
        window: float = 300.0,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.limit, self.address_limit = limit, address_limit
        self.window, self._clock = dt.timedelta(seconds=window), clock

    def blocked(self, session: Session, username: str, address: str) -> bool:
        since = self._clock() - self.window
        recent = and_(SignInFailure.address == address[:64], SignInFailure.at > since)
        mine = and_(recent, SignInFailure.account == _account(username))
        by_account, by_address = session.execute(
            select(
                select(func.count()).where(mine).scalar_subquery(),
                select(func.count()).where(recent).scalar_subquery(),
            )
        ).one()
        return int(by_account) >= self.limit or int(by_address) >= self.address_limit

    def failed(self, session: Session, username: str, address: str) -> None:
        now = self._clock()
        session.execute(delete(SignInFailure).where(SignInFailure.at <= now - self.window))
        session.add(SignInFailure(address=address[:64], account=_account(username), at=now))
        session.flush()

    def succeeded(self, session: Session, username: str, address: str) -> None:
        """The account's failures from this address are forgiven (not the address's)."""
        session.execute(
            delete(SignInFailure).where(
                SignInFailure.address == address[:64],
                SignInFailure.account == _account(username),
            )
        )


def _account(username: str) -> str:
    return username.strip().lower()[:64]


@functools.cache
def _dummy_hash() -> str:
    """A password hash no password matches, made like the users' (once, on first need):
    an unknown account is checked against it, so that it takes as long to refuse as a
    wrong password (291 ms against 9 ms told which accounts exist)."""
    return hash_password(secrets.token_urlsafe(32))


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
    found = (
        session.execute(  # one round trip for the session and its user, on every page
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == _hash(token))
        ).first()
        if token
        else None
    )
    if found is not None:
        row, user = found
        if _aware(row.expires_at) > utcnow() and user.active:
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
    if not _same(current.session.csrf_token, submitted or ""):
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
    if not cookie or not _same(cookie, csrf_token):
        raise HTTPException(403, "CSRF token missing or wrong: reload the sign-in page")
    if limiter.blocked(session, username, address):
        log.warning("sign-in blocked for %r from %s: too many failures", username, address)
        return _login_again(request, t["too_many"], next, 429)
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    stored = user.password_hash if user is not None else _dummy_hash()
    if not verify_password(stored, password) or user is None:
        limiter.failed(session, username, address)
        log.warning("failed sign-in for %r from %s", username, address)
        return _login_again(request, t["bad_login"], next, 401)
    limiter.succeeded(session, username, address)
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


def _same(secret: str, given: str) -> bool:
    """Compared in constant time, as bytes: ``hmac.compare_digest`` refuses a str with a
    character beyond ASCII (a TypeError, so a 500) and a client may send any."""
    return hmac.compare_digest(secret.encode(), given.encode())


def _safe_next(target: str) -> str:
    """Only local paths: never redirect a signed-in user to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
