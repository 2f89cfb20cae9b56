"""City-wide code formats (grid cells, components, events), parsed into plain values.

Grid cell (CJ/T 213-2005 and Beijing practice): 6-digit county-level admin code + 3-digit
street + 3-digit community + a cell number of 2 digits (14 in all, the 2005 standard) or 3
digits (15, Beijing DB11 practice and live systems). Component ID (CJ/T 214): 6-digit admin
code + 2-digit major class + minor class + 6-digit serial; the minor class has 2 digits today
and is reported to get 3 in the 2026 standard, so its width is a parameter taken from the
catalogue data. Event class: 2-digit major + minor class.
"""

from __future__ import annotations

from dataclasses import dataclass


class CodeError(ValueError):
    """A code that does not have the standard's shape."""


@dataclass(frozen=True)
class GridCode:
    code: str
    district: str  # 6 digits
    street: str  # 9 digits (district + street)
    community: str  # 12 digits (street + community)
    cell: str  # 2 or 3 digits


def parse_grid_code(code: str) -> GridCode:
    if not code.isdigit() or len(code) not in (14, 15):
        raise CodeError(f"grid code {code!r} must have 14 or 15 digits")
    return GridCode(code, code[:6], code[:9], code[:12], code[12:])


@dataclass(frozen=True)
class ClassCode:
    """A component or event class: major + minor (minor empty for a major class)."""

    major: str
    minor: str

    @property
    def code(self) -> str:
        return self.major + self.minor


def parse_class_code(code: str, minor_width: int = 2) -> ClassCode:
    if not code.isdigit() or len(code) not in (2, 2 + minor_width):
        raise CodeError(f"class code {code!r} must have 2 or {2 + minor_width} digits")
    return ClassCode(code[:2], code[2:])


@dataclass(frozen=True)
class ComponentId:
    """One physical component (部件), e.g. ``1101010101000001``."""

    admin: str
    major: str
    minor: str
    serial: str

    @property
    def class_code(self) -> str:
        return self.major + self.minor


def parse_component_id(value: str, minor_width: int = 2) -> ComponentId:
    length = 6 + 2 + minor_width + 6
    if not value.isdigit() or len(value) != length:
        raise CodeError(f"component id {value!r} must have {length} digits")
    major_end = 8
    minor_end = major_end + minor_width
    return ComponentId(value[:6], value[6:major_end], value[major_end:minor_end], value[minor_end:])
