"""Each action's data: a declared, strictly typed shape (pure, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from hotline.cases.action_data import SHAPES, ActionDataError, check_action_data
from hotline.cases.lifecycle import TRANSITIONS


def test_every_shape_names_an_action() -> None:
    assert set(SHAPES) <= set(TRANSITIONS)


@pytest.mark.parametrize(
    ("action", "data", "expected"),
    [
        (
            "verify",
            {"solved": False, "satisfaction": 5},
            ("", {"solved": False, "satisfaction": 5}),
        ),
        ("accept", {"note": "收到"}, ("收到", {})),
        ("dispatch", {}, ("", {})),
        ("dispatch", {"unit_code": "auto"}, ("", {"unit_code": "auto"})),
        (
            "register",
            {"kind": "event", "class_code": "0102"},
            ("", {"kind": "event", "class_code": "0102"}),
        ),
        ("mark_duplicate", {"duplicate_of": "2612020001"}, ("", {"duplicate_of": "2612020001"})),
        ("rework", {"note": "未\x0b清\x00理"}, ("未清理", {})),
    ],
)
def test_accepted(action: str, data: dict[str, Any], expected: tuple[str, dict[str, Any]]) -> None:
    assert check_action_data(action, data) == expected


@pytest.mark.parametrize(
    ("action", "data", "field"),
    [
        ("verify", {"solved": "false", "satisfaction": 5}, "solved"),
        ("verify", {"solved": True, "satisfaction": "5"}, "satisfaction"),
        ("verify", {"solved": True, "satisfaction": 6}, "satisfaction"),
        ("verify", {"solved": 1, "satisfaction": 5}, "solved"),
        ("verify", {"solved": True, "satisfaction": 4.0}, "satisfaction"),
        ("verify", {"solved": True}, "satisfaction"),
        ("accept", {"state": "closed"}, "state"),
        ("accept", {"unit_code": "bj.water_supply"}, "unit_code"),
        ("accept", {"note": 5}, "note"),
        ("accept", {"note": "x" * 4001}, "note"),
        ("mark_duplicate", {"duplicate_of": 1}, "duplicate_of"),
        ("mark_duplicate", {"duplicate_of": "abc"}, "duplicate_of"),
        ("register", {"kind": "thing", "class_code": "0102"}, "kind"),
        ("dispatch", {"unit_code": ["a"]}, "unit_code"),
    ],
)
def test_refused_naming_the_field(action: str, data: dict[str, Any], field: str) -> None:
    with pytest.raises(ActionDataError) as caught:
        check_action_data(action, data)
    assert caught.value.field == field and str(caught.value).startswith(field)
