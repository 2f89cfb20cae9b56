"""Each path's worst-case time to a person, for the flow in the data and the audio built.

The flow is run by the real engine and actions against a caller on a virtual clock: a
prompt costs its audio's length, a wait for keys its timeout, a retry its prompt again. The
clock starts where the budget does (the answer, or the caller's key) and stops when the
flow routes. The budgets are the issue's (#17): the national hotline standard asks for an
answer within 15 s and advises against menus.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from hotline.callers import CallerFacts, CaseStatus
from ivr.actions import make_actions
from ivr.engine import CallState, run_flow
from ivr.flow import Flow
from ivr.say import word_keys
from routing.model import CallerHistory, Platform, RoutingRules

# Seconds a path spends outside the prompts: the AGI's start, the call record, the route
# set in one MSet, the dialplan's way to Queue()/Dial() (0.01 to 0.1 s measured on the real
# Asterisk, docs/telephony.md); and for paths timed from the answer, Answer() itself, which
# waits up to 0.5 s for the caller's first voice frame.
ALLOWANCE = 0.3
ANSWER_WAIT = 0.5
SPEECH_EXTRA = 4.0  # with speech on, a path may take this much longer

_CITY = Platform("city", "city", "000000", "city", did="city-number")
_DISTRICT = Platform("district", "district", "000001", "district", did="district-number")
_RULES = RoutingRules(_CITY, {"000001": _DISTRICT})
_CASE = "1"
_LATEST = dt.datetime(2026, 12, 31, 15, 59, tzinfo=dt.UTC)  # the longest date said


@dataclass(frozen=True)
class PathTime:
    path: str
    since: str  # "answer" or the key the time is counted from
    budget: float
    worst: float
    route: str  # where the flow sent the call

    @property
    def within(self) -> bool:
        return self.worst <= self.budget


class _Caller:
    """A caller on a virtual clock. ``keys`` answer the waits for keys in order ("" =
    silence); ``start_after`` (a prompt key) restarts the clock when the caller has pressed
    the keys of that wait: the budget runs from that key on."""

    def __init__(self, lengths: Mapping[str, float], keys: list[str], start_after: str) -> None:
        self.lengths = lengths
        self.keys = list(keys)
        self.start_after = start_after
        self.clock = 0.0

    def _length(self, prompt: str) -> float:
        if prompt not in self.lengths:
            raise KeyError(f"no audio for the prompt {prompt!r}")
        return self.lengths[prompt]

    async def play(self, prompt: str) -> str:
        self.clock += self._length(prompt)
        return ""

    async def collect(self, prompt: str, max_digits: int, timeout_ms: int) -> str:
        keys = self.keys.pop(0) if self.keys else ""
        if keys:
            # Worst case: the keys come once the prompt has played; the budget starts there.
            self.clock += self._length(prompt)
            if prompt == self.start_after:
                self.clock = 0.0
            return keys
        self.clock += self._length(prompt) + timeout_ms / 1000
        return ""

    async def stream_audio(self, target: str) -> None:
        raise AssertionError("speech is counted apart")


class _Records:
    """A caller known (or not) in the district, and the case whose status takes longest to
    say: the longest state prompt and a deadline said in full."""

    def __init__(self, district: str | None, state: str) -> None:
        self.district = district
        self.state = state

    async def caller_facts(self, caller: str, days: int) -> CallerFacts:
        return CallerFacts(self.district, CallerHistory())

    async def case_status(self, number: str) -> CaseStatus | None:
        return CaseStatus(number, self.state, _DISTRICT.area_code, _LATEST)


def _run(flow: Flow, caller: _Caller, records: _Records, did: str) -> str:
    actions = make_actions(records, _RULES, flow.history_days, None, ZoneInfo("UTC"))
    state = asyncio.run(run_flow(flow, caller, CallState("13800000000", did), actions))
    if state.intent == "emergency":
        return "emergency"
    return "district queue" if state.district else "city queue"


def worst_cases(
    flow: Flow, lengths: Mapping[str, float], emergency_ring_seconds: int
) -> list[PathTime]:
    """The table for ``flow`` with the prompts' ``lengths`` (seconds, by key). Raises
    KeyError naming a prompt the flow plays that has no audio."""
    states = [k for k in lengths if k.startswith("state_")]
    longest_state = max(states, key=lambda k: lengths[k]).removeprefix("state_")
    # The longest words a date is said with, whatever the date.
    said = dict(lengths)
    for kind in ("month_", "day_", "hour_", "minute_"):
        words = [k for k in word_keys() if k.startswith(kind)]
        longest = max(lengths[k] for k in words)
        said |= dict.fromkeys(words, longest)
    greeting = flow.nodes[flow.start]
    status = flow.nodes[greeting.choices["2"]].prompt if "2" in greeting.choices else ""

    def run(
        keys: list[str], *, known: bool = False, did: str = "city-number", after: str = ""
    ) -> tuple[float, str]:
        caller = _Caller(said, keys, after)
        records = _Records(_DISTRICT.area_code if known else None, longest_state)
        route = _run(flow, caller, records, did)
        return caller.clock + ALLOWANCE + (0.0 if after else ANSWER_WAIT), route

    rows = []
    worst, route = run([])
    rows.append(PathTime("unknown caller, no key", "answer", 8.0, worst, route))
    worst, route = run([], known=True)
    rows.append(PathTime("known caller (history)", "answer", 7.0, worst, route))
    worst, route = run([], did="district-number")
    rows.append(PathTime("a district's own number", "answer", 7.0, worst, route))
    worst, route = run(["9"], after=greeting.prompt)
    rows.append(PathTime("9 during the greeting", "the 9", 1.0, worst, route))
    rows.append(
        PathTime(
            "emergency center not answering",
            "the 9",
            20.0,
            worst + emergency_ring_seconds,
            "city queue (top priority)",
        )
    )
    if status:
        worst, route = run(["2", f"{_CASE}#"], after=status)
        rows.append(PathTime("2, case number, #", "the #", 12.0, worst, route))
    return rows


def speech_cases(
    flow: Flow, lengths: Mapping[str, float], no_speech_seconds: float, listen_seconds: float
) -> list[PathTime]:
    """With speech on: the silent caller hears the speech prompt and is given up on after
    ``no_speech_seconds``; a caller who speaks is listened to ``listen_seconds`` at most."""
    base = worst_cases(flow, lengths, 0)[0]
    prompt = lengths["speak_place"]
    return [
        PathTime(
            "speech on, caller silent",
            "answer",
            base.budget + SPEECH_EXTRA,
            base.worst + prompt + no_speech_seconds,
            "city queue",
        ),
        PathTime(
            "speech on, district and street said",
            "answer",
            base.budget + SPEECH_EXTRA,
            base.worst + prompt + listen_seconds,
            "district queue",
        ),
    ]


def budget_table(
    flow: Flow,
    lengths: Mapping[str, float],
    emergency_ring_seconds: int,
    no_speech_seconds: float,
    listen_seconds: float,
) -> list[PathTime]:
    """The whole table: the key paths, then the same with speech on."""
    rows = worst_cases(flow, lengths, emergency_ring_seconds)
    return rows + speech_cases(flow, lengths, no_speech_seconds, listen_seconds)
