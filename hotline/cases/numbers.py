"""Case numbers a citizen can key on a phone: ``YYMMDD`` + a daily sequence of at least four
digits (``2611280001``).

On PostgreSQL the number is taken in its own short transaction on a small pool of its own,
so the counter row is locked for one statement instead of for the whole registration (with
the lock held to the caller's commit, concurrent registrations queued behind each other).
The price is a gap when a registration is rolled back after taking its number; numbers stay
unique and increasing. SQLite serialises writers anyway, so there the counter is updated in
the caller's transaction and a rolled-back registration leaves no gap.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hotline.db import make_engine
from hotline.models import CaseCounter

_engines: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_engines_lock = threading.Lock()


def next_case_number(session: Session, today: dt.date) -> str:
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return _take(session.connection(), today.strftime("%y%m%d"))
    with _allocator(bind.engine).connect() as connection:
        return _take(connection, today.strftime("%y%m%d"))


def _take(connection: Connection, day: str) -> str:
    last = connection.execute(_TAKE[connection.dialect.name], {"day": day}).scalar_one()
    return f"{day}{last:04d}"


def _take_statement(dialect: Any) -> Any:
    """``INSERT (day, 1) ON CONFLICT (day) DO UPDATE SET last = last + 1 RETURNING last``,
    built once: the number is taken on every registration."""
    return (
        dialect.insert(CaseCounter)
        .values(day=bindparam("day"), last=1)
        .on_conflict_do_update(
            index_elements=[CaseCounter.day], set_={"last": CaseCounter.last + 1}
        )
        .returning(CaseCounter.last)
    )


_TAKE = {"postgresql": _take_statement(postgresql), "sqlite": _take_statement(sqlite)}


def _allocator(engine: Engine) -> Engine:
    """An autocommit engine of the same database with a pool of its own, so taking a
    number never waits for a connection that a registration in progress holds. Disposed
    with ``engine``."""
    with _engines_lock:
        found = _engines.get(engine)
        if found is None:
            found = make_engine(
                engine.url.render_as_string(hide_password=False),
                isolation_level="AUTOCOMMIT",
                pool_size=2,
                max_overflow=8,
            )
            _engines[engine] = found
            event.listen(engine, "engine_disposed", _dispose_allocator)
        return found


def _dispose_allocator(engine: Engine) -> None:
    with _engines_lock:
        found = _engines.pop(engine, None)
    if found is not None:
        found.dispose()
