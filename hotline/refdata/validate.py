"""Read every reference file, check each row and the links between files.

Nothing here touches the database: :func:`read_reference_data` returns plain values or
raises :class:`DataErrors` naming file, line and field for every problem it found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from shapely.geometry.base import BaseGeometry

from hotline.codes import CodeError, parse_component_id, parse_grid_code
from hotline.grid import GridIndex, polygon_from_geojson
from hotline.refdata.files import DataError, DataErrors, Row, read_csv, read_geojson_features
from hotline.refdata.rows import (
    AREA_CODE_LENGTH,
    DISTRICT_MINORS,
    AreaRow,
    AssignmentRow,
    CalendarRow,
    CatalogueRow,
    ComponentRow,
    DeadlineRow,
    DistrictClassRow,
    GazetteerRow,
    PinyinRow,
    PlatformRow,
    UnitRow,
    WorkingHoursRow,
)

FILES = {
    "areas": "areas.csv",
    "grid": "grid_cells.geojson",
    "catalogue": "catalogue.csv",
    "district_catalogue": "district_catalogue.csv",
    "units": "units.csv",
    "assignment": "assignment_rules.csv",
    "deadlines": "deadlines.csv",
    "calendar": "calendar.csv",
    "hours": "working_hours.csv",
    "gazetteer": "gazetteer.csv",
    "platforms": "platforms.csv",
    "pinyin": "pinyin.csv",
    "components": "components.csv",
}
PARENT_LEVEL = {"district": "city", "street": "district", "community": "street"}

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class GridCellRow:
    code: str
    community: str
    geometry: dict[str, Any]
    shape: BaseGeometry


@dataclass
class ReferenceData:
    areas: list[AreaRow] = field(default_factory=list)
    grid: list[GridCellRow] = field(default_factory=list)
    catalogue: list[CatalogueRow] = field(default_factory=list)
    district_classes: list[DistrictClassRow] = field(default_factory=list)
    units: list[UnitRow] = field(default_factory=list)
    assignment: list[AssignmentRow] = field(default_factory=list)
    deadlines: list[DeadlineRow] = field(default_factory=list)
    calendar: list[CalendarRow] = field(default_factory=list)
    hours: list[WorkingHoursRow] = field(default_factory=list)
    gazetteer: list[GazetteerRow] = field(default_factory=list)
    platforms: list[PlatformRow] = field(default_factory=list)
    pinyin: list[PinyinRow] = field(default_factory=list)
    components: list[ComponentRow] = field(default_factory=list)


class _Checker:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.errors: list[DataError] = []

    def error(self, file: str, line: int | None, column: str | None, message: str) -> None:
        self.errors.append(DataError(file, line, column, message))

    def rows(self, key: str, model: type[M]) -> list[tuple[Row, M]]:
        columns = tuple(model.model_fields)
        parsed: list[tuple[Row, M]] = []
        for row in read_csv(self.directory / FILES[key], columns, self.errors):
            try:
                parsed.append((row, model.model_validate(row.values)))
            except ValidationError as exc:
                for problem in exc.errors():
                    column = str(problem["loc"][0]) if problem["loc"] else None
                    self.error(row.file, row.line, column, problem["msg"])
        return parsed

    def unique(
        self, key: str, rows: list[tuple[Row, M]], column: str, value: Callable[[M], object]
    ) -> None:
        seen: dict[object, int] = {}
        for row, item in rows:
            k = value(item)
            if k in seen:
                self.error(row.file, row.line, column, f"duplicate of line {seen[k]}")
            else:
                seen[k] = row.line


def read_reference_data(directory: Path) -> ReferenceData:
    check = _Checker(directory)
    areas = check.rows("areas", AreaRow)
    catalogue = check.rows("catalogue", CatalogueRow)
    district_classes = check.rows("district_catalogue", DistrictClassRow)
    units = check.rows("units", UnitRow)
    assignment = check.rows("assignment", AssignmentRow)
    deadlines = check.rows("deadlines", DeadlineRow)
    calendar = check.rows("calendar", CalendarRow)
    hours = check.rows("hours", WorkingHoursRow)
    gazetteer = check.rows("gazetteer", GazetteerRow)
    platforms = check.rows("platforms", PlatformRow)
    pinyin = check.rows("pinyin", PinyinRow)
    components = check.rows("components", ComponentRow)
    check.unique("components", components, "id", lambda c: c.id)

    check.unique("areas", areas, "code", lambda a: a.code)
    check.unique("catalogue", catalogue, "minor", lambda c: (c.kind, c.code))
    check.unique("units", units, "code", lambda u: u.code)
    check.unique(
        "assignment", assignment, "class_prefix", lambda r: (r.kind, r.class_prefix, r.district)
    )
    check.unique(
        "deadlines", deadlines, "class_prefix", lambda r: (r.kind, r.class_prefix, r.urgency)
    )
    check.unique("calendar", calendar, "date", lambda r: r.date)
    check.unique("gazetteer", gazetteer, "name_zh", lambda r: (r.kind, r.name_zh, r.area))
    check.unique("pinyin", pinyin, "phrase", lambda r: r.phrase)
    for row, reading in pinyin:
        if len(reading.pinyin) != len(reading.phrase):
            check.error(
                row.file,
                row.line,
                "pinyin",
                f"{len(reading.pinyin)} syllables for {len(reading.phrase)} characters",
            )

    area_level = {a.code: a.level for _, a in areas}
    _check_areas(check, areas, area_level)
    _check_catalogue(check, catalogue)
    _check_district_classes(check, catalogue, district_classes, area_level)
    class_district = {(c.kind, c.code): c.district for _, c in district_classes}
    classes = {(c.kind, c.code) for _, c in catalogue} | set(class_district)
    unit_codes = {u.code for _, u in units}
    for row, unit in units:
        if unit.level == "district" and area_level.get(unit.district or "") != "district":
            check.error(row.file, row.line, "district", "a district unit needs a known district")
        if unit.level == "city" and unit.district:
            check.error(row.file, row.line, "district", "a city unit has no district")
    for row, rule in assignment:
        _check_prefix(check, row, rule.kind, rule.class_prefix, classes)
        owner = class_district.get((rule.kind, rule.class_prefix))
        if owner is not None and rule.district != owner:
            own = f"class {rule.class_prefix} is {owner}'s own"
            check.error(row.file, row.line, "district", own)
        if rule.district is not None and area_level.get(rule.district) != "district":
            check.error(row.file, row.line, "district", f"unknown district {rule.district}")
        if rule.unit not in unit_codes:
            check.error(row.file, row.line, "unit", f"unknown unit {rule.unit}")
    for row, deadline in deadlines:
        _check_prefix(check, row, deadline.kind, deadline.class_prefix, classes)
    for row, place in gazetteer:
        if place.area not in area_level:
            check.error(row.file, row.line, "area", f"unknown area {place.area}")
    _check_platforms(check, platforms, area_level)
    grid, index = _read_grid(check, directory, area_level)
    if index is not None:
        _check_places_in_grid(check, gazetteer, index)
    _check_components(check, components, classes, unit_codes, {c.code for c in grid}, index)
    for row, component in components:
        owner = class_district.get(("component", component.id[6:10]))
        if owner is not None and component.id[:6] != owner:
            check.error(row.file, row.line, "id", f"class {component.id[6:10]} is {owner}'s own")

    if check.errors:
        raise DataErrors(check.errors)
    return ReferenceData(
        areas=[a for _, a in areas],
        grid=grid,
        catalogue=[c for _, c in catalogue],
        district_classes=[c for _, c in district_classes],
        units=[u for _, u in units],
        assignment=[r for _, r in assignment],
        deadlines=[d for _, d in deadlines],
        calendar=[c for _, c in calendar],
        hours=[h for _, h in hours],
        gazetteer=[g for _, g in gazetteer],
        platforms=[p for _, p in platforms],
        pinyin=[r for _, r in pinyin],
        components=[c for _, c in components],
    )


def _check_places_in_grid(
    check: _Checker, gazetteer: list[tuple[Row, GazetteerRow]], index: GridIndex
) -> None:
    """A place's point that falls in the grid must fall in a cell of the place's own area:
    the agent's search and the IVR would otherwise send it to two different places."""
    for row, place in gazetteer:
        if place.lon is None or place.lat is None:
            continue
        cells = index.covering(place.lon, place.lat)
        if cells and not any(code.startswith(place.area) for code in cells):
            check.error(
                row.file,
                row.line,
                "area",
                f"the point lies in grid cell {cells[0]}, outside area {place.area}",
            )


