"""Which unit handles a case and by when: pure functions over the rules data.

Assignment: the longest matching class prefix wins; at equal length a rule for the case's
district beats a city-wide one. Deadlines: the longest matching prefix for the urgency,
counted in working hours or working days on the working calendar.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from hotline.workcalendar import WorkCalendar


@dataclass(frozen=True)
class AssignmentRule:
    kind: str
    class_prefix: str
    district: str | None
    unit: str


@dataclass(frozen=True)
class DeadlineRule:
    kind: str
    class_prefix: str
    urgency: str
    amount: int
    unit: str  # working_hours | working_days


def assign_unit(
    rules: Iterable[AssignmentRule], kind: str, class_code: str, district: str | None
) -> str | None:
    best: tuple[int, int] | None = None
    chosen = None
    for rule in rules:
        if rule.kind != kind or not class_code.startswith(rule.class_prefix):
            continue
        if rule.district is not None and rule.district != district:
            continue
        rank = (len(rule.class_prefix), 1 if rule.district is not None else 0)
        if best is None or rank > best:
            best, chosen = rank, rule.unit
    return chosen


def deadline_for(
    rules: Iterable[DeadlineRule], kind: str, class_code: str, urgency: str
) -> DeadlineRule | None:
    matches = [
        r
        for r in rules
        if r.kind == kind and r.urgency == urgency and class_code.startswith(r.class_prefix)
    ]
    return max(matches, key=lambda r: len(r.class_prefix), default=None)


def due_at(calendar: WorkCalendar, rule: DeadlineRule, start_local: dt.datetime) -> dt.datetime:
    """The deadline, in the same (naive, local) time as ``start_local``."""
    if rule.unit == "working_hours":
        return calendar.add_working_hours(start_local, rule.amount)
    return calendar.add_working_days(start_local, rule.amount)
