"""What the IVR reads from the hotline's records: plain values and the protocol that gives
them (``hotline.calls.records`` implements it; tests use a dict)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from routing.model import CallerHistory


@dataclass(frozen=True)
class CaseStatus:
    number: str
    state: str
    district: str | None
    due_at: dt.datetime | None


@dataclass(frozen=True)
class CallerFacts:
    """What the records say about a caller: the district of their latest case or call in
    the look-back window, and their open case, if any."""

    recent_district: str | None
    history: CallerHistory


class Records(Protocol):
    """The hotline's records, as the IVR needs them (``hotline.calls`` implements it)."""

    async def caller_facts(self, caller: str, days: int) -> CallerFacts: ...

    async def case_status(self, number: str) -> CaseStatus | None: ...
