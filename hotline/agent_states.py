"""Agents' phone states, kept in the database so that every app instance reads the same: the
desktop shows the agent's own, the wallboard everyone's in scope, wrap-up ends its own.

Blocking calls: from async code, run them in a thread."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import NamedTuple

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.db import using
from hotline.models import AgentState, utcnow


class PhoneState(NamedTuple):
    state: str
    since: float  # epoch seconds: what the pages count time in state from
    reason: str = ""


LOGGED_OUT = "logged_out"


def record_state(
    bind: Engine | Session,
    username: str,
    state: str,
    reason: str = "",
    at: dt.datetime | None = None,
) -> PhoneState:
    """Store ``username``'s new state (upsert that works on SQLite and PostgreSQL); in the
    caller's session when given one."""
    since = at or utcnow()
    values = {"state": state, "reason": reason[:32], "since": since}
    with using(bind) as session:
        row = session.get(AgentState, username)
        if row is not None:
            row.state, row.reason, row.since = state, reason[:32], since
        else:
            try:
                with session.begin_nested():
                    session.add(AgentState(username=username, **values))
            except IntegrityError:  # another instance inserted it first: ours is newer
                session.execute(
                    update(AgentState).where(AgentState.username == username).values(**values)
                )
    return PhoneState(state, since.timestamp(), reason)


def load_states(bind: Engine | Session, usernames: Collection[str]) -> dict[str, PhoneState]:
    """The stored states of ``usernames``; an agent never seen is absent (logged out)."""
    if not usernames:
        return {}
    with using(bind) as session:
        rows = session.scalars(select(AgentState).where(AgentState.username.in_(usernames)))
        return {row.username: _phone_state(row) for row in rows}


def state_of(bind: Engine | Session, username: str) -> PhoneState:
    return load_states(bind, [username]).get(username) or PhoneState(
        LOGGED_OUT, utcnow().timestamp()
    )


def _phone_state(row: AgentState) -> PhoneState:
    since = row.since if row.since.tzinfo else row.since.replace(tzinfo=dt.UTC)  # SQLite
    return PhoneState(row.state, since.timestamp(), row.reason)
