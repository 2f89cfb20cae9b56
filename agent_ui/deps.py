"""Request-scoped collaborators, taken with ``Depends`` (tests override them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from hotline.cases.service import Actor, CaseError
from hotline.db import session_factory
from hotline.tokens import actor_for_token


def db_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back if it
    raises."""
    with session_factory(request.app.state.engine)() as session, session.begin():
        yield session


DbSession = Annotated[Session, Depends(db_session)]


def token_actor(session: DbSession, authorization: Annotated[str, Header()] = "") -> Actor:
    scheme, _, token = authorization.partition(" ")
    actor = actor_for_token(session, token.strip()) if scheme.lower() == "bearer" else None
    if actor is None:
        raise CaseError("auth-required", "a valid Bearer token is required", 401)
    return actor


TokenActor = Annotated[Actor, Depends(token_actor)]
