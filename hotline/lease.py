"""A named lease in the database: with several app instances on one database, a periodic job
(the overdue scheduler) runs on whichever instance holds the lease. Plain SQL that behaves
the same on SQLite and PostgreSQL: take the row when it is free or expired, renew it while
holding it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable

from sqlalchemy import Engine, delete, insert, or_, update
from sqlalchemy.exc import IntegrityError

from hotline.faults import FaultLog
from hotline.models import Lease, utcnow


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


async def every_while_holding(
    engine: Engine,
    name: str,
    holder: str | None,
    interval: float,
    ttl: dt.timedelta,
    job: Callable[[], Awaitable[None]],
    faults: FaultLog,
) -> None:
    """Run ``job`` every ``interval`` seconds while ``holder`` holds the lease ``name``
    (None: no lease, a single instance). A failed pass is logged once per outage through
    ``faults`` and the next pass tries again. Stopped (cancelled), it gives the lease up, so
    the instance started next takes the job over at once instead of after ``ttl``."""
    try:
        while True:
            try:
                if holder is None or await asyncio.to_thread(
                    acquire, engine, name, holder, ttl, utcnow()
                ):
                    await job()
                faults.ok("pass", f"{name} passes work again")
            except Exception:  # the database away, say: once in the log, not each pass
                faults.fault("pass", f"{name} pass failed", exc_info=True)
            await asyncio.sleep(interval)
    finally:
        if holder is not None:
            with contextlib.suppress(Exception):  # the database away: the lease expires
                await asyncio.to_thread(release, engine, name, holder)
