"""A city-sized demo history, written in bulk: the history the services wrote
(:mod:`hotline.demo_history`) copied whole, inside the database, until it has a city's volume.

Writing a million cases through the services takes hours (each step is a page's
transaction); copying takes minutes. A copy of a case is the same life at the same moments,
with its own id, number and idempotency key: its history rows, outbox events,
notifications, joint jobs, its call and the call's events are the originals' rows with the
references moved to the copy (a duplicate points to the copy of its original, a text that
names the case names the copy, a callback step names the copy of its call).
``tests/hotline/test_demo_bulk.py`` checks a sample of the copies against the rows the
services wrote. So the figures of the copied history are the services' figures times the
number of copies, and a benchmark on it reads what the services would have written.

Calls that produced no case (nor a callback request, nor were a callback) are copied more
often than the cases when a ratio of calls to cases is asked for (a city hotline answers
more calls than it registers cases).
Each copy is one transaction of ``INSERT … SELECT`` statements, on PostgreSQL and SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import cast as typed

from sqlalchemy import (
    ColumnElement,
    Engine,
    Integer,
    String,
    Table,
    and_,
    cast,
    func,
    literal,
    not_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import FromClause

from hotline.cases import kept_figures
from hotline.db import transaction
from hotline.demo_history import KEY_PREFIX, demo_cases
from hotline.models import (
    Attachment,
    Call,
    CallEvent,
    Case,
    CaseAssist,
    CaseCounter,
    CaseHistory,
    Notification,
    OutboxEvent,
)
from hotline.models import (
    Base as Model,
)

COPY_MARK = "#"  # a copy's idempotency key and call id end in #<copy>


def _table(model: type[Model]) -> Table:
    return typed(Table, model.__table__)


class BulkError(Exception):
    """The history cannot be copied (none written yet, or copied already)."""


@dataclass(frozen=True)
class Originals:
    """The rows the services wrote for one seed: the cases and calls a copy starts from."""

    seed: int
    case_ids: tuple[int, int]  # lowest and highest id
    call_ids: tuple[int, int]
    cases: int
    calls: int
    calls_without_case: int
    width: int  # the highest daily sequence of the base's days: copy k adds k × width


@dataclass
class BulkSummary:
    copies: int = 0
    cases: int = 0
    calls: int = 0


def _base_cases(seed: int, call_ids: tuple[int, int]) -> ColumnElement[bool]:
    """The seed's cases the services wrote (the callback requests among them found by their
    calls, in the base's range of call ids)."""
    return and_(demo_cases(seed, call_ids), not_(Case.idempotency_key.contains(COPY_MARK)))


def _base_calls(seed: int) -> ColumnElement[bool]:
    return and_(Call.uniqueid.like(f"demo-{seed}-%"), not_(Call.uniqueid.contains(COPY_MARK)))


def _without_case(with_case: Any) -> ColumnElement[bool]:
    """Calls that made no case: none registered from it or asked for a callback on it, nor
    a callback placed from a case (linked by the case's history)."""
    return and_(Call.id.not_in(with_case), Call.route_target.is_distinct_from(CALLBACK))


CALLBACK = "callback"  # a callback's route (hotline.cases.case_calls) and history step


def find_base(session: Session, seed: int) -> Originals:
    """The seed's service-written history, refused when there is none or it was copied."""
    call_low, call_high, calls = session.execute(
        select(func.min(Call.id), func.max(Call.id), func.count()).where(_base_calls(seed))
    ).one()
    call_ids = (call_low or 0, call_high or 0)
    low, high, count = session.execute(
        select(func.min(Case.id), func.max(Case.id), func.count()).where(
            _base_cases(seed, call_ids)
        )
    ).one()
    if not count:
        raise BulkError(f"no demo history of seed {seed} to copy: write it first")
    copied = session.scalar(
        select(Case.id).where(Case.idempotency_key.like(f"{KEY_PREFIX}{seed}:%{COPY_MARK}%"))
    )
    if copied is not None:
        raise BulkError(f"the history of seed {seed} has been copied already")
    base = _base_cases(seed, call_ids)
    with_case = select(Case.call_id).where(base, Case.call_id.is_not(None))
    without = session.scalar(
        select(func.count()).where(_base_calls(seed), _without_case(with_case))
    )
    days = select(func.substr(Case.number, 1, 6)).where(base).distinct()
    width = session.scalar(select(func.max(CaseCounter.last)).where(CaseCounter.day.in_(days)))
    return Originals(
        seed,
        (low, high),
        call_ids,
        count,
        calls,
        without or 0,
        max(int(width or 0), 1),
    )


