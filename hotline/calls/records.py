"""The call records the IVR and the call tracker read and write. The steps run in one
thread, several calls' steps in one transaction (``hotline.calls.batch``), so the telephony
event loop never blocks on the database and a burst of calls shares its commits."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.dialects import postgresql

from agi.ami_protocol import Message
from hotline.callers import CallerFacts, CaseStatus
from hotline.calls.batch import BatchedWork
from hotline.calls.lost import LostCall, close_node_calls
from hotline.calls.timeline import CallView, Change, OpenCall, advance, apply_event, missed_end
from hotline.models import Call, CallEvent, Case, utcnow
from routing.model import CallerHistory

CLOSED_STATES = ("closed", "invalid", "duplicate")


class CallRecords:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._work = BatchedWork(engine)
        # PostgreSQL: each step one statement, a batch's statements in one pipeline.
        self._staged = _statements(engine.dialect.name).start_call is not None

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
        at: dt.datetime | None = None,
    ) -> tuple[int, CallerFacts]:
        """Create the call record and read the caller's history in one transaction (``at``:
        the answer's time when it is not now, as the demo's history writes it)."""
        step = _Start(uniqueid, linkedid, caller, did, history_days, node, channel, at)
        if self._staged:
            return await self._work.run_staged(step.send, step.receive)
        return await self._work.run(step.run)

    async def finish_ivr(self, call_id: int, values: dict[str, Any]) -> None:
        await self._write(_Update(call_id, "IvrEnd", values))

    async def abandon_in_ivr(self, call_id: int, path: list[str]) -> None:
        now = utcnow()
        values = {"ivr_ended_at": now, "ended_at": now, "outcome": "abandoned_ivr"}
        await self._write(_Update(call_id, "AbandonedInIvr", values, {"path": path}))

    # --- what the call tracker writes ---------------------------------------------------
    async def track(self, events: Sequence[Message]) -> list[Tracked | BaseException | None]:
        """Fold AMI events into their calls' records and timelines, in the order given:
        each sees what the ones before it wrote. Per event: what it changed, None (no call
        of ours, or nothing to keep), or the exception that kept it from being stored."""
        try:
            return list(await self._work.run(_Track(tuple(events)).run))
        except Exception as exc:
            if len(events) == 1:
                return [exc]
        # Something in the group could not be stored: each event alone, so only it is lost.
        results: list[Tracked | BaseException | None] = []
        for event in events:
            try:
                results.extend(await self._work.run(_Track((event,)).run))
            except Exception as exc:
                results.append(exc)
        return results

    # --- reconciliation -----------------------------------------------------------------
    async def open_calls(self, before: dt.datetime, limit: int = 10_000) -> list[OpenCall]:
        """Call records without an end, created before ``before``."""
        return await self._work.run(lambda connection: _open_calls(connection, before, limit))

    async def close_missed(self, call: OpenCall) -> None:
        await self._write(_Update(call.id, "Reconciled", missed_end(call, utcnow())))

    async def close_node(self, node: str, lost_at: dt.datetime, by: str) -> list[LostCall]:
        """Close the open records of a node that is gone (``hotline.calls.lost``)."""
        return await self._work.run(
            lambda connection: close_node_calls(connection, node, lost_at, by)
        )

    async def _write(self, step: _Update) -> None:
        if self._staged:
            await self._work.run_staged(step.send, step.receive)
        else:
            await self._work.run(step.run)


@dataclass(frozen=True)
class _Start:
    """A call's first step: its record and the caller's history."""

    uniqueid: str
    linkedid: str
    caller: str
    did: str
    history_days: int
    node: str
    channel: str
    at: dt.datetime | None = None

    def record(self, sql: _Statements) -> dict[str, Any]:
        now = sql.moment(self.at or utcnow())
        return {
            "uniqueid": self.uniqueid,
            "linkedid": self.linkedid or self.uniqueid,
            "caller_number": self.caller,
            "did": self.did,
            "node": self.node,
            "channel": self.channel,
            "answered_at": now,
            "created_at": now,
        }

    @property
    def known(self) -> bool:
        return self.caller.isdigit()  # no history for an anonymous or odd caller id

    def run(self, connection: Connection) -> tuple[int, CallerFacts]:
        """Statement by statement (SQLite: in this process, no round trips to save)."""
        sql = _statements(connection.dialect.name)
        record = self.record(sql)
        with closing(connection.connection.cursor()) as cursor:
            facts = (
                _read_facts(cursor, sql, self.caller, self.history_days)
                if self.known
                else CallerFacts(None, CallerHistory())
            )
            cursor.execute(sql.insert_call, record)
            inserted = cursor.fetchone()
            if inserted is None:
                return self._existing(cursor, sql), facts
            call_id = int(inserted[0])
            event = {"call_id": call_id, "at": record["created_at"], "kind": "IvrStart"}
            cursor.execute(sql.insert_event, event | {"detail": "{}"})
        return call_id, facts

    def send(self, connection: Connection) -> tuple[Any, _Statements]:
        """One statement (PostgreSQL): history, record and its IvrStart event."""
        sql = _statements(connection.dialect.name)
        cursor = connection.connection.cursor()
        params = {"caller": self.caller, "since": _since(sql, self.history_days)}
        cursor.execute(sql.start_call, self.record(sql) | params)
        return cursor, sql

    def receive(self, sent: tuple[Any, _Statements]) -> tuple[int, CallerFacts]:
        cursor, sql = sent
        with closing(cursor):
            rows = cursor.fetchall()
            new = [row for row in rows if row[0] == "new"]
            facts = _facts(sql, rows if self.known else [])
            if not new:
                return self._existing(cursor, sql), facts
            return int(new[0][2]), facts

    def _existing(self, cursor: Any, sql: _Statements) -> int:
        """The same channel ran the AGI again: keep its one record."""
        cursor.execute(sql.call_by_uniqueid, {"uniqueid": self.uniqueid})
        (existing,) = cursor.fetchall()
        return int(existing[0])


@dataclass(frozen=True)
class _Update:
    """Columns of a call and the event that says so."""

    call_id: int
    kind: str
    values: dict[str, Any]
    detail: dict[str, Any] | None = None

    def _columns(self, sql: _Statements) -> dict[str, Any]:
        return {k: sql.value(v) for k, v in self.values.items()} | {"call_id_": self.call_id}

    def _event(self, sql: _Statements) -> dict[str, Any]:
        detail = self.detail if self.detail is not None else _jsonable(self.values)
        return {"at": sql.moment(utcnow()), "kind": self.kind, "detail": json.dumps(detail)}

    def run(self, connection: Connection) -> None:
        """Two statements (SQLite)."""
        sql = _statements(connection.dialect.name)
        with closing(connection.connection.cursor()) as cursor:
            cursor.execute(sql.update_call(tuple(self.values)), self._columns(sql))
            cursor.execute(sql.insert_event, {"call_id": self.call_id} | self._event(sql))

    def send(self, connection: Connection) -> Any:
        """One statement (PostgreSQL): the update with its event, whose parameters are
        named ``event_<name>_`` (no column of calls ends in an underscore)."""
        sql = _statements(connection.dialect.name)
        event = {f"event_{k}_": v for k, v in self._event(sql).items()}
        cursor = connection.connection.cursor()
        cursor.execute(sql.update_call(tuple(self.values)), self._columns(sql) | event)
        return cursor

    @staticmethod
    def receive(cursor: Any) -> None:
        cursor.close()


@dataclass(frozen=True)
class Tracked:
    """An AMI event kept on its call: the record's id and what the event changed."""

    call_id: int
    change: Change


