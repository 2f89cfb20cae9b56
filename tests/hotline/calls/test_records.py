"""The IVR's call records on a real database: one record per channel, the caller's history
in one statement, and several calls' steps sharing a transaction."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select, text

from hotline.callers import CallerFacts
from hotline.calls import batch as batch_module
from hotline.calls.batch import BatchedWork
from hotline.calls.records import CallRecords
from hotline.cases.service import Actor, NewCase, create_case
from hotline.db import transaction
from hotline.models import Call, CallEvent
from routing.model import CallerHistory


def test_start_finish_and_repeat(loaded_engine: Engine) -> None:
    records = CallRecords(loaded_engine)

    async def main() -> tuple[int, int]:
        first, facts = await records.start_call("u-1", "u-1", "13800000001", "65120001", 90)
        again, _ = await records.start_call("u-1", "u-1", "13800000001", "65120001", 90)
        assert facts.recent_district is None and facts.history.open_case_number is None
        await records.finish_ivr(first, {"district_code": "110101", "queue": "hotline-110101"})
        return first, again

    first, again = asyncio.run(main())
    records.close()
    assert first == again  # the same channel running the AGI twice keeps one record
    with transaction(loaded_engine) as session:
        call = session.get(Call, first)
        assert call is not None and (call.district_code, call.queue) == ("110101", "hotline-110101")
        kinds = session.scalars(
            select(CallEvent.kind).where(CallEvent.call_id == first).order_by(CallEvent.id)
        ).all()
    assert kinds == ["IvrStart", "IvrEnd"]


def test_caller_history(loaded_engine: Engine) -> None:
    caller = "13800000002"
    with transaction(loaded_engine) as session:
        case, _ = create_case(
            session,
            Actor("a", "agent", "110000"),
            NewCase(
                source="phone",
                kind="event",
                class_code="0102",
                district_code="110102",
                citizen_phone=caller,
            ),
            None,
        )
        number = case.number
        session.add(
            Call(
                uniqueid="old",
                linkedid="old",
                caller_number=caller,
                district_code="110101",
                created_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1),
            )
        )
    records = CallRecords(loaded_engine)

    async def main() -> list[CallerFacts]:
        read = await records.caller_facts(caller, 90)
        # The call's start reads the same history (on PostgreSQL in the insert's statement).
        _, started = await records.start_call("u-h", "u-h", caller, "65120001", 90)
        _, anonymous = await records.start_call("u-a", "u-a", "anonymous", "65120001", 90)
        assert anonymous == CallerFacts(None, CallerHistory())
        return [read, started]

    for facts in asyncio.run(main()):
        # The latest of case and call gives the district; the open case is the case.
        assert facts.recent_district == "110101"
        assert (facts.history.open_case_district, facts.history.open_case_number) == (
            "110102",
            number,
        )
    records.close()


def _held(work: BatchedWork) -> tuple[threading.Event, asyncio.Future[object]]:
    """Occupy the one worker until the event is set, so that the next steps queue up."""
    gate = threading.Event()
    return gate, asyncio.ensure_future(work.run(lambda connection: gate.wait(5)))


def _select(n: int) -> Callable[[Connection], object]:
    return lambda connection: connection.execute(text("SELECT :n"), {"n": n}).scalar_one()


def test_waiting_steps_share_one_transaction(loaded_engine: Engine) -> None:
    commits: list[int] = []
    event.listen(loaded_engine, "commit", lambda _conn: commits.append(1))
    work = BatchedWork(loaded_engine, threads=1)

    async def main() -> list[object]:
        gate, held = _held(work)
        await asyncio.sleep(0.1)
        waiting = [asyncio.ensure_future(work.run(_select(n))) for n in range(20)]
        await asyncio.sleep(0.1)
        gate.set()
        await held
        return await asyncio.gather(*waiting)

    assert asyncio.run(main()) == list(range(20))  # each caller got its own answer
    work.close()
    assert len(commits) == 2  # the held step, then the 20 that waited, together


def test_a_bad_step_fails_alone(loaded_engine: Engine) -> None:
    commits: list[int] = []
    event.listen(loaded_engine, "commit", lambda _conn: commits.append(1))
    work = BatchedWork(loaded_engine, threads=1)

    def bad(connection: Connection) -> None:
        connection.execute(text("SELECT * FROM no_such_table"))

    async def main() -> list[object]:
        gate, held = _held(work)
        await asyncio.sleep(0.1)
        before = [asyncio.ensure_future(work.run(_select(n))) for n in range(3)]
        failing = asyncio.ensure_future(work.run(bad))
        after = [asyncio.ensure_future(work.run(_select(n))) for n in range(3, 6)]
        await asyncio.sleep(0.1)
        gate.set()
        await held
        results = await asyncio.gather(*before, *after)
        with pytest.raises(Exception, match="no_such_table"):
            await failing
        return results

    assert asyncio.run(main()) == list(range(6))
    work.close()
    assert len(commits) == 1 + 6  # the batch of 7 failed; its 6 good steps ran one by one


def test_many_calls_steps_in_one_batch(
    loaded_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten calls start and finish while the worker is busy: their steps run as batches (on
    PostgreSQL each batch in one pipeline), each call gets its own record and history, and
    a step that fails (it breaks the unique uniqueid) fails alone."""
    caller = "13800000005"
    with transaction(loaded_engine) as session:
        session.add(
            Call(uniqueid="u-old", linkedid="u-old", caller_number=caller, district_code="110102")
        )
    records = CallRecords(loaded_engine)
    work = records._work
    pipelined: list[int] = []  # steps per pipeline entered
    real_pipeline = batch_module._pipeline

    def counting(connection: Connection, steps: int) -> contextlib.AbstractContextManager[Any]:
        context = real_pipeline(connection, steps)
        if not isinstance(context, contextlib.nullcontext):
            pipelined.append(steps)
        return context

    monkeypatch.setattr(batch_module, "_pipeline", counting)

    async def main() -> list[int]:
        gate, held = _held(work)
        await asyncio.sleep(0.1)
        starts = [
            asyncio.ensure_future(records.start_call(f"u-b{n}", "", caller, "65120001", 90))
            for n in range(10)
        ]
        again = asyncio.ensure_future(records.start_call("u-b3", "", caller, "65120001", 90))
        await asyncio.sleep(0.1)
        gate.set()
        await held
        started = await asyncio.gather(*starts)
        assert (await again)[0] == started[3][0]  # a repeated uniqueid keeps its record
        assert all(facts.recent_district == "110102" for _, facts in started)
        ids = [call_id for call_id, _ in started]
        gate, held = _held(work)
        await asyncio.sleep(0.1)
        values = [{"priority": n, "intent": "report"} for n in range(10)]
        values[4]["uniqueid"] = "u-old"
        finishes = [
            asyncio.ensure_future(records.finish_ivr(call_id, v))
            for call_id, v in zip(ids, values, strict=True)
        ]
        await asyncio.sleep(0.1)
        gate.set()
        await held
        outcomes = await asyncio.gather(*finishes, return_exceptions=True)
        assert [isinstance(o, Exception) for o in outcomes] == [n == 4 for n in range(10)]
        return ids

    ids = asyncio.run(main())
    records.close()
    assert len(set(ids)) == 10
    with transaction(loaded_engine) as session:
        calls = {call.id: call for call in session.scalars(select(Call).where(Call.id.in_(ids)))}
        kinds = session.scalars(
            select(CallEvent.kind).where(CallEvent.call_id.in_(ids)).order_by(CallEvent.id)
        ).all()
    assert [calls[i].priority for i in ids] == [0, 1, 2, 3, 0, 5, 6, 7, 8, 9]
    assert [calls[i].intent for i in ids] == ["report"] * 4 + [None] + ["report"] * 5
    assert sorted(kinds) == ["IvrEnd"] * 9 + ["IvrStart"] * 10
    # PostgreSQL sent each held batch in one pipeline (the 11 starts, the 10 finishes);
    # SQLite, in this process, never uses one.
    expected = [] if loaded_engine.dialect.name == "sqlite" else [11, 10]
    assert pipelined == expected


