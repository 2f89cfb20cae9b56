"""Sign-in limits: per account and address and per address, counted in the database by every
web process alike and never forgetting a blocked key, forwarded addresses believed only from
configured proxies, and an unknown account refused as slowly as a wrong password."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from agent_ui.main import create_app
from agent_ui.web import auth
from agent_ui.web.auth import LoginLimiter
from hotline.db import make_engine, transaction
from hotline.models import SignInFailure
from hotline.service import EmbeddedWebServer, web_config
from hotline.settings import Settings, WebBind
from hotline.testing.pbx import free_port
from hotline.users import verify_password

BOSS = "city_super"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def limited(engine: Engine) -> Iterator[tuple[LoginLimiter, Session, Clock]]:
    """The limiter on a real database (the failures are rows every process counts)."""
    clock = Clock()
    with transaction(engine) as session:
        yield LoginLimiter(clock=clock), session, clock


def test_a_strangers_failures_do_not_lock_the_account_elsewhere(
    limited: tuple[LoginLimiter, Session, Clock],
) -> None:
    limiter, db, _ = limited
    for _ in range(5):
        limiter.failed(db, BOSS, "203.0.113.9")
    assert limiter.blocked(db, BOSS, "203.0.113.9")
    assert limiter.blocked(db, BOSS.upper(), "203.0.113.9")
    assert not limiter.blocked(db, BOSS, "10.1.2.3")  # the supervisor at their own desk


def test_one_address_cannot_go_through_the_accounts(
    limited: tuple[LoginLimiter, Session, Clock],
) -> None:
    limiter, db, _ = limited
    for n in range(49):
        limiter.failed(db, f"user{n}", "203.0.113.9")
    assert not limiter.blocked(db, "user99", "203.0.113.9")
    limiter.failed(db, "user49", "203.0.113.9")
    assert limiter.blocked(db, "user99", "203.0.113.9")
    assert not limiter.blocked(db, "user99", "10.1.2.3")


def test_the_window_slides_and_a_success_forgives_the_account(
    limited: tuple[LoginLimiter, Session, Clock],
) -> None:
    limiter, db, clock = limited
    for _ in range(5):
        limiter.failed(db, BOSS, "a")
    clock.advance(299)
    assert limiter.blocked(db, BOSS, "a")
    clock.advance(2)
    assert not limiter.blocked(db, BOSS, "a")
    for _ in range(4):
        limiter.failed(db, BOSS, "a")
    limiter.succeeded(db, BOSS, "a")
    limiter.failed(db, BOSS, "a")
    assert not limiter.blocked(db, BOSS, "a")


def test_the_failures_are_shared_and_bounded(
    limited: tuple[LoginLimiter, Session, Clock],
) -> None:
    """Two web processes (two limiters on one database) count the same failures: three
    here and two there block the account. Old failures are deleted as new ones come, and a
    flood from rotating addresses cannot unblock a blocked account (the review's attack on
    the memory-bound table this replaced)."""
    limiter, db, clock = limited
    other = LoginLimiter(clock=clock)
    for _ in range(3):
        limiter.failed(db, BOSS, "203.0.113.9")
    for _ in range(2):
        other.failed(db, BOSS, "203.0.113.9")
    assert limiter.blocked(db, BOSS, "203.0.113.9") and other.blocked(db, BOSS, "203.0.113.9")
    for n in range(300):
        other.failed(db, f"user{n}", f"198.51.{n // 250}.{n % 250}")
    assert limiter.blocked(db, BOSS, "203.0.113.9")
    clock.advance(301)
    limiter.failed(db, "someone", "192.0.2.1")
    assert not limiter.blocked(db, BOSS, "203.0.113.9")
    assert db.scalar(select(func.count()).select_from(SignInFailure)) == 1


@pytest.fixture
def demo_db(sqlite_loaded_db_url: str) -> Iterator[tuple[str, Engine]]:
    """Nothing tested here depends on the database, and each sign-in pays for a real
    password hash: SQLite only."""
    engine = make_engine(sqlite_loaded_db_url)
    yield sqlite_loaded_db_url, engine
    engine.dispose()


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The password hashes the sign-in checked a password against (the real check runs)."""
    seen: list[str] = []

    def spy(password_hash: str, password: str) -> bool:
        seen.append(password_hash)
        return verify_password(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", spy)
    return seen


async def _sign_in(client: httpx.AsyncClient, user: str, password: str, **headers: str) -> int:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = await client.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": token.group(1)},
        headers=headers,
    )
    return done.status_code


