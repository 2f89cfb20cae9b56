"""What each case action may carry: a declared, strictly typed shape per action.

A client's ``data`` is checked against its action's shape before anything else happens:
an unknown field, a string where a number or a yes/no is meant (``"5"``, ``"false"``) or a
value out of range is refused with ``case-bad-data`` (422) naming the field. Only the
checked values reach the case and its history, so nothing a client sends is stored raw
(a unit's ``accept`` cannot write a ``state`` or ``unit_code`` of its choosing there).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline.text import clean_text

NOTE_MAX = 4000


class ActionDataError(ValueError):
    """The data does not fit the action's shape; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NoData(_Shape):
    """Actions that carry nothing but their note."""


class Register(_Shape):
    kind: Literal["component", "event"]
    class_code: Annotated[str, Field(pattern=r"^\d{4,5}$")]


class Dispatch(_Shape):
    unit_code: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="a unit's code; empty or `auto`: the assignment rules"
    )


class MarkDuplicate(_Shape):
    duplicate_of: Annotated[str, Field(pattern=r"^\d{10,16}$")] = Field(
        description="the number of the case this one repeats"
    )


class Verify(_Shape):
    solved: bool
    satisfaction: Annotated[int, Field(ge=1, le=5)]


class HandDown(_Shape):
    district_code: Annotated[str, Field(pattern=r"^\d{6}$")] | None = Field(
        default=None, description="the district platform that takes the case (default: its own)"
    )


class Ledger(_Shape):
    reason: Annotated[str, Field(max_length=32)] | None = Field(
        default=None, description="the ledger reason's code (the note tells the details)"
    )


SHAPES: dict[str, type[_Shape]] = {
    "register": Register,
    "dispatch": Dispatch,
    "mark_duplicate": MarkDuplicate,
    "verify": Verify,
    "to_ledger": Ledger,
    "hand_down": HandDown,
}


def check_action_data(action: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(note, checked data) for ``action``; ``data`` may hold the note under ``note``.

    Raises :class:`ActionDataError` naming the first field that does not fit."""
    if not isinstance(data, dict):
        raise ActionDataError("data", "must be an object")
    fields = dict(data)
    note = fields.pop("note", "")
    if not isinstance(note, str):
        raise ActionDataError("note", "must be text")
    if len(note) > NOTE_MAX:
        raise ActionDataError("note", f"at most {NOTE_MAX} characters")
    shape = SHAPES.get(action, NoData)
    try:
        checked = shape.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "data"
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise ActionDataError(field, message) from None
    values = {
        key: clean_text(value) if isinstance(value, str) else value
        for key, value in checked.model_dump(exclude_none=True).items()
    }
    return clean_text(note), values
