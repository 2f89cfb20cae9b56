"""A comparable picture of every table, to prove that an operation changed nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from hotline.models import Base


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = connection.execute(select(table)).all()
            tables[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return tables