def multiply_history(
    engine: Engine,
    seed: int,
    cases: int,
    calls_per_case: float | None = None,
    progress: Callable[[BulkSummary], None] | None = None,
) -> BulkSummary:
    """Copy the seed's history until there are at least ``cases`` cases of it; with
    ``calls_per_case``, copy the calls that made no case often enough for that ratio."""
    with transaction(engine) as session:
        base = find_base(session, seed)
    copies = max(0, -(-cases // base.cases) - 1)
    extra = 0.0
    if calls_per_case is not None and base.calls_without_case:
        wanted = calls_per_case * base.cases * (copies + 1)
        extra = max(0.0, wanted - base.calls * (copies + 1)) / base.calls_without_case
    summary = BulkSummary(cases=base.cases, calls=base.calls)
    owed = 0.0
    for k in range(1, copies + 1):
        owed += extra / copies
        call_copies, owed = int(owed), owed - int(owed)
        with transaction(engine) as session:
            summary.calls += _copy(session, base, k, call_copies)
        summary.copies, summary.cases = k, base.cases * (k + 1)
        if progress:
            progress(summary)
    with transaction(engine) as session:
        _after(session, base, copies)
    if engine.dialect.name == "postgresql" and copies:
        # The visibility map of the copied rows, as autovacuum would set it later: until
        # then an index-only scan (the open cases of the city's overview) reads the heap.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE) cases"))
    return summary


def _shift(session: Session, table: Table, low: int) -> int:
    """What to add to an id from ``low`` on so that it comes after every row of ``table``."""
    top = session.scalar(select(func.max(table.c.id))) or 0
    return top + 1 - low


def _number(session: Session, number: ColumnElement[str], add: int) -> ColumnElement[str]:
    """``YYMMDD`` + (the daily sequence + ``add``), at least four digits, in SQL."""
    sequence = cast(func.substr(number, 7), Integer) + add
    if session.get_bind().dialect.name == "postgresql":
        digits = cast(sequence, String)  # lpad cuts a longer text: never shorter than it is
        padded = func.lpad(digits, func.greatest(4, func.length(digits)), "0")
    else:
        padded = func.printf("%04d", sequence)
    return func.substr(number, 1, 6).concat(padded)


def _insert(
    session: Session,
    table: Table,
    source: FromClause,
    where: ColumnElement[bool],
    **columns: ColumnElement[Any],
) -> None:
    """``INSERT INTO table SELECT … FROM source WHERE …``: a copy of the table's rows, the
    columns named here replaced."""
    chosen = [columns.get(c.name, c).label(c.name) for c in table.columns]
    query = select(*chosen).select_from(source).where(where)
    session.execute(table.insert().from_select([c.name for c in table.columns], query))


def _copy_calls(
    session: Session, base: Originals, where: ColumnElement[bool], mark: str
) -> tuple[int, int]:
    """Copy the base calls matching ``where`` with their events; the shift of their ids."""
    calls, events = _table(Call), _table(CallEvent)
    low, high = base.call_ids
    shift = _shift(session, calls, low)
    in_base = and_(calls.c.id.between(low, high), _base_calls(base.seed), where)
    _insert(
        session,
        calls,
        calls,
        in_base,
        id=calls.c.id + shift,
        uniqueid=calls.c.uniqueid.concat(mark),
        linkedid=calls.c.linkedid.concat(mark),
    )
    event_shift = _shift(session, events, 0)
    _insert(
        session,
        events,
        events.join(calls, calls.c.id == events.c.call_id),
        and_(in_base, events.c.call_id.between(low, high)),  # the range: an index scan
        id=events.c.id + event_shift,
        call_id=events.c.call_id + shift,
    )
    return shift, int(session.scalar(select(func.count()).where(in_base)) or 0)


def _copy(session: Session, base: Originals, k: int, call_copies: int) -> int:
    """One copy of every base case (with its call) and ``call_copies`` more copies of the
    calls that made no case. Returns the calls written."""
    mark = f"{COPY_MARK}{k}"
    cases, history = _table(Case), _table(CaseHistory)
    own = _base_cases(base.seed, base.call_ids)
    with_case = select(Case.call_id).where(
        Case.id.between(*base.case_ids), own, Case.call_id.is_not(None)
    )
    call_shift, written = _copy_calls(session, base, literal(True), mark)
    for j in range(call_copies):
        _, more = _copy_calls(session, base, _without_case(with_case), f"{mark}.{j + 1}")
        written += more
    low, high = base.case_ids
    shift = _shift(session, cases, low)
    add = k * base.width
    in_base = and_(cases.c.id.between(low, high), own)
    _insert(
        session,
        cases,
        cases,
        in_base,
        id=cases.c.id + shift,
        number=_number(session, cases.c.number, add),
        idempotency_key=cases.c.idempotency_key.concat(mark),
        call_id=cases.c.call_id + call_shift,
        duplicate_of=cases.c.duplicate_of + shift,
    )
    new_number = _number(session, cases.c.number, add)
    joined_base = and_(cases.c.id.between(low, high), own)
    history_shift = _shift(session, history, 0)
    naming = history.c.action.in_(("mark_duplicate", CALLBACK))
    _insert(
        session,
        history,
        history.join(cases, cases.c.id == history.c.case_id),
        and_(joined_base, history.c.case_id.between(low, high), not_(naming)),
        id=history.c.id + history_shift,
        case_id=history.c.case_id + shift,
    )
    # A duplicate's mark names its original by number: the copy names the original's copy.
    # A callback step names its call by id: the copy names the call's copy.
    marks = session.execute(
        select(history)
        .join(cases, cases.c.id == history.c.case_id)
        .where(joined_base, history.c.case_id.between(low, high), naming)
    ).all()
    if marks:
        originals = [str(m.data.get("duplicate_of")) for m in marks if m.action != CALLBACK]
        numbers: dict[str, str] = dict(
            session.execute(
                select(cases.c.number, new_number).where(cases.c.number.in_(originals))
            ).all()
        )

        def moved(m: Any) -> dict[str, Any]:
            if m.action == CALLBACK:
                return {**m.data, "call": int(m.data["call"]) + call_shift}
            return {**m.data, "duplicate_of": numbers.get(str(m.data.get("duplicate_of")), "")}

        session.execute(
            history.insert(),
            [
                {
                    **m._asdict(),
                    "id": m.id + history_shift,
                    "case_id": m.case_id + shift,
                    "data": moved(m),
                }
                for m in marks
            ],
        )
    outbox, notes = _table(OutboxEvent), _table(Notification)
    named = '"case": "'
    renamed = func.replace(
        cast(outbox.c.payload, String),
        literal(named).concat(cases.c.number),
        literal(named).concat(new_number),
    )
    changed: dict[Table, dict[str, ColumnElement[Any]]] = {
        outbox: {"payload": _as_json(session, renamed, outbox)},
        notes: {"text": func.replace(notes.c.text, cases.c.number, new_number)},
        _table(CaseAssist): {},
    }
    for table, columns in changed.items():  # the rows that belong to a case
        _insert(
            session,
            table,
            table.join(cases, cases.c.id == table.c.case_id),
            and_(joined_base, table.c.case_id.between(low, high)),
            id=table.c.id + _shift(session, table, 0),
            case_id=table.c.case_id + shift,
            **columns,
        )
    files = session.scalar(
        select(func.count()).select_from(Attachment).where(Attachment.case_id.between(low, high))
    )
    if files:  # the generator writes none; a copy would share the original's file
        raise BulkError("the history has attachments: copying them is not supported")
    return written


def _as_json(session: Session, value: ColumnElement[str], table: Table) -> ColumnElement[Any]:
    """Text back into the JSON column (SQLite keeps JSON as text: no cast there)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(value, table.c.payload.type)
    return type_coerce(value, table.c.payload.type)


def _after(session: Session, base: Originals, copies: int) -> None:
    """Daily counters past every copy's numbers; PostgreSQL's id sequences past every id;
    no figures kept of the periods the copies were written into."""
    kept_figures.forget(session)
    days = (
        select(func.substr(Case.number, 1, 6))
        .where(_base_cases(base.seed, base.call_ids))
        .distinct()
    )
    session.execute(
        _table(CaseCounter)
        .update()
        .where(CaseCounter.day.in_(days))
        .values(last=func.max(CaseCounter.last, base.width * (copies + 1)))
        if session.get_bind().dialect.name == "sqlite"
        else _table(CaseCounter)
        .update()
        .where(CaseCounter.day.in_(days))
        .values(last=func.greatest(CaseCounter.last, base.width * (copies + 1)))
    )
    # The planner's statistics of tables that grew a hundredfold (autovacuum comes later).
    session.execute(text("ANALYZE"))
    if session.get_bind().dialect.name == "postgresql":
        for table in (Call, CallEvent, Case, CaseHistory, OutboxEvent, Notification, CaseAssist):
            name = table.__tablename__
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {name}))"
                )
            )
