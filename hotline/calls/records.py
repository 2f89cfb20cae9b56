"""The records the IVR reads and writes. The calls' steps run in one thread, several calls'
steps in one transaction (``hotline.calls.batch``), so the telephony event loop never
blocks on the database and a burst of calls shares its commits."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, literal, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite

from hotline.calls.batch import BatchedWork
from hotline.models import Call, CallEvent, Case, utcnow
from ivr.actions import CallerFacts, CaseStatus
from routing.model import CallerHistory

CLOSED_STATES = ("closed", "invalid", "duplicate")


class CallRecords:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._work = BatchedWork(engine)

    def close(self) -> None:
        self._work.close()

    # --- what the IVR reads -------------------------------------------------------------
    async def caller_facts(self, caller: str, days: int) -> CallerFacts:
        return await self._work.run(lambda connection: _caller_facts(connection, caller, days))

    async def case_status(self, number: str) -> CaseStatus | None:
        return await self._work.run(lambda connection: _case_status(connection, number))

    # --- what the IVR writes ------------------------------------------------------------
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

        def work(connection: Connection) -> tuple[int, CallerFacts]:
            return _start_call(
                connection, uniqueid, linkedid, caller, did, history_days, node, channel
            )

        return await self._work.run(work)

    async def finish_ivr(self, call_id: int, values: dict[str, Any]) -> None:
        await self._work.run(lambda connection: _update(connection, call_id, "IvrEnd", values))

    async def abandon_in_ivr(self, call_id: int, path: list[str]) -> None:
        now = utcnow()
        values = {"ivr_ended_at": now, "ended_at": now, "outcome": "abandoned_ivr"}
        detail = {"path": path}
        await self._work.run(
            lambda connection: _update(connection, call_id, "AbandonedInIvr", values, detail)
        )


def _start_call(
    connection: Connection,
    uniqueid: str,
    linkedid: str,
    caller: str,
    did: str,
    history_days: int,
    node: str,
    channel: str,
) -> tuple[int, CallerFacts]:
    facts = (
        _caller_facts(connection, caller, history_days)
        if caller.isdigit()
        else CallerFacts(None, CallerHistory())
    )
    now = utcnow()
    call_id = connection.execute(
        _INSERT_CALL[connection.dialect.name],
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
    ).scalar()
    if call_id is None:  # the same channel ran the AGI again: keep its one record
        return connection.execute(_CALL_BY_UNIQUEID, {"uniqueid": uniqueid}).scalar_one(), facts
    connection.execute(
        _INSERT_EVENT, {"call_id": call_id, "at": now, "kind": "IvrStart", "detail": {}}
    )
    return call_id, facts


def _update(
    connection: Connection,
    call_id: int,
    kind: str,
    values: dict[str, Any],
    detail: dict[str, Any] | None = None,
) -> None:
    connection.execute(_update_call(tuple(values)), {"call_id_": call_id, **values})
    connection.execute(
        _INSERT_EVENT,
        {
            "call_id": call_id,
            "at": utcnow(),
            "kind": kind,
            "detail": detail if detail is not None else _jsonable(values),
        },
    )


def _case_status(connection: Connection, number: str) -> CaseStatus | None:
    row = connection.execute(_CASE_STATUS, {"number": number}).first()
    if row is None:
        return None
    due = _aware(row.due_at) if row.due_at else None
    return CaseStatus(row.number, row.state, row.district_code, due)


# Built once: constructing statements costs more than running them on this hot path.
def _latest(kind: str, district: Any, number: Any, phone: Any, created: Any, *more: Any) -> Any:
    """The caller's latest row of one kind as (kind, district, number, created_at)."""
    return (
        select(literal(kind).label("kind"), district, number, created.label("created_at"))
        .where(phone == bindparam("caller"), created >= bindparam("since"), *more)
        .order_by(created.desc())
        .limit(1)
        .subquery()
    )


# One statement for the three questions: the caller's open case, and the latest case and
# the latest call with a district (each a LIMIT 1 on an index of the caller's number).
_HISTORY = union_all(
    *(
        select(q)
        for q in (
            _latest(
                "open",
                Case.district_code,
                Case.number,
                Case.citizen_phone,
                Case.created_at,
                Case.state.not_in(CLOSED_STATES),
            ),
            _latest(
                "case",
                Case.district_code,
                Case.number,
                Case.citizen_phone,
                Case.created_at,
                Case.district_code.is_not(None),
            ),
            _latest(
                "call",
                Call.district_code,
                literal(None).label("number"),
                Call.caller_number,
                Call.created_at,
                Call.district_code.is_not(None),
            ),
        )
    )
)
_CASE_STATUS = select(Case.number, Case.state, Case.district_code, Case.due_at).where(
    Case.number == bindparam("number")
)
_CALL_BY_UNIQUEID = select(Call.id).where(Call.uniqueid == bindparam("uniqueid"))
_INSERT_CALL = {
    name: dialect.insert(Call)
    .on_conflict_do_nothing(index_elements=[Call.uniqueid])
    .returning(Call.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_INSERT_EVENT = insert(CallEvent)


@functools.cache
def _update_call(columns: tuple[str, ...]) -> Any:
    """``UPDATE calls SET <columns> WHERE id = :call_id_``, built once per column set."""
    return (
        update(Call)
        .where(Call.id == bindparam("call_id_"))
        .values({key: bindparam(key) for key in columns})
    )


def _caller_facts(connection: Connection, caller: str, days: int) -> CallerFacts:
    """The district of the caller's latest case or call within ``days``, and their open case."""
    params = {"caller": caller, "since": utcnow() - dt.timedelta(days=days)}
    rows = {row.kind: row for row in connection.execute(_HISTORY, params)}
    open_case = rows.get("open")
    dated = [rows[k] for k in ("case", "call") if k in rows]
    latest = max(dated, key=lambda r: _aware(r.created_at)).district_code if dated else None
    history = (
        CallerHistory(open_case.district_code, open_case.number) if open_case else CallerHistory()
    )
    return CallerFacts(latest, history)


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in values.items()}