def _check_components(
    check: _Checker,
    components: list[tuple[Row, ComponentRow]],
    classes: Set[tuple[str, str]],
    units: Set[str],
    cells: Set[str],
    index: GridIndex | None,
) -> None:
    """A component's id names a component class of the catalogue and the district of its
    cell; its cell exists and holds its point; its owner is a known unit."""
    for row, item in components:
        try:
            parsed = parse_component_id(item.id)
        except CodeError as exc:
            check.error(row.file, row.line, "id", str(exc))
            continue
        if ("component", parsed.class_code) not in classes:
            check.error(row.file, row.line, "id", f"no component class {parsed.class_code}")
        if parsed.admin != item.grid[:6]:
            check.error(
                row.file, row.line, "id", f"district {parsed.admin} is not the cell's district"
            )
        if item.owner_unit not in units:
            check.error(row.file, row.line, "owner_unit", f"unknown unit {item.owner_unit}")
        if index is None:  # the grid itself is broken: its own errors say so
            continue
        if item.grid not in cells:
            check.error(row.file, row.line, "grid", f"unknown grid cell {item.grid}")
        elif item.grid not in index.covering(item.lon, item.lat):
            check.error(row.file, row.line, "lon", f"the point lies outside grid cell {item.grid}")


def _check_areas(
    check: _Checker, areas: list[tuple[Row, AreaRow]], area_level: Mapping[str, str]
) -> None:
    cities = [a for _, a in areas if a.level == "city"]
    if len(cities) != 1 and areas:
        check.error(FILES["areas"], None, "level", "exactly one row must have level city")
    for row, area in areas:
        if len(area.code) != AREA_CODE_LENGTH[area.level]:
            check.error(
                row.file,
                row.line,
                "code",
                f"a {area.level} code has {AREA_CODE_LENGTH[area.level]} digits",
            )
        if area.level == "city":
            if area.parent:
                check.error(row.file, row.line, "parent", "the city has no parent")
            continue
        expected = PARENT_LEVEL[area.level]
        if area.parent is None or area_level.get(area.parent) != expected:
            check.error(row.file, row.line, "parent", f"must be the code of a known {expected}")
        elif area.level != "district" and not area.code.startswith(area.parent):
            check.error(row.file, row.line, "code", f"must start with its parent {area.parent}")


