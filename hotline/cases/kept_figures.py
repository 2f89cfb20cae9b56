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
from hotline.cases.indicators import SCOPES, Indicators, compute, due_part, of_district
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


YEAR_EVERY = dt.timedelta(hours=1)  # a running year's: its case report takes 18 s at 1M cases


def fresh_for(period: Period, fresh: dt.timedelta) -> dt.timedelta:
    """How long a running period's figures are served as they are: a year's for an hour
    (folding a year of a million cases takes tens of seconds of the database), any other
    ``fresh`` (``figures_refresh_seconds``)."""
    return max(fresh, YEAR_EVERY) if period.kind == "year" else fresh


Derive = Callable[[Any], Any]


@dataclass
class _Renewal:
    """One computation of the renewal and the kept figures derived from its answer."""

    key: str
    kind: Kind[Any]
    period: Period
    derived: list[tuple[str, Derive]] = dataclasses.field(default_factory=list)


def _from_city(scope: str, district: str | None, due_only: bool) -> Derive:
    def derive(rows: dict[str, Indicators]) -> dict[str, Indicators]:
        if district is not None:
            rows = of_district(rows, district)
        return due_part(rows, scope) if due_only else rows

    return derive


def _renewals(districts: list[str], zone: ZoneInfo, now: dt.datetime) -> list[_Renewal]:
    """The default views' figures of the running month and year and of the month before,
    as computations: one per period and scope, the city's full figures; the due jobs'
    figures and each district's are derived from them (``due_part``, ``of_district``:
    42 computations of a month were 5). Then the case reports (city and each district)."""
    renewals: dict[str, _Renewal] = {}
    for period_kind, scope, district, due_only in default_views(districts):
        period = current(period_kind, zone, now)
        for chosen in (period, period.previous()) if period_kind == "month" else (period,):
            key = snapshot_key(scope, chosen.start, chosen.end, district, due_only)
            if district is not None and scope != "district":  # not in the city's figures
                renewals[key] = _Renewal(key, evaluation(scope, district, due_only), chosen)
                continue
            base = snapshot_key(scope, chosen.start, chosen.end, None, False)
            renewal = renewals.setdefault(base, _Renewal(base, evaluation(scope, None), chosen))
            if key != base:
                renewal.derived.append((key, _from_city(scope, district, due_only)))
    month, year = current("month", zone, now), current("year", zone, now)
    reports = [_Renewal(*case_report(p, d), p) for p in (month, year) for d in (None, *districts)]
    return [*renewals.values(), *reports]


def renew_running(engine: Engine, zone: ZoneInfo, now: dt.datetime) -> int:
    """Compute and keep the default views' figures of the running month and year (and the
    month before's, once), and the case report of this month and year, for the city and
    each district; a running year's once an hour (``fresh_for``). Each computation in a
    transaction of its own, with what is derived from it. Returns how many kept figures
    were written."""
    with transaction(engine) as session:
        districts = list(
            session.scalars(select(Area.code).where(Area.level == "district").order_by(Area.code))
        )
    done = 0
    for renewal in _renewals(districts, zone, now):
        period = renewal.period
        with transaction(engine) as session:
            _gently(session)
            before = session.get(IndicatorSnapshot, renewal.key)
            if _due_for_renewal(before, period, now):
                computed = _compute_and_keep(
                    session, renewal.key, renewal.kind, period.start, period.end, now
                )
                value, cut, computed_at = computed.value, computed.cut, now
                done += 1
            elif before is not None and renewal.derived:
                value, cut = renewal.kind.decode(before.figures), _aware(before.cut)
                computed_at = _aware(before.computed_at)
            else:
                continue
            for key, derive in renewal.derived:
                kept_before = session.get(IndicatorSnapshot, key)
                if kept_before is None or _aware(kept_before.cut) < cut:
                    _keep(session, key, renewal.kind.encode(derive(value)), cut, computed_at)
                    done += 1
    return done


def _due_for_renewal(before: IndicatorSnapshot | None, period: Period, now: dt.datetime) -> bool:
    if before is None:
        return True
    if period.end <= now:  # a past month's figures are kept for good
        return _aware(before.cut) < period.end
    return now - _aware(before.cut) >= fresh_for(period, dt.timedelta(0))


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
    _keep(session, key, kind.encode(value), cut, now)
    return Kept(value, cut, end <= now, now)


def _keep(session: Session, key: str, encoded: Any, cut: dt.datetime, now: dt.datetime) -> None:
    values = {"key": key, "cut": cut, "computed_at": now, "figures": encoded}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(IndicatorSnapshot).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[IndicatorSnapshot.key],
            set_={name: statement.excluded[name] for name in ("cut", "computed_at", "figures")},
        )
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite gives timestamps back without their zone; they are stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
