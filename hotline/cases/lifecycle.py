"""The case lifecycle: which action moves a case from which state to which, and who may.

received → registered (立案) → dispatched (派遣) → in_progress → handled (反馈) → verified
(核实) → closed (结案); a unit returns a case that is not theirs (returned → dispatched
again); failed verification sends it back for rework (返工); a district escalates what it
cannot coordinate to the city platform (escalated → dispatched to a city-level unit); what
cannot be solved in time goes on the ledger (挂账) with its reason; invalid and duplicate
cases end early; the city platform hands a case it should not keep down to a district
platform; a platform urges (督办) a unit on an open job without changing its state. A pure
table, checked by tests for every allowed and forbidden pair; roles in ``hotline.roles``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hotline.roles import DESK, PLATFORM_STAFF

STAFF = PLATFORM_STAFF
UNIT = frozenset({"unit"})
ACTIVE_JOBS = frozenset({"dispatched", "in_progress", "rework"})


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str | None  # None: the case stays in its state (urging a unit)
    roles: frozenset[str]
    needs: tuple[str, ...] = ()  # data the action must carry
    level: str | None = None  # "city" or "district": only that platform takes it


TRANSITIONS = {
    t.action: t
    for t in (
        Transition("register", frozenset({"received"}), "registered", DESK, ("kind", "class_code")),
        Transition(
            "mark_invalid", frozenset({"received", "registered"}), "invalid", STAFF, ("note",)
        ),
        Transition(
            "mark_duplicate",
            frozenset({"received", "registered"}),
            "duplicate",
            STAFF,
            ("duplicate_of",),
        ),
        Transition(
            "dispatch",
            frozenset({"registered", "returned", "escalated"}),
            "dispatched",
            STAFF,
            ("unit_code",),
        ),
        Transition("accept", frozenset({"dispatched", "rework"}), "in_progress", UNIT),
        Transition("return", frozenset({"dispatched"}), "returned", UNIT, ("note",)),
        Transition("report_handled", frozenset({"in_progress"}), "handled", UNIT, ("note",)),
        Transition("verify", frozenset({"handled"}), "verified", STAFF, ("solved", "satisfaction")),
        Transition("rework", frozenset({"handled"}), "rework", STAFF, ("note",)),
        Transition("close", frozenset({"verified"}), "closed", STAFF),
        Transition("urge", ACTIVE_JOBS, None, STAFF, ("note",)),
        Transition(
            "escalate",
            frozenset({"registered", "returned", "dispatched", "in_progress", "rework"}),
            "escalated",
            STAFF,
            ("note",),
            level="district",
        ),
        Transition(
            "hand_down",
            frozenset({"registered", "returned", "escalated"}),
            "registered",
            STAFF,
            ("note",),
            level="city",
        ),
        Transition("to_ledger", ACTIVE_JOBS, "ledger", STAFF, ("note",)),
        Transition("resume", frozenset({"ledger"}), "in_progress", STAFF, ("note",)),
    )
}
FINAL_STATES = frozenset({"closed", "invalid", "duplicate"})


class TransitionError(ValueError):
    """The action is not allowed here; ``error_id`` is stable for API clients."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


def check_transition(
    state: str, action: str, role: str, data: dict[str, object], level: str | None = None
) -> str:
    """The state ``action`` leads to from ``state``, or :class:`TransitionError`.
    ``level`` is the actor's platform ("city" or "district") where it matters."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise TransitionError("case-unknown-action", f"no action {action!r}")
    if role not in transition.roles:
        raise TransitionError(
            "case-forbidden",
            f"a {role} may not {action} (only {', '.join(sorted(transition.roles))})",
        )
    if transition.level is not None and level is not None and level != transition.level:
        raise TransitionError("case-forbidden", f"{action} is for the {transition.level} platform")
    if state not in transition.sources:
        raise TransitionError("case-bad-state", f"cannot {action} a case that is {state}")
    missing = [name for name in transition.needs if data.get(name) in (None, "")]
    if missing:
        raise TransitionError("case-missing-data", f"{action} needs {', '.join(missing)}")
    return state if transition.target is None else transition.target


def actions_for(state: str, role: str, level: str | None = None) -> list[str]:
    """The actions a role (of the ``level`` platform, when given) can take on a case in
    ``state`` (for buttons and menus)."""
    return [
        t.action
        for t in TRANSITIONS.values()
        if state in t.sources
        and role in t.roles
        and (t.level is None or level is None or t.level == level)
    ]
