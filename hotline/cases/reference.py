"""The reference data a case is checked and dispatched against, read once a minute per
database instead of once per case: districts, active classes, units, assignment and
deadline rules, and the grid cells already seen.

Registering a case used to ask the database four times whether its district, class, grid
cell and unit exist; those tables change only when an operator runs ``hotline data load``,
which calls :func:`forget_reference` in its own process; other processes see the change
within ``TTL`` seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from hotline.cases.rules import AssignmentRule, DeadlineRule
from hotline.models import Area, CatalogueClass, GridCell, Unit
from hotline.models import AssignmentRule as AssignmentRow
from hotline.models import DeadlineRule as DeadlineRow

TTL = 60.0  # seconds


def offered_in(district: str | None) -> ColumnElement[bool]:
    """The catalogue classes offered to whoever works in ``district`` (``None``: the city
    platform): the city's classes, and that district's own types (district_catalogue.csv)."""
    if district is None:
        return CatalogueClass.district_code.is_(None)
    return or_(CatalogueClass.district_code.is_(None), CatalogueClass.district_code == district)


@dataclass
class Reference:
    assignment: tuple[AssignmentRule, ...]
    deadlines: tuple[DeadlineRule, ...]
    districts: frozenset[str]
    classes: frozenset[tuple[str, str]]  # (kind, code) of active minor classes
    units: dict[str, str]  # active unit code → level (city | district)
    unit_districts: dict[str, str | None]  # active unit code → its district (None: city)
    loaded: float
    # (kind, code) of a district's own class → that district (the city's are not in it)
    class_districts: dict[tuple[str, str], str] = field(default_factory=dict)
    grid_cells: set[str] = field(default_factory=set)  # cells found so far (a cell is
    # never deleted by a data load, only added, so a hit stays true)

    def has_grid_cell(self, session: Session, code: str) -> bool:
        if code in self.grid_cells:
            return True
        if session.scalar(select(GridCell.code).where(GridCell.code == code)) is None:
            return False
        with _lock:
            self.grid_cells.add(code)
        return True


_lock = threading.Lock()
_cache: dict[str, Reference] = {}


def reference_data(session: Session) -> Reference:
    """The cached reference data of the session's database, reloaded after ``TTL``."""
    key = str(session.get_bind().engine.url)
    cached = _cache.get(key)
    if cached is not None and time.monotonic() - cached.loaded < TTL:
        return cached
    fresh = _load(session)
    with _lock:
        _cache[key] = fresh
    return fresh


def forget_reference() -> None:
    """Drop what is cached (after loading new reference data in this process)."""
    with _lock:
        _cache.clear()


def _load(session: Session) -> Reference:
    assignment = tuple(
        AssignmentRule(k, p, d, u)
        for k, p, d, u in session.execute(
            select(
                AssignmentRow.kind,
                AssignmentRow.class_prefix,
                AssignmentRow.district_code,
                AssignmentRow.unit_code,
            ).where(AssignmentRow.active.is_(True))
        )
    )
    deadlines = tuple(
        DeadlineRule(k, p, g, a, u)
        for k, p, g, a, u in session.execute(
            select(
                DeadlineRow.kind,
                DeadlineRow.class_prefix,
                DeadlineRow.urgency,
                DeadlineRow.amount,
                DeadlineRow.unit,
            ).where(DeadlineRow.active.is_(True))
        )
    )
    districts = frozenset(session.scalars(select(Area.code).where(Area.level == "district")))
    class_rows = session.execute(
        select(CatalogueClass.kind, CatalogueClass.code, CatalogueClass.district_code).where(
            CatalogueClass.active.is_(True), CatalogueClass.minor.is_not(None)
        )
    ).all()
    classes = frozenset((kind, code) for kind, code, _ in class_rows)
    class_districts = {(k, c): d for k, c, d in class_rows if d is not None}
    rows = session.execute(
        select(Unit.code, Unit.level, Unit.district_code).where(Unit.active.is_(True))
    ).all()
    units = {code: level for code, level, _ in rows}
    unit_districts = {code: district for code, _, district in rows}
    return Reference(
        assignment,
        deadlines,
        districts,
        classes,
        units,
        unit_districts,
        time.monotonic(),
        class_districts,
    )
