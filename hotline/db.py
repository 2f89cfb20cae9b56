"""Engines and sessions. SQLite gets foreign keys, WAL and a busy timeout so it behaves
like the PostgreSQL it stands in for."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

POOL_SIZE, POOL_OVERFLOW = 5, 10  # SQLAlchemy's defaults, named: the web gate counts them
# ``hotline serve`` keeps as many open, and opens no more (``serving_engine``).
SERVE_POOL = POOL_SIZE + POOL_OVERFLOW
POOL_TIMEOUT = 5.0  # seconds to wait for a pooled connection before giving up (a 503)


def make_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    kwargs.setdefault("pool_timeout", POOL_TIMEOUT)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkout", _ping_if_idle)
    event.listen(engine, "checkin", _note_checkin)
    return engine


def serving_engine(url: str) -> Engine:
    """The engine of a ``hotline serve`` process: every pooled connection stays open. With
    the defaults (5 kept, 10 more opened and closed as needed), 20 users on two web processes
    opened a connection for most requests, a PostgreSQL backend's start each time: a list
    page's p95 was 148 ms, and 102-113 ms with the connections kept."""
    return make_engine(url, pool_size=SERVE_POOL, max_overflow=0)


PING_AFTER_IDLE = 5.0  # seconds a pooled connection may rest before it is tested again


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """SQLAlchemy's ``pool_pre_ping``, but only for a connection that has rested: a busy
    pool would otherwise pay a round trip per transaction for nothing. A dead connection
    (database restarted) is replaced before anyone uses it."""
    returned = record.info.get("returned_at")
    if returned is not None and time.monotonic() - returned < PING_AFTER_IDLE:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
    except Exception as exc:
        raise DisconnectionError(f"pooled connection is dead: {exc}") from exc


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["returned_at"] = time.monotonic()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # SQLite's recommended setting in WAL mode: commits survive a crash of the process;
    # only a power loss can take the last ones back. PostgreSQL is the production store.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with session_factory(engine)() as session, session.begin():
        yield session


@contextmanager
def using(bind: Engine | Session) -> Iterator[Session]:
    """The session a caller already holds (its transaction, its one connection), or a
    transaction of its own on an engine. A web request passes its session so that it never
    waits for a second pooled connection while holding one: with every worker thread doing
    that, the pool ran dry and the pages hung for the pool's whole timeout."""
    if isinstance(bind, Session):
        yield bind
    else:
        with transaction(bind) as session:
            yield session


def without_jit(session: Session) -> None:
    """No JIT for the rest of the transaction (PostgreSQL): the planner prices the report
    aggregates high and compiles them for longer than they run (bench/evaluation.py)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
