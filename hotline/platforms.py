"""Routing rules from the ``platforms`` table (loaded from platforms.csv)."""

from __future__ import annotations

from typing import Literal, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.models import CallPlatform
from routing.model import Platform, RoutingRules


class NoCityPlatform(LookupError):
    """The reference data has no active city platform: load the data first."""


def load_rules(session: Session) -> RoutingRules:
    rows = session.scalars(select(CallPlatform).where(CallPlatform.active.is_(True))).all()
    platforms = [
        Platform(
            code=row.code,
            level=cast(Literal["city", "district"], row.level),
            area_code=row.area_code,
            queue=row.queue,
            did=row.did,
            menu_key=row.menu_key,
            overflow_wait_seconds=row.overflow_wait_seconds,
            overflow_no_agent=row.overflow_no_agent,
            night_start=row.night_start,
            night_end=row.night_end,
            repeat_priority=row.repeat_priority,
            emergency_priority=row.emergency_priority,
        )
        for row in rows
    ]
    city = next((p for p in platforms if p.level == "city"), None)
    if city is None:
        raise NoCityPlatform("no active city platform: run `hotline data load`")
    return RoutingRules(city, {p.area_code: p for p in platforms if p.level == "district"})