@dataclass(frozen=True)
class _Track:
    """AMI events folded into their calls (``timeline.apply_event``) in order, as one step:
    one statement finds every call they concern, the fold runs here, and the changes go
    out together. A plain step, so it reads what the batch's IVR steps wrote before it
    (an IVR step's outcome is not overwritten)."""

    events: tuple[Message, ...]

    def run(self, connection: Connection) -> list[Tracked | None]:
        sql = _statements(connection.dialect.name)
        # (an id no call can have, empty or holding a NUL, is not looked up: PostgreSQL
        # would refuse the NUL and with it the whole group)
        uniqueids = sorted(i for i in {e.get("Uniqueid") for e in self.events} if _an_id(i))
        linkedids = sorted(i for i in {e.get("Linkedid") for e in self.events} if _an_id(i))
        if not uniqueids and not linkedids:
            return [None] * len(self.events)
        with closing(connection.connection.cursor()) as cursor:
            cursor.execute(sql.calls_for_events, sql.id_lists(uniqueids, linkedids))
            found = _CallsFound(cursor.fetchall())
        results: list[Tracked | None] = []
        for event in self.events:
            call = found.call(event.get("Uniqueid"), event.get("Linkedid"))
            change = apply_event(call[1], event) if call else None
            if call is None or change is None:
                results.append(None)
                continue
            found.views[call[0]] = advance(call[1], change)
            results.append(Tracked(call[0], change))
        _store_changes(connection, sql, [r for r in results if r is not None])
        return results