async def _served(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind a real uvicorn configured as ``hotline serve`` configures it."""
    server = EmbeddedWebServer(web_config(settings, create_app(settings, engine)))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        base = f"http://127.0.0.1:{settings.web.port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await serving


def run_served(
    settings: Settings, engine: Engine, test: Callable[[httpx.AsyncClient], Any]
) -> None:
    async def main() -> None:
        async for client in _served(settings, engine):
            await test(client)

    asyncio.run(main())


def test_an_unknown_account_is_checked_like_a_wrong_password(
    demo_db: tuple[str, Engine], checked: list[str]
) -> None:
    """Same work, same answer: the time it takes cannot tell which accounts exist."""
    url, engine = demo_db
    settings = Settings(database_url=url, web=WebBind(port=free_port()))

    async def test(client: httpx.AsyncClient) -> None:
        assert await _sign_in(client, "no_such_user", "whatever-123") == 401
        assert await _sign_in(client, "dc_agent", "wrong-password") == 401
        assert await _sign_in(client, "dc_agent", "agent-demo-123") == 303

    run_served(settings, engine, test)
    assert len(checked) == 3 and all(h.startswith("$argon2id$") for h in checked)
    assert checked[0] != checked[1] == checked[2]  # a stand-in hash for the unknown account


def test_a_csrf_token_beyond_ascii_is_refused_not_a_crash(demo_db: tuple[str, Engine]) -> None:
    url, engine = demo_db
    settings = Settings(database_url=url, web=WebBind(port=free_port()))

    async def test(client: httpx.AsyncClient) -> None:
        await client.get("/login")
        done = await client.post(
            "/login", data={"username": "x", "password": "y", "csrf_token": "令牌"}
        )
        assert done.status_code == 403

    run_served(settings, engine, test)


@pytest.mark.parametrize("proxy", ["", "127.0.0.1"], ids=["no proxy", "behind a proxy"])
def test_forwarded_addresses_are_believed_from_configured_proxies_only(
    proxy: str, demo_db: tuple[str, Engine], caplog: pytest.LogCaptureFixture
) -> None:
    """Five wrong passwords for the supervisor, each claiming another X-Forwarded-For.
    With no proxy configured (the default) the claims are ignored: all five count against
    127.0.0.1, which is then blocked for that account. Behind a configured proxy each
    forwarded address is its own, and the supervisor can still sign in from a sixth."""
    url, engine = demo_db
    settings = Settings(database_url=url, web=WebBind(port=free_port()), forwarded_allow_ips=proxy)

    async def test(client: httpx.AsyncClient) -> None:
        for n in range(5):
            forwarded = {"X-Forwarded-For": f"198.51.100.{n}"}
            assert await _sign_in(client, BOSS, "wrong-password", **forwarded) == 401
        last = await _sign_in(client, BOSS, "wrong-password", **{"X-Forwarded-For": "192.0.2.7"})
        assert last == (429 if not proxy else 401)

    with caplog.at_level(logging.WARNING, "hotline.auth"):
        run_served(settings, engine, test)
    addresses = set(re.findall(r"from ([0-9.]+)", caplog.text))
    assert addresses == (
        {"127.0.0.1"} if not proxy else {f"198.51.100.{n}" for n in range(5)} | {"192.0.2.7"}
    )


def test_no_proxy_is_believed_by_default() -> None:
    assert Settings().forwarded_allow_ips == ""
    config = web_config(Settings(), app=None)
    assert config.proxy_headers is False
