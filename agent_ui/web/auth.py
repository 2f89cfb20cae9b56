"""Sign-in for the web pages: argon2 passwords, server-side sessions, CSRF on every form,
failed sign-ins limited and logged.

The session cookie holds a random token (only its SHA-256 is stored); it is HttpOnly and
SameSite=Strict. Each session carries its own CSRF token, put in every form and checked on
every POST. The sign-in form, shown before any session exists, uses a double-submit cookie.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
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

    Memory is bounded: at most ``max_keys`` keys. When a new key finds it full, keys whose
    failures have all left the window go first, then the least recently failed keys that
    are not blocked. A blocked key is never forgotten before its window is over (a flood
    of failures from rotating addresses once unlocked a locked account by emptying the
    table). Should every key be blocked, new failures are not recorded, which is logged:
    that takes ``max_keys`` × ``limit`` failures inside the window, each paying for a
    password hash, far beyond what the server can check.
    """

    def __init__(
        self,
        limit: int = 5,
        address_limit: int = 50,
        window: float = 300.0,
        max_keys: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.address_limit, self.window = limit, address_limit, window
        self.max_keys, self._clock = max_keys, clock
        # key → failure times, least recently failed first
        self._failures: collections.OrderedDict[_Key, collections.deque[float]] = (
            collections.OrderedDict()
        )
        self._full_logged = False
        self._lock = threading.Lock()  # the sign-in handler runs in the thread pool

    def __len__(self) -> int:
        return len(self._failures)

    def blocked(self, username: str, address: str) -> bool:
        with self._lock:
            now = self._clock()
            return any(
                self._count(key, now) >= self._limit_of(key) for key in _keys(username, address)
            )

    def failed(self, username: str, address: str) -> None:
        with self._lock:
            self._failed(_keys(username, address), self._clock())

    def _failed(self, keys: tuple[_Key, _Key], now: float) -> None:
        for key in keys:
            failures = self._failures.get(key)
            if failures is None:
                if not self._make_room(now):
                    if not self._full_logged:
                        log.error("sign-in limiter full of blocked keys: failures not recorded")
                        self._full_logged = True
                    return
                failures = self._failures[key] = collections.deque(maxlen=self._limit_of(key))
            failures.append(now)
            self._failures.move_to_end(key)

    def succeeded(self, username: str, address: str) -> None:
        """The account's failures from this address are forgiven (not the address's)."""
        with self._lock:
            self._failures.pop(_keys(username, address)[0], None)

    def _limit_of(self, key: _Key) -> int:
        return self.limit if key[1] is not None else self.address_limit

    def _count(self, key: _Key, now: float) -> int:
        failures = self._failures.get(key)
        if failures is None:
            return 0
        return sum(1 for moment in failures if moment > now - self.window)

    def _make_room(self, now: float) -> bool:
        """Room for one more key; False if every key is blocked."""
        if len(self._failures) < self.max_keys:
            return True
        least_recent = next(iter(self._failures.values()))
        if least_recent[-1] <= now - self.window:  # all its failures are out of the window
            self._failures.popitem(last=False)
            return True
        for key in self._failures:
            if self._count(key, now) < self._limit_of(key):
                del self._failures[key]
                return True
        return False


_Key = tuple[str, str | None]  # (address, account) or (address, None)


def _keys(username: str, address: str) -> tuple[_Key, _Key]:
    return (address, username.strip().lower()), (address, None)


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
    if limiter.blocked(username, address):
        log.warning("sign-in blocked for %r from %s: too many failures", username, address)
        return _login_again(request, t["too_many"], next, 429)
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    stored = user.password_hash if user is not None else _dummy_hash()
    if not verify_password(stored, password) or user is None:
        limiter.failed(username, address)
        log.warning("failed sign-in for %r from %s", username, address)
        return _login_again(request, t["bad_login"], next, 401)
    limiter.succeeded(username, address)
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
