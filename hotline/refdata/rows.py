"""The shape of one row of each reference file; field errors name the column."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator


def _blank_to_none(value: object) -> object:
    return None if value == "" else value


def _aliases(value: object) -> object:
    if isinstance(value, str):
        return tuple(a.strip() for a in value.split("|") if a.strip())
    return value


Optional = Annotated[str | None, BeforeValidator(_blank_to_none)]
Aliases = Annotated[tuple[str, ...], BeforeValidator(_aliases)]
Digits = Annotated[str, Field(pattern=r"^\d+$")]
Kind = Literal["component", "event"]


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


AREA_CODE_LENGTH = {"city": 6, "district": 6, "street": 9, "community": 12}


class AreaRow(_Row):
    code: Digits
    level: Literal["city", "district", "street", "community"]
    parent: Optional = None
    name_zh: str = Field(min_length=1, max_length=64)
    name_en: str = ""
    aliases: Aliases = ()

    @field_validator("code")
    @classmethod
    def _length(cls, code: str) -> str:
        if len(code) not in (6, 9, 12):
            raise ValueError("area code must have 6, 9 or 12 digits")
        return code


class CatalogueRow(_Row):
    kind: Kind
    major: Annotated[str, Field(pattern=r"^\d{2}$")]
    minor: Annotated[
        Annotated[str, Field(pattern=r"^\d{2,3}$")] | None, BeforeValidator(_blank_to_none)
    ] = None
    name_zh: str = Field(min_length=1, max_length=64)
    name_en: str = ""
    aliases: Aliases = ()

    @property
    def code(self) -> str:
        return self.major + (self.minor or "")


class DistrictClassRow(CatalogueRow):
    """A type a district adds under one of the city's major classes (各区可结合实际…适当增加)."""

    district: Annotated[str, Field(pattern=r"^\d{6}$")]


# A district's own minor codes lie in this range (2 or 3 digits): the city's catalogue keeps
# the codes below it and 99 / 999 (其他, other), so the two never collide, even when the city
# adds classes later.
DISTRICT_MINORS = {2: range(50, 99), 3: range(500, 999)}


class UnitRow(_Row):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
    level: Literal["city", "district"]
    district: Optional = None
    name_zh: str = Field(min_length=1, max_length=128)
    name_en: str = ""
    phone: str = ""


class AssignmentRow(_Row):
    kind: Kind
    class_prefix: Annotated[str, Field(pattern=r"^\d{2,5}$")]
    district: Annotated[str | None, BeforeValidator(lambda v: None if v in ("", "*") else v)]
    unit: str = Field(min_length=1)


class DeadlineRow(_Row):
    kind: Kind
    class_prefix: Annotated[str, Field(pattern=r"^\d{2,5}$")]
    urgency: Literal["normal", "urgent"]
    amount: int = Field(gt=0, le=1000)
    unit: Literal["working_hours", "working_days"]


class CalendarRow(_Row):
    date: dt.date
    workday: Annotated[bool, BeforeValidator(lambda v: {"yes": True, "no": False}.get(v, v))]

    name: str = ""


class WorkingHoursRow(_Row):
    weekday: int = Field(ge=1, le=7)
    start: dt.time
    end: dt.time

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: dt.time, info: object) -> dt.time:
        start = getattr(info, "data", {}).get("start")
        if start is not None and end <= start:
            raise ValueError("end must be after start")
        return end


class GazetteerRow(_Row):
    kind: Literal["road", "landmark", "market", "park", "station", "school", "hospital"]
    name_zh: str = Field(min_length=1, max_length=64)
    area: Digits
    aliases: Aliases = ()
    lon: Annotated[
        Annotated[float, Field(ge=73, le=136)] | None, BeforeValidator(_blank_to_none)
    ] = None
    lat: Annotated[Annotated[float, Field(ge=3, le=54)] | None, BeforeValidator(_blank_to_none)] = (
        None
    )


class PinyinRow(_Row):
    """A reading pypinyin gets wrong for a place name (朝阳门 is chao-, not zhao-)."""

    phrase: Annotated[str, Field(pattern=r"^[\u4e00-\u9fff]{1,16}$")]
    pinyin: Annotated[tuple[str, ...], BeforeValidator(lambda v: tuple(str(v).split()))]

    @field_validator("pinyin")
    @classmethod
    def _syllables(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for syllable in value:
            if not re.fullmatch(r"[a-z]{1,6}", syllable):
                raise ValueError(f"{syllable!r} is not a toneless pinyin syllable (a-z, v for ü)")
        return value


GRID_CODE = re.compile(r"^\d{14,15}$")


def _optional_time(value: object) -> object:
    return None if value == "" else value


YesNo = Annotated[bool, BeforeValidator(lambda v: {"yes": True, "no": False}.get(v, v))]
OptionalTime = Annotated[dt.time | None, BeforeValidator(_optional_time)]


class PlatformRow(_Row):
    code: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")]
    level: Literal["city", "district"]
    area: Digits
    name_zh: str = Field(min_length=1, max_length=64)
    queue: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    did: Annotated[str, Field(pattern=r"^\d*$")] = ""
    menu_key: Annotated[str, Field(pattern=r"^(\d{2})?$")] = ""
    overflow_wait_seconds: Annotated[
        Annotated[int, Field(ge=0, le=3600)] | None, BeforeValidator(_blank_to_none)
    ] = None
    overflow_no_agent: YesNo = True
    night_start: OptionalTime = None
    night_end: OptionalTime = None
    repeat_priority: int = Field(default=5, ge=0, le=100)
    emergency_priority: int = Field(default=10, ge=0, le=100)


COMPONENT_STATUSES = ("in_use", "damaged", "out_of_service", "removed")


class ComponentRow(_Row):
    """One censused component (部件): its 16-digit id (district, class, serial), the grid
    cell its point lies in, the unit that owns it and its status."""

    id: Annotated[str, Field(pattern=r"^\d{16}$")]
    grid: Annotated[str, Field(pattern=r"^\d{14,15}$")]
    lon: Annotated[float, Field(ge=73, le=136)]
    lat: Annotated[float, Field(ge=3, le=54)]
    owner_unit: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
    status: Literal["in_use", "damaged", "out_of_service", "removed"] = "in_use"
