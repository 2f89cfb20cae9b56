"""Every (state, action, role) triple: allowed ones lead where the table says, every other
one is refused with a stable error id."""

from __future__ import annotations

import itertools
import re

import pytest

from hotline.cases.lifecycle import (
    FINAL_STATES,
    TRANSITIONS,
    TransitionError,
    actions_for,
    check_transition,
)
from hotline.models import CASE_STATES, OPEN_CASE
from hotline.roles import ROLES

FULL = {
    "kind": "event",
    "class_code": "0102",
    "note": "n",
    "duplicate_of": 1,
    "unit_code": "u",
    "solved": True,
    "satisfaction": 5,
}
ALLOWED = {
    ("received", "register", "agent"): "registered",
    ("registered", "dispatch", "dispatcher"): "dispatched",
    ("dispatched", "accept", "unit"): "in_progress",
    ("in_progress", "report_handled", "unit"): "handled",
    ("handled", "verify", "dispatcher"): "verified",
    ("verified", "close", "supervisor"): "closed",
    ("dispatched", "return", "unit"): "returned",
    ("returned", "dispatch", "supervisor"): "dispatched",
    ("handled", "rework", "supervisor"): "rework",
    ("rework", "accept", "unit"): "in_progress",
    ("in_progress", "escalate", "supervisor"): "escalated",
    ("escalated", "dispatch", "dispatcher"): "dispatched",
    ("escalated", "hand_down", "dispatcher"): "registered",
    ("in_progress", "urge", "dispatcher"): "in_progress",
    ("in_progress", "to_ledger", "supervisor"): "ledger",
    ("ledger", "resume", "supervisor"): "in_progress",
    ("received", "mark_duplicate", "dispatcher"): "duplicate",
    ("registered", "mark_invalid", "supervisor"): "invalid",
}


def expected(state: str, action: str, role: str) -> str | None:
    transition = TRANSITIONS[action]
    if state in transition.sources and role in transition.roles:
        return state if transition.target is None else transition.target
    return None


TRIPLES = list(itertools.product(CASE_STATES, TRANSITIONS, ROLES))


@pytest.mark.parametrize(("state", "action", "role"), TRIPLES)
def test_every_triple(state: str, action: str, role: str) -> None:
    target = expected(state, action, role)
    if target is None:
        with pytest.raises(TransitionError) as caught:
            check_transition(state, action, role, FULL)
        assert caught.value.error_id in ("case-forbidden", "case-bad-state")
    else:
        assert check_transition(state, action, role, FULL) == target


@pytest.mark.parametrize(("key", "target"), ALLOWED.items())
def test_the_documented_paths(key: tuple[str, str, str], target: str) -> None:
    assert check_transition(*key, FULL) == target


def test_final_states_have_no_way_out() -> None:
    for state, role in itertools.product(FINAL_STATES, ROLES):
        assert actions_for(state, role) == []


def test_missing_data_and_unknown_action() -> None:
    with pytest.raises(TransitionError, match="needs class_code") as caught:
        check_transition("received", "register", "agent", {"kind": "event"})
    assert caught.value.error_id == "case-missing-data"
    with pytest.raises(TransitionError) as unknown:
        check_transition("received", "teleport", "agent", FULL)
    assert unknown.value.error_id == "case-unknown-action"


def test_agents_register_and_nothing_after() -> None:
    assert actions_for("received", "agent") == ["register"]
    for state in ("registered", "dispatched", "handled", "verified", "returned", "ledger"):
        assert actions_for(state, "agent") == [], state


@pytest.mark.parametrize(
    ("action", "state", "allowed", "refused"),
    [
        ("escalate", "in_progress", "district", "city"),
        ("hand_down", "escalated", "city", "district"),
    ],
)
def test_platform_level_actions(action: str, state: str, allowed: str, refused: str) -> None:
    assert action in actions_for(state, "dispatcher", allowed)
    assert action not in actions_for(state, "dispatcher", refused)
    with pytest.raises(TransitionError) as caught:
        check_transition(state, action, "supervisor", FULL, refused)
    assert caught.value.error_id == "case-forbidden"


def test_admins_and_units_cannot_run_the_platform() -> None:
    assert actions_for("received", "admin") == []
    assert actions_for("received", "unit") == []
    assert actions_for("dispatched", "unit") == ["accept", "return"]


def test_the_open_cases_index_names_the_final_states() -> None:
    """The partial index of the open cases (models.OPEN_CASE) excludes exactly the final
    states: a new final state would otherwise be counted open by the city's overview."""
    assert set(re.findall(r"'(\w+)'", OPEN_CASE)) == FINAL_STATES
