"""Writing a new case with the history rows and outbox events of its first steps: the
registration hot path, in as few round trips as each database allows.

* PostgreSQL: one statement. The ``INSERT … ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING`` of the case sits in a CTE, and the history and outbox inserts read the new id
  from it, so a key that is already taken writes nothing at all.
* SQLite (no data-modifying CTEs): the same ``INSERT … RETURNING``, then one multi-row
  insert each for the history and the events.

The statements are built once per column set: building a SQLAlchemy construct per case
cost more than the round trip it saved. Rows are plain dicts from :func:`change_rows`
without ``case_id``; this module fills it in.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from sqlalchemy import TextClause, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hotline.models import Case, CaseHistory, OutboxEvent

Step = tuple[dict[str, Any], dict[str, Any]]  # a history row, an outbox event


def insert_case(session: Session, values: dict[str, Any], steps: list[Step]) -> Case | None:
    """Insert the case and its steps; ``None`` (and nothing written) when a case with the
    same idempotency key exists, committed by a concurrent registration."""
    if session.get_bind().dialect.name == "postgresql":
        return _insert_postgresql(session, values, steps)
    case: Case | None = session.scalars(_INSERT_CASE["sqlite"], [values]).first()
    if case is None:
        return None
    connection = session.connection()
    connection.execute(_INSERT_HISTORY, [{**history, "case_id": case.id} for history, _ in steps])
    connection.execute(_INSERT_EVENT, [{**event, "case_id": case.id} for _, event in steps])
    return case


_INSERT_HISTORY = insert(CaseHistory)
_INSERT_EVENT = insert(OutboxEvent)
_INSERT_CASE = {
    name: dialect.insert(Case)
    .on_conflict_do_nothing(index_elements=[Case.idempotency_key])
    .returning(Case)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _insert_postgresql(session: Session, values: dict[str, Any], steps: list[Step]) -> Case | None:
    rows = [
        {
            "at": history["at"].isoformat(),
            "actor": history["actor"],
            "action": history["action"],
            "from_state": history["from_state"],
            "to_state": history["to_state"],
            "note": history["note"],
            "data": history["data"],
            "payload": event["payload"],
        }
        for history, event in steps
    ]
    statement = select(Case).from_statement(_postgresql_statement(tuple(values)))
    params = {**values, "steps": json.dumps(rows, ensure_ascii=False)}
    return session.scalars(statement, params).first()


@functools.cache
def _postgresql_statement(columns: tuple[str, ...]) -> Any:
    """One statement writing the case, its history and its events (``:steps`` is a JSON
    array of steps in order; ``WITH ORDINALITY`` keeps that order in the ids)."""
    names = ", ".join(columns)
    # Named in the model's order: the ORM reads the result by position, and the table's
    # own column order depends on the migrations that built it.
    returned = ", ".join(c.name for c in Case.__table__.columns)
    params = ", ".join(f":{c}" for c in columns)
    fields = (
        "at timestamptz, actor text, action text, from_state text, to_state text, note text, "
        "data json, payload json"
    )
    steps = (
        f"ROWS FROM (json_to_recordset(CAST(:steps AS json)) AS ({fields})) WITH ORDINALITY "
        "AS s(at, actor, action, from_state, to_state, note, data, payload, n)"
    )
    sql: TextClause = text(
        f"WITH new_case AS (INSERT INTO {Case.__tablename__} ({names}) VALUES ({params}) "
        f"ON CONFLICT (idempotency_key) DO NOTHING RETURNING {returned}), "
        f"history AS (INSERT INTO {CaseHistory.__tablename__} "
        "(case_id, at, actor, action, from_state, to_state, note, data) "
        "SELECT new_case.id, s.at, s.actor, s.action, s.from_state, s.to_state, s.note, s.data "
        f"FROM new_case, {steps} ORDER BY s.n), "
        f"events AS (INSERT INTO {OutboxEvent.__tablename__} "
        "(case_id, kind, payload, created_at, send_state, send_fail_count, last_error) "
        "SELECT new_case.id, s.action, s.payload, s.at, 'unprocessed', 0, '' "
        f"FROM new_case, {steps} ORDER BY s.n) "
        "SELECT * FROM new_case"
    )
    return sql.columns(*Case.__table__.columns)
