"""The scheduler's work: find jobs past their deadline, tell the unit and the supervisors,
and escalate to the city platform what is still open after a grace period.

An overdue job is marked once (``overdue_at``), with a history row, an outbox event and
notifications (the unit; the district's platform; the city platform too when the job is a
city-level unit's); it keeps its state. Escalation is the lifecycle's ``escalate`` action taken
by ``system``. Only cases on a district platform are escalated (the city has no one above).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hotline.cases.lifecycle import check_transition
from hotline.cases.service import record_change
from hotline.db import transaction
from hotline.faults import FaultLog
from hotline.lease import every_while_holding
from hotline.models import Case, Notification, utcnow

log = logging.getLogger("hotline.scheduler")
OPEN_JOBS = ("dispatched", "in_progress", "rework")
CITY_SCOPE = "110000"


@dataclass
class Sweep:
    overdue: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)


def sweep(
    session: Session, now: dt.datetime, grace: dt.timedelta, city_scope: str = CITY_SCOPE
) -> Sweep:
    result = Sweep()
    late = session.scalars(
        select(Case)
        .where(
            Case.state.in_(OPEN_JOBS),
            Case.due_at.is_not(None),
            Case.due_at < now,
            Case.overdue_at.is_(None),
        )
        .order_by(Case.id)
    ).all()
    for case in late:
        case.overdue_at = now
        record_change(session, case, "system", "overdue", case.state, "deadline passed", {}, now)
        text = f"案件 {case.number} 已超过处置期限"
        session.add(
            Notification(
                case_id=case.id, unit_code=case.unit_code, kind="overdue", text=text, created_at=now
            )
        )
        # The platform of the case's district; a job of a city-level unit also the city's.
        scopes = {case.district_code or city_scope}
        if case.platform_level == "city":
            scopes.add(city_scope)
        for scope in sorted(scopes):
            session.add(
                Notification(
                    case_id=case.id, scope_code=scope, kind="overdue", text=text, created_at=now
                )
            )
        result.overdue.append(case.number)
    session.flush()
    stale = session.scalars(
        select(Case)
        .where(
            Case.state.in_(OPEN_JOBS),
            Case.overdue_at.is_not(None),
            Case.overdue_at < now - grace,
            Case.platform_level == "district",
        )
        .order_by(Case.id)
    ).all()
    for case in stale:
        before = case.state
        case.state = check_transition(before, "escalate", "supervisor", {"note": "auto"})
        case.platform_level = "city"
        case.updated_at = now
        note = "逾期未处置，自动上报市级平台"
        record_change(session, case, "system", "escalate", before, note, {"auto": True}, now)
        session.add(
            Notification(
                case_id=case.id,
                scope_code=city_scope,
                kind="escalated",
                text=f"案件 {case.number} {note}",
                created_at=now,
            )
        )
        result.escalated.append(case.number)
    return result


async def run_scheduler(
    engine: Engine, holder: str, grace: dt.timedelta, interval: float = 60.0
) -> None:
    """Sweep every ``interval`` seconds on the one instance that holds the lease."""

    async def sweep_once() -> None:
        result = await asyncio.to_thread(_sweep, engine, utcnow(), grace)
        if result.overdue or result.escalated:
            log.info("overdue: %s; escalated: %s", result.overdue, result.escalated)

    ttl = dt.timedelta(seconds=interval * 3)
    faults = FaultLog(log, level=logging.ERROR)
    await every_while_holding(
        engine, "overdue-scheduler", holder, interval, ttl, sweep_once, faults
    )


def _sweep(engine: Engine, now: dt.datetime, grace: dt.timedelta) -> Sweep:
    with transaction(engine) as session:
        return sweep(session, now, grace)