def _check_platforms(
    check: _Checker, platforms: list[tuple[Row, PlatformRow]], area_level: Mapping[str, str]
) -> None:
    check.unique("platforms", platforms, "code", lambda p: p.code)
    check.unique("platforms", platforms, "area", lambda p: p.area)
    check.unique("platforms", platforms, "queue", lambda p: p.queue)
    check.unique("platforms", [(r, p) for r, p in platforms if p.did], "did", lambda p: p.did)
    check.unique(
        "platforms", [(r, p) for r, p in platforms if p.menu_key], "menu_key", lambda p: p.menu_key
    )
    if platforms and sum(p.level == "city" for _, p in platforms) != 1:
        check.error(FILES["platforms"], None, "level", "exactly one row must have level city")
    for row, platform in platforms:
        if area_level.get(platform.area) != platform.level:
            check.error(row.file, row.line, "area", f"must be the code of a known {platform.level}")
        if platform.level == "district" and not platform.menu_key:
            check.error(row.file, row.line, "menu_key", "a district platform needs a menu key")
        if (platform.night_start is None) != (platform.night_end is None):
            check.error(row.file, row.line, "night_end", "give both night_start and night_end")


def _check_catalogue(check: _Checker, catalogue: list[tuple[Row, CatalogueRow]]) -> None:
    majors = {(c.kind, c.major) for _, c in catalogue if c.minor is None}
    widths: dict[str, tuple[int, int]] = {}
    for row, item in catalogue:
        if item.minor is None:
            continue
        if (item.kind, item.major) not in majors:
            check.error(row.file, row.line, "major", f"no major class {item.major} for {item.kind}")
        width, first = widths.setdefault(item.kind, (len(item.minor), row.line))
        if len(item.minor) != width:
            check.error(
                row.file,
                row.line,
                "minor",
                f"{item.kind} minor classes have {width} digits (line {first})",
            )


