"""A period's evaluation figures and case report, computed once and kept (table
``indicator_snapshots``).

At a city's volume (a million cases) folding a month of history takes seconds, and the
evaluation page asks for eight periods at once (this one, the one before, the trend), the
monthly report for three scopes of two. So:

* a **past** period's figures are computed at the first request after it ended and kept for
  good: history rows are written at the moment they happen, so nothing can be added before a
  cut that has passed (``forget`` drops them all, for the demo history, which writes the past);
* a **running** period's figures are kept for ``fresh`` seconds and say where they stop (the
  page prints "to 09:35"). Older than that but younger than ``stale``, they are served while
  one refresh runs behind the page (``behind``); older still, or none, the page waits.
  ``keep_renewing`` renews the figures the pages open on every ``fresh`` seconds, so that
  the first page of the morning does not wait either.

A past period's figures use the cases as they were when computed (a unit renamed, a case
moved to another unit afterwards): the seed's assessment is published once, as here. A
supervisor who corrected a case after its period ended may ``recompute`` that period's
figures: they are dropped and computed again from the cases as they are now.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hotline.cases import case_reports
from hotline.cases.indicators import SCOPES, Indicators, compute
from hotline.db import transaction
from hotline.faults import FaultLog
from hotline.lease import every_while_holding
from hotline.models import Area, IndicatorSnapshot, utcnow
from hotline.periods import Period, current

FRESH = dt.timedelta(minutes=5)
STALE = dt.timedelta(hours=2)
log = logging.getLogger("hotline.figures")
Behind = Callable[[str, Callable[[], None]], None]  # runs a refresh after the page, once per key
T = TypeVar("T")


@dataclass(frozen=True)
class Kind(Generic[T]):
    """One kind of figures: how they are computed for [start, cut) and stored as JSON."""

    compute: Callable[[Session, dt.datetime, dt.datetime], T]
    encode: Callable[[T], Any]
    decode: Callable[[Any], T]


@dataclass(frozen=True)
class Kept(Generic[T]):
    value: T
    cut: dt.datetime  # where they stop: the period's end, or the moment they were computed
    final: bool  # the period is over: these figures will not change (unless recomputed)
    computed_at: dt.datetime


Figures = Kept[dict[str, Indicators]]  # the evaluation's: per scope key


def kept(
    session: Session,
    key: str,
    kind: Kind[T],
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    *,
    fresh: dt.timedelta = FRESH,
    stale: dt.timedelta = STALE,
    behind: Behind | None = None,
    refresh: Callable[[], Session] | None = None,
) -> Kept[T]:
    """The figures of [start, end) kept under ``key``, or computed now. ``behind`` and
    ``refresh`` (a new session for the refresh's own transaction) let a page be served
    slightly stale figures of a running period while they are renewed."""
    found = session.get(IndicatorSnapshot, key)
    final = end <= now
    if found is not None and (cut := _aware(found.cut)) <= now:
        computed_at = _aware(found.computed_at)
        if final and cut >= end:
            return Kept(kind.decode(found.figures), cut, True, computed_at)
        if not final and now - cut <= fresh:
            return Kept(kind.decode(found.figures), cut, False, computed_at)
        if not final and now - cut <= stale and behind is not None and refresh is not None:
            make = refresh

            def renew() -> None:
                with make() as other, other.begin():
                    _gently(other)
                    _compute_and_keep(other, key, kind, start, end, utcnow())

            behind(key, renew)
            return Kept(kind.decode(found.figures), cut, False, computed_at)
    return _compute_and_keep(session, key, kind, start, end, now)


class StillRunning(ValueError):
    """A running period's figures renew themselves: there is nothing to recompute."""


def recompute(
    session: Session,
    key: str,
    kind: Kind[T],
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
) -> Kept[T]:
    """A past period's figures kept under ``key`` dropped and computed again from the cases
    as they are now (a case corrected after the period ended). On PostgreSQL the drop
    holds the row until the caller commits: a second recompute of the same key elsewhere
    waits for this one instead of computing beside it."""
    if end > now:
        raise StillRunning(f"{key}: the period runs to {end.isoformat()}")
    session.execute(delete(IndicatorSnapshot).where(IndicatorSnapshot.key == key))
    return _compute_and_keep(session, key, kind, start, end, now)


def evaluation(scope: str, district: str | None, due_only: bool = False) -> Kind[Any]:
    """The evaluation's indicators (``indicators.compute``) per ``scope`` key."""
    return Kind(
        lambda session, start, cut: compute(
            session, scope, start, cut, district, due_only=due_only
        ),
        lambda rows: {k: dataclasses.asdict(v) for k, v in rows.items()},
        lambda stored: {k: Indicators(**v) for k, v in stored.items()},
    )


def figures(
    session: Session,
    scope: str,
    start: dt.datetime,
    end: dt.datetime,
    district: str | None,
    now: dt.datetime,
    *,
    due_only: bool = False,
    fresh: dt.timedelta = FRESH,
    stale: dt.timedelta = STALE,
    behind: Behind | None = None,
    refresh: Callable[[], Session] | None = None,
) -> Figures:
    """The evaluation's figures of [start, end) for ``scope`` (``district``'s cases only)."""
    return kept(
        session,
        snapshot_key(scope, start, end, district, due_only),
        evaluation(scope, district, due_only),
        start,
        end,
        now,
        fresh=fresh,
        stale=stale,
        behind=behind,
        refresh=refresh,
    )


def case_report(period: Period, district: str | None) -> tuple[str, Kind[Any]]:
    """The case report of ``period`` (``case_reports.report``): its key and kind."""
    key = "|".join(("cases", period.kind, _span(period.start, period.end), district or "*"))
    return key, Kind(
        lambda session, _start, cut: case_reports.report(session, period, cut, district),
        case_reports.encode,
        case_reports.decode,
    )


def default_views(districts: list[str]) -> list[tuple[str, str, str | None, bool]]:
    """(kind of period, scope, district, due_only) of the figures the pages open on: the
    city's staff and the public see the month's city by every scope, a district's staff
    their district; the year (the seed's year-end assessment) by district; the trend needs
    the due jobs' figures of each."""
    both = (False, True)
    views: list[tuple[str, str, str | None, bool]] = [
        ("month", scope, None, due_only) for scope in SCOPES for due_only in both
    ]
    views += [("month", "district", code, due_only) for code in districts for due_only in both]
    views += [("year", "district", None, due_only) for due_only in both]
    return views


YEAR_REPORT_EVERY = dt.timedelta(hours=1)  # its computation: 18 s at a million cases


def renew_running(engine: Engine, zone: ZoneInfo, now: dt.datetime) -> int:
    """Compute and keep the default views' figures of the running month and year (and the
    month before's, once), and the case report of this month and, once an hour, of this
    year, for the city and each district; each in a transaction of its own. Returns how many
    were computed."""
    with transaction(engine) as session:
        districts = list(
            session.scalars(select(Area.code).where(Area.level == "district").order_by(Area.code))
        )
    always = dt.timedelta(0)
    jobs: list[tuple[str, Kind[Any], Period, dt.timedelta]] = []
    for period_kind, scope, district, due_only in default_views(districts):
        period = current(period_kind, zone, now)
        for chosen in (period, period.previous()) if period_kind == "month" else (period,):
            key = snapshot_key(scope, chosen.start, chosen.end, district, due_only)
            jobs.append((key, evaluation(scope, district, due_only), chosen, always))
    month, year = current("month", zone, now), current("year", zone, now)
    for district in (None, *districts):
        jobs.append((*case_report(month, district), month, always))
    # The year's case report: a first load found nothing kept after a restart or a new
    # year and took 18 s at a million cases (33 s on a slower day).
    for district in (None, *districts):
        jobs.append((*case_report(year, district), year, YEAR_REPORT_EVERY))
    done = 0
    for key, kind, chosen, every in jobs:
        with transaction(engine) as session:
            _gently(session)
            before = session.get(IndicatorSnapshot, key)
            final = chosen.end <= now
            if before is not None and final and _aware(before.cut) >= chosen.end:
                continue  # a past month's figures are kept for good
            if before is not None and not final and now - _aware(before.cut) < every:
                continue
            kept(session, key, kind, chosen.start, chosen.end, now, fresh=always)
            done += 1
    return done


async def keep_renewing(engine: Engine, holder: str, zone: ZoneInfo, interval: float) -> None:
    """Renew the default views' figures every ``interval`` seconds, on the one instance
    that holds the lease, so that even the first page of the morning finds them kept."""

    async def renew_once() -> None:
        began = time.monotonic()
        done = await asyncio.to_thread(renew_running, engine, zone, utcnow())
        log.info("renewed %d kept figures in %.1f s", done, time.monotonic() - began)

    ttl = dt.timedelta(seconds=interval * 3)
    faults = FaultLog(log, level=logging.WARNING)
    await every_while_holding(engine, "figures-renewal", holder, interval, ttl, renew_once, faults)


def _gently(session: Session) -> None:
    """A renewal nobody waits for takes one core of PostgreSQL, not every core: callers'
    lookups (routing, the IVR's call records) share the database server."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


def forget(session: Session) -> None:
    """Drop every kept figure (after history was written into the past)."""
    session.execute(delete(IndicatorSnapshot))


def snapshot_key(
    scope: str, start: dt.datetime, end: dt.datetime, district: str | None, due_only: bool
) -> str:
    return "|".join((scope, district or "*", _span(start, end), "due" if due_only else "all"))


def _span(start: dt.datetime, end: dt.datetime) -> str:
    return "|".join(m.astimezone(dt.UTC).strftime("%Y%m%dT%H%M") for m in (start, end))


def _compute_and_keep(
    session: Session,
    key: str,
    kind: Kind[T],
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
) -> Kept[T]:
    cut = min(end, max(now, start))
    value = kind.compute(session, start, cut)
    values = {"key": key, "cut": cut, "computed_at": now, "figures": kind.encode(value)}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(IndicatorSnapshot).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[IndicatorSnapshot.key],
            set_={name: statement.excluded[name] for name in ("cut", "computed_at", "figures")},
        )
    )
    return Kept(value, cut, end <= now, now)


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite gives timestamps back without their zone; they are stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