def test_driver_statements_match_the_models(loaded_engine: Engine) -> None:
    """The hot path writes through the driver with its own SQL: what it writes reads back
    through the models with the same types, and every column the model would default is
    filled (the driver knows no Python defaults)."""
    from hotline.calls import records as module

    for column in Call.__table__.columns:
        if column.default is not None and not column.primary_key:
            assert column.name in module._INSERT_CALL_SQL, column.name
    for column in CallEvent.__table__.columns:
        assert column.primary_key or f":{column.name}" in module._INSERT_EVENT_SQL, column.name
    # PostgreSQL's one-statement steps insert the event with the same columns.
    event_columns = [c.name for c in CallEvent.__table__.columns if not c.primary_key]
    insert_event = f"INSERT INTO call_events ({', '.join(event_columns)})"
    assert insert_event in module._START_CALL_SQL
    assert insert_event in module._update_call_sql("postgresql", ("priority",))
    records = CallRecords(loaded_engine)
    ended = dt.datetime(2026, 11, 30, 8, 15, 1, 123456, tzinfo=dt.UTC)
    result = {"intent": "report", "path": ["greeting", "区"], "district": "110101"}

    async def main() -> int:
        call_id, _ = await records.start_call("u-types", "", "13800000003", "65120001", 90, "n1")
        values = {
            "ivr_ended_at": ended,
            "ivr_result": result,
            "priority": 5,
            "district_code": "110101",
        }
        await records.finish_ivr(call_id, values)
        with pytest.raises(ValueError, match="not columns of calls"):
            await records.finish_ivr(call_id, {"id = 1; --": 1})
        return call_id

    call_id = asyncio.run(main())
    records.close()
    with transaction(loaded_engine) as session:
        call = session.get(Call, call_id)
        assert call is not None
        assert (call.linkedid, call.node, call.channel, call.did) == (
            "u-types",
            "n1",
            "",
            "65120001",
        )
        assert call.ivr_result == result and call.priority == 5
        assert call.ivr_ended_at is not None
        assert call.ivr_ended_at.replace(tzinfo=dt.UTC) == ended  # SQLite hands back naive UTC
        assert call.created_at is not None and call.answered_at == call.created_at
        events = session.scalars(
            select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id)
        ).all()
    assert [e.detail for e in events] == [
        {},
        {
            "ivr_ended_at": ended.isoformat(),
            "ivr_result": result,
            "priority": 5,
            "district_code": "110101",
        },
    ]
    # The next call from the same number finds it (times written by the driver compare
    # with the driver's "since").
    again = CallRecords(loaded_engine)
    facts = asyncio.run(again.caller_facts("13800000003", 90))
    again.close()
    assert facts.recent_district == "110101"


def test_sqlite_moments_are_stored_as_sqlalchemy_stores_them() -> None:
    """The driver-level writes format times themselves; SQLAlchemy's SQLite DATETIME reads
    them back, so the text must be the one it writes (UTC, microseconds always)."""
    from sqlalchemy.dialects import sqlite

    from hotline.calls import records as module

    as_sqlalchemy = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert as_sqlalchemy is not None
    moment = module._statements("sqlite").moment
    utc = dt.datetime(2026, 11, 30, 8, 15, 1, tzinfo=dt.UTC)  # no microseconds
    beijing = dt.timezone(dt.timedelta(hours=8))
    for value in (utc, utc.replace(microsecond=123456), utc.replace(tzinfo=None)):
        assert moment(value) == as_sqlalchemy(value.replace(tzinfo=None)), value
    assert moment(utc.astimezone(beijing)) == "2026-11-30 08:15:01.000000"
    assert module._statements("postgresql").moment(utc) is utc
