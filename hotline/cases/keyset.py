"""Keyset pages over a moment and a unique id (``ORDER BY at, id``): a cursor names the row a
page starts after or ends before, so a late page costs what the first costs (no ``OFFSET``)
and rows written meanwhile neither repeat nor vanish between pages.

A query to page labels its sort columns ``key_at`` and ``key_id``; the moment's own range
condition is repeated beside the row comparison so that an index on the moment is read from
the cursor on, not from the range's start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, DateTime, Row, Select, SQLColumnExpression, literal, tuple_
from sqlalchemy.orm import Session

T = TypeVar("T")
U = TypeVar("U")
Query = Select[*tuple[Any, ...]]  # a query of any columns
PAGE = 50  # rows on a page
BATCH = 1000  # rows read at once by the exports


class BadCursor(ValueError):
    """The text is not a cursor a page gave."""


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next: str | None  # the cursor of the page after, None on the last
    previous: str | None  # the cursor of the page before, None on the first

    def map(self, change: Callable[[T], U]) -> Page[U]:
        return Page([change(row) for row in self.rows], self.next, self.previous)


def encode(moment: dt.datetime, row_id: int) -> str:
    return f"{_utc(moment).strftime('%Y%m%dT%H%M%S.%f')}~{row_id}"


def decode(text: str) -> tuple[dt.datetime, int]:
    try:
        stamp, _, row_id = text.partition("~")
        moment = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f").replace(tzinfo=dt.UTC)
        return moment, int(row_id)
    except ValueError:
        raise BadCursor(f"not a page cursor: {text[:40]!r}") from None


def read(
    session: Session,
    query: Query,
    at: SQLColumnExpression[dt.datetime],
    row_id: SQLColumnExpression[int],
    *,
    after: str | None = None,
    before: str | None = None,
    size: int = PAGE,
) -> Page[Row[Any]]:
    """The page of ``query`` after the row ``after`` names, or before the row ``before``
    names, or the first page. A page before that would come out short is the first page."""
    if before is not None:
        moment, ident = decode(before)
        earlier = query.where(at <= _bound(moment), tuple_(at, row_id) < _key(moment, ident))
        rows = list(session.execute(earlier.order_by(at.desc(), row_id.desc()).limit(size + 1)))
        if len(rows) > size:
            rows = rows[:size][::-1]
            return Page(rows, _cursor(rows[-1]), _cursor(rows[0]))
        after = None  # back at the start: the first page, full
    if after is not None:
        moment, ident = decode(after)
        query = query.where(at >= _bound(moment), tuple_(at, row_id) > _key(moment, ident))
    rows = list(session.execute(query.order_by(at, row_id).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return Page(
        rows,
        _cursor(rows[-1]) if more else None,
        _cursor(rows[0]) if after is not None and rows else None,
    )


def every(
    session: Session,
    query: Query,
    at: SQLColumnExpression[dt.datetime],
    row_id: SQLColumnExpression[int],
    size: int = BATCH,
) -> Iterator[Row[Any]]:
    """Every row of ``query`` in key order, read a page at a time (for the exports)."""
    after: str | None = None
    while True:
        page = read(session, query, at, row_id, after=after, size=size)
        yield from page.rows
        if page.next is None:
            return
        after = page.next


def _cursor(row: Row[Any]) -> str:
    return encode(row.key_at, row.key_id)


def _bound(moment: dt.datetime) -> ColumnElement[dt.datetime]:
    return literal(moment, DateTime(timezone=True))


def _key(moment: dt.datetime, ident: int) -> Any:
    return tuple_(_bound(moment), literal(ident))


def _utc(moment: dt.datetime) -> dt.datetime:
    """UTC, which is what the database holds (SQLite gives it back without a zone)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
