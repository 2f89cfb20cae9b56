"""A peer's faults are logged once per kind, with a count of what was left out."""

from __future__ import annotations

import logging

import pytest

from hotline.faults import FaultLog


def test_once_per_kind_then_a_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    faults = FaultLog(logging.getLogger("hotline.test"), quiet=60, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, "hotline.test"):
        assert faults.fault("Calls", "bad Calls %r", "abc")
        for _ in range(1000):  # a flood: nothing more in the log
            assert not faults.fault("Calls", "bad Calls %r", "abc")
        assert faults.fault("Wait", "bad Wait")  # another kind is its own line
        now[0] = 61.0
        assert faults.fault("Calls", "bad Calls %r", "x")  # a reminder, with the count
        faults.ok("Calls", "Calls readable again")
        faults.ok("Calls", "not logged: already well")
        assert faults.fault("Calls", "bad Calls %r", "y")  # a new run: at once
    assert [r.getMessage() for r in caplog.records] == [
        "bad Calls 'abc'",
        "bad Wait",
        "bad Calls 'x' (1000 more like it since the last line)",
        "Calls readable again",
        "bad Calls 'y'",
    ]
    assert faults.faulting("Calls") and faults.faulting("Wait")


def test_kinds_are_bounded() -> None:
    faults = FaultLog(logging.getLogger("hotline.test"), max_kinds=3)
    for n in range(10):
        faults.fault(f"kind {n}", "x")
    assert [faults.faulting(f"kind {n}") for n in (0, 6, 7, 8, 9)] == [
        False,
        False,
        True,
        True,
        True,
    ]
