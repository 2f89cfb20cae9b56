"""Joint jobs (联合处置): when one unit cannot solve a case alone, the city platform adds
assisting units to it. The lead unit (``Case.unit_code``) keeps the case: it alone reports
it handled, and the assisting units never reach the lead's actions (``may_see`` does not
let them in). An assisting unit sees its part in its own list and reports it done. Every
step is in the case's history and goes out on the webhook like any change."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.cases.service import Actor, CaseError, get_case, record_change, touch_case
from hotline.models import Case, CaseAssist, Notification, Unit, utcnow
from hotline.roles import PLATFORM_STAFF

ACTIVE = ("dispatched", "in_progress", "rework")


def may_assign_joint(actor: Actor) -> bool:
    """Joint jobs are the city platform's staff's to assign."""
    return actor.role in PLATFORM_STAFF and actor.is_city


def joint_open(case: Case) -> bool:
    """A job a lead unit holds, still open: assisting units can be added to it."""
    return case.state in ACTIVE and case.unit_code is not None


def assign_joint(
    session: Session,
    actor: Actor,
    number: str,
    version: int,
    units: list[str],
    note: str = "",
    *,
    now: dt.datetime | None = None,
) -> Case:
    """The city platform adds assisting units to a job a lead unit holds."""
    now = now or utcnow()
    if not may_assign_joint(actor):
        raise CaseError("case-forbidden", "joint jobs are assigned by the city platform", 403)
    case = get_case(session, actor, number)
    if not joint_open(case):
        raise CaseError("case-bad-state", "only a dispatched job can become a joint job", 409)
    wanted = sorted(set(units) - {case.unit_code})
    known = set(
        session.scalars(select(Unit.code).where(Unit.code.in_(wanted), Unit.active.is_(True)))
    )
    if not wanted or known != set(wanted):
        missing = ", ".join(sorted(set(wanted) - known)) or "none given"
        raise CaseError("case-bad-units", f"assisting units unknown or inactive: {missing}", 422)
    touch_case(session, case, version, now)
    present = set(
        session.scalars(select(CaseAssist.unit_code).where(CaseAssist.case_id == case.id))
    )
    added = [code for code in wanted if code not in present]
    for code in added:
        session.add(
            CaseAssist(
                case_id=case.id,
                unit_code=code,
                assigned_by=actor.username,
                assigned_at=now,
                note="",
            )
        )
        session.add(
            Notification(
                case_id=case.id,
                unit_code=code,
                kind="joint",
                text=f"案件 {case.number} 需要贵单位协同处置",
                created_at=now,
            )
        )
    record_change(
        session,
        case,
        actor.username,
        "joint_job",
        case.state,
        note,
        {"lead": case.unit_code, "assisting": added},
        now,
    )
    return case


@dataclass(frozen=True)
class AssistJob:
    number: str
    lead_unit: str
    class_code: str | None
    address: str
    description: str
    due_at: dt.datetime | None
    done: bool


def assisting_jobs(session: Session, unit_code: str) -> list[AssistJob]:
    """The jobs ``unit_code`` assists on that are still open."""
    rows = session.execute(
        select(Case, CaseAssist.done_at)
        .join(CaseAssist, CaseAssist.case_id == Case.id)
        .where(CaseAssist.unit_code == unit_code, Case.state.in_(ACTIVE))
        .order_by(Case.due_at)
    ).all()
    return [
        AssistJob(
            c.number,
            c.unit_code or "",
            c.class_code,
            c.address,
            c.description,
            c.due_at,
            done is not None,
        )
        for c, done in rows
    ]


def assist_done(
    session: Session, actor: Actor, number: str, note: str, *, now: dt.datetime | None = None
) -> None:
    """An assisting unit reports its part of a joint job done."""
    now = now or utcnow()
    if actor.role != "unit" or not actor.unit_code:
        raise CaseError("case-forbidden", "for assisting units", 403)
    row = session.execute(
        select(CaseAssist, Case)
        .join(Case, Case.id == CaseAssist.case_id)
        .where(Case.number == number, CaseAssist.unit_code == actor.unit_code)
    ).first()
    if row is None:
        raise CaseError("case-not-found", f"no case {number}", 404)
    assist, case = row
    if assist.done_at is not None:
        raise CaseError("case-assist-done", "your part is already reported done", 409)
    if case.state not in ACTIVE:
        raise CaseError("case-bad-state", "the job is no longer open", 409)
    assist.done_at, assist.note = now, note
    record_change(
        session,
        case,
        actor.username,
        "assist_done",
        case.state,
        note,
        {"unit": actor.unit_code},
        now,
    )


def joint_parts(session: Session, case: Case) -> list[CaseAssist]:
    """The assisting units of a case, in the order they were added, with their part's state."""
    return list(
        session.scalars(
            select(CaseAssist).where(CaseAssist.case_id == case.id).order_by(CaseAssist.id)
        )
    )
