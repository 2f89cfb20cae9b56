"""The case list as a file: Excel (.xlsx, what a Chinese government office exchanges) and
CSV (UTF-8 with a byte-order mark, so that Excel opens the Chinese right). Names, not codes,
and the city's local times; written to a temporary file one row at a time (XlsxWriter's
constant-memory mode), so memory stays the same for 10 rows or the cap.

A text cell that begins like a formula (``=``, ``+``, ``-``, ``@``) is a risk in a
spreadsheet: a citizen's description could run in the reader's Excel. The xlsx writes every
text as a string cell (never a formula); the CSV prefixes such a text with ``'``.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import xlsxwriter

from agent_ui.web.i18n import Texts
from agent_ui.web.names import Names
from hotline.cases.lifecycle import ACTIVE_JOBS
from hotline.models import Case

# (catalogue key of the heading, column width in the sheet)
COLUMNS = (
    ("number", 13),
    ("state", 10),
    ("kind", 8),
    ("ws_col_class_code", 9),
    ("class", 18),
    ("district", 10),
    ("ws_street", 14),
    ("grid", 17),
    ("address", 28),
    ("description", 40),
    ("ws_source", 10),
    ("urgency", 8),
    ("unit", 26),
    ("ws_registered_at", 17),
    ("due", 17),
    ("ws_col_hours_left", 12),
    ("ws_col_registered_by", 14),
)


@dataclass(frozen=True)
class ExportRow:
    """One case as the file shows it: texts, local times, the hours left on an open job."""

    texts: dict[str, str]
    registered: dt.datetime  # local, without a zone (a spreadsheet has none)
    due: dt.datetime | None
    hours_left: float | None  # negative: overdue by that much


def export_rows(
    cases: Iterable[Case], names: Names, t: Texts, zone: ZoneInfo, now: dt.datetime
) -> Iterator[ExportRow]:
    for case in cases:
        due = _aware(case.due_at) if case.due_at is not None else None
        left = None
        if due is not None and case.state in ACTIVE_JOBS:
            left = round((due - now).total_seconds() / 3600, 1)
        yield ExportRow(
            {
                "number": case.number,
                "state": t.get(f"state_{case.state}", case.state),
                "kind": t.get(f"kind_{case.kind}", "") if case.kind else "",
                "ws_col_class_code": case.class_code or "",
                "class": names.klass(case.kind, case.class_code) if case.class_code else "",
                "district": names.area(case.district_code),
                "ws_street": names.area(case.grid_code[:9]) if case.grid_code else "",
                "grid": case.grid_code or "",
                "address": case.address,
                "description": case.description,
                "ws_source": t.get(f"source_{case.source}", case.source),
                "urgency": t.get(case.urgency, case.urgency),
                "unit": names.unit(case.unit_code),
                "ws_col_registered_by": names.person(case.created_by),
            },
            _local(_aware(case.created_at), zone),
            _local(due, zone) if due is not None else None,
            left,
        )


Note = Callable[[], str | None]  # a last line, asked for once every row is written


def write_xlsx(rows: Iterable[ExportRow], t: Texts, note: Note = lambda: None) -> str:
    """The rows as an .xlsx file; returns its path (the caller deletes it)."""
    handle, path = tempfile.mkstemp(prefix="cases-", suffix=".xlsx")
    os.close(handle)
    book = xlsxwriter.Workbook(path, {"constant_memory": True, "tmpdir": tempfile.gettempdir()})
    try:
        sheet = book.add_worksheet(t["ws_title"])
        bold = book.add_format({"bold": True, "bg_color": "#EEF2F6"})
        when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        for column, (_, width) in enumerate(COLUMNS):
            sheet.set_column(column, column, width)
        for column, (key, _) in enumerate(COLUMNS):
            sheet.write_string(0, column, t[key], bold)
        line = 0
        for line, row in enumerate(rows, start=1):
            for column, (key, _) in enumerate(COLUMNS):
                if key == "ws_registered_at":
                    sheet.write_datetime(line, column, row.registered, when)
                elif key == "due":
                    if row.due is not None:
                        sheet.write_datetime(line, column, row.due, when)
                elif key == "ws_col_hours_left":
                    if row.hours_left is not None:
                        sheet.write_number(line, column, row.hours_left)
                elif row.texts[key]:
                    sheet.write_string(line, column, row.texts[key])
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(line, 1), len(COLUMNS) - 1)
        last = note()
        if last:
            sheet.write_string(line + 2, 0, last)
    finally:
        book.close()
    return path


def write_csv(rows: Iterable[ExportRow], t: Texts, note: Note = lambda: None) -> str:
    """The rows as CSV in UTF-8 with a byte-order mark; returns its path."""
    handle, path = tempfile.mkstemp(prefix="cases-", suffix=".csv")
    with os.fdopen(handle, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([t[key] for key, _ in COLUMNS])
        for row in rows:
            cells = []
            for key, _ in COLUMNS:
                if key == "ws_registered_at":
                    cells.append(_minutes(row.registered))
                elif key == "due":
                    cells.append(_minutes(row.due) if row.due is not None else "")
                elif key == "ws_col_hours_left":
                    cells.append("" if row.hours_left is None else f"{row.hours_left:.1f}")
                else:
                    cells.append(_inert(row.texts[key]))
            writer.writerow(cells)
        last = note()
        if last:
            writer.writerow([last])
    return path


def _inert(value: str) -> str:
    """A text a spreadsheet will not read as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _minutes(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _local(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return moment.astimezone(zone).replace(tzinfo=None)
