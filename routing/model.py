"""Plain values that routing decides over: no I/O, no clock, no database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Intent = Literal["report", "emergency", "status", "unknown"]


@dataclass(frozen=True)
class Platform:
    """A call platform (the city's or a district's) and its routing thresholds, from
    ``platforms.csv``."""

    code: str
    level: Literal["city", "district"]
    area_code: str
    queue: str
    did: str = ""
    menu_key: str = ""
    overflow_wait_seconds: int | None = None
    overflow_no_agent: bool = True
    night_start: dt.time | None = None
    night_end: dt.time | None = None
    repeat_priority: int = 5
    emergency_priority: int = 10

    def in_night_mode(self, now: dt.time) -> bool:
        if self.night_start is None or self.night_end is None:
            return False
        if self.night_start <= self.night_end:
            return self.night_start <= now < self.night_end
        return now >= self.night_start or now < self.night_end  # across midnight


@dataclass(frozen=True)
class RoutingRules:
    city: Platform
    districts: Mapping[str, Platform]  # by district area code

    def by_menu_key(self, key: str) -> Platform | None:
        return next((p for p in self.districts.values() if p.menu_key == key), None)

    def by_did(self, did: str) -> Platform | None:
        if not did:
            return None
        return next((p for p in self.districts.values() if p.did == did), None)


@dataclass(frozen=True)
class IvrOutcome:
    """What the IVR learnt. ``district`` is an area code; ``district_source`` says how."""

    intent: Intent = "unknown"
    district: str | None = None
    district_source: str | None = None  # history | did | keyed | speech
    grid: str | None = None
    case_number: str | None = None
    emergency_failed: bool = False


@dataclass(frozen=True)
class CallerHistory:
    """The caller's recent contact: the district of an open case, if any."""

    open_case_district: str | None = None
    open_case_number: str | None = None


@dataclass(frozen=True)
class QueueState:
    """A live snapshot of one Asterisk queue (from AMI QueueStatus)."""

    queue: str
    members: int = 0  # logged in
    available: int = 0  # logged in, not paused, not busy
    waiting: int = 0
    longest_wait: float = 0.0
    average_hold: float = 0.0  # Asterisk's Holdtime
    # Who the members are, and which of them are available (their names): one agent is a
    # member on every node, so several nodes' states add up by name, not by count.
    # (Not compared: two snapshots with the same figures are the same state for routing.)
    member_names: frozenset[str] = field(default=frozenset(), compare=False)
    available_names: frozenset[str] = field(default=frozenset(), compare=False)

    def expected_wait(self) -> float:
        """A simple estimate: the average hold time per caller ahead, shared by the agents
        who can take calls; with no agents at all it is unbounded."""
        if self.members == 0:
            return float("inf")
        if self.available > self.waiting:
            return 0.0
        return self.average_hold * (self.waiting + 1) / max(self.members, 1)


@dataclass(frozen=True)
class Decision:
    target: Literal["queue", "emergency"]
    queue: str
    priority: int
    reason: str
    district: str | None
