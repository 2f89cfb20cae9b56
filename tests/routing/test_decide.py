"""Table-driven routing decisions: no PBX, no clock, no database."""

from __future__ import annotations

import datetime as dt

import pytest

from routing import CallerHistory, IvrOutcome, Platform, QueueState, RoutingRules, decide

CITY = Platform("city", "city", "110000", "hotline-city")
DONGCHENG = Platform(
    "dongcheng",
    "district",
    "110101",
    "hotline-110101",
    did="65120001",
    menu_key="01",
    overflow_wait_seconds=60,
    repeat_priority=5,
)
XICHENG = Platform(
    "xicheng",
    "district",
    "110102",
    "hotline-110102",
    menu_key="02",
    overflow_no_agent=False,
    overflow_wait_seconds=None,
    night_start=dt.time(22),
    night_end=dt.time(7),
)
RULES = RoutingRules(CITY, {"110101": DONGCHENG, "110102": XICHENG})

STAFFED = {
    "hotline-110101": QueueState("hotline-110101", members=3, available=2),
    "hotline-110102": QueueState("hotline-110102", members=2, available=1),
}
NOON = dt.time(12)
NO_HISTORY = CallerHistory()

CASES = [
    # name, ivr, history, queues, time, (target, queue, priority, reason)
    (
        "district keyed",
        IvrOutcome("report", "110101", "keyed"),
        NO_HISTORY,
        STAFFED,
        NOON,
        ("queue", "hotline-110101", 0, "district-known"),
    ),
    (
        "unknown district",
        IvrOutcome("report"),
        NO_HISTORY,
        STAFFED,
        NOON,
        ("queue", "hotline-city", 0, "district-unknown"),
    ),
    (
        "district without a platform",
        IvrOutcome("report", "110105"),
        NO_HISTORY,
        STAFFED,
        NOON,
        ("queue", "hotline-city", 0, "district-unknown"),
    ),
    (
        "emergency",
        IvrOutcome("emergency"),
        NO_HISTORY,
        STAFFED,
        NOON,
        ("emergency", "", 10, "emergency"),
    ),
    (
        "emergency failed",
        IvrOutcome("emergency", emergency_failed=True),
        NO_HISTORY,
        STAFFED,
        NOON,
        ("queue", "hotline-city", 10, "emergency-failed"),
    ),
    (
        "open case wins over keyed district",
        IvrOutcome("report", "110102", "keyed"),
        CallerHistory("110101", "2611280001"),
        STAFFED,
        NOON,
        ("queue", "hotline-110101", 5, "open-case"),
    ),
    (
        "open case, unknown district",
        IvrOutcome("report"),
        CallerHistory("110101"),
        STAFFED,
        NOON,
        ("queue", "hotline-110101", 5, "open-case"),
    ),
    (
        "no agent → overflow",
        IvrOutcome("report", "110101"),
        NO_HISTORY,
        {"hotline-110101": QueueState("hotline-110101", members=2, available=0)},
        NOON,
        ("queue", "hotline-city", 0, "overflow-no-agent"),
    ),
    (
        "no members → overflow",
        IvrOutcome("report", "110101"),
        NO_HISTORY,
        {"hotline-110101": QueueState("hotline-110101")},
        NOON,
        ("queue", "hotline-city", 0, "overflow-no-agent"),
    ),
    (
        "long expected wait → overflow",
        IvrOutcome("report", "110101"),
        NO_HISTORY,
        {
            "hotline-110101": QueueState(
                "hotline-110101", members=1, available=1, waiting=4, average_hold=30
            )
        },
        NOON,
        ("queue", "hotline-city", 0, "overflow-wait"),
    ),
    (
        "short wait stays",
        IvrOutcome("report", "110101"),
        NO_HISTORY,
        {
            "hotline-110101": QueueState(
                "hotline-110101", members=4, available=1, waiting=1, average_hold=30
            )
        },
        NOON,
        ("queue", "hotline-110101", 0, "district-known"),
    ),
    (
        "no overflow when the platform says so",
        IvrOutcome("report", "110102"),
        NO_HISTORY,
        {"hotline-110102": QueueState("hotline-110102", members=0)},
        NOON,
        ("queue", "hotline-110102", 0, "district-known"),
    ),
    (
        "queue state unknown (AMI down) keeps the district",
        IvrOutcome("report", "110101"),
        NO_HISTORY,
        None,
        NOON,
        ("queue", "hotline-110101", 0, "district-known"),
    ),
    (
        "night mode",
        IvrOutcome("report", "110102"),
        NO_HISTORY,
        STAFFED,
        dt.time(23, 30),
        ("queue", "hotline-city", 0, "night-mode"),
    ),
    (
        "night mode after midnight",
        IvrOutcome("report", "110102"),
        NO_HISTORY,
        STAFFED,
        dt.time(6, 59),
        ("queue", "hotline-city", 0, "night-mode"),
    ),
    (
        "morning ends night mode",
        IvrOutcome("report", "110102"),
        NO_HISTORY,
        STAFFED,
        dt.time(7),
        ("queue", "hotline-110102", 0, "district-known"),
    ),
    (
        "repeat caller at night keeps priority",
        IvrOutcome("report"),
        CallerHistory("110102"),
        STAFFED,
        dt.time(23),
        ("queue", "hotline-city", 5, "night-mode"),
    ),
]


@pytest.mark.parametrize(
    ("name", "ivr", "history", "queues", "now", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_decide(
    name: str,
    ivr: IvrOutcome,
    history: CallerHistory,
    queues: dict[str, QueueState] | None,
    now: dt.time,
    expected: tuple[str, str, int, str],
) -> None:
    decision = decide(ivr, history, queues, now, RULES)
    assert (decision.target, decision.queue, decision.priority, decision.reason) == expected


def test_lookups() -> None:
    assert RULES.by_menu_key("02") is XICHENG
    assert RULES.by_menu_key("99") is None
    assert RULES.by_did("65120001") is DONGCHENG
    assert RULES.by_did("") is None


def test_expected_wait() -> None:
    assert QueueState("q").expected_wait() == float("inf")
    assert QueueState("q", members=2, available=2, waiting=1).expected_wait() == 0.0
    assert QueueState("q", members=2, available=0, waiting=3, average_hold=40).expected_wait() == 80
