"""SQLAlchemy models: one schema for SQLite and PostgreSQL, migrated by Alembic.

Reference rows (areas, grid cells, catalogue, units, rules, calendar, gazetteer) are loaded
from data files by :mod:`hotline.refdata`; they are deactivated, never deleted, so calls and
cases that point at them keep their meaning. States are checked values.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hotline.roles import ROLES, TOKEN_ROLES

# Stable constraint names so migrations behave the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

AREA_LEVELS = ("city", "district", "street", "community")
CATALOGUE_KINDS = ("component", "event")
UNIT_LEVELS = ("city", "district")
URGENCIES = ("normal", "urgent")
DEADLINE_UNITS = ("working_hours", "working_days")
# How a case reached us: a call, a visit to the platform, the web, an inspector in the
# street, a caller who left a callback request, another system, Open311, anything else.
CASE_SOURCES = ("phone", "walk_in", "web", "field", "callback_request", "api", "open311", "other")
CASE_STATES = (
    "received",
    "registered",
    "dispatched",
    "in_progress",
    "handled",
    "verified",
    "closed",
    "returned",
    "rework",
    "escalated",
    "ledger",
    "invalid",
    "duplicate",
)


OPEN_CASE = "state NOT IN ('closed', 'invalid', 'duplicate')"  # lifecycle.FINAL_STATES
UNIT_JOB = "state IN ('dispatched', 'in_progress', 'rework')"  # a unit's open jobs


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON}


class Area(Base):
    """City → district → street (sub-district) → community, keyed by GB/T 2260-style codes."""

    __tablename__ = "areas"
    __table_args__ = (CheckConstraint(_one_of("level", AREA_LEVELS), name="level"),)

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    aliases: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Component(Base):
    """A censused component (部件): its 16-digit id, class, point and cell, and the unit
    that owns it (which takes a case about it before the class rule)."""

    __tablename__ = "components"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    class_code: Mapped[str] = mapped_column(String(8))
    district_code: Mapped[str] = mapped_column(ForeignKey("areas.code"))
    grid_code: Mapped[str] = mapped_column(String(15), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    owner_unit: Mapped[str] = mapped_column(ForeignKey("units.code"))
    status: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class GridCell(Base):
    """A unit grid cell (单元网格); geometry is a GeoJSON polygon in WGS84."""

    __tablename__ = "grid_cells"

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), index=True)
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    centroid_lon: Mapped[float] = mapped_column(Float)
    centroid_lat: Mapped[float] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CatalogueClass(Base):
    """A component (部件) or event (事件) class; a major class has no minor code. The city's
    classes have no district; a district's own additions name it."""

    __tablename__ = "catalogue_classes"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CATALOGUE_KINDS), name="kind"),
        UniqueConstraint("kind", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(8))
    major: Mapped[str] = mapped_column(String(4))
    minor: Mapped[str | None] = mapped_column(String(4))
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    aliases: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A district's own type (district_catalogue.csv): offered only in that district.
    district_code: Mapped[str | None] = mapped_column(String(6))


