"""Request-scoped collaborators, taken with ``Depends`` (tests override them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.cases.service import Actor, CaseError
from hotline.db import session_factory
from hotline.grid import GridIndex
from hotline.models import GridCell
from hotline.tokens import actor_for_token


def db_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back if it
    raises."""
    with session_factory(request.app.state.engine)() as session, session.begin():
        yield session


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
    index: GridIndex | None = getattr(request.app.state, "grid_index", None)
    if index is None:
        rows = session.execute(
            select(GridCell.code, GridCell.geometry).where(GridCell.active.is_(True))
        ).all()
        index = GridIndex.from_geojson_rows((code, geometry) for code, geometry in rows)
        request.app.state.grid_index = index
    return index
