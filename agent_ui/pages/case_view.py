"""What the case page shows, gathered from the domain: the facts in words, the timeline of
the case's history, the photos, the unit's feedback, extension requests, joint-job parts,
the calls, and the forms of the actions the reader may take. No rule lives here: which
actions, units and citizen details a reader gets is the domain's answer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent_ui.web.i18n import Texts
from agent_ui.web.names import Names
from hotline.cases.case_calls import LinkedCall, case_calls, may_call_back, recording_file
from hotline.cases.joint import joint_open, joint_parts, may_assign_joint
from hotline.cases.lifecycle import TRANSITIONS, actions_for
from hotline.cases.privacy import Citizen, citizen_view
from hotline.cases.publication import public_text
from hotline.cases.queries import scope_clause
from hotline.cases.reference import offered_in, reference_data
from hotline.cases.service import (
    Actor,
    CaseError,
    dispatch_choices,
    may_decide_extension,
    waiting_extension_request,
)
from hotline.models import Attachment, Case, CaseHistory, CatalogueClass, Component
from hotline.roles import PLATFORM_STAFF

# The forms of the page, in the order a platform works a case; extension and joint_job
# are decided by their own services (decide_extension, assign_joint), the rest by
# ``transition``.
FORM_ORDER = (
    "register",
    "dispatch",
    "verify",
    "rework",
    "close",
    "urge",
    "extension",
    "joint_job",
    "escalate",
    "hand_down",
    "to_ledger",
    "resume",
    "mark_duplicate",
    "mark_invalid",
    "publish",
)
SYSTEM_ACTORS = ("system", "ivr")
FEEDBACK_ACTIONS = ("accept", "return", "report_handled", "assist_done")
EXTENSION_ACTIONS = ("request_extension", "approve_extension", "refuse_extension")


@dataclass
class Step:
    """One row of the timeline, in words."""

    at: dt.datetime
    action: str
    who: str
    from_state: str | None
    to_state: str
    note: str
    details: list[tuple[str, str, str]] = field(default_factory=list)  # label, text, link


def forms_for(session: Session, actor: Actor, case: Case) -> list[str]:
    """The forms the reader gets: the lifecycle's actions for their role and platform, the
    extension decision while one is waiting, the joint job for the city. A unit works its
    jobs on the unit portal (a link)."""
    if actor.role == "unit":
        return []
    offered = set(actions_for(case.state, actor.role, actor.level))
    if may_decide_extension(actor) and case.pending_extension_hours is not None:
        offered.add("extension")
    if may_assign_joint(actor) and joint_open(case):
        offered.add("joint_job")
    if actor.role in PLATFORM_STAFF:  # what the public reads of the case is theirs to decide
        offered.add("publish")
    return [name for name in FORM_ORDER if name in offered]


def needs(action: str) -> tuple[str, ...]:
    """What the action must carry (the lifecycle's declaration), for the required marks."""
    transition = TRANSITIONS.get(action)
    return transition.needs if transition is not None else ()


def timeline(rows: list[CaseHistory], names: Names, t: Texts) -> list[Step]:
    steps = []
    for row in rows:
        system = row.actor in SYSTEM_ACTORS
        note = t.get(f"history_auto_{row.action}", row.note) if system else row.note
        steps.append(
            Step(
                row.at,
                t.get(f"action_{row.action}", row.action),
                t.get(f"actor_{row.actor}", row.actor) if system else names.person(row.actor),
                row.from_state,
                row.to_state,
                note,
                details(row.data or {}, names, t),
            )
        )
    return steps


def details(data: dict[str, Any], names: Names, t: Texts) -> list[tuple[str, str, str]]:
    """A history row's data in words: (label, text, link). Keys with no words are left out
    (the page never shows a raw field name)."""
    out: list[tuple[str, str, str]] = []

    def add(key: str, text: str, link: str = "") -> None:
        out.append((t[f"detail_{key}"], text, link))

    if "kind" in data and "class_code" in data:
        kind, code = str(data["kind"]), str(data["class_code"])
        add("class", f"{t.get('kind_' + kind, '')} {names.klass(kind, code)}（{code}）")
    for key in ("unit_code", "unit", "lead"):
        if data.get(key):
            add("lead" if key == "lead" else "unit", names.unit(str(data[key])))
    if data.get("assisting"):
        add("assisting", "、".join(names.unit(str(u)) for u in data["assisting"]))
    if data.get("district_code"):
        add("district", names.area(str(data["district_code"])))
    if data.get("source"):
        add("source", t.get(f"source_{data['source']}", ""))
    if data.get("duplicate_of"):
        number = str(data["duplicate_of"])
        add("duplicate_of", number, f"/cases/{number}")
    if data.get("duplicate"):
        number = str(data["duplicate"])
        add("duplicate", number, f"/cases/{number}")
    if "solved" in data:
        add("solved", t.case_yes if data["solved"] else t.case_no)
    if "satisfaction" in data:
        add("satisfaction", f"{data['satisfaction']} / 5")
    if data.get("hours"):
        add("hours", t.fmt("case_hours", hours=data["hours"]))
    if data.get("auto"):
        add("auto", t.case_yes)
    if data.get("purpose"):
        add("photo", t.get(f"photo_{data['purpose']}", ""))
    if isinstance(data.get("call"), int):
        add("call", f"#{data['call']}", f"#call-{data['call']}")
    if data.get("queue"):
        add("queue", names.queue(str(data["queue"])))
    return [item for item in out if item[1]]


@dataclass(frozen=True)
class HeardCall:
    linked: LinkedCall
    has_recording: bool


def case_context(
    session: Session, actor: Actor, case: Case, names: Names, t: Texts, recordings: Path
) -> dict[str, Any]:
    """Everything the template shows of ``case`` to ``actor``."""
    history = list(
        session.scalars(
            select(CaseHistory).where(CaseHistory.case_id == case.id).order_by(CaseHistory.id)
        )
    )
    photos = session.scalars(
        select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id)
    ).all()
    citizen: Citizen = citizen_view(
        actor.role, actor.username, case.created_by, case.citizen_name, case.citizen_phone
    )
    forms = forms_for(session, actor, case)
    context: dict[str, Any] = {
        "case": case,
        "citizen": citizen,
        "timeline": timeline(history, names, t),
        "feedback": timeline([h for h in history if h.action in FEEDBACK_ACTIONS], names, t),
        "extensions": timeline([h for h in history if h.action in EXTENSION_ACTIONS], names, t),
        "photos": {
            purpose: [p for p in photos if p.purpose == purpose]
            for purpose in ("report", "feedback", "verification")
        },
        "parts": joint_parts(session, case),
        "calls": [
            HeardCall(c, recording_file(recordings, c.call) is not None)
            for c in case_calls(session, actor, case)
        ],
        "forms": forms,
        "needs": {name: needs(name) for name in forms},
        "callback": may_call_back(actor, case),
        "duplicate_number": _number_of(session, case.duplicate_of),
        "duplicates": list(
            session.scalars(
                select(Case.number).where(Case.duplicate_of == case.id).order_by(Case.id)
            )
        ),
        "public_now": public_text(case.source, case.description, case.public_text),
    }
    if case.component_id:
        context["component"] = session.get(Component, case.component_id)
        context["component_cases"] = component_history(session, actor, case)
    if "dispatch" in forms:
        context["dispatch"] = dispatch_choices(session, actor, case)
    if "register" in forms:
        context["classes"] = session.execute(
            select(CatalogueClass.kind, CatalogueClass.code)
            .where(
                CatalogueClass.minor.is_not(None),
                CatalogueClass.active.is_(True),
                offered_in(case.district_code),
            )
            .order_by(CatalogueClass.kind, CatalogueClass.code)
        ).all()
    if "extension" in forms:
        waiting = waiting_extension_request(session, case)
        context["waiting_extension"] = timeline([waiting], names, t)[0] if waiting else None
    if "joint_job" in forms:
        context["joint_units"] = sorted(set(reference_data(session).units) - {case.unit_code})
    return context


COMPONENT_HISTORY = 20


def component_history(session: Session, actor: Actor, case: Case) -> list[Any]:
    """The other cases about the case's component that ``actor`` may see, newest first."""
    try:
        scope = scope_clause(actor)
    except CaseError:
        return []
    query = select(Case.number, Case.state, Case.created_at).where(
        Case.component_id == case.component_id, Case.id != case.id
    )
    if scope is not None:
        query = query.where(scope)
    return list(session.execute(query.order_by(Case.id.desc()).limit(COMPONENT_HISTORY)))


def _number_of(session: Session, case_id: int | None) -> str | None:
    if case_id is None:
        return None
    return session.scalar(select(Case.number).where(Case.id == case_id))