def _an_id(value: str) -> bool:
    return bool(value) and "\0" not in value


class _CallsFound:
    """The calls a group of events concerns. An event's call is the latest record that is
    its own channel's or shares its linkedid (``ORDER BY id DESC LIMIT 1`` over both)."""

    def __init__(self, rows: Sequence[Any]) -> None:
        self.views: dict[int, CallView] = {}
        self._by_uniqueid: dict[str, int] = {}
        self._by_linkedid: dict[str, int] = {}
        for call_id, uniqueid, linkedid, connected, queued, outcome in rows:
            self.views[call_id] = CallView(
                uniqueid, linkedid, bool(connected), bool(queued), outcome
            )
            self._by_uniqueid[uniqueid] = call_id
            self._by_linkedid[linkedid] = max(call_id, self._by_linkedid.get(linkedid, call_id))

    def call(self, uniqueid: str, linkedid: str) -> tuple[int, CallView] | None:
        ids = [i for i in (self._by_uniqueid.get(uniqueid), self._by_linkedid.get(linkedid)) if i]
        latest = max(ids, default=None)
        return None if latest is None else (latest, self.views[latest])


def _store_changes(connection: Connection, sql: _Statements, changes: list[Tracked]) -> None:
    """A call's changes in order are one UPDATE of their merged columns (the later value
    of a column wins, as one UPDATE after another would leave it); the timeline's rows keep
    the events' order. SQLite: ``executemany`` per statement (its loop runs in C). PostgreSQL:
    the whole group is one statement, each column set's update a CTE of the timeline's
    insert, their values as arrays sent in binary: 22 timeline rows cost 106-143 µs of CPU
    so, against 333 µs by ``executemany`` and about 400 µs as arrays in text (psycopg 3.3,
    measured), and every statement more is a round trip."""
    merged: dict[int, dict[str, Any]] = {}
    for tracked in changes:
        merged.setdefault(tracked.call_id, {}).update(tracked.change.updates)
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for call_id, values in merged.items():
        if values:
            row = {k: sql.value(v) for k, v in values.items()} | {"call_id_": call_id}
            updates[tuple(values)].append(row)
    events = [
        {
            "call_id": t.call_id,
            "at": sql.moment(t.change.at or utcnow()),
            "kind": t.change.kind,
            "detail": json.dumps(t.change.detail),
        }
        for t in changes
    ]
    with closing(connection.connection.cursor()) as cursor:
        if sql.dialect == "postgresql":
            if events:
                params = _as_arrays(events)
                for n, rows in enumerate(updates.values()):
                    params |= {f"u{n}_{k}": v for k, v in _as_arrays(rows).items()}
                cursor.execute(_store_group_sql(tuple(updates)), params)
            return
        for columns, rows in updates.items():
            cursor.executemany(sql.update_columns(columns), rows)
        if events:
            cursor.executemany(sql.insert_event, events)