def _check_district_classes(
    check: _Checker,
    catalogue: list[tuple[Row, CatalogueRow]],
    additions: list[tuple[Row, DistrictClassRow]],
    area_level: Mapping[str, str],
) -> None:
    """A district's own types: a minor class under one of the city's major classes, of the
    city's width, in the districts' range of codes, a code no other row (the city's or a
    district's) has: a code means one thing in the whole city."""
    city = {(c.kind, c.code): row.line for row, c in catalogue}
    widths = {c.kind: len(c.minor) for _, c in catalogue if c.minor is not None}
    seen: dict[tuple[str, str], int] = {}
    for row, item in additions:
        if area_level.get(item.district) != "district":
            check.error(row.file, row.line, "district", f"unknown district {item.district}")
        if item.minor is None:
            check.error(row.file, row.line, "minor", "a district adds types (minor classes) only")
            continue
        if (item.kind, item.major) not in city:
            check.error(row.file, row.line, "major", f"no major class {item.major} for {item.kind}")
        width = widths.get(item.kind, len(item.minor))
        allowed = DISTRICT_MINORS[width]
        key = (item.kind, item.code)
        if len(item.minor) != width:
            wrong = f"{item.kind} minor classes have {width} digits"
            check.error(row.file, row.line, "minor", wrong)
        elif key in city:
            check.error(
                row.file,
                row.line,
                "minor",
                f"{item.code} is the city's class ({FILES['catalogue']} line {city[key]})",
            )
        elif int(item.minor) not in allowed:
            check.error(
                row.file,
                row.line,
                "minor",
                f"a district's own minor codes are {allowed.start}-{allowed.stop - 1}",
            )
        elif key in seen:
            check.error(row.file, row.line, "minor", f"duplicate of line {seen[key]}")
        else:
            seen[key] = row.line


def _check_prefix(
    check: _Checker, row: Row, kind: str, prefix: str, classes: Set[tuple[str, str]]
) -> None:
    if (kind, prefix) not in classes:
        check.error(row.file, row.line, "class_prefix", f"no {kind} class {prefix} in catalogue")


def _read_grid(
    check: _Checker, directory: Path, area_level: Mapping[str, str]
) -> tuple[list[GridCellRow], GridIndex | None]:
    """The cells, and their index (built once: the overlap and gazetteer checks share it)."""
    name = FILES["grid"]
    cells: list[GridCellRow] = []
    lines: dict[str, int] = {}
    for line, feature in read_geojson_features(directory / name, check.errors):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        code = properties.get("code") if isinstance(properties, dict) else None
        if not isinstance(code, str):
            check.error(name, line, "properties.code", "missing grid cell code")
            continue
        try:
            parsed = parse_grid_code(code)
        except CodeError as exc:
            check.error(name, line, "properties.code", str(exc))
            continue
        if area_level.get(parsed.community) != "community":
            check.error(
                name, line, "properties.code", f"prefix {parsed.community} is not a known community"
            )
            continue
        if code in lines:
            check.error(name, line, "properties.code", f"duplicate of line {lines[code]}")
            continue
        geometry = feature.get("geometry")
        try:
            shape = polygon_from_geojson(geometry if isinstance(geometry, dict) else {})
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            check.error(name, line, "geometry", str(exc) or "invalid geometry")
            continue
        if not shape.is_valid or shape.is_empty:
            check.error(name, line, "geometry", "polygon is empty or self-intersecting")
            continue
        lines[code] = line
        cells.append(GridCellRow(code, parsed.community, dict(geometry or {}), shape))
    if not cells:
        return cells, None
    index = GridIndex((c.code, c.shape) for c in cells)
    for first, second in index.overlapping_pairs():
        check.error(name, lines[second], "geometry", f"overlaps cell {first}")
    return cells, index
