"""What the records say about a caller and a case, as the IVR reads them and the call
records give them: plain values of the domain, shared by ``ivr/`` and ``hotline.calls``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
