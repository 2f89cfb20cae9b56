"""A caller who leaves the queue asking to be called back becomes a case (source
``callback_request``, state ``received``): unclassified until an agent calls back and
registers it. One request per call: pressing the key again returns the same case."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.cases.numbers import next_case_number
from hotline.cases.service import record_change
from hotline.models import Call, CallPlatform, Case, utcnow


def request_callback(
    session: Session,
    *,
    call_id: int | None,
    caller: str,
    queue: str,
    uniqueid: str,
    zone: ZoneInfo,
    now: dt.datetime | None = None,
) -> Case:
    """The case of the request (``now``: the request's time when it is not now, as the
    demo's history writes it)."""
    key = f"callback:{call_id if call_id is not None else uniqueid}"
    existing = session.scalar(select(Case).where(Case.idempotency_key == key))
    if existing is not None:
        return existing
    call = session.get(Call, call_id) if call_id is not None else None
    now = now or utcnow()
    district = call.district_code if call else None
    case = Case(
        number=next_case_number(session, now.astimezone(zone).date()),
        idempotency_key=key,
        source="callback_request",
        state="received",
        district_code=district,
        # The city platform's when no district is known, as a case registered at a desk.
        platform_level="city" if district is None else "district",
        citizen_phone=caller,
        callback_consent=True,
        call_id=call.id if call else None,
        description=f"回电请求（{_platform_name(session, queue)}排队时）",
        created_by="ivr",
        created_at=now,
    )
    session.add(case)
    session.flush()
    record_change(
        session,
        case,
        "ivr",
        "callback_request",
        None,
        f"caller left queue {queue}",
        {"queue": queue},
        now,
    )
    if call is not None:
        call.outcome = "callback_requested"
    return case


def _platform_name(session: Session, queue: str) -> str:
    """The platform's name for a queue (the description is read on Chinese pages)."""
    return session.scalar(select(CallPlatform.name_zh).where(CallPlatform.queue == queue)) or queue
