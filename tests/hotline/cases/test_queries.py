"""The case list's query service on a real database (SQLite and PostgreSQL): views, scope,
filters, search, keyset pages and counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hotline.cases.queries import (
    VIEWS,
    CaseFilter,
    Count,
    FilterError,
    default_view,
    iter_cases,
    list_cases,
    parse_query,
    view_counts,
    views_for,
)
from hotline.cases.service import Actor, CaseError, may_see
from hotline.db import session_factory, transaction
from hotline.models import Case, CaseAssist

NOW = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)  # Monday 10:00 in Beijing
BEIJING = ZoneInfo("Asia/Shanghai")
DC_DISPATCHER = Actor("dc_dispatcher", "dispatcher", "110101")
DC_SUPER = Actor("dc_super", "supervisor", "110101")
XC_DISPATCHER = Actor("xc_dispatcher", "dispatcher", "110102")
CITY = Actor("city_dispatcher", "dispatcher", "110000")
DC_AGENT = Actor("dc_agent", "agent", "110101")
XC_AGENT = Actor("xc_agent", "agent", "110102")
INSPECTOR = Actor("dc_inspector", "inspector", "110101")
SANITATION = Actor("unit_dc_sanitation", "unit", "110101", "dongcheng.sanitation")
ADMIN = Actor("admin", "admin", "110000")
SANITATION_UNIT = "dongcheng.sanitation"


def hours(n: float) -> dt.datetime:
    return NOW + dt.timedelta(hours=n)


# name: (state, district, fields); every case is unique in what selects it.
WORLD: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "received": ("received", "110101", {"created_by": "dc_agent", "source": "callback_request"}),
    "registered": ("registered", "110101", {"created_by": "dc_agent", "created": -3}),
    "escalated": ("escalated", "110101", {"platform_level": "city"}),
    "returned": ("returned", "110101", {"unit_code": SANITATION_UNIT}),
    "handled": ("handled", "110101", {"unit_code": SANITATION_UNIT, "due": -5}),
    "verified": ("verified", "110101", {"unit_code": SANITATION_UNIT}),
    "soon": (
        "in_progress",
        "110101",
        {"unit_code": SANITATION_UNIT, "due": 2, "grid_code": "110101001001001"},
    ),
    "later": (
        "dispatched",
        "110101",
        {
            "unit_code": "dongcheng.greening",
            "due": 30,
            "created_by": "dc_dispatcher",
            "grid_code": "110101002001001",
            "kind": "component",
            "class_code": "0118",
            "urgency": "urgent",
            "address": "东四北大街 路灯杆",
            "description": "路灯不亮，晚上很黑",
        },
    ),
    "late": ("rework", "110101", {"unit_code": SANITATION_UNIT, "due": -1, "overdue": True}),
    "extension": (
        "in_progress",
        "110101",
        {"unit_code": SANITATION_UNIT, "due": 10, "pending_extension_hours": 8},
    ),
    "ledger": ("ledger", "110101", {"unit_code": SANITATION_UNIT, "due": -50}),
    "joint": ("dispatched", "110101", {"unit_code": SANITATION_UNIT, "due": 20, "joint": True}),
    "closed_joint": ("closed", "110101", {"unit_code": SANITATION_UNIT, "joint": True}),
    "closed": (
        "closed",
        "110101",
        {"unit_code": SANITATION_UNIT, "due": -100, "created": -200, "source": "web"},
    ),
    "xicheng": (
        "registered",
        "110102",
        {"created_by": "xc_agent", "grid_code": "110102001001001", "address": "西单北大街"},
    ),
    "xicheng_late": (
        "dispatched",
        "110102",
        {"unit_code": "xicheng.sanitation", "due": -3, "created_by": "xc_agent"},
    ),
    "no_district": ("registered", None, {"created_by": "city_agent", "platform_level": "city"}),
    "field": ("registered", "110101", {"created_by": "dc_inspector", "source": "field"}),
}


@dataclass
class World:
    engine: Engine
    numbers: dict[str, str]  # name → case number

    def names(self, rows: list[Case]) -> list[str]:
        by_number = {number: name for name, number in self.numbers.items()}
        return [by_number[c.number] for c in rows]


@pytest.fixture
def world(loaded_engine: Engine) -> World:
    numbers: dict[str, str] = {}
    with transaction(loaded_engine) as session:
        for serial, (name, (state, district, extra)) in enumerate(WORLD.items(), start=1):
            fields = dict(extra)
            joint = fields.pop("joint", False)
            due = fields.pop("due", None)
            created = fields.pop("created", None)
            overdue = fields.pop("overdue", False)
            classified = state != "received"
            case = Case(
                number=f"261130{serial:04d}",
                source=fields.pop("source", "phone"),
                state=state,
                kind=fields.pop("kind", "event") if classified else None,
                class_code=fields.pop("class_code", "0102") if classified else None,
                district_code=district,
                address=fields.pop("address", "王府井大街"),
                description=fields.pop("description", f"暴露垃圾 {name}"),
                citizen_phone=f"1380000{serial:04d}",
                created_by=fields.pop("created_by", "dc_agent"),
                # One a minute apart in WORLD's order, unless told otherwise.
                created_at=hours(created) if created else NOW - dt.timedelta(minutes=serial),
                due_at=hours(due) if due is not None else None,
                overdue_at=hours(due) if overdue and due is not None else None,
                **fields,
            )
            session.add(case)
            session.flush()
            if joint:
                session.add(
                    CaseAssist(
                        case_id=case.id,
                        unit_code="dongcheng.municipal",
                        assigned_by="city_dispatcher",
                        assigned_at=NOW,
                    )
                )
            numbers[name] = case.number
    return World(loaded_engine, numbers)


@pytest.fixture
def session(world: World) -> Iterator[Session]:
    with session_factory(world.engine)() as opened:
        yield opened


def names(world: World, session: Session, actor: Actor, **fields: Any) -> list[str]:
    sort = fields.pop("sort", None)
    page = list_cases(session, actor, CaseFilter(**fields), sort, limit=100, now=NOW)
    assert page.next_cursor is None
    return world.names(page.rows)


def test_every_view_for_a_district_dispatcher(world: World, session: Session) -> None:
    expected = {
        "to_dispatch": {"received", "registered", "field"},
        "returned": {"returned"},
        "to_verify": {"handled", "verified"},
        "due_soon": {"soon"},
        "overdue": {"late"},
        "extension": {"extension"},
        "ledger": {"ledger"},
        "joint": {"joint"},
        "mine": {"later"},
        "all": {n for n, (_, district, _) in WORLD.items() if district == "110101"},
    }
    assert set(expected) == set(VIEWS)
    for view, wanted in expected.items():
        assert set(names(world, session, DC_DISPATCHER, view=view)) == wanted, view


def test_the_city_sees_every_district_and_dispatches_what_was_escalated(
    world: World, session: Session
) -> None:
    assert set(names(world, session, CITY, view="to_dispatch")) == {
        "received",
        "registered",
        "field",
        "escalated",
        "xicheng",
        "no_district",
    }
    assert set(names(world, session, CITY, view="overdue")) == {"late", "xicheng_late"}
    assert len(names(world, session, CITY, view="all")) == len(WORLD)


def test_due_soon_window_is_a_parameter(world: World, session: Session) -> None:
    wide = list_cases(
        session, DC_SUPER, CaseFilter(view="due_soon"), now=NOW, due_soon=dt.timedelta(hours=12)
    )
    assert world.names(wide.rows) == ["soon", "extension"]  # soonest first


def test_scope_is_may_see(world: World, session: Session) -> None:
    """The SQL scope and ``may_see`` agree on every case, for every role that has a list."""
    every = session.scalars(select(Case)).all()
    for actor in (
        DC_DISPATCHER,
        DC_SUPER,
        XC_DISPATCHER,
        CITY,
        DC_AGENT,
        XC_AGENT,
        INSPECTOR,
        SANITATION,
    ):
        view = default_view(actor)
        listed = list_cases(session, actor, CaseFilter(view=view), limit=100, now=NOW).rows
        wanted = {c.number for c in every if may_see(actor, c)}
        assert {c.number for c in listed} == wanted, actor


def test_dongcheng_never_sees_xicheng(world: World, session: Session) -> None:
    for view in VIEWS:
        rows = names(world, session, DC_DISPATCHER, view=view)
        assert not {"xicheng", "xicheng_late", "no_district"} & set(rows)
    assert names(world, session, DC_DISPATCHER, district="110102") == []
    assert names(world, session, XC_DISPATCHER, view="overdue") == ["xicheng_late"]


def test_an_agent_has_only_their_own_cases(world: World, session: Session) -> None:
    assert views_for(DC_AGENT) == ("mine",)
    assert set(names(world, session, DC_AGENT, view="mine")) == {
        n for n, (_, _, f) in WORLD.items() if f.get("created_by", "dc_agent") == "dc_agent"
    }
    with pytest.raises(CaseError) as refused:
        list_cases(session, DC_AGENT, CaseFilter(view="all"), now=NOW)
    assert refused.value.status == 403
    assert set(view_counts(session, DC_AGENT, now=NOW)) == {"mine"}


def test_roles_without_a_list(world: World, session: Session) -> None:
    with pytest.raises(CaseError) as refused:
        list_cases(session, ADMIN, CaseFilter(), now=NOW)
    assert refused.value.status == 403
    with pytest.raises(CaseError):
        view_counts(session, ADMIN, now=NOW)
    assert names(world, session, Actor("u", "unit", "110101", None)) == []  # no unit: nothing


def test_filters(world: World, session: Session) -> None:
    def only(**fields: Any) -> set[str]:
        return set(names(world, session, CITY, **fields))

    assert only(states=("handled", "verified")) == {"handled", "verified"}
    assert only(district="110102") == {"xicheng", "xicheng_late"}
    assert only(street="110101002") == {"later"}
    assert only(street="110101001") == {"soon"}
    assert only(unit="dongcheng.greening") == {"later"}
    assert only(kind="component") == {"later"}
    assert only(kind="component", class_code="01") == {"later"}
    assert only(class_code="0118") == {"later"}
    assert "later" not in only(class_code="0102")
    assert only(source="web") == {"closed"}
    assert only(urgency="urgent") == {"later"}
    assert only(overdue=True) == {"late", "xicheng_late"}
    assert only(registered_from=hours(-4), registered_to=hours(-2)) == {"registered"}
    assert only(registered_to=hours(-100)) == {"closed"}
    assert only(due_from=hours(1), due_to=hours(15)) == {"soon", "extension"}
    assert only(view="to_dispatch", district="110101", source="field") == {"field"}


def test_search(world: World, session: Session) -> None:
    def found(actor: Actor, term: str, view: str = "all") -> set[str]:
        return set(names(world, session, actor, view=view, search=term))

    number = world.numbers["later"]
    assert found(CITY, number) == {"later"}
    assert found(CITY, number[:9]) >= {"later"}  # from its beginning
    assert found(CITY, "路灯") == {"later"}  # two Chinese characters: the common search
    assert found(CITY, "东四北大街") == {"later"}  # the address
    assert found(CITY, "晚上 很黑") == set()  # a substring, not separate words
    assert found(CITY, "很黑") == {"later"}
    assert found(CITY, "西单") == {"xicheng"}
    assert found(DC_DISPATCHER, "西单") == set()  # out of scope
    assert found(CITY, "100%") == set()  # LIKE's wildcards are plain characters
    assert found(CITY, "__") == set()
    phone = "13800000008"  # "later" is the eighth case
    assert found(DC_DISPATCHER, phone) == {"later"}
    assert found(DC_DISPATCHER, phone[:7]) == set(names(world, session, DC_DISPATCHER))
    assert found(DC_AGENT, phone, "mine") == set()  # agents never search by phone
    own = world.numbers["registered"]
    assert found(DC_AGENT, own, "mine") == {"registered"}
    for term in ("灯", "a "):
        with pytest.raises(FilterError) as short:
            CaseFilter(search=term)
        assert (short.value.field, short.value.problem) == ("q", "short")


def test_keyset_pages_have_no_gaps_or_repeats(world: World, session: Session) -> None:
    for sort in ("due", "newest", "oldest"):
        _page_through(world, session, sort)
    every = list(iter_cases(session, CITY, CaseFilter(), "due", now=NOW, batch=3))
    assert len({c.number for c in every}) == len(every) == len(WORLD) + len(_ADDED)


def _page_through(world: World, session: Session, sort: str) -> None:
    """Pages of 4 in ``sort`` order; a case registered between two pages moves nothing."""
    whole = list_cases(session, CITY, CaseFilter(), sort, limit=100, now=NOW).rows
    expected = _ordered(whole, sort)
    assert [c.number for c in whole] == [c.number for c in expected]
    seen: list[str] = []
    after = None
    while True:
        page = list_cases(session, CITY, CaseFilter(), sort, after=after, limit=4, now=NOW)
        seen += [c.number for c in page.rows]
        if page.next_cursor is None:
            break
        after = page.next_cursor
        assert len(page.rows) == 4
        if len(seen) == 8:
            _register_one(world, sort)
    assert seen[:8] == [c.number for c in expected[:8]]
    assert len(seen) == len(set(seen))
    assert set(seen) - {_ADDED[sort]} == {c.number for c in whole}


_ADDED = {"due": "2611309997", "newest": "2611309998", "oldest": "2611309999"}


def _register_one(world: World, sort: str) -> None:
    """A case that sorts before the cursor (by age) or at the very end (by deadline)."""
    with transaction(world.engine) as writing:
        writing.add(
            Case(
                number=_ADDED[sort],
                source="phone",
                state="received",
                created_at=hours(-1000) if sort == "oldest" else hours(1),
                created_by="dc_agent",
                district_code="110101",
            )
        )


def _ordered(rows: list[Case], sort: str) -> list[Case]:
    def utc(moment: dt.datetime) -> dt.datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

    if sort == "due":
        dated = sorted((c for c in rows if c.due_at), key=lambda c: (utc(c.due_at), c.id))  # type: ignore[arg-type]
        return dated + sorted((c for c in rows if c.due_at is None), key=lambda c: c.id)
    return sorted(rows, key=lambda c: (utc(c.created_at), c.id), reverse=sort == "newest")


def test_cursors_are_checked(world: World, session: Session) -> None:
    page = list_cases(session, CITY, CaseFilter(), "newest", limit=2, now=NOW)
    assert page.next_cursor is not None
    for cursor, sort in (("nonsense", "newest"), ("%%%", "newest"), (page.next_cursor, "due")):
        with pytest.raises(FilterError) as refused:
            list_cases(session, CITY, CaseFilter(), sort, after=cursor, now=NOW)
        assert refused.value.field == "after"


def test_counts(world: World, session: Session) -> None:
    counts = view_counts(session, DC_DISPATCHER, now=NOW)
    assert set(counts) == set(VIEWS)
    for view in VIEWS:
        assert counts[view] == Count(len(names(world, session, DC_DISPATCHER, view=view)), False)
    capped = view_counts(session, CITY, now=NOW, cap=3)
    assert capped["all"] == Count(3, True) and str(capped["all"]) == "3+"
    assert capped["returned"] == Count(1, False) and str(capped["returned"]) == "1"
    assert view_counts(session, SANITATION, now=NOW)["all"].value == len(
        names(world, session, SANITATION)
    )


def test_parse_query() -> None:
    query = parse_query(
        [
            ("view", "overdue"),
            ("state", "dispatched"),
            ("state", "rework"),
            ("class", "component:01"),
            ("from", "2026-11-01"),
            ("to", "2026-11-30"),
            ("overdue", "1"),
            ("q", " 路灯 "),
            ("sort", "due"),
            ("limit", "20"),
            ("lang", "en"),
            ("district", ""),
        ],
        BEIJING,
    )
    f = query.filter
    assert (f.view, f.states, f.kind, f.class_code, f.overdue, f.search) == (
        "overdue",
        ("dispatched", "rework"),
        "component",
        "01",
        True,
        "路灯",
    )
    assert f.district is None
    assert f.registered_from == dt.datetime(2026, 10, 31, 16, 0, tzinfo=dt.UTC)
    assert f.registered_to == dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)  # the day included
    assert (query.sort, query.limit, query.after) == ("due", 20, None)
    assert parse_query([], BEIJING, view="mine").filter.view == "mine"


@pytest.mark.parametrize(
    ("params", "field", "problem"),
    [
        ([("view", "everything")], "view", "choice"),
        ([("state", "lost")], "state", "choice"),
        ([("district", "1101")], "district", "code"),
        ([("street", "110101")], "street", "code"),
        ([("district", "110102"), ("street", "110101001")], "street", "elsewhere"),
        ([("unit", "x y")], "unit", "code"),
        ([("kind", "thing")], "kind", "choice"),
        ([("class", "1")], "class", "code"),
        ([("kind", "event"), ("class", "component:01")], "class", "elsewhere"),
        ([("source", "pigeon")], "source", "choice"),
        ([("urgency", "now")], "urgency", "choice"),
        ([("from", "30/11/2026")], "from", "date"),
        ([("from", "2026-11-30"), ("to", "2026-11-01")], "to", "range"),
        ([("due_to", "2026-02-30")], "due_to", "date"),
        ([("overdue", "maybe")], "overdue", "choice"),
        ([("q", "灯")], "q", "short"),
        ([("q", "x" * 101)], "q", "long"),
        ([("sort", "random")], "sort", "choice"),
        ([("limit", "0")], "limit", "number"),
        ([("limit", "many")], "limit", "number"),
        ([("after", "x" * 201)], "after", "cursor"),
    ],
)
def test_bad_parameters_name_their_field(
    params: list[tuple[str, str]], field: str, problem: str
) -> None:
    with pytest.raises(FilterError) as refused:
        parse_query(params, BEIJING)
    assert (refused.value.field, refused.value.problem) == (field, problem)
    assert refused.value.status == 422 and refused.value.error_id == "case-bad-filter"
