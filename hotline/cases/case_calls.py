"""The calls of a case and the callback (回访) placed from its page.

A case's calls are the one it came in on (``cases.call_id``), the callbacks placed from its
page, and the citizen's other calls around the time it was registered. Each is a row of
``calls``; a callback's row is written before Asterisk is asked to place it, its uniqueid
chosen here (AMI Originate's ``ChannelId``) so that the call tracker fills its timeline like
any other call's, and a ``callback`` step in the case's history links it to the case (no
version step: a callback changes nothing the verification form was read on).

Recordings are Asterisk's, ``call-<call id>.wav`` in its monitor folder (the queue's
MixMonitor for incoming calls, the callback context's for callbacks); a call the IVR never
named is recorded under ``call-u<uniqueid>.wav``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hotline.cases.lifecycle import FINAL_STATES
from hotline.cases.privacy import citizen_view
from hotline.cases.service import Actor, CaseError, get_case
from hotline.models import Call, Case, CaseHistory, utcnow
from hotline.roles import DESK

AROUND = dt.timedelta(hours=1)  # the citizen's calls this close to the case's registration
MAX_AROUND = 10
_UNIQUEID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class LinkedCall:
    call: Call
    link: str  # intake | callback | same_caller
    by: str | None = None  # who placed a callback


def may_hear_calls(actor: Actor, case: Case) -> bool:
    """The calls (and their recordings) go with the citizen's phone number."""
    return citizen_view(
        actor.role, actor.username, case.created_by, case.citizen_name, case.citizen_phone
    ).full


def case_calls(session: Session, actor: Actor, case: Case) -> list[LinkedCall]:
    """The calls of ``case`` that ``actor`` may hear (``actor`` may see the case), oldest
    first."""
    if not may_hear_calls(actor, case):
        return []
    links: dict[int, tuple[str, str | None]] = {}
    if case.call_id is not None:
        links[case.call_id] = ("intake", None)
    for actor_name, data in session.execute(
        select(CaseHistory.actor, CaseHistory.data).where(
            CaseHistory.case_id == case.id, CaseHistory.action == "callback"
        )
    ):
        call_id = (data or {}).get("call")
        if isinstance(call_id, int):
            links[call_id] = ("callback", actor_name)
    calls = list(session.scalars(select(Call).where(Call.id.in_(list(links))))) if links else []
    linked = [LinkedCall(c, *links[c.id]) for c in calls]
    if case.citizen_phone:
        start = _aware(case.created_at) - AROUND
        query = select(Call).where(
            Call.caller_number == case.citizen_phone,
            Call.created_at >= start,
            Call.created_at <= _aware(case.created_at) + AROUND,
            Call.id.not_in(list(links)) if links else Call.id.is_not(None),
        )
        if not actor.is_city:  # a district's staff: their district's calls, or the unrouted
            query = query.where(
                or_(Call.district_code.is_(None), Call.district_code == actor.scope_code)
            )
        around = session.scalars(query.order_by(Call.id).limit(MAX_AROUND))
        linked += [LinkedCall(c, "same_caller") for c in around]
    return sorted(linked, key=lambda item: (_aware(item.call.created_at), item.call.id))


def linked_call(session: Session, actor: Actor, case: Case, call_id: int) -> Call | None:
    """The call ``call_id`` if it is one of the case's that ``actor`` may hear."""
    return next((c.call for c in case_calls(session, actor, case) if c.call.id == call_id), None)


def recording_file(recordings_dir: Path, call: Call) -> Path | None:
    """The call's recording in Asterisk's monitor folder, if there is one. The name comes
    from the call's row, never from a request."""
    names = [f"call-{call.id}.wav"]
    if _UNIQUEID.match(call.uniqueid):
        names.append(f"call-u{call.uniqueid}.wav")
    folder = recordings_dir.resolve()
    for name in names:
        path = (folder / name).resolve()
        if path.parent == folder and path.is_file():
            return path
    return None


def dial_number(phone: str) -> str | None:
    """The digits to dial for a citizen's phone as stored (``+`` becomes the international
    prefix 00; spaces and dashes go), or None when it is not a number."""
    compact = phone.strip().replace(" ", "").replace("-", "")
    if compact.startswith("+"):
        compact = "00" + compact[1:]
    return compact if compact.isdigit() and 3 <= len(compact) <= 24 else None


def may_call_back(actor: Actor, case: Case) -> bool:
    """Staff who may see the citizen's phone, on an open case whose citizen gave a number
    and agreed to be called back."""
    return (
        actor.role in DESK
        and may_hear_calls(actor, case)
        and case.state not in FINAL_STATES
        and case.callback_consent
        and dial_number(case.citizen_phone) is not None
    )


@dataclass(frozen=True)
class Callback:
    call: Call
    dial: str  # the citizen's number as dialled
    channel_id: str  # the uniqueid Asterisk gives the staff phone's leg


def start_callback(
    session: Session,
    actor: Actor,
    number: str,
    *,
    now: dt.datetime | None = None,
    channel_id: str | None = None,
) -> Callback:
    """The call record and history step of a callback about to be placed; the caller
    commits them before asking Asterisk, so the tracker finds the row. ``channel_id``: the
    uniqueid to give the staff phone's leg (the demo's history names its calls; a page
    leaves it to a random one)."""
    now = now or utcnow()
    case = get_case(session, actor, number)
    if actor.role not in DESK or not may_hear_calls(actor, case):
        raise CaseError("case-forbidden", "callbacks are placed by the case's staff", 403)
    dial = dial_number(case.citizen_phone)
    if not may_call_back(actor, case) or dial is None:
        raise CaseError(
            "case-no-callback",
            "no callback: the case is closed, has no citizen's number, or the citizen did "
            "not agree to be called back",
            409,
        )
    channel_id = channel_id or f"callback-{uuid.uuid4().hex}"
    call = Call(
        uniqueid=channel_id,
        linkedid=channel_id,
        caller_number=case.citizen_phone,
        did="",
        district_code=case.district_code,
        route_target="callback",
        route_reason="case-callback",
        agent=actor.username,
        created_at=now,
    )
    session.add(call)
    session.flush()
    session.add(
        CaseHistory(
            case_id=case.id,
            at=now,
            actor=actor.username,
            action="callback",
            from_state=case.state,
            to_state=case.state,
            note="",
            data={"call": call.id},
        )
    )
    return Callback(call, dial, channel_id)


def callback_failed(session: Session, call_id: int, *, now: dt.datetime | None = None) -> None:
    """Asterisk refused to place the callback: the call record says so."""
    call = session.get(Call, call_id)
    if call is not None:
        call.outcome = "callback_failed"
        call.ended_at = now or utcnow()


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
