"""Request-scoped collaborators, taken with ``Depends`` (tests override them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy import QueuePool, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hotline.cases.service import Actor, CaseError
from hotline.db import session_factory
from hotline.grid import GridIndex
from hotline.models import GridCell
from hotline.tokens import actor_for_token


class DatabaseBusy(Exception):
    """No database slot came free in time: the client should retry shortly (503)."""


GATE_PATIENCE = 20.0  # seconds a request waits its turn for the database before a 503
RESERVED_CONNECTIONS = 3  # left to the call records' thread, the scheduler, streams' checks


def _gate(request: Request) -> asyncio.Semaphore:
    """The app's database gate in the running loop (a test may run the app in several)."""
    loop = asyncio.get_running_loop()
    held: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = getattr(
        request.app.state, "db_gate", None
    )
    if held is None or held[0] is not loop:
        pool = request.app.state.engine.pool
        # QueuePool keeps its overflow limit private; SQLAlchemy has named it so since 0.x.
        size = pool.size() + getattr(pool, "_max_overflow", 0) if isinstance(pool, QueuePool) else 8
        held = (loop, asyncio.Semaphore(max(size - RESERVED_CONNECTIONS, 1)))
        request.app.state.db_gate = held
    return held[1]


async def db_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back if it
    raises.

    A request waits for a database slot in the event loop (holding no thread and no
    connection) before it takes a connection: at most as many requests as the pool has
    connections (less a reserve) hold one at once. Before, 200 pages loaded at once put
    40 worker threads to wait on a pool of 15 while the requests that held the connections
    needed those same threads to finish, and the instance hung for the pool's timeout."""
    gate = _gate(request)
    try:
        await asyncio.wait_for(gate.acquire(), GATE_PATIENCE)
    except TimeoutError:
        raise DatabaseBusy from None
    try:
        session = session_factory(request.app.state.engine)()
        try:
            yield session
        except BaseException:
            await run_in_threadpool(_end, session, False)
            raise
        await run_in_threadpool(_end, session, True)
    finally:
        gate.release()


def _end(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


# scope="function" commits before the response leaves: with the default ("request") the
# commit ran after the client had its answer, so a redirect's next request could miss the
# row just written, and a failed commit reached nobody.
DbSession = Annotated[Session, Depends(db_session, scope="function")]


def token_actor(session: DbSession, authorization: Annotated[str, Header()] = "") -> Actor:
    scheme, _, token = authorization.partition(" ")
    actor = actor_for_token(session, token.strip()) if scheme.lower() == "bearer" else None
    if actor is None:
        raise CaseError("auth-required", "a valid Bearer token is required", 401)
    return actor


TokenActor = Annotated[Actor, Depends(token_actor)]


def grid_index(request: Request, session: Session) -> GridIndex:
    """The point → cell index, built once per app from the active cells."""
    return grid_index_of(request.app.state, session)


def grid_index_of(state: Any, session: Session) -> GridIndex:
    """:func:`grid_index` for an app's ``state`` (at start-up, before any request)."""
    index: GridIndex | None = getattr(state, "grid_index", None)
    if index is None:
        rows = session.execute(
            select(GridCell.code, GridCell.geometry).where(GridCell.active.is_(True))
        ).all()
        index = GridIndex.from_geojson_rows((code, geometry) for code, geometry in rows)
        state.grid_index = index
    return index