def _as_arrays(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows of the same keys as one list per key (PostgreSQL arrays, to ``unnest``)."""
    return {key: [row[key] for row in rows] for key in rows[0]}


def _case_status(connection: Connection, number: str) -> CaseStatus | None:
    row = connection.execute(_CASE_STATUS, {"number": number}).first()
    if row is None:
        return None
    due = _aware(row.due_at) if row.due_at else None
    return CaseStatus(row.number, row.state, row.district_code, due)


_CASE_STATUS = select(Case.number, Case.state, Case.district_code, Case.due_at).where(
    Case.number == bindparam("number")
)


# The IVR's hot path talks to the driver's cursor with SQL written here once per dialect.
# Measured per call (start + finish, SQLite): 0.46-0.63 ms of CPU through SQLAlchemy Core,
# 0.42 ms through exec_driver_sql, 0.16 ms on the cursor (PostgreSQL: 1.3 ms and 0.53 ms):
# Core's execution context was most of the IVR's database time. Everything else, including
# the rare case-status lookup, stays on SQLAlchemy. The models are the schema's source; the
# tests hold these statements to them (tests/hotline/calls/test_records.py).
def _latest_sql(kind: str, table: str, phone: str, number: str, condition: str) -> str:
    return (
        f"SELECT * FROM (SELECT '{kind}' AS kind, district_code, {number} AS number,"
        f" created_at FROM {table} WHERE {phone} = :caller AND created_at >= :since"
        f" AND {condition} ORDER BY created_at DESC LIMIT 1) AS latest_{kind}"
    )


_CLOSED_SQL = ", ".join(f"'{state}'" for state in CLOSED_STATES)
# One statement for the three questions: the caller's open case, and the latest case and
# the latest call with a district (each a LIMIT 1 on an index of the caller's number).
_HISTORY_SQL = " UNION ALL ".join(
    (
        _latest_sql("open", "cases", "citizen_phone", "number", f"state NOT IN ({_CLOSED_SQL})"),
        _latest_sql("case", "cases", "citizen_phone", "number", "district_code IS NOT NULL"),
        _latest_sql("call", "calls", "caller_number", "NULL", "district_code IS NOT NULL"),
    )
)
_CALL_COLUMNS = frozenset(Call.__table__.columns.keys())
# Every column the model fills from a Python default is named here (the driver knows none).
_INSERT_CALL_SQL = (
    "INSERT INTO calls (uniqueid, linkedid, node, channel, caller_number, did, answered_at,"
    " priority, created_at) VALUES (:uniqueid, :linkedid, :node, :channel, :caller_number,"
    " :did, :answered_at, 0, :created_at) ON CONFLICT (uniqueid) DO NOTHING RETURNING id"
)
# The calls a group of AMI events concerns (by their own channel or their linkedid: agents'
# legs, transfers), with what ``timeline.CallView`` reads of them. The id lists are one
# parameter each: a JSON array on SQLite, an array on PostgreSQL.
_CALLS_SELECT = (
    "SELECT id, uniqueid, linkedid, connected_at IS NOT NULL, queue_joined_at IS NOT NULL,"
    " outcome FROM calls WHERE "
)
_CALLS_FOR_EVENTS_SQL = {
    "sqlite": _CALLS_SELECT + "uniqueid IN (SELECT value FROM json_each(:uniqueids))"
    " OR linkedid IN (SELECT value FROM json_each(:linkedids))",
    # arrays sent in binary (%(...)b): psycopg's text arrays cost several times the CPU
    "postgresql": _CALLS_SELECT + "uniqueid = ANY(%(uniqueids)b) OR linkedid = ANY(%(linkedids)b)",
}
_INSERT_EVENT_SQL = (
    "INSERT INTO call_events (call_id, at, kind, detail) VALUES (:call_id, :at, :kind, :detail)"
)


def _native(dialect: str, sql: str) -> str:
    """``:name`` (sqlite3's named style) → ``%(name)s`` (psycopg's)."""
    return sql if dialect == "sqlite" else re.sub(r":(\w+)", r"%(\1)s", sql)


def _check_columns(columns: tuple[str, ...]) -> None:
    unknown = set(columns) - _CALL_COLUMNS
    if unknown:
        raise ValueError(f"not columns of calls: {sorted(unknown)}")


@functools.cache
def _update_call_sql(dialect: str, columns: tuple[str, ...], with_event: bool = True) -> str:
    """``UPDATE calls SET <columns> WHERE id = :call_id_``, built once per column set; on
    PostgreSQL with its event (``:event_at_``, ``:event_kind_``, ``:event_detail_``) unless
    ``with_event`` is false."""
    _check_columns(columns)
    assignments = ", ".join(f"{column} = :{column}" for column in columns)
    update = f"UPDATE calls SET {assignments} WHERE id = :call_id_"
    if dialect == "sqlite" or not with_event:
        return _native(dialect, update)
    return _native(
        dialect,
        f"WITH updated AS ({update} RETURNING id) INSERT INTO call_events"
        " (call_id, at, kind, detail) SELECT id, :event_at_, :event_kind_, :event_detail_"
        " FROM updated",
    )


_POSTGRESQL: Any = postgresql.dialect()  # type: ignore[no-untyped-call]


def _pg_type(model: type[Call | CallEvent], column: str) -> str:
    """A column's type as PostgreSQL names it (the models are the schema's source)."""
    return str(model.__table__.columns[column].type.compile(dialect=_POSTGRESQL))


def _update_calls_from_arrays(columns: tuple[str, ...], prefix: str) -> str:
    """PostgreSQL: ``UPDATE calls`` of many calls' same columns, one array per column (and
    ``call_id_`` for the ids), the parameters named ``<prefix><column>``."""
    _check_columns(columns)
    arrays = ", ".join(f"%({prefix}{c})b::{_pg_type(Call, c)}[]" for c in columns)
    return (
        f"UPDATE calls SET {', '.join(f'{c} = v.{c}' for c in columns)}"
        f" FROM unnest(%({prefix}call_id_)b::integer[], {arrays})"
        f" AS v(call_id_, {', '.join(columns)}) WHERE calls.id = v.call_id_"
    )


@functools.cache
def _store_group_sql(column_sets: tuple[tuple[str, ...], ...]) -> str:
    """PostgreSQL: a tracker group's writes as one statement, built once per shape: the
    updates of each column set (parameters ``u<n>_...``; each call is in one set only) as
    CTEs, which PostgreSQL runs whether or not the insert reads them, then the timeline."""
    updates = [
        f"u{n} AS ({_update_calls_from_arrays(columns, f'u{n}_')})"
        for n, columns in enumerate(column_sets)
    ]
    return (f"WITH {', '.join(updates)} " if updates else "") + _INSERT_EVENTS_FROM_ARRAYS


# PostgreSQL: a group's timeline rows from one array per column, inserted in their order.
_EVENT_COLUMNS = ("call_id", "at", "kind", "detail")
_INSERT_EVENTS_FROM_ARRAYS = (
    f"INSERT INTO call_events ({', '.join(_EVENT_COLUMNS)})"
    f" SELECT {', '.join(_EVENT_COLUMNS)} FROM unnest("
    + ", ".join(f"%({c})b::{_pg_type(CallEvent, c)}[]" for c in _EVENT_COLUMNS)
    + f") WITH ORDINALITY AS e({', '.join(_EVENT_COLUMNS)}, n) ORDER BY n"
)

# PostgreSQL: the history, the new record and its IvrStart event in one statement. The
# record's id comes back as a row of kind 'new' (absent when the uniqueid was already
# there); the history's rows cannot see the new record (one snapshot), as before.
_START_CALL_SQL = (
    f"WITH new AS ({_INSERT_CALL_SQL}), event AS (INSERT INTO call_events"
    " (call_id, at, kind, detail) SELECT id, :created_at, 'IvrStart', '{}' FROM new)"
    " SELECT 'new' AS kind, NULL AS district_code, CAST(id AS TEXT) AS number,"
    f" NULL AS created_at FROM new UNION ALL {_HISTORY_SQL}"
)


@dataclass(frozen=True)
class _Statements:
    """The hot statements in one driver's parameter style, and its way with values."""

    dialect: str
    history: str
    insert_call: str
    call_by_uniqueid: str
    calls_for_events: str
    insert_event: str
    # PostgreSQL runs each IVR step as one statement, and a batch's statements in one
    # pipeline (SQLite's statements cost no round trip): the start, an update with its
    # event (``update_call`` there). None on SQLite.
    start_call: str | None

    def moment(self, value: dt.datetime) -> Any:
        """As SQLAlchemy stores it: SQLite keeps UTC as text, PostgreSQL a timestamptz.
        (Every time here is UTC; a naive one is taken as UTC, as ``_aware`` reads it.)"""
        if self.dialect != "sqlite":
            return value
        if value.tzinfo is not None and value.tzinfo is not dt.UTC:
            value = value.astimezone(dt.UTC)
        # "YYYY-MM-DD HH:MM:SS.ffffff" (the offset cut off): half strftime's cost, and a
        # burst formats about ten of these per call.
        return value.isoformat(" ", "microseconds")[:26]

    def read_moment(self, value: Any) -> dt.datetime:
        return _aware(dt.datetime.fromisoformat(value) if isinstance(value, str) else value)

    def value(self, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return self.moment(value)
        if isinstance(value, dict | list):
            return json.dumps(value)
        return value

    def id_lists(self, uniqueids: list[str], linkedids: list[str]) -> dict[str, Any]:
        if self.dialect == "sqlite":
            return {"uniqueids": json.dumps(uniqueids), "linkedids": json.dumps(linkedids)}
        return {"uniqueids": uniqueids, "linkedids": linkedids}

    def update_call(self, columns: tuple[str, ...]) -> str:
        return _update_call_sql(self.dialect, columns)

    def update_columns(self, columns: tuple[str, ...]) -> str:
        """The UPDATE alone, without an event, in either dialect."""
        return _update_call_sql(self.dialect, columns, with_event=False)


@functools.cache
def _statements(dialect: str) -> _Statements:
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"call records: no statements for the {dialect} dialect")
    return _Statements(
        dialect,
        history=_native(dialect, _HISTORY_SQL),
        insert_call=_native(dialect, _INSERT_CALL_SQL),
        call_by_uniqueid=_native(dialect, "SELECT id FROM calls WHERE uniqueid = :uniqueid"),
        calls_for_events=_native(dialect, _CALLS_FOR_EVENTS_SQL[dialect]),
        insert_event=_native(dialect, _INSERT_EVENT_SQL),
        start_call=None if dialect == "sqlite" else _native(dialect, _START_CALL_SQL),
    )


