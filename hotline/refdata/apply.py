"""Write validated reference data into the database in one transaction.

Rows are matched on their natural keys. Unchanged rows are left alone, so loading the same
files twice changes nothing; rows gone from the files are deactivated (never deleted, since
calls and cases point at them), except calendar days and working hours, which nothing refers to.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.gazetteer import pinyin_of
from hotline.models import (
    Area,
    AssignmentRule,
    Base,
    CalendarDay,
    CallPlatform,
    CatalogueClass,
    Component,
    DeadlineRule,
    GazetteerEntry,
    GridCell,
    Unit,
    WorkingHours,
)
from hotline.refdata.rows import DistrictClassRow
from hotline.refdata.validate import ReferenceData

LEVEL_ORDER = ("city", "district", "street", "community")


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def apply_reference_data(session: Session, data: ReferenceData) -> dict[str, Counts]:
    summary: dict[str, Counts] = {}
    areas = {a.code: a for a in data.areas}
    for level in LEVEL_ORDER:
        wanted = {
            a.code: {
                "level": a.level,
                "parent_code": a.parent,
                "name_zh": a.name_zh,
                "name_en": a.name_en,
                "aliases": "|".join(a.aliases),
            }
            for a in data.areas
            if a.level == level
        }
        counts = _sync(
            session, Area, lambda r: r.code, wanted, {"code": None}, scope=_level_is(level)
        )
        _merge(summary, "areas", counts)
        session.flush()
    # Areas of levels that vanished from the file altogether are deactivated above per level.

    summary["units"] = _sync(
        session,
        Unit,
        lambda r: r.code,
        {
            u.code: {
                "level": u.level,
                "district_code": u.district,
                "name_zh": u.name_zh,
                "name_en": u.name_en,
                "phone": u.phone,
            }
            for u in data.units
        },
        {"code": None},
    )
    summary["catalogue"] = _sync(
        session,
        CatalogueClass,
        lambda r: (r.kind, r.code),
        {
            (c.kind, c.code): {
                "major": c.major,
                "minor": c.minor,
                "name_zh": c.name_zh,
                "name_en": c.name_en,
                "aliases": "|".join(c.aliases),
                "district_code": c.district if isinstance(c, DistrictClassRow) else None,
            }
            for c in [*data.catalogue, *data.district_classes]
        },
        {"kind": 0, "code": 1},
    )
    summary["grid_cells"] = _sync(
        session,
        GridCell,
        lambda r: r.code,
        {
            g.code: {
                "community_code": g.community,
                "geometry": g.geometry,
                "centroid_lon": round(g.shape.centroid.x, 7),
                "centroid_lat": round(g.shape.centroid.y, 7),
            }
            for g in data.grid
        },
        {"code": None},
    )
    session.flush()
    summary["components"] = _sync(
        session,
        Component,
        lambda r: r.id,
        {
            c.id: {
                "class_code": c.id[6:10],
                "district_code": c.id[:6],
                "grid_code": c.grid,
                "lon": c.lon,
                "lat": c.lat,
                "owner_unit": c.owner_unit,
                "status": c.status,
            }
            for c in data.components
        },
        {"id": None},
    )
    summary["assignment_rules"] = _sync(
        session,
        AssignmentRule,
        lambda r: (r.kind, r.class_prefix, r.district_code),
        {(r.kind, r.class_prefix, r.district): {"unit_code": r.unit} for r in data.assignment},
        {"kind": 0, "class_prefix": 1, "district_code": 2},
    )
    summary["deadline_rules"] = _sync(
        session,
        DeadlineRule,
        lambda r: (r.kind, r.class_prefix, r.urgency),
        {
            (d.kind, d.class_prefix, d.urgency): {"amount": d.amount, "unit": d.unit}
            for d in data.deadlines
        },
        {"kind": 0, "class_prefix": 1, "urgency": 2},
    )
    summary["calendar_days"] = _sync(
        session,
        CalendarDay,
        lambda r: r.day,
        {c.date: {"is_workday": c.workday, "name": c.name} for c in data.calendar},
        {"day": None},
        delete=True,
    )
    summary["working_hours"] = _sync(
        session,
        WorkingHours,
        lambda r: (r.weekday, r.start),
        {(h.weekday, h.start): {"end": h.end} for h in data.hours},
        {"weekday": 0, "start": 1},
        delete=True,
    )
    summary["platforms"] = _sync(
        session,
        CallPlatform,
        lambda r: r.code,
        {
            p.code: {
                "level": p.level,
                "area_code": p.area,
                "name_zh": p.name_zh,
                "queue": p.queue,
                "did": p.did,
                "menu_key": p.menu_key,
                "overflow_wait_seconds": p.overflow_wait_seconds,
                "overflow_no_agent": p.overflow_no_agent,
                "night_start": p.night_start,
                "night_end": p.night_end,
                "repeat_priority": p.repeat_priority,
                "emergency_priority": p.emergency_priority,
            }
            for p in data.platforms
        },
        {"code": None},
    )
    summary["gazetteer"] = _sync(
        session,
        GazetteerEntry,
        lambda r: (r.kind, r.name_zh, r.area_code),
        _gazetteer_rows(data, areas),
        {"kind": 0, "name_zh": 1, "area_code": 2},
    )
    session.flush()
    return summary


def _gazetteer_rows(
    data: ReferenceData, areas: Mapping[str, Any]
) -> dict[Hashable, dict[str, Any]]:
    rows: dict[Hashable, dict[str, Any]] = {}
    readings = {r.phrase: r.pinyin for r in data.pinyin}
    for area in data.areas:
        if area.level == "city":
            continue
        rows[(area.level, area.name_zh, area.code)] = _place(
            area.name_zh, area.aliases, None, None, readings
        )
    for place in data.gazetteer:
        rows[(place.kind, place.name_zh, place.area)] = _place(
            place.name_zh, place.aliases, place.lon, place.lat, readings
        )
    return rows


def _place(
    name: str,
    aliases: tuple[str, ...],
    lon: float | None,
    lat: float | None,
    readings: Mapping[str, tuple[str, ...]],
) -> dict[str, Any]:
    full, initials = pinyin_of(name, readings)
    return {
        "aliases": "|".join(aliases),
        "pinyin": full,
        "initials": initials,
        "lon": lon,
        "lat": lat,
    }


def _sync(
    session: Session,
    model: type[Base],
    key_of: Callable[[Any], Hashable],
    wanted: Mapping[Any, Mapping[str, Any]],
    key_fields: Mapping[str, int | None],
    *,
    delete: bool = False,
    scope: Callable[[Any], bool] = lambda _row: True,
) -> Counts:
    """Make the rows of ``model`` (within ``scope``) match ``wanted``; return what changed."""
    counts = Counts()
    existing = {key_of(row): row for row in session.scalars(select(model)).all() if scope(row)}
    for key, values in wanted.items():
        row = existing.pop(key, None)
        fields = dict(values)
        if hasattr(model, "active"):
            fields["active"] = True
        if row is None:
            for name, position in key_fields.items():
                fields[name] = key if position is None else key[position]
            session.add(model(**fields))
            counts.added += 1
        elif any(getattr(row, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(row, name, value)
            counts.updated += 1
        else:
            counts.unchanged += 1
    for row in existing.values():
        if delete:
            session.delete(row)
            counts.removed += 1
        elif getattr(row, "active", False):
            row.active = False  # type: ignore[attr-defined]
            counts.removed += 1
    return counts


def _level_is(level: str) -> Callable[[Any], bool]:
    return lambda row: bool(row.level == level)


def _merge(summary: dict[str, Counts], name: str, counts: Counts) -> None:
    total = summary.setdefault(name, Counts())
    total.added += counts.added
    total.updated += counts.updated
    total.removed += counts.removed
    total.unchanged += counts.unchanged
