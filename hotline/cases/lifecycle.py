"""The case lifecycle: which action moves a case from which state to which, and who may.

received → registered (立案) → dispatched (派遣) → in_progress → handled (反馈) → verified
(核实) → closed (结案); a unit returns a case that is not theirs (returned → dispatched
again); failed verification sends it back for rework (返工); a district escalates what it
cannot coordinate to the city platform (escalated → dispatched to a city-level unit); what
cannot be solved in time goes on the ledger (挂账) with its reason; invalid and duplicate
cases end early. A pure table, checked by tests for every allowed and forbidden pair.
"""

from __future__ import annotations

from dataclasses import dataclass

PLATFORM = frozenset({"agent", "supervisor"})
SUPERVISOR = frozenset({"supervisor"})
UNIT = frozenset({"unit"})


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]
    needs: tuple[str, ...] = ()  # data the action must carry


TRANSITIONS = {
    t.action: t
    for t in (
        Transition(
            "register", frozenset({"received"}), "registered", PLATFORM, ("kind", "class_code")
        ),
        Transition(
            "mark_invalid", frozenset({"received", "registered"}), "invalid", PLATFORM, ("note",)
        ),
        Transition(
            "mark_duplicate",
            frozenset({"received", "registered"}),
            "duplicate",
            PLATFORM,
            ("duplicate_of",),
        ),
        Transition(
            "dispatch",
            frozenset({"registered", "returned", "escalated"}),
            "dispatched",
            PLATFORM,
            ("unit_code",),
        ),
        Transition("accept", frozenset({"dispatched", "rework"}), "in_progress", UNIT),
        Transition("return", frozenset({"dispatched"}), "returned", UNIT, ("note",)),
        Transition("report_handled", frozenset({"in_progress"}), "handled", UNIT, ("note",)),
        Transition(
            "verify", frozenset({"handled"}), "verified", PLATFORM, ("solved", "satisfaction")
        ),
        Transition("rework", frozenset({"handled"}), "rework", PLATFORM, ("note",)),
        Transition("close", frozenset({"verified"}), "closed", PLATFORM),
        Transition(
            "escalate",
            frozenset({"registered", "returned", "dispatched", "in_progress", "rework"}),
            "escalated",
            SUPERVISOR,
            ("note",),
        ),
        Transition(
            "to_ledger",
            frozenset({"dispatched", "in_progress", "rework"}),
            "ledger",
            SUPERVISOR,
            ("note",),
        ),
        Transition("resume", frozenset({"ledger"}), "in_progress", SUPERVISOR, ("note",)),
    )
}
FINAL_STATES = frozenset({"closed", "invalid", "duplicate"})


class TransitionError(ValueError):
    """The action is not allowed here; ``error_id`` is stable for API clients."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


def check_transition(state: str, action: str, role: str, data: dict[str, object]) -> str:
    """The state ``action`` leads to from ``state``, or :class:`TransitionError`."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise TransitionError("case-unknown-action", f"no action {action!r}")
    if role not in transition.roles:
        raise TransitionError(
            "case-forbidden",
            f"a {role} may not {action} (only {', '.join(sorted(transition.roles))})",
        )
    if state not in transition.sources:
        raise TransitionError("case-bad-state", f"cannot {action} a case that is {state}")
    missing = [name for name in transition.needs if data.get(name) in (None, "")]
    if missing:
        raise TransitionError("case-missing-data", f"{action} needs {', '.join(missing)}")
    return transition.target


def actions_for(state: str, role: str) -> list[str]:
    """The actions a role can take on a case in ``state`` (for buttons and menus)."""
    return [t.action for t in TRANSITIONS.values() if state in t.sources and role in t.roles]
