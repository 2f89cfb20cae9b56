"""The records the IVR reads and writes, behind ``asyncio.to_thread`` so the telephony event
loop never blocks on the database."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import Engine, select, update

from hotline.db import transaction
from hotline.models import Call, CallEvent, Case, utcnow
from ivr.actions import CallerFacts, CaseStatus
from routing.model import CallerHistory

CLOSED_STATES = ("closed", "invalid", "duplicate")


class CallRecords:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- what the IVR reads -------------------------------------------------------------
    async def caller_facts(self, caller: str, days: int) -> CallerFacts:
        return await asyncio.to_thread(self._caller_facts, caller, days)

    def _caller_facts(self, caller: str, days: int) -> CallerFacts:
        since = utcnow() - dt.timedelta(days=days)
        with transaction(self._engine) as session:
            open_case = session.execute(
                select(Case.district_code, Case.number)
                .where(
                    Case.citizen_phone == caller,
                    Case.state.not_in(CLOSED_STATES),
                    Case.created_at >= since,
                )
                .order_by(Case.created_at.desc())
                .limit(1)
            ).first()
            recent = [
                session.execute(
                    select(model.district_code, model.created_at)
                    .where(
                        phone == caller, model.district_code.is_not(None), model.created_at >= since
                    )
                    .order_by(model.created_at.desc())
                    .limit(1)
                ).first()
                for model, phone in ((Case, Case.citizen_phone), (Call, Call.caller_number))
            ]
        candidates = [r for r in recent if r is not None]
        latest = max(candidates, key=lambda r: _aware(r[1]))[0] if candidates else None
        history = CallerHistory(open_case[0], open_case[1]) if open_case else CallerHistory()
        return CallerFacts(latest, history)

    async def case_status(self, number: str) -> CaseStatus | None:
        return await asyncio.to_thread(self._case_status, number)

    def _case_status(self, number: str) -> CaseStatus | None:
        with transaction(self._engine) as session:
            case = session.scalar(select(Case).where(Case.number == number))
            if case is None:
                return None
            due = _aware(case.due_at) if case.due_at else None
            return CaseStatus(case.number, case.state, case.district_code, due)

    # --- what the IVR writes ------------------------------------------------------------
    async def start_call(
        self, uniqueid: str, linkedid: str, caller: str, did: str, node: str = ""
    ) -> int:
        return await asyncio.to_thread(self._start_call, uniqueid, linkedid, caller, did, node)

    def _start_call(self, uniqueid: str, linkedid: str, caller: str, did: str, node: str) -> int:
        now = utcnow()
        with transaction(self._engine) as session:
            existing = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
            if existing is not None:  # the same channel ran the AGI again: keep one record
                return existing.id
            call = Call(
                uniqueid=uniqueid,
                linkedid=linkedid or uniqueid,
                caller_number=caller,
                did=did,
                node=node,
                answered_at=now,
            )
            session.add(call)
            session.flush()
            session.add(CallEvent(call_id=call.id, at=now, kind="IvrStart", detail={}))
            return call.id

    async def finish_ivr(self, call_id: int, values: dict[str, Any]) -> None:
        await asyncio.to_thread(self._update, call_id, "IvrEnd", values)

    async def abandon_in_ivr(self, call_id: int, path: list[str]) -> None:
        now = utcnow()
        await asyncio.to_thread(
            self._update,
            call_id,
            "AbandonedInIvr",
            {
                "ivr_ended_at": now,
                "ended_at": now,
                "outcome": "abandoned_ivr",
            },
            {"path": path},
        )

    def _update(
        self, call_id: int, kind: str, values: dict[str, Any], detail: dict[str, Any] | None = None
    ) -> None:
        now = utcnow()
        with transaction(self._engine) as session:
            session.execute(update(Call).where(Call.id == call_id).values(**values))
            session.add(
                CallEvent(
                    call_id=call_id,
                    at=now,
                    kind=kind,
                    detail=detail if detail is not None else _jsonable(values),
                )
            )


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in values.items()}
