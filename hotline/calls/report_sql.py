"""The calls report's figures as SQL aggregates: the same figures as
``reports.compute(reports.load(...))`` (the definitions are there), grouped in the database
by queue, agent, local hour and local day, so that a year of calls is counted where it lies
instead of read row by row. The database returns counts and sums; the rates, means and their
rounding are made here by the same code as the fold's.

Local hours and days: PostgreSQL converts with the zone's own rules (``AT TIME ZONE``);
SQLite has no zones, so it adds the zone's offset, which is exact only when the offset does not
change in the period (China's has not since 1991); otherwise the fold is used.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Engine, and_, case, func, literal, or_, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import String

from hotline.calls.reports import Figures, compute, load
from hotline.cases.indicators import seconds_between
from hotline.db import using
from hotline.models import Call

TARGETS = (15, 20)
ABANDONED = ("abandoned_queue", "callback_requested")


class local_text(FunctionElement[str]):  # an SQL function: lower case
    """A timestamp as local text: ``pattern`` "hour" (08) or "day" (2026-12-02)."""

    type = String()
    inherit_cache = False  # the zone, offset and pattern are not in a cache key: no caching

    def __init__(self, column: Any, zone: str, offset: int, pattern: str) -> None:
        self.zone, self.offset, self.pattern = zone, offset, pattern
        super().__init__(column)


@compiles(local_text, "postgresql")
def _local_pg(element: local_text, compiler: Any, **kw: Any) -> str:
    (column,) = list(element.clauses)
    form = "HH24" if element.pattern == "hour" else "YYYY-MM-DD"
    zone = element.zone.replace("'", "")
    return f"to_char(({compiler.process(column, **kw)} AT TIME ZONE '{zone}'), '{form}')"


@compiles(local_text)
def _local_sqlite(element: local_text, compiler: Any, **kw: Any) -> str:
    (column,) = list(element.clauses)
    form = "%H" if element.pattern == "hour" else "%Y-%m-%d"
    return (
        f"strftime('{form}', {compiler.process(column, **kw)}, '{int(element.offset):+d} seconds')"
    )


def _fixed_offset(zone: ZoneInfo, start: dt.datetime, end: dt.datetime) -> int | None:
    """The zone's offset in seconds if it is the same all through [start, end], else None."""
    offsets = set()
    moment = start
    while moment <= end:
        offsets.add(moment.astimezone(zone).utcoffset())
        moment += dt.timedelta(hours=12)
    offsets.add(end.astimezone(zone).utcoffset())
    if len(offsets) != 1:
        return None
    (only,) = offsets
    return int(only.total_seconds()) if only is not None else 0


def figures(
    bind: Engine | Session,
    start: dt.datetime,
    end: dt.datetime,
    queues: list[str] | None,
    zone: ZoneInfo,
) -> dict[str, dict[str, Figures]]:
    """{"queue", "agent", "hour", "day"} → key → figures, for the calls that joined a queue
    in [start, end) (only ``queues`` when given): one pass over the period's calls (a common
    table expression), grouped four ways."""
    with using(bind) as session:
        offset = _fixed_offset(zone, start, end)
        if session.get_bind().dialect.name != "postgresql" and offset is None:
            return compute(load(session, start, end, queues), zone)
        rows = _rows(start, end, queues, zone.key, offset or 0).cte("period_calls")
        parts = []
        for group in GROUPS:
            part = select(
                literal(group, String).label("grp"), rows.c[group].label("key"), *_sums(rows)
            )
            if group == "agent":
                part = part.where(rows.c.agent.is_not(None), rows.c.agent != "")
            parts.append(part.group_by(rows.c[group]))
        result: dict[str, dict[str, Figures]] = {group: {} for group in GROUPS}
        for row in sorted(session.execute(union_all(*parts)).mappings(), key=_by_key):
            result[row["grp"]][str(row["key"])] = _figures(row)
        return result


GROUPS = ("queue", "agent", "hour", "day")


def _by_key(row: Any) -> tuple[str, str]:
    return str(row["grp"]), str(row["key"])


def _rows(
    start: dt.datetime, end: dt.datetime, queues: list[str] | None, zone: str, offset: int
) -> Any:
    """The period's calls, each with its keys, flags and seconds."""
    answered = Call.connected_at.is_not(None)
    abandoned = and_(
        Call.connected_at.is_(None),
        or_(Call.ended_at.is_not(None), Call.outcome.in_(ABANDONED)),
    )
    talked = and_(answered, Call.ended_at.is_not(None))
    wait = seconds_between(Call.queue_joined_at, Call.connected_at)
    gave_up_after = seconds_between(
        Call.queue_joined_at, func.coalesce(Call.ended_at, Call.queue_joined_at)
    )
    query = select(
        Call.queue.label("queue"),
        Call.agent.label("agent"),
        local_text(Call.queue_joined_at, zone, offset, "hour").label("hour"),
        local_text(Call.queue_joined_at, zone, offset, "day").label("day"),
        _flag(answered).label("answered"),
        _flag(abandoned).label("abandoned"),
        _flag(talked).label("talked"),
        case((answered, wait), else_=0.0).label("wait"),
        case((talked, seconds_between(Call.connected_at, Call.ended_at)), else_=0.0).label("talk"),
        *(_flag(and_(answered, wait <= t)).label(f"within_{t}") for t in TARGETS),
        *(_flag(and_(abandoned, gave_up_after > t)).label(f"late_{t}") for t in TARGETS),
    ).where(
        Call.queue_joined_at >= start,
        Call.queue_joined_at < end,
        Call.queue.is_not(None),
    )
    if queues is not None:
        query = query.where(Call.queue.in_(queues))
    return query


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _sums(rows: Any) -> list[Any]:
    columns = [
        func.count().label("offered"),
        *(func.sum(rows.c[name]).label(name) for name in ("answered", "abandoned", "talked")),
        func.sum(rows.c.wait).label("wait_total"),
        func.sum(rows.c.talk).label("talk_total"),
    ]
    for target in TARGETS:
        columns.append(func.sum(rows.c[f"within_{target}"]).label(f"within_{target}"))
        columns.append(func.sum(rows.c[f"late_{target}"]).label(f"late_{target}"))
    return columns


def _level(row: Any, target: int) -> float | None:
    whole = int(row["answered"] or 0) + int(row[f"late_{target}"] or 0)
    return round(int(row[f"within_{target}"] or 0) / whole, 4) if whole else None


def _figures(row: Any) -> Figures:
    answered, talks = int(row["answered"] or 0), int(row["talked"] or 0)
    return Figures(
        int(row["offered"]),
        answered,
        int(row["abandoned"] or 0),
        _level(row, 15),
        _level(row, 20),
        round(float(row["wait_total"] or 0) / answered, 1) if answered else None,
        round(float(row["talk_total"] or 0) / talks, 1) if talks else None,
    )