class Unit(Base):
    """A responsible unit (责任单位): city-level or belonging to one district."""

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint(_one_of("level", UNIT_LEVELS), name="level"),
        CheckConstraint(
            "(level = 'city' AND district_code IS NULL) OR "
            "(level = 'district' AND district_code IS NOT NULL)",
            name="district_scope",
        ),
    )

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    district_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AssignmentRule(Base):
    """Class (by code prefix) + district → responsible unit; the longest prefix wins and a
    district-specific rule beats a city-wide one (``district_code`` NULL)."""

    __tablename__ = "assignment_rules"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CATALOGUE_KINDS), name="kind"),
        UniqueConstraint("kind", "class_prefix", "district_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    class_prefix: Mapped[str] = mapped_column(String(8))
    district_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DeadlineRule(Base):
    """Handling deadline per class (code prefix) and urgency, in working hours or days."""

    __tablename__ = "deadline_rules"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CATALOGUE_KINDS), name="kind"),
        CheckConstraint(_one_of("urgency", URGENCIES), name="urgency"),
        CheckConstraint(_one_of("unit", DEADLINE_UNITS), name="unit"),
        CheckConstraint("amount > 0", name="amount_positive"),
        UniqueConstraint("kind", "class_prefix", "urgency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    class_prefix: Mapped[str] = mapped_column(String(8))
    urgency: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CalendarDay(Base):
    """An exception to the weekly pattern: a public holiday or a swapped working weekend day."""

    __tablename__ = "calendar_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(64), default="")


class WorkingHours(Base):
    """Working time windows of a normal working day (ISO weekday 1 = Monday)."""

    __tablename__ = "working_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday"),
        UniqueConstraint("weekday", "start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    weekday: Mapped[int] = mapped_column(Integer)
    start: Mapped[dt.time] = mapped_column(Time)
    end: Mapped[dt.time] = mapped_column(Time)


class GazetteerEntry(Base):
    """A place name callers and agents use: district, street, community, road or landmark."""

    __tablename__ = "gazetteer"
    __table_args__ = (UniqueConstraint("kind", "name_zh", "area_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_zh: Mapped[str] = mapped_column(String(64))
    area_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), index=True)
    aliases: Mapped[str] = mapped_column(Text, default="")
    pinyin: Mapped[str] = mapped_column(String(256), default="")
    initials: Mapped[str] = mapped_column(String(64), default="")
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CallPlatform(Base):
    """A call platform (city or district) with its Asterisk queue and routing thresholds."""

    __tablename__ = "platforms"
    __table_args__ = (CheckConstraint(_one_of("level", UNIT_LEVELS), name="level"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    area_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), unique=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(64), unique=True)
    did: Mapped[str] = mapped_column(String(32), default="")
    menu_key: Mapped[str] = mapped_column(String(4), default="")
    overflow_wait_seconds: Mapped[int | None] = mapped_column(Integer)
    overflow_no_agent: Mapped[bool] = mapped_column(Boolean, default=True)
    night_start: Mapped[dt.time | None] = mapped_column(Time)
    night_end: Mapped[dt.time | None] = mapped_column(Time)
    repeat_priority: Mapped[int] = mapped_column(Integer, default=5)
    emergency_priority: Mapped[int] = mapped_column(Integer, default=10)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class User(Base):
    """An agent, supervisor, unit account, field inspector or admin, scoped to a district or
    the city."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_one_of("role", ROLES), name="role"),
        CheckConstraint("role <> 'unit' OR unit_code IS NOT NULL", name="unit_account"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(16))
    scope_code: Mapped[str] = mapped_column(ForeignKey("areas.code"))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    sip_endpoint: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Call(Base):
    """One citizen call as Asterisk saw it, with the IVR's result and the routing reason."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    node: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(128), default="")  # the caller's, for control
    caller_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    did: Mapped[str] = mapped_column(String(64), default="")
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ivr_ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # the calls reports, the wallboard and the city overview read a period's calls by it
    queue_joined_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    connected_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    district_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(15))
    intent: Mapped[str | None] = mapped_column(String(32))
    ivr_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    queue: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    route_target: Mapped[str | None] = mapped_column(String(32))
    route_reason: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CallEvent(Base):
    """The call's timeline: one row per AMI event the tracker kept."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(48))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Case(Base):
    """A case (案卷): one reported problem, the unit of dispatch. ``version`` is the
    optimistic lock: an update that read an older version fails instead of overwriting."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(_one_of("state", CASE_STATES), name="state"),
        CheckConstraint(_one_of("source", CASE_SOURCES), name="source"),
        CheckConstraint(_one_of("kind", CATALOGUE_KINDS), name="kind"),
        CheckConstraint(_one_of("urgency", URGENCIES), name="urgency"),
        CheckConstraint(
            "state IN ('received', 'invalid', 'duplicate') "
            "OR (kind IS NOT NULL AND class_code IS NOT NULL)",
            name="classified",
        ),
        # The case list's views and sorts (hotline/cases/queries.py, docs/workspace.md):
        # a state's cases by deadline, in a district or the whole city; everything by age;
        # what one person registered; a unit's jobs; the extension requests waiting.
        Index("ix_cases_district_state_due", "district_code", "state", "due_at", "id"),
        Index("ix_cases_state_due", "state", "due_at", "id"),
        Index("ix_cases_district_created", "district_code", "created_at", "id"),
        Index("ix_cases_created", "created_at", "id"),
        Index("ix_cases_creator_created", "created_by", "created_at", "id"),
        Index("ix_cases_unit_state", "unit_code", "state"),
        Index("ix_cases_due", "due_at"),
        # The open cases (the city's overview counts them per district and state): a few
        # percent of a year's cases, read without scanning the closed ones.
        Index(
            "ix_cases_open",
            "district_code",
            "state",
            sqlite_where=sql_text(OPEN_CASE),
            postgresql_where=sql_text(OPEN_CASE),
        ),
        # A unit's open jobs by deadline (the unit portal's list and count).
        Index(
            "ix_cases_unit_jobs",
            "unit_code",
            "due_at",
            "id",
            sqlite_where=sql_text(UNIT_JOB),
            postgresql_where=sql_text(UNIT_JOB),
        ),
        Index(
            "ix_cases_pending_extension",
            "pending_extension_hours",
            sqlite_where=sql_text("pending_extension_hours IS NOT NULL"),
            postgresql_where=sql_text("pending_extension_hours IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16))
    # Unclassified until registered: a callback request arrives with neither.
    kind: Mapped[str | None] = mapped_column(String(16))
    class_code: Mapped[str | None] = mapped_column(String(8))
    district_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"))
    grid_code: Mapped[str | None] = mapped_column(String(15))
    address: Mapped[str] = mapped_column(String(256), default="")
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    description: Mapped[str] = mapped_column(Text, default="")
    urgency: Mapped[str] = mapped_column(String(16), default="normal")
    platform_level: Mapped[str] = mapped_column(String(16), default="district")
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    citizen_name: Mapped[str] = mapped_column(String(64), default="")
    citizen_phone: Mapped[str] = mapped_column(String(64), default="", index=True)
    callback_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    solved: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    overdue_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    urge_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # 督办
    # Working hours a unit asked for and the platform has not decided yet (one at a time).
    pending_extension_hours: Mapped[int | None] = mapped_column(Integer)
    # What the public reads of the case (Open311, public pages): None = the default of
    # hotline.cases.publication; staff may publish a text of their own.
    public_text: Mapped[str | None] = mapped_column(Text)
    media_url: Mapped[str] = mapped_column(String(512), default="", server_default="")
    component_id: Mapped[str | None] = mapped_column(String(16), index=True)  # 部件, if any
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


def postgresql_only(index: Index) -> Index:
    """An index that exists on PostgreSQL only (its migration creates it there alone)."""
    return index.ddl_if(dialect="postgresql")


# Text search of the case list on PostgreSQL: the two-character pieces (bigrams) of the
# address and the description, from the SQL function of migration 0014. Trigrams (pg_trgm)
# miss two-character Chinese words and, in a C locale, every Chinese text (docs/workspace.md).
postgresql_only(
    Index(
        "ix_cases_search",
        func.hotline_search_grams(Case.address, Case.description),
        postgresql_using="gin",
    )
)


class CaseCounter(Base):
    """The last case number handed out per day (numbers are YYMMDD + a daily sequence)."""

    __tablename__ = "case_counters"

    day: Mapped[str] = mapped_column(String(6), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class CaseHistory(Base):
    """Every change to a case, written in the same transaction as the change."""

    __tablename__ = "case_history"
    __table_args__ = (Index("ix_case_history_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


OUTBOX_STATES = ("unprocessed", "sent")


class OutboxEvent(Base):
    """A case event for the external dispatch system, written in the same transaction as the
    change; delivered in id order per case, retried with backoff until it is taken."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_one_of("send_state", OUTBOX_STATES), name="send_state"),
        Index("ix_outbox_pending", "send_state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    send_state: Mapped[str] = mapped_column(String(16), default="unprocessed")
    send_fail_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    """A message for a unit or a platform's supervisors (overdue jobs, escalations)."""

    __tablename__ = "notifications"
    __table_args__ = (  # the newest of a platform (the inbox) or of a unit (its portal)
        Index("ix_notifications_scope_id", "scope_code", "id"),
        Index("ix_notifications_unit_id", "unit_code", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    scope_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"))
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class CaseAssist(Base):
    """A joint job (联合处置): a unit that helps the lead unit (``Case.unit_code``) with a
    case, assigned by the city platform. It sees the job and reports its part done; the
    lead unit alone reports the case handled."""

    __tablename__ = "case_assists"
    __table_args__ = (UniqueConstraint("case_id", "unit_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    assigned_by: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text, default="")


class QueueMembership(Base):
    """A queue an agent joins when ready, with a penalty (0 = first choice): skills. An
    agent without any joins their platform's queue at penalty 0."""

    __tablename__ = "queue_memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "queue"),
        CheckConstraint("penalty BETWEEN 0 AND 10", name="penalty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    queue: Mapped[str] = mapped_column(String(64))
    penalty: Mapped[int] = mapped_column(Integer, default=0)


class AgentState(Base):
    """An agent's phone state (ready, paused, wrapup, logged_out), its reason and since
    when: in the database so that every app instance shows the same."""

    __tablename__ = "agent_states"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32), default="")
    since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Lease(Base):
    """A named job that must run on one app instance at a time (the scheduler)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A bearer token for a responsible unit's system or an external system (Open311,
    city systems). Only the SHA-256 of the token is stored; it is shown once when made."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(_one_of("role", TOKEN_ROLES), name="role"),
        CheckConstraint("role <> 'unit' OR unit_code IS NOT NULL", name="unit_token"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    scope_code: Mapped[str] = mapped_column(ForeignKey("areas.code"))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Attachment(Base):
    """A photo (or other file) on a case: an inspector's report, a unit's feedback. The file
    lives under the media folder by its SHA-256; the row says whose and what it is."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))  # report | feedback | verification
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SignInFailure(Base):
    """A failed sign-in: counted per account and address, and per address, in a sliding
    window (``agent_ui.web.auth.LoginLimiter``) by every web process and instance."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_address_at", "address", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored.
    Each session has its own CSRF token for the forms it is shown."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class IndicatorSnapshot(Base):
    """A period's evaluation figures as computed once (``hotline.cases.kept_figures``): a
    past period's for good, a running period's until they are older than the refresh time."""

    __tablename__ = "indicator_snapshots"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    cut: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