def _caller_facts(connection: Connection, caller: str, days: int) -> CallerFacts:
    sql = _statements(connection.dialect.name)
    with closing(connection.connection.cursor()) as cursor:
        return _read_facts(cursor, sql, caller, days)


def _since(sql: _Statements, days: int) -> Any:
    return sql.moment(utcnow() - dt.timedelta(days=days))


def _read_facts(cursor: Any, sql: _Statements, caller: str, days: int) -> CallerFacts:
    """The district of the caller's latest case or call within ``days``, and their open case."""
    cursor.execute(sql.history, {"caller": caller, "since": _since(sql, days)})
    return _facts(sql, cursor.fetchall())


def _facts(sql: _Statements, found: Sequence[Any]) -> CallerFacts:
    # (kind, district_code, number, created_at) per kind found
    rows = {row[0]: row for row in found}
    open_case = rows.get("open")
    dated = [rows[k] for k in ("case", "call") if k in rows]
    latest = max(dated, key=lambda r: sql.read_moment(r[3]))[1] if dated else None
    history = CallerHistory(open_case[1], open_case[2]) if open_case else CallerHistory()
    return CallerFacts(latest, history)


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in values.items()}


def _open_calls(connection: Connection, before: dt.datetime, limit: int) -> list[OpenCall]:
    rows = connection.execute(
        select(Call.id, Call.uniqueid, Call.queue_joined_at, Call.connected_at, Call.node)
        .where(Call.ended_at.is_(None), Call.created_at < before)
        .order_by(Call.id)
        .limit(limit)
    ).all()
    return [
        OpenCall(
            row.id,
            row.uniqueid,
            row.queue_joined_at is not None,
            row.connected_at is not None,
            row.node or "",
        )
        for row in rows
    ]
