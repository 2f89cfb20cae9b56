"""The records the IVR reads and writes, behind ``asyncio.to_thread`` so the telephony event
loop never blocks on the database."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

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
        with self._engine.connect() as connection:
            return _caller_facts(connection, caller, days)

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
    # Core statements on one connection per step: this runs for every call.
    async def start_call(
        self,
        uniqueid: str,
        linkedid: str,
        caller: str,
        did: str,
        history_days: int,
        node: str = "",
        channel: str = "",
    ) -> tuple[int, CallerFacts]:
        """Create the call record and read the caller's history in one transaction."""
        return await asyncio.to_thread(
            self._start_call, uniqueid, linkedid, caller, did, history_days, node, channel
        )

    def _start_call(
        self,
        uniqueid: str,
        linkedid: str,
        caller: str,
        did: str,
        history_days: int,
        node: str,
        channel: str = "",
    ) -> tuple[int, CallerFacts]:
        facts = (
            self._caller_facts(caller, history_days)
            if caller.isdigit()
            else CallerFacts(None, CallerHistory())
        )
        now = utcnow()
        with self._engine.begin() as connection:
            existing = connection.scalar(_CALL_BY_UNIQUEID, {"uniqueid": uniqueid})
            if existing is not None:  # the same channel ran the AGI again: keep one record
                return existing, facts
            call_id = connection.execute(
                _INSERT_CALL,
                {
                    "uniqueid": uniqueid,
                    "linkedid": linkedid or uniqueid,
                    "caller_number": caller,
                    "did": did,
                    "node": node,
                    "channel": channel,
                    "answered_at": now,
                    "created_at": now,
                    "priority": 0,
                },
            ).scalar_one()
            connection.execute(
                _INSERT_EVENT, {"call_id": call_id, "at": now, "kind": "IvrStart", "detail": {}}
            )
        return call_id, facts

    async def finish_ivr(self, call_id: int, values: dict[str, Any]) -> None:
        await asyncio.to_thread(self._update, call_id, "IvrEnd", values)

    async def abandon_in_ivr(self, call_id: int, path: list[str]) -> None:
        now = utcnow()
        values = {"ivr_ended_at": now, "ended_at": now, "outcome": "abandoned_ivr"}
        await asyncio.to_thread(self._update, call_id, "AbandonedInIvr", values, {"path": path})

    def _update(
        self, call_id: int, kind: str, values: dict[str, Any], detail: dict[str, Any] | None = None
    ) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                _UPDATE_CALL.values({key: bindparam(key) for key in values}),
                {"call_id_": call_id, **values},
            )
            connection.execute(
                _INSERT_EVENT,
                {
                    "call_id": call_id,
                    "at": utcnow(),
                    "kind": kind,
                    "detail": detail if detail is not None else _jsonable(values),
                },
            )


# Built once: constructing statements costs more than running them on this hot path.
_OPEN_CASE = (
    select(Case.district_code, Case.number)
    .where(
        Case.citizen_phone == bindparam("caller"),
        Case.state.not_in(CLOSED_STATES),
        Case.created_at >= bindparam("since"),
    )
    .order_by(Case.created_at.desc())
    .limit(1)
)
_RECENT = [
    select(model.district_code, model.created_at)
    .where(
        phone == bindparam("caller"),
        model.district_code.is_not(None),
        model.created_at >= bindparam("since"),
    )
    .order_by(model.created_at.desc())
    .limit(1)
    for model, phone in ((Case, Case.citizen_phone), (Call, Call.caller_number))
]
_CALL_BY_UNIQUEID = select(Call.id).where(Call.uniqueid == bindparam("uniqueid"))
_INSERT_CALL = insert(Call).returning(Call.id)
_INSERT_EVENT = insert(CallEvent)
_UPDATE_CALL = update(Call).where(Call.id == bindparam("call_id_"))


def _caller_facts(connection: Connection, caller: str, days: int) -> CallerFacts:
    """The district of the caller's latest case or call within ``days``, and their open case."""
    params = {"caller": caller, "since": utcnow() - dt.timedelta(days=days)}
    open_case = connection.execute(_OPEN_CASE, params).first()
    recent = [connection.execute(statement, params).first() for statement in _RECENT]
    candidates = [r for r in recent if r is not None]
    latest = max(candidates, key=lambda r: _aware(r[1]))[0] if candidates else None
    history = CallerHistory(open_case[0], open_case[1]) if open_case else CallerHistory()
    return CallerFacts(latest, history)


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in values.items()}
