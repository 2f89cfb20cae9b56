"""A named lease in the database: with several app instances on one database, a periodic job
(the overdue scheduler) runs on whichever instance holds the lease. Plain SQL that behaves
the same on SQLite and PostgreSQL: take the row when it is free or expired, renew it while
holding it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, delete, insert, or_, update
from sqlalchemy.exc import IntegrityError

from hotline.models import Lease


def acquire(engine: Engine, name: str, holder: str, ttl: dt.timedelta, now: dt.datetime) -> bool:
    """True if ``holder`` holds the lease ``name`` until ``now + ttl``."""
    with engine.begin() as connection:
        taken = connection.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=now + ttl)
        ).rowcount
        if taken:
            return True
    try:
        with engine.begin() as connection:
            connection.execute(insert(Lease).values(name=name, holder=holder, expires_at=now + ttl))
        return True
    except IntegrityError:
        return False  # someone else holds it


def release(engine: Engine, name: str, holder: str) -> None:
    """Give the lease up at once (a clean shutdown), so another instance takes over now."""
    with engine.begin() as connection:
        connection.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
