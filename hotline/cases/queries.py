"""The platforms' case list (工作台): views, filters, search, sort and pages of the cases an
actor may see. One query builder for the workspace page, its exports and the REST API's
``GET /api/v1/cases``; docs/workspace.md defines the views.

* Scope is :func:`hotline.cases.service.may_see` expressed in SQL (:func:`scope_clause`):
  platform staff see their district's cases (the city's staff every case), agents and
  inspectors what they registered, a unit its jobs. An agent's one view is ``mine``.
* The search looks for a case number from its beginning and, for platform staff only, the
  caller's number (a term of digits), or else for the words in the address and the
  description. On PostgreSQL the two-character pieces of the text are indexed
  (``hotline_search_grams``, migration 0014) and narrow the rows before the substring test.
* Pages are keyset pages: the cursor holds the last row's sort key and id, so a late page
  costs what the first costs, and rows written meanwhile neither repeat nor vanish between
  pages (OFFSET does both).
* Counts per view stop at :data:`COUNT_CAP`: a tab says "9999+" rather than count a
  million cases on every page load.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, literal, or_, select
from sqlalchemy import tuple_ as row
from sqlalchemy.orm import Session

from hotline.cases.lifecycle import ACTIVE_JOBS, FINAL_STATES
from hotline.cases.service import Actor, CaseError
from hotline.models import (
    CASE_SOURCES,
    CASE_STATES,
    CATALOGUE_KINDS,
    URGENCIES,
    Case,
    CaseAssist,
    CaseHistory,
    utcnow,
)
from hotline.roles import PLATFORM_STAFF

VIEWS = (
    "to_dispatch",  # 待派遣
    "returned",  # 退回待重派
    "to_verify",  # 待核查
    "due_soon",  # 即将超期
    "overdue",  # 已超期
    "extension",  # 延期待批
    "ledger",  # 挂账
    "joint",  # 联合处置
    "mine",  # 我登记的
    "all",  # 全部
)
SORTS = ("due", "newest", "oldest")
# The order a view is worked in: a queue first come first served, deadlines soonest first,
# the rest newest first.
DEFAULT_SORT = {
    "to_dispatch": "oldest",
    "returned": "oldest",
    "to_verify": "oldest",
    "due_soon": "due",
    "overdue": "due",
    "extension": "due",
    "ledger": "newest",
    "joint": "due",
    "mine": "newest",
    "all": "newest",
}
DUE_SOON = dt.timedelta(hours=4)  # the default window of 即将超期 (settings.due_soon_hours)
COUNT_CAP = 9999
PAGE_SIZE = 50
MAX_PAGE = 500
SEARCH_MAX = 100
_ACTIVE = tuple(sorted(ACTIVE_JOBS))
_FINAL = tuple(sorted(FINAL_STATES))
_OWN_CASES = frozenset({"agent", "inspector"})  # may_see: what they registered


class FilterError(CaseError):
    """A filter the list cannot take. ``field`` is the query parameter's name and
    ``problem`` a stable code the page turns into words."""

    def __init__(self, field: str, problem: str, message: str) -> None:
        super().__init__("case-bad-filter", f"{field}: {message}", 422)
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class CaseFilter:
    """What the list shows: a view and filters on it. Times are aware; a date range's end
    is exclusive. Checked when made: an instance always holds values the query can use."""

    view: str = "all"
    states: tuple[str, ...] = ()
    district: str | None = None
    street: str | None = None  # 9 digits: district + street, the grid code's beginning
    unit: str | None = None
    kind: str | None = None
    class_code: str | None = None  # a major class (2 digits) or a full class code
    source: str | None = None
    urgency: str | None = None
    registered_from: dt.datetime | None = None
    registered_to: dt.datetime | None = None
    due_from: dt.datetime | None = None
    due_to: dt.datetime | None = None
    overdue: bool = False
    search: str = ""

    def __post_init__(self) -> None:
        _check(self)


def _check(f: CaseFilter) -> None:
    if f.view not in VIEWS:
        raise FilterError("view", "choice", f"one of {', '.join(VIEWS)}")
    for state in f.states:
        if state not in CASE_STATES:
            raise FilterError("state", "choice", f"no state {state!r}")
    for name, value, choices in (
        ("kind", f.kind, CATALOGUE_KINDS),
        ("source", f.source, CASE_SOURCES),
        ("urgency", f.urgency, URGENCIES),
    ):
        if value is not None and value not in choices:
            raise FilterError(name, "choice", f"one of {', '.join(choices)}")
    for name, value, pattern in (
        ("district", f.district, r"\d{6}"),
        ("street", f.street, r"\d{9}"),
        ("unit", f.unit, r"[A-Za-z0-9_.\-]{1,32}"),
        ("class", f.class_code, r"\d{2}(\d{2,3})?"),
    ):
        if value is not None and not re.fullmatch(pattern, value):
            raise FilterError(name, "code", f"{value!r} is not a {name} code")
    if f.district and f.street and not f.street.startswith(f.district):
        raise FilterError("street", "elsewhere", "the street lies in another district")
    for name, start, end in (
        ("to", f.registered_from, f.registered_to),
        ("due_to", f.due_from, f.due_to),
    ):
        if start is not None and end is not None and end <= start:
            raise FilterError(name, "range", "the range ends before it starts")
    if len(f.search) > SEARCH_MAX:
        raise FilterError("q", "long", f"at most {SEARCH_MAX} characters")
    if f.search and len(_compact(f.search)) < 2:
        raise FilterError("q", "short", "search for at least two characters")


def _compact(term: str) -> str:
    return re.sub(r"\s+", "", term)


# --- who sees what --------------------------------------------------------------------------


def views_for(actor: Actor) -> tuple[str, ...]:
    """The views an actor's list offers: platform staff all of them, an agent (and an
    inspector) the cases they registered, a unit its jobs (the REST API's listing)."""
    if actor.role in PLATFORM_STAFF:
        return VIEWS
    if actor.role in _OWN_CASES:
        return ("mine",)
    if actor.role == "unit":
        return ("all",)
    return ()


def default_view(actor: Actor) -> str:
    views = views_for(actor)
    return "all" if "all" in views else (views[0] if views else "all")


def scope_clause(actor: Actor) -> ColumnElement[bool] | None:
    """:func:`hotline.cases.service.may_see` in SQL (None: every case). A role with no
    case list is refused."""
    if actor.role == "unit":
        return Case.unit_code == actor.unit_code if actor.unit_code else false()
    if actor.role in _OWN_CASES:
        return Case.created_by == actor.username
    if actor.role in PLATFORM_STAFF:
        return None if actor.is_city else Case.district_code == actor.scope_code
    raise CaseError("case-forbidden", f"a {actor.role} has no case list", 403)


def _view_clauses(
    view: str, actor: Actor, now: dt.datetime, due_soon: dt.timedelta
) -> list[ColumnElement[bool]]:
    if view == "to_dispatch":  # the city also dispatches what a district escalated
        waiting = ("received", "registered") + (("escalated",) if actor.is_city else ())
        return [Case.state.in_(waiting)]
    if view == "returned":
        return [Case.state == "returned"]
    if view == "to_verify":
        return [Case.state.in_(("handled", "verified"))]
    if view == "due_soon":
        return [Case.state.in_(_ACTIVE), Case.due_at >= now, Case.due_at < now + due_soon]
    if view == "overdue":
        return [Case.state.in_(_ACTIVE), Case.due_at < now]
    if view == "extension":
        return [Case.pending_extension_hours.is_not(None)]
    if view == "ledger":
        return [Case.state == "ledger"]
    if view == "joint":
        return [Case.state.not_in(_FINAL), exists().where(CaseAssist.case_id == Case.id)]
    if view == "mine":
        return [Case.created_by == actor.username]
    return []


def _check_view(actor: Actor, view: str) -> None:
    scope_clause(actor)  # a role with no list at all: 403 before anything else
    if view not in views_for(actor):
        raise CaseError("case-forbidden", f"a {actor.role} has no {view!r} view", 403)


# --- filters and search ---------------------------------------------------------------------


def _starts(column: Any, prefix: str, width: int) -> ColumnElement[bool]:
    """``column`` begins with ``prefix`` (digits): a range an ordinary index answers in any
    collation, and LIKE for the exact test (LIKE alone uses a B-tree only in the C one)."""
    return and_(
        column >= prefix,
        column <= prefix + "9" * max(width - len(prefix), 0),
        column.startswith(prefix, autoescape=True),
    )


def _search(actor: Actor, term: str, postgresql: bool) -> ColumnElement[bool]:
    compact = _compact(term)
    if re.fullmatch(r"\+?[\d-]+", compact):
        found = [_starts(Case.number, compact, 16)]
        if actor.role in PLATFORM_STAFF:  # the caller's number: never for agents
            found.append(_starts(Case.citizen_phone, term.strip(), 64))
        return or_(*found)
    words = or_(
        Case.address.icontains(term, autoescape=True),
        Case.description.icontains(term, autoescape=True),
    )
    if not postgresql:
        return words
    grams = func.hotline_search_grams(Case.address, Case.description)
    wanted = func.hotline_search_grams(literal(term), literal(""))
    return and_(grams.op("@>")(wanted), words)


def _filter_clauses(f: CaseFilter, now: dt.datetime) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if f.states:
        found.append(Case.state.in_(f.states))
    if f.district:
        found.append(Case.district_code == f.district)
    if f.street:
        found.append(_starts(Case.grid_code, f.street, 15))
    if f.unit:
        found.append(Case.unit_code == f.unit)
    if f.kind:
        found.append(Case.kind == f.kind)
    if f.class_code:
        major = len(f.class_code) == 2
        found.append(
            _starts(Case.class_code, f.class_code, 8) if major else Case.class_code == f.class_code
        )
    if f.source:
        found.append(Case.source == f.source)
    if f.urgency:
        found.append(Case.urgency == f.urgency)
    if f.registered_from:
        found.append(Case.created_at >= _utc(f.registered_from))
    if f.registered_to:
        found.append(Case.created_at < _utc(f.registered_to))
    if f.due_from:
        found.append(Case.due_at >= _utc(f.due_from))
    if f.due_to:
        found.append(Case.due_at < _utc(f.due_to))
    if f.overdue:
        found.extend([Case.state.in_(_ACTIVE), Case.due_at < now])
    return found


def conditions(
    session: Session,
    actor: Actor,
    case_filter: CaseFilter,
    now: dt.datetime,
    due_soon: dt.timedelta = DUE_SOON,
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of ``case_filter`` for ``actor``: scope, view, filters, search."""
    _check_view(actor, case_filter.view)
    now = _utc(now)
    found = _view_clauses(case_filter.view, actor, now, due_soon)
    scope = scope_clause(actor)
    if scope is not None:
        found.insert(0, scope)
    found.extend(_filter_clauses(case_filter, now))
    if case_filter.search:
        postgresql = session.get_bind().dialect.name == "postgresql"
        found.append(_search(actor, case_filter.search, postgresql))
    return found


# --- pages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CasePage:
    rows: list[Case]
    next_cursor: str | None  # None: this is the last page
    sort: str


def list_cases(
    session: Session,
    actor: Actor,
    case_filter: CaseFilter,
    sort: str | None = None,
    *,
    after: str | None = None,
    limit: int = PAGE_SIZE,
    now: dt.datetime | None = None,
    due_soon: dt.timedelta = DUE_SOON,
) -> CasePage:
    """One page of the cases ``actor`` may see that ``case_filter`` selects, in ``sort``
    order (the view's own by default), after the row ``after`` names (a cursor from the
    previous page)."""
    sort = sort or DEFAULT_SORT[case_filter.view]
    if sort not in SORTS:
        raise FilterError("sort", "choice", f"one of {', '.join(SORTS)}")
    if not 1 <= limit <= MAX_PAGE:
        raise FilterError("limit", "number", f"1 to {MAX_PAGE}")
    query = select(Case).where(*conditions(session, actor, case_filter, now or utcnow(), due_soon))
    position = _decode(after, sort) if after else None
    fence = _work_queue(case_filter)
    if sort == "due":
        rows = _by_deadline(session, query, position, limit, fence=fence)
    else:
        rows = _by_age(session, query, position, limit, newest=sort == "newest", fence=fence)
    if len(rows) <= limit:
        return CasePage(rows, None, sort)
    rows = rows[:limit]
    last = rows[-1]
    key = last.due_at if sort == "due" else last.created_at
    return CasePage(rows, _encode(sort, key, last.id), sort)


def _work_queue(f: CaseFilter) -> bool:
    """The list is bounded by open states (a view other than 我登记的 and 全部, or a state
    filter without the final states, where a city's history piles up)."""
    if f.view not in ("mine", "all") or f.overdue:
        return True
    return bool(f.states) and not set(f.states) & FINAL_STATES


def _by_age(
    session: Session,
    query: Select[Case],
    position: tuple[dt.datetime | None, int] | None,
    limit: int,
    *,
    newest: bool,
    fence: bool,
) -> list[Case]:
    key = row(Case.created_at, Case.id)
    if position is not None:
        moment, case_id = position
        bound = row(literal(moment, Case.created_at.type), literal(case_id))
        query = query.where(key < bound if newest else key > bound)
    return _read(session, query, ("created_at", "id"), limit + 1, fence, desc=newest)


def _by_deadline(
    session: Session,
    query: Select[Case],
    position: tuple[dt.datetime | None, int] | None,
    limit: int,
    *,
    fence: bool,
) -> list[Case]:
    """Soonest deadline first, cases without one last: two index-ordered reads (one
    ``ORDER BY … NULLS LAST`` with its cursor condition ORed would not use the index)."""
    rows: list[Case] = []
    if position is None or position[0] is not None:
        dated = query.where(Case.due_at.is_not(None))
        if position is not None:
            moment, case_id = position
            bound = row(literal(moment, Case.due_at.type), literal(case_id))
            dated = dated.where(row(Case.due_at, Case.id) > bound)
        rows = _read(session, dated, ("due_at", "id"), limit + 1, fence)
    if len(rows) <= limit:
        undated = query.where(Case.due_at.is_(None))
        if position is not None and position[0] is None:
            undated = undated.where(Case.id > position[1])
        rows += _read(session, undated, ("id",), limit + 1 - len(rows), fence)
    return rows


def _read(
    session: Session,
    query: Select[Case],
    keys: tuple[str, ...],
    limit: int,
    fence: bool,
    *,
    desc: bool = False,
) -> list[Case]:
    """The first ``limit`` rows of ``query`` in ``keys`` order.

    ``fence``: the rows are a work queue (a few open states), found through the state
    indexes and sorted afterwards. Left to itself, PostgreSQL walked the age index from
    the oldest case and filtered for the state, expecting open cases spread evenly over
    three years when they are all in the last weeks: 850 ms for the city's 待派遣 at a
    million cases instead of 20 (docs/benchmarks.md). A MATERIALIZED CTE of the rows' ids
    and sort keys keeps it apart; the page's ids are sorted out of it and only their cases
    read. (The CTE holds those few columns, not the whole case: an ORM entity aliased to a
    CTE of every column cost 3 ms of Python a page to adapt, more than the database's
    work.)"""
    columns = [getattr(Case, key) for key in keys]
    if not fence:
        order = [column.desc() if desc else column for column in columns]
        return list(session.scalars(query.order_by(*order).limit(limit)))
    listed = (
        query.with_only_columns(
            Case.id, *(c for c in columns if c is not Case.id), maintain_column_froms=True
        )
        .cte("listed")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )

    def sorted_by(of: Any) -> list[Any]:
        return [of.c[key].desc() if desc else of.c[key] for key in keys]

    page = select(listed).order_by(*sorted_by(listed)).limit(limit).subquery("page")
    # The page's ids first, then their cases: joined before the limit, PostgreSQL read
    # every listed case (910 on the ledger) to keep 51.
    found = select(Case).join(page, Case.id == page.c.id).order_by(*sorted_by(page))
    return list(session.scalars(found))


def iter_cases(
    session: Session,
    actor: Actor,
    case_filter: CaseFilter,
    sort: str | None = None,
    *,
    now: dt.datetime | None = None,
    due_soon: dt.timedelta = DUE_SOON,
    batch: int = MAX_PAGE,
) -> Iterator[Case]:
    """Every case of the list, page by page (for the exports: memory stays one page)."""
    now = now or utcnow()
    after: str | None = None
    while True:
        page = list_cases(
            session, actor, case_filter, sort, after=after, limit=batch, now=now, due_soon=due_soon
        )
        yield from page.rows
        if page.next_cursor is None:
            return
        for case in page.rows:  # a page already read need not stay in the session
            session.expunge(case)
        after = page.next_cursor


def _encode(sort: str, key: dt.datetime | None, case_id: int) -> str:
    raw = f"{sort}|{_utc(key).isoformat() if key is not None else ''}|{case_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, sort: str) -> tuple[dt.datetime | None, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        cursor_sort, key, case_id = raw.split("|")
        moment = _utc(dt.datetime.fromisoformat(key)) if key else None
        position = (moment, int(case_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise FilterError("after", "cursor", "not a cursor this list gave") from None
    if cursor_sort != sort or (moment is None and sort != "due"):
        raise FilterError("after", "cursor", "the cursor belongs to another order")
    return position


def _utc(moment: dt.datetime) -> dt.datetime:
    """UTC, which is what the database holds (SQLite gives it back without a zone)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


# --- counts ---------------------------------------------------------------------------------


class Count(NamedTuple):
    value: int
    more: bool  # counting stopped at the cap: there are more

    def __str__(self) -> str:
        return f"{self.value}+" if self.more else str(self.value)


def view_counts(
    session: Session,
    actor: Actor,
    *,
    now: dt.datetime | None = None,
    due_soon: dt.timedelta = DUE_SOON,
    cap: int = COUNT_CAP,
    only: Iterable[str] | None = None,
) -> dict[str, Count]:
    """How many cases each of the actor's views (or those of them in ``only``) holds, up to
    ``cap`` each; one statement."""
    now = now or utcnow()
    counts = []
    wanted = None if only is None else set(only)
    views = [view for view in views_for(actor) if wanted is None or view in wanted]
    if not views:
        scope_clause(actor)  # refused
        return {}
    for view in views:
        where = conditions(session, actor, CaseFilter(view=view), now, due_soon)
        capped = select(Case.id).where(*where).limit(cap + 1).subquery()
        counts.append(select(func.count()).select_from(capped).scalar_subquery().label(view))
    values = session.execute(select(*counts)).one()
    return {view: Count(min(n, cap), n > cap) for view, n in zip(views, values, strict=True)}


def change_mark(session: Session) -> int:
    """A number that moves whenever a case changes: the newest history row's id (every
    change writes one). What was counted under one mark may be kept until the next.

    Two writers committing out of their ids' order can leave one change unseen until the
    next change or the keeper's time limit: keep no count longer than a user may wait."""
    return session.scalar(select(func.max(CaseHistory.id))) or 0


# --- query parameters -----------------------------------------------------------------------


@dataclass(frozen=True)
class ListQuery:
    """The case list as a page or a program asks for it in its query string."""

    filter: CaseFilter
    sort: str | None
    after: str | None
    limit: int


FLAGS = {"1": True, "true": True, "on": True, "0": False, "false": False, "off": False}


def parse_query(
    items: Iterable[tuple[str, str]],
    zone: ZoneInfo,
    *,
    view: str = "all",
    limit: int = PAGE_SIZE,
) -> ListQuery:
    """The list a query string asks for (``view``, ``state`` (repeatable), ``district``,
    ``street``, ``unit``, ``kind``, ``class`` (``CODE`` or ``KIND:CODE``), ``source``,
    ``urgency``, ``from``/``to`` and ``due_from``/``due_to`` (dates in ``zone``, both ends
    included), ``overdue``, ``q``, ``sort``, ``after``, ``limit``); parameters it does not
    name are left to others (``lang``). Refused with :class:`FilterError`."""
    values: dict[str, list[str]] = {}
    for key, value in items:
        if value.strip():
            values.setdefault(key, []).append(value.strip())

    def one(name: str) -> str | None:
        found = values.get(name)
        return found[-1] if found else None

    kind, class_code = one("kind"), one("class")
    if class_code and ":" in class_code:
        class_kind, class_code = class_code.split(":", 1)
        if kind and kind != class_kind:
            raise FilterError("class", "elsewhere", "the class is of another kind")
        kind = class_kind
    flag = (one("overdue") or "0").lower()
    if flag not in FLAGS:
        raise FilterError("overdue", "choice", "1 or 0")
    registered = _dates(one("from"), one("to"), "from", "to", zone)
    due = _dates(one("due_from"), one("due_to"), "due_from", "due_to", zone)
    case_filter = CaseFilter(
        view=one("view") or view,
        states=tuple(values.get("state", ())),
        district=one("district"),
        street=one("street"),
        unit=one("unit"),
        kind=kind,
        class_code=class_code,
        source=one("source"),
        urgency=one("urgency"),
        registered_from=registered[0],
        registered_to=registered[1],
        due_from=due[0],
        due_to=due[1],
        overdue=FLAGS[flag],
        search=one("q") or "",
    )
    sort = one("sort")
    if sort is not None and sort not in SORTS:
        raise FilterError("sort", "choice", f"one of {', '.join(SORTS)}")
    size = one("limit")
    if size is not None:
        if not size.isdigit() or not 1 <= int(size) <= MAX_PAGE:
            raise FilterError("limit", "number", f"1 to {MAX_PAGE}")
        limit = int(size)
    after = one("after")
    if after is not None and len(after) > 200:
        raise FilterError("after", "cursor", "not a cursor this list gave")
    return ListQuery(case_filter, sort, after, limit)


def _dates(
    start: str | None, end: str | None, start_name: str, end_name: str, zone: ZoneInfo
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Local dates, both included, as [first moment, moment after the last day)."""
    bounds: list[dt.datetime | None] = []
    for name, value, extra in ((start_name, start, 0), (end_name, end, 1)):
        if value is None:
            bounds.append(None)
            continue
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise FilterError(name, "date", "a date as YYYY-MM-DD") from None
        midnight = dt.datetime.combine(day + dt.timedelta(days=extra), dt.time(), zone)
        bounds.append(midnight.astimezone(dt.UTC))
    return bounds[0], bounds[1]
