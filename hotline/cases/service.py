"""Creating cases and moving them through their life, with history in the same transaction.

* A creation carries an idempotency key: the same key returns the same case, never a second
  (the database's unique index decides, so concurrent repeats cannot both insert).
* A change names the version it was made on; if someone else changed the case meanwhile the
  change fails with ``case-conflict`` instead of overwriting (the ``version`` column is
  SQLAlchemy's version counter, so the UPDATE itself checks it).
* Every change writes a ``case_history`` row: who, when, what, from which state, a note.
* Each actor sees and changes only cases in their scope: a district's staff their district's
  cases (and the city platform all); a unit only the cases dispatched to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from hotline.cases.action_data import ActionDataError, check_action_data
from hotline.cases.lifecycle import ACTIVE_JOBS, FINAL_STATES, TransitionError, check_transition
from hotline.cases.numbers import next_case_number
from hotline.cases.reference import Reference, reference_data
from hotline.cases.rules import assign_unit, deadline_for, due_at
from hotline.cases.store import insert_case
from hotline.codes import CodeError, parse_grid_code
from hotline.geo import WORLD, Bounds, PointError, check_point
from hotline.models import (
    Case,
    CaseHistory,
    Component,
    Notification,
    OutboxEvent,
    utcnow,
)
from hotline.roles import DESK, PLATFORM_STAFF
from hotline.text import clean_text
from hotline.workcalendar import WorkCalendar

BEIJING = ZoneInfo("Asia/Shanghai")  # the default city; services pass settings.timezone


class CaseError(Exception):
    """A request the case service refuses; ``error_id`` is stable, ``status`` an HTTP code,
    ``field`` the piece of the request at fault when one is (a form shows the error there)."""

    def __init__(self, error_id: str, message: str, status: int = 400, field: str = "") -> None:
        super().__init__(message)
        self.error_id = error_id
        self.status = status
        self.field = field


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    scope_code: str  # the city's code or a district's
    unit_code: str | None = None

    @property
    def is_city(self) -> bool:
        return len(self.scope_code) == 6 and self.scope_code.endswith("0000")

    @property
    def level(self) -> str:
        """The platform the actor works at: "city" or "district"."""
        return "city" if self.is_city else "district"


def may_see(actor: Actor, case: Case) -> bool:
    """Least privilege: a unit its jobs; an agent and an inspector the cases they
    registered; platform staff their district's cases (the city's staff every case)."""
    if actor.role == "unit":
        return case.unit_code is not None and case.unit_code == actor.unit_code
    if actor.role in ("inspector", "agent"):
        return case.created_by == actor.username
    if actor.role not in PLATFORM_STAFF:
        return False
    return actor.is_city or case.district_code == actor.scope_code


@dataclass
class NewCase:
    source: str
    kind: str | None = None
    class_code: str | None = None
    district_code: str | None = None
    grid_code: str | None = None
    address: str = ""
    lon: float | None = None
    lat: float | None = None
    description: str = ""
    urgency: str = "normal"
    citizen_name: str = ""
    citizen_phone: str = ""
    callback_consent: bool = False
    call_id: int | None = None
    dispatch_to: str | None = None  # a unit's code or "auto": dispatch on registration
    media_url: str = ""  # a picture the citizen posted elsewhere (Open311)
    component_id: str | None = None  # the component (部件) the case is about, if any
    duplicate_of: str | None = None  # the open case this report repeats (its number)


def create_case(
    session: Session,
    actor: Actor,
    new: NewCase,
    idempotency_key: str | None,
    *,
    now: dt.datetime | None = None,
    zone: ZoneInfo = BEIJING,
    calendar: WorkCalendar | None = None,
    bounds: Bounds = WORLD,
) -> tuple[Case, bool]:
    """Register a case (or receive it, when unclassified); with ``new.dispatch_to`` also
    dispatch it (a unit's code, or ``auto`` for the assignment rules) in the same
    transaction, with the deadline from ``calendar``. A point must lie in ``bounds`` (the
    city's, from the settings). Returns (case, created)."""
    if actor.role not in DESK and not (actor.role == "inspector" and new.source == "field"):
        raise CaseError("case-forbidden", f"a {actor.role} cannot create such cases", 403)
    reference = reference_data(session)
    new = _placed_by_component(session, _cleaned(new))
    if new.district_code is None and not actor.is_city and actor.role != "unit":
        # A district's platform files in its district: a case it could not read (and a
        # retry of it) would otherwise be lost to it.
        new = dataclasses.replace(new, district_code=actor.scope_code)
    _check_new(session, reference, actor, new, bounds)
    original = _original(session, actor, new) if new.duplicate_of else None
    owner = component_owner(session, new.component_id)
    if owner is not None and new.dispatch_to in ("", "auto"):
        new = dataclasses.replace(new, dispatch_to=owner)  # the owner before the class rule
    now = now or utcnow()
    classified = bool(new.kind and new.class_code)
    values: dict[str, Any] = {
        "idempotency_key": idempotency_key or None,
        "source": new.source,
        "state": "registered" if classified else "received",
        "kind": new.kind,
        "class_code": new.class_code,
        "district_code": new.district_code,
        "grid_code": new.grid_code,
        "address": new.address,
        "lon": new.lon,
        "lat": new.lat,
        "description": new.description,
        "urgency": new.urgency,
        "citizen_name": new.citizen_name,
        "citizen_phone": new.citizen_phone,
        "callback_consent": new.callback_consent,
        "call_id": new.call_id,
        "media_url": new.media_url[:512],
        "component_id": new.component_id,
        "created_by": actor.username,
        "created_at": now,
        "updated_at": now,
        "platform_level": "city" if new.district_code is None else "district",
        "version": 1,
    }
    dispatch: dict[str, Any] | None = None
    if new.dispatch_to is not None and original is None:
        dispatch = _dispatch_on_create(reference, actor, new, values, now, calendar, zone)
    if original is not None:
        values["state"], values["duplicate_of"] = "duplicate", original.id
    values["number"] = next_case_number(session, now.astimezone(zone).date())
    pending = _Pending(
        values["number"],
        values["state"],
        values.get("unit_code"),
        values.get("due_at"),
        new.district_code,
        new.class_code,
    )
    # With a dispatch or a link, the create step's history and event tell the state it
    # ended in.
    first = "registered" if classified else "received"
    created = {}
    if dispatch is not None or original is not None:
        created = {"state": first, "unit": None, "due_at": None}
    source = {"source": new.source}
    user = actor.username
    steps = [change_rows(pending, user, "create", None, "", source, now, **created)]
    if dispatch is not None:
        steps.append(change_rows(pending, user, "dispatch", "registered", "", dispatch, now))
    if original is not None:
        link = {"duplicate_of": original.number}
        steps.append(change_rows(pending, user, "mark_duplicate", first, "", link, now))
    case = insert_case(session, values, steps)
    if case is not None:
        if original is not None:  # the original's history counts the repeated report
            reported = {"duplicate": case.number, "source": new.source}
            record_change(
                session, original, user, "duplicate_reported", original.state, "", reported, now
            )
        return case, True
    # The key is taken (a repeated request, or one racing us): the case it created. The
    # number just taken stays unused, a gap; a key taken by someone who may not see
    # that case is refused without saying what is behind it.
    existing = session.scalar(select(Case).where(Case.idempotency_key == idempotency_key))
    if existing is None or not may_see(actor, existing):
        raise CaseError("case-key-taken", "this idempotency key was used for another case", 409)
    return existing, False


@dataclass(frozen=True)
class _Pending:
    """What a step's history and event say of a case not yet inserted."""

    number: str
    state: str
    unit_code: str | None
    due_at: dt.datetime | None
    district_code: str | None
    class_code: str | None


def _dispatch_on_create(
    reference: Reference,
    actor: Actor,
    new: NewCase,
    values: dict[str, Any],
    now: dt.datetime,
    calendar: WorkCalendar | None,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """Fill ``values`` for a case created already dispatched; return the dispatch's data."""
    if not new.kind or not new.class_code:
        raise CaseError("case-missing-data", "register the case before dispatching it", 409)
    unit_code = new.dispatch_to
    if unit_code in ("", "auto"):
        unit_code = assign_unit(reference.assignment, new.kind, new.class_code, new.district_code)
        if unit_code is None:
            raise CaseError("case-no-unit", "no assignment rule matches; choose a unit", 409)
    data: dict[str, Any] = {"unit_code": unit_code}
    try:
        target = check_transition("registered", "dispatch", actor.role, data, actor.level)
    except TransitionError as exc:
        raise CaseError(exc.error_id, str(exc), 403) from exc
    level = _check_unit(reference, actor, str(unit_code), new.district_code)
    values["state"] = target
    values["unit_code"] = unit_code
    if level == "city":
        values["platform_level"] = "city"
    values["due_at"] = _deadline(
        reference, new.kind, new.class_code, new.urgency, now, calendar, zone
    )
    return data


def _original(session: Session, actor: Actor, new: NewCase) -> Case:
    """The open case a new report repeats (linked at registration, 重复件): one the desk
    may list as nearby (its district's; the city desk's: any) and still open. The new
    report is recorded as a duplicate of it; the original goes on being worked."""
    original = session.scalar(select(Case).where(Case.number == new.duplicate_of))
    if original is None or not (actor.is_city or original.district_code == actor.scope_code):
        raise CaseError(
            "case-bad-duplicate",
            f"duplicate_of: no open case {new.duplicate_of} in your area",
            422,
            "duplicate_of",
        )
    if original.state in FINAL_STATES:
        raise CaseError(
            "case-duplicate-closed",
            f"case {original.number} is {original.state}: register the report as a new case",
            409,
            "duplicate_of",
        )
    if new.district_code is not None and original.district_code not in (None, new.district_code):
        raise CaseError(
            "case-bad-duplicate", "the original lies in another district", 422, "duplicate_of"
        )
    if new.dispatch_to is not None:
        raise CaseError(
            "case-bad-duplicate",
            "a repeated report is not dispatched: the original is being worked",
            422,
            "duplicate_of",
        )
    return original


def _cleaned(new: NewCase) -> NewCase:
    """``new`` with its free text cleaned of what XML and PostgreSQL cannot hold."""
    return dataclasses.replace(
        new,
        address=clean_text(new.address),
        description=clean_text(new.description),
        citizen_name=clean_text(new.citizen_name),
        citizen_phone=new.citizen_phone.strip(),
    )


_PHONE = re.compile(r"^\+?[0-9][0-9 -]{2,30}$")


def _placed_by_component(session: Session, new: NewCase) -> NewCase:
    """A case about a component (its id typed from the plate) is where the component is:
    its district, grid cell and point fill what the report left out."""
    component = session.get(Component, new.component_id) if new.component_id else None
    if component is None or not component.active:
        return new  # an unknown one is refused by the checks, beside its field
    return dataclasses.replace(
        new,
        district_code=new.district_code or component.district_code,
        grid_code=new.grid_code or component.grid_code,
        lon=component.lon if new.lon is None and new.lat is None else new.lon,
        lat=component.lat if new.lon is None and new.lat is None else new.lat,
    )


def _check_new(
    session: Session, reference: Reference, actor: Actor, new: NewCase, bounds: Bounds
) -> None:
    try:
        check_point(new.lon, new.lat, bounds)
    except PointError as exc:
        raise CaseError("case-bad-point", str(exc), 422) from exc
    if new.component_id is not None:
        component = session.get(Component, new.component_id)
        if component is None or not component.active:
            raise CaseError(
                "case-bad-component", f"unknown component {new.component_id}", 422, "component_id"
            )
        if new.district_code is not None and component.district_code != new.district_code:
            raise CaseError(
                "case-bad-component", "the component lies in another district", 422, "component_id"
            )
    if new.citizen_phone and not _PHONE.match(new.citizen_phone):
        raise CaseError(
            "case-bad-phone", "the citizen's phone: digits, with an optional leading +", 422
        )
    if new.district_code is not None:
        if new.district_code not in reference.districts:
            raise CaseError("case-bad-district", f"unknown district {new.district_code}", 422)
        if not actor.is_city and new.district_code != actor.scope_code:
            raise CaseError("case-forbidden", "outside your district", 403)
    if new.grid_code:
        try:
            parsed = parse_grid_code(new.grid_code)
        except CodeError as exc:
            raise CaseError("case-bad-grid", str(exc), 422) from exc
        if not reference.has_grid_cell(session, new.grid_code):
            raise CaseError("case-bad-grid", f"unknown grid cell {new.grid_code}", 422)
        if new.district_code and parsed.district != new.district_code:
            raise CaseError("case-bad-grid", "grid cell lies in another district", 422)
    if bool(new.kind) != bool(new.class_code):
        raise CaseError("case-bad-class", "give both kind and class_code, or neither", 422)
    if new.kind and new.class_code:
        _check_class(reference, new.kind, new.class_code, new.district_code)
    if new.urgency not in ("normal", "urgent"):
        raise CaseError("case-bad-urgency", "urgency is normal or urgent", 422)


def _check_class(
    reference: Reference, kind: str, class_code: str, district_code: str | None
) -> None:
    """An active class; a district's own type only for a case in that district."""
    if (kind, class_code) not in reference.classes:
        raise CaseError("case-bad-class", f"no active {kind} class {class_code}", 422)
    owner = reference.class_districts.get((kind, class_code))
    if owner is not None and district_code != owner:
        raise CaseError(
            "case-bad-class", f"{kind} class {class_code} is district {owner}'s own", 422
        )


def get_case(session: Session, actor: Actor, number: str) -> Case:
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None or not may_see(actor, case):
        raise CaseError("case-not-found", f"no case {number}", 404)  # no hint it exists
    return case


def transition(
    session: Session,
    actor: Actor,
    number: str,
    action: str,
    version: int,
    data: dict[str, Any] | None = None,
    *,
    now: dt.datetime | None = None,
    calendar: WorkCalendar | None = None,
    zone: ZoneInfo = BEIJING,
) -> Case:
    """Apply ``action`` to the case, made on ``version``; write its history."""
    now = now or utcnow()
    case = get_case(session, actor, number)
    try:
        note, data = check_action_data(action, data or {})
    except ActionDataError as exc:
        raise CaseError("case-bad-data", f"{action}: {exc}", 422, exc.field) from exc
    if note:
        data["note"] = note
    if case.version != version:
        raise CaseError(
            "case-conflict",
            f"case {number} changed (version {case.version}, "
            f"yours {version}): reload and try again",
            409,
        )
    if action == "dispatch" and data.get("unit_code") in (None, "", "auto"):
        data["unit_code"] = _auto_unit(session, case)
    try:
        target = check_transition(case.state, action, actor.role, data, actor.level)
    except TransitionError as exc:
        raise CaseError(
            exc.error_id, str(exc), 403 if exc.error_id == "case-forbidden" else 409
        ) from exc
    before = case.state
    with session.no_autoflush:  # one UPDATE per change, so one version step per change
        _apply(session, actor, case, action, data, now, calendar, zone)
        case.state = target
        case.updated_at = now
        if target not in ACTIVE_JOBS:  # a job no longer open has no extension to decide
            case.pending_extension_hours = None
    try:
        session.flush()
    except StaleDataError as exc:
        raise CaseError("case-conflict", f"case {number} changed meanwhile: reload", 409) from exc
    record_change(
        session,
        case,
        actor.username,
        action,
        before,
        str(data.get("note", "")),
        {k: v for k, v in data.items() if k != "note"},
        now,
    )
    return case


def record_change(
    session: Session,
    case: Case,
    actor: str,
    action: str,
    before: str | None,
    note: str,
    data: dict[str, Any],
    now: dt.datetime,
) -> None:
    """The history row and the outbox event of one change, in the caller's transaction."""
    history, event = change_rows(case, actor, action, before, note, data, now)
    session.add(CaseHistory(case_id=case.id, **history))
    session.add(OutboxEvent(case_id=case.id, **event))


def change_rows(
    case: Case | _Pending,
    actor: str,
    action: str,
    before: str | None,
    note: str,
    data: dict[str, Any],
    now: dt.datetime,
    **reported: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``case_history`` and ``outbox_events`` rows of one change, without their
    ``case_id`` (a new case has none until it is inserted). ``reported``
    overrides what they say of the case (``state``, ``unit``, ``due_at``) when one
    statement made several changes, so that each tells its own step."""
    state = reported.get("state", case.state)
    unit = reported.get("unit", case.unit_code)
    due = reported.get("due_at", case.due_at)
    history = {
        "at": now,
        "actor": actor,
        "action": action,
        "from_state": before,
        "to_state": state,
        "note": note,
        "data": data,
    }
    event = {
        "kind": action,
        "created_at": now,
        "send_state": "unprocessed",
        "send_fail_count": 0,
        "last_error": "",
        "payload": {
            "case": case.number,
            "action": action,
            "from_state": before,
            "state": state,
            "at": now.isoformat(),
            "actor": actor,
            "unit": unit,
            "district": case.district_code,
            "class_code": case.class_code,
            "due_at": due.isoformat() if due else None,
            "note": note,
        },
    }
    return history, event


def _apply(
    session: Session,
    actor: Actor,
    case: Case,
    action: str,
    data: dict[str, Any],
    now: dt.datetime,
    calendar: WorkCalendar | None,
    zone: ZoneInfo,
) -> None:
    if action == "register":
        _check_class(
            reference_data(session), str(data["kind"]), str(data["class_code"]), case.district_code
        )
        case.kind, case.class_code = str(data["kind"]), str(data["class_code"])
    elif action == "mark_duplicate":
        number = str(data["duplicate_of"])
        original = session.scalar(select(Case).where(Case.number == number))
        # A case the actor may not see is answered like one that does not exist.
        if original is None or original.id == case.id or not may_see(actor, original):
            raise CaseError(
                "case-bad-duplicate", f"duplicate_of: no other case {number} you can see", 422
            )
        case.duplicate_of = original.id
    elif action == "dispatch":
        reference = reference_data(session)
        unit_code = str(data["unit_code"])
        level = _check_unit(reference, actor, unit_code, case.district_code)
        case.unit_code = unit_code
        if level == "city":
            case.platform_level = "city"
        if case.kind and case.class_code:
            case.due_at = _deadline(
                reference, case.kind, case.class_code, case.urgency, now, calendar, zone
            )
    elif action == "verify":  # both checked by their shape (action_data.Verify)
        case.solved = data["solved"]
        case.satisfaction = data["satisfaction"]
    elif action == "escalate":
        case.platform_level = "city"
        _notify(
            session,
            case,
            None,
            CITY_SCOPE,
            "escalated",
            f"案件 {case.number} 由区级平台上报市级平台协调",
            now,
        )
    elif action == "hand_down":
        _hand_down(session, case, data, now)
    elif action == "urge":
        case.urge_count = (case.urge_count or 0) + 1
        text = f"督办：案件 {case.number} 请抓紧处置（第 {case.urge_count} 次督办）"
        _notify(session, case, case.unit_code, None, "urge", text, now)
        _notify(session, case, None, case.district_code or CITY_SCOPE, "urge", text, now)


CITY_SCOPE = "110000"  # the city platform's scope code in notifications


def _check_unit(
    reference: Reference, actor: Actor, unit_code: str, district_code: str | None
) -> str:
    """The level of the unit a case goes to, if this actor may send that case there: a
    district platform to its own district's units; the city platform to any unit; a case
    with no district only to a city-level unit (a district's unit would never see it in
    its district's lists)."""
    level = reference.units.get(unit_code)
    if level is None:
        raise CaseError("case-bad-unit", f"unknown unit {unit_code}", 422)
    unit_district = reference.unit_districts.get(unit_code)
    if level == "district" and district_code is None:
        raise CaseError(
            "case-no-district",
            "the case has no district: set its district (or hand it down) before sending it "
            "to a district's unit",
            409,
        )
    if level == "district" and unit_district != district_code:
        raise CaseError("case-bad-unit", f"{unit_code} works in another district", 422)
    if not actor.is_city and level == "city":
        raise CaseError(
            "case-forbidden", "city-level units are dispatched by the city platform", 403
        )
    return level


@dataclass(frozen=True)
class DispatchChoices:
    """What a dispatch form offers: the unit the assignment rules suggest (None when no
    rule matches or the case is unclassified), whether this actor may send the case there,
    and every unit this actor may send it to (by ``_check_unit``: the same rule the
    dispatch itself applies)."""

    suggested: str | None
    suggested_allowed: bool
    allowed: tuple[str, ...]


def dispatch_choices(session: Session, actor: Actor, case: Case) -> DispatchChoices:
    reference = reference_data(session)
    allowed = []
    for unit_code in sorted(reference.units):
        try:
            _check_unit(reference, actor, unit_code, case.district_code)
        except CaseError:
            continue
        allowed.append(unit_code)
    suggested = None
    if case.kind and case.class_code:
        suggested = assign_unit(
            reference.assignment, case.kind, case.class_code, case.district_code
        )
    return DispatchChoices(suggested, suggested in allowed, tuple(allowed))


def _notify(
    session: Session,
    case: Case,
    unit_code: str | None,
    scope_code: str | None,
    kind: str,
    text: str,
    now: dt.datetime,
) -> None:
    session.add(
        Notification(
            case_id=case.id,
            unit_code=unit_code,
            scope_code=scope_code,
            kind=kind,
            text=text,
            created_at=now,
        )
    )


def _hand_down(session: Session, case: Case, data: dict[str, Any], now: dt.datetime) -> None:
    """The city platform gives a case to a district platform: its district (given, or the
    case's own) and a grid cell in that district, if any."""
    district = data.get("district_code") or case.district_code
    if district is None:
        raise CaseError("case-no-district", "hand_down: name the district platform", 422)
    if district not in reference_data(session).districts:
        raise CaseError("case-bad-district", f"hand_down: unknown district {district}", 422)
    if case.grid_code and not case.grid_code.startswith(district):
        raise CaseError("case-bad-grid", "hand_down: the case's grid cell lies elsewhere", 422)
    case.district_code = district
    case.platform_level = "district"
    case.unit_code = None
    case.due_at = None
    case.overdue_at = None
    _notify(
        session,
        case,
        None,
        district,
        "handed_down",
        f"市级平台将案件 {case.number} 交由本区处置",
        now,
    )


def component_owner(session: Session, component_id: str | None) -> str | None:
    """The unit owning the (active) component, which takes a case about it."""
    if not component_id:
        return None
    component = session.get(Component, component_id)
    return component.owner_unit if component is not None and component.active else None


def _auto_unit(session: Session, case: Case) -> str:
    if not case.kind or not case.class_code:
        raise CaseError("case-missing-data", "register the case before dispatching it", 409)
    owner = component_owner(session, case.component_id)
    if owner is not None:
        return owner
    unit = assign_unit(
        reference_data(session).assignment, case.kind, case.class_code, case.district_code
    )
    if unit is None:
        raise CaseError("case-no-unit", "no assignment rule matches; choose a unit", 409)
    return unit


def _deadline(
    reference: Reference,
    kind: str,
    class_code: str,
    urgency: str,
    now: dt.datetime,
    calendar: WorkCalendar | None,
    zone: ZoneInfo,
) -> dt.datetime | None:
    if calendar is None:
        return None
    rule = deadline_for(reference.deadlines, kind, class_code, urgency)
    if rule is None:
        return None
    local = now.astimezone(zone).replace(tzinfo=None)
    return due_at(calendar, rule, local).replace(tzinfo=zone).astimezone(dt.UTC)


def request_extension(
    session: Session,
    actor: Actor,
    number: str,
    version: int,
    hours: int,
    reason: str,
    *,
    now: dt.datetime | None = None,
) -> Case:
    """A unit asks for more time; the platform decides (``decide_extension``)."""
    now = now or utcnow()
    case = get_case(session, actor, number)
    if actor.role != "unit" or case.state not in ("dispatched", "in_progress", "rework"):
        raise CaseError("case-forbidden", "only the unit handling the job can ask", 403)
    if case.pending_extension_hours is not None:
        raise CaseError(
            "case-extension-waiting",
            f"an extension of {case.pending_extension_hours} hours is already waiting for the "
            "platform's decision",
            409,
        )
    reason = clean_text(reason)
    if not 1 <= hours <= 400 or not reason.strip() or len(reason) > 4000:
        raise CaseError("case-bad-extension", "1 to 400 working hours, with a reason", 422)
    case.pending_extension_hours = hours  # before the lock's flush: one version step
    touch_case(session, case, version, now)
    _notify(
        session,
        case,
        None,
        case.district_code or CITY_SCOPE,
        "extension",
        f"案件 {case.number} 的责任单位申请延期 {hours} 个工作小时",
        now,
    )
    record_change(
        session,
        case,
        actor.username,
        "request_extension",
        case.state,
        reason,
        {"hours": hours},
        now,
    )
    return case


def may_decide_extension(actor: Actor) -> bool:
    """The platform's staff decide a unit's extension requests (of cases they see)."""
    return actor.role in PLATFORM_STAFF


def decide_extension(
    session: Session,
    actor: Actor,
    number: str,
    version: int,
    approve: bool,
    calendar: WorkCalendar,
    *,
    now: dt.datetime | None = None,
    zone: ZoneInfo = BEIJING,
) -> Case:
    """The platform approves (the deadline moves by the working hours asked) or refuses."""
    now = now or utcnow()
    case = get_case(session, actor, number)
    if not may_decide_extension(actor):
        raise CaseError("case-forbidden", "the platform's staff decide extensions", 403)
    pending = case.pending_extension_hours
    if pending is None:
        raise CaseError("case-no-extension", "no extension request is waiting", 409)
    # Every change before the lock's flush: one version step for the decision (a refused
    # version raises there and the caller's transaction rolls them back).
    case.pending_extension_hours = None
    if approve and case.due_at is not None:
        local = _aware(case.due_at).astimezone(zone).replace(tzinfo=None)
        moved = calendar.add_working_hours(local, pending)
        case.due_at = moved.replace(tzinfo=zone).astimezone(dt.UTC)
        case.overdue_at = None
    touch_case(session, case, version, now)
    record_change(
        session,
        case,
        actor.username,
        "approve_extension" if approve else "refuse_extension",
        case.state,
        "",
        {"hours": pending},
        now,
    )
    return case


def pending_extension(session: Session, case: Case) -> int | None:
    """Hours of the last extension request not yet decided, if any."""
    request = waiting_extension_request(session, case)
    if request is None:
        return None
    return int(request.data.get("hours", 0)) or None


EXTENSION_STEPS = ("request_extension", "approve_extension", "refuse_extension")


def waiting_extension_request(session: Session, case: Case) -> CaseHistory | None:
    """The history row of the extension request waiting for a decision, if any."""
    last = session.scalars(
        select(CaseHistory)
        .where(CaseHistory.case_id == case.id, CaseHistory.action.in_(EXTENSION_STEPS))
        .order_by(CaseHistory.id.desc())
        .limit(1)
    ).first()
    return last if last is not None and last.action == "request_extension" else None


def waiting_extension_requests(session: Session, case_ids: list[int]) -> dict[int, CaseHistory]:
    """``waiting_extension_request`` of many cases in one query: case id → its request."""
    if not case_ids:
        return {}
    latest = (
        select(func.max(CaseHistory.id))
        .where(CaseHistory.case_id.in_(case_ids), CaseHistory.action.in_(EXTENSION_STEPS))
        .group_by(CaseHistory.case_id)
    )
    return {
        row.case_id: row
        for row in session.scalars(select(CaseHistory).where(CaseHistory.id.in_(latest)))
        if row.action == "request_extension"
    }


def touch_case(session: Session, case: Case, version: int, now: dt.datetime) -> None:
    """The optimistic lock: refuse a change made on an older ``version``, bump it."""
    if case.version != version:
        raise CaseError("case-conflict", f"case {case.number} changed: reload", 409)
    case.updated_at = now
    try:
        session.flush()
    except StaleDataError as exc:
        raise CaseError("case-conflict", f"case {case.number} changed meanwhile", 409) from exc


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
