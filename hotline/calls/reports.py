"""Contact-center figures for a period, from the call records (a pure fold; ``load`` reads).
The pages count the same figures in the database (``report_sql``); this fold defines them.

Definitions, as written on the reports page:

* offered — calls that joined a queue in the period;
* answered — offered calls an agent connected to;
* abandoned — offered calls that left the queue unanswered (hung up or asked for a
  callback);
* service level (15 s / 20 s) — answered within 15 (20) s of joining / (answered +
  abandoned after 15 (20) s): callers who gave up sooner than the target do not count
  against it, as Asterisk's ``servicelevel`` does;
* ASA (average speed of answer) — mean seconds from queue join to connect, answered calls;
* AHT (average handling time) — mean seconds from connect to the end of the call.

Against Asterisk's queue_log, for the same calls: offered = ENTERQUEUE, answered = CONNECT
(its hold time = our wait, to the second), abandoned = ABANDON + EXITWITHKEY +
EXITWITHTIMEOUT. A call transferred to another queue counts once, in the queue it ended in;
queue_log counts it in each queue it entered.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hotline.db import using
from hotline.models import Call


@dataclass(frozen=True)
class CallRow:
    queue: str
    agent: str | None
    joined: dt.datetime
    connected: dt.datetime | None
    ended: dt.datetime | None
    outcome: str | None


@dataclass
class _Tally:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    waits: list[float] = field(default_factory=list)
    talks: list[float] = field(default_factory=list)
    abandoned_after: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Figures:
    offered: int
    answered: int
    abandoned: int
    service_level_15: float | None
    service_level_20: float | None
    asa_seconds: float | None
    aht_seconds: float | None

    @property
    def abandon_rate(self) -> float | None:
        """Abandoned / offered."""
        return round(self.abandoned / self.offered, 4) if self.offered else None


def _level(tally: _Tally, target: float) -> float | None:
    within = sum(1 for w in tally.waits if w <= target)
    late_abandons = sum(1 for w in tally.abandoned_after if w > target)
    whole = tally.answered + late_abandons
    return round(within / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _figures(tally: _Tally) -> Figures:
    return Figures(
        tally.offered,
        tally.answered,
        tally.abandoned,
        _level(tally, 15),
        _level(tally, 20),
        _mean(tally.waits),
        _mean(tally.talks),
    )


def compute(rows: Iterable[CallRow], zone: dt.tzinfo) -> dict[str, dict[str, Figures]]:
    """{"queue": {...}, "agent": {...}, "hour": {"08": ...}, "day": {"2026-12-02": ...}}
    for the rows given (hours and days in ``zone``)."""
    groups: dict[str, dict[str, _Tally]] = {
        "queue": defaultdict(_Tally),
        "agent": defaultdict(_Tally),
        "hour": defaultdict(_Tally),
        "day": defaultdict(_Tally),
    }
    for row in rows:
        local = row.joined.astimezone(zone)
        keys = {"queue": row.queue, "hour": f"{local.hour:02d}", "day": local.date().isoformat()}
        if row.agent:
            keys["agent"] = row.agent
        for group, key in keys.items():
            tally = groups[group][key]
            tally.offered += 1
            if row.connected is not None:
                tally.answered += 1
                tally.waits.append((row.connected - row.joined).total_seconds())
                if row.ended is not None:
                    tally.talks.append((row.ended - row.connected).total_seconds())
            elif row.ended is not None or row.outcome in ("abandoned_queue", "callback_requested"):
                tally.abandoned += 1
                end = row.ended or row.joined
                tally.abandoned_after.append((end - row.joined).total_seconds())
    return {
        group: {k: _figures(t) for k, t in sorted(tallies.items())}
        for group, tallies in groups.items()
    }


def load(
    bind: Engine | Session,
    start: dt.datetime,
    end: dt.datetime,
    queues: list[str] | None = None,
    uniqueids: Collection[str] | None = None,
) -> list[CallRow]:
    """The calls that joined a queue in [start, end); only ``queues`` / ``uniqueids`` when
    given (the queue_log check picks its own calls)."""
    query = select(
        Call.queue, Call.agent, Call.queue_joined_at, Call.connected_at, Call.ended_at, Call.outcome
    ).where(Call.queue_joined_at >= start, Call.queue_joined_at < end, Call.queue.is_not(None))
    if queues is not None:
        query = query.where(Call.queue.in_(queues))
    if uniqueids is not None:
        query = query.where(Call.uniqueid.in_(uniqueids))
    with using(bind) as session:
        rows = session.execute(query).all()
    return [
        CallRow(q or "", a, _aware(j), _aware(c) if c else None, _aware(e) if e else None, o)
        for q, a, j, c, e, o in rows
        if j is not None
    ]


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
