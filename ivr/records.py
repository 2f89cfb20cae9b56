"""What the IVR reads from the hotline's records: the protocol that gives them
(``hotline.calls.records`` implements it; tests use a dict). The values are the domain's
(``hotline.callers``)."""

from __future__ import annotations

from typing import Protocol

from hotline.callers import CallerFacts, CaseStatus

__all__ = ["CallerFacts", "CaseStatus", "Records"]


class Records(Protocol):
    """The hotline's records, as the IVR needs them (``hotline.calls`` implements it)."""

    async def caller_facts(self, caller: str, days: int) -> CallerFacts: ...

    async def case_status(self, number: str) -> CaseStatus | None: ...
