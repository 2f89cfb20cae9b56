"""A scripted caller and in-memory records for driving the IVR flow without a PBX."""

from __future__ import annotations

from hotline.callers import CallerFacts, CaseStatus
from routing.model import CallerHistory, Platform, RoutingRules

RULES = RoutingRules(
    Platform("city", "city", "110000", "hotline-city", did="12319"),
    {
        "110101": Platform(
            "dongcheng", "district", "110101", "hotline-110101", did="65120001", menu_key="01"
        ),
        "110102": Platform(
            "xicheng", "district", "110102", "hotline-110102", did="65120002", menu_key="02"
        ),
    },
)


class ScriptedCaller:
    """Answers each ``collect`` with the next keys of the script ("" = silence); presses
    ``pressed[prompt]`` during that prompt when it is played."""

    def __init__(self, keys: list[str], pressed: dict[str, str] | None = None) -> None:
        self.keys = list(keys)
        self.pressed = pressed or {}
        self.heard: list[str] = []

    async def play(self, prompt: str) -> str:
        self.heard.append(prompt)
        return self.pressed.get(prompt, "")

    async def collect(self, prompt: str, max_digits: int, timeout_ms: int) -> str:
        self.heard.append(prompt)
        return self.keys.pop(0) if self.keys else ""

    async def stream_audio(self, target: str) -> None:
        self.heard.append("audio")


class Records:
    def __init__(
        self, facts: CallerFacts | None = None, cases: dict[str, CaseStatus] | None = None
    ) -> None:
        self.facts = facts or CallerFacts(None, CallerHistory())
        self.cases = cases or {}

    async def caller_facts(self, caller: str, days: int) -> CallerFacts:
        assert days == 90
        return self.facts

    async def case_status(self, number: str) -> CaseStatus | None:
        return self.cases.get(number)
