"""The calls report's pictures and Excel file: calls per hour with the speed of answer, calls
per day with the abandon rate, and the agents' answered calls with their handling time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

import xlsxwriter

from agent_ui.web.i18n import Texts
from agent_ui.web.names import Names
from hotline.calls.reports import Figures
from hotline.periods import KINDS, current

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GROUPS = ("queue", "agent", "hour", "day")


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _counts(t: Texts, rows: list[Figures | None]) -> list[dict[str, Any]]:
    return [
        {"name": t.term_offered, "data": [f.offered if f else 0 for f in rows]},
        {"name": t.term_answered, "data": [f.answered if f else 0 for f in rows]},
        {"name": t.term_abandoned, "data": [f.abandoned if f else 0 for f in rows]},
    ]


def charts(
    figures: dict[str, dict[str, Figures]],
    first: dt.date,
    last: dt.date,
    names: Names,
    t: Texts,
) -> dict[str, dict[str, Any]]:
    """Three charts for charts.js; every hour and every day of the range has its place."""
    hours = [f"{h:02d}" for h in range(24)]
    per_hour = [figures["hour"].get(h) for h in hours]
    days = [(first + dt.timedelta(days=d)).isoformat() for d in range((last - first).days + 1)]
    per_day = [figures["day"].get(d) for d in days]
    agents = sorted(figures["agent"].items(), key=lambda item: (-item[1].answered, item[0]))
    return {
        "hour": {
            "kind": "bar",
            "categories": [f"{h}:00" for h in hours],
            "right": {"percent": False},
            "series": [
                *_counts(t, per_hour),
                {
                    "name": t.rp_asa_seconds,
                    "kind": "line",
                    "right": True,
                    "data": [f.asa_seconds if f else None for f in per_hour],
                },
            ],
        },
        "day": {
            "kind": "bar",
            "categories": [d[5:] for d in days],
            "right": {"percent": True},
            "series": [
                *_counts(t, per_day),
                {
                    "name": t.rp_abandon_rate,
                    "kind": "line",
                    "right": True,
                    "data": [_percent(f.abandon_rate) if f else None for f in per_day],
                },
            ],
        },
        "agent": {
            "kind": "bar",
            "horizontal": True,
            "categories": [names.person(agent) for agent, _ in agents],
            "right": {"percent": False},
            "series": [
                {"name": t.term_answered, "data": [f.answered for _, f in agents]},
                {
                    "name": t.rp_aht_seconds,
                    "right": True,  # a bar on the second axis (a line across agents says nothing)
                    "data": [f.aht_seconds for _, f in agents],
                },
            ],
        },
    }


def shortcuts(zone: ZoneInfo) -> dict[str, tuple[dt.date, dt.date]]:
    """The first and last day of today's day, week, month, quarter and year: links above
    the dates (a year is the longest range the report takes)."""
    spans = {}
    for kind in KINDS:
        period = current(kind, zone)
        spans[kind] = (period.first, period.after - dt.timedelta(days=1))
    return spans


def workbook(figures: dict[str, dict[str, Figures]], names: Names, t: Texts) -> bytes:
    """One sheet per grouping (queue, agent, hour, day), names rather than codes."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    bold = book.add_format({"bold": True, "bg_color": "#EEF2F6"})
    rate = book.add_format({"num_format": "0.0%"})
    fields = [f.name for f in dataclasses.fields(Figures)]
    heads = [
        t.term_offered,
        t.term_answered,
        t.term_abandoned,
        "SL 15s",
        "SL 20s",
        t.rp_asa_seconds,
        t.rp_aht_seconds,
        t.rp_abandon_rate,
    ]
    for group in GROUPS:
        sheet = book.add_worksheet(t[f"by_{group}"])
        sheet.write_row(0, 0, ["", *heads], bold)
        sheet.set_column(0, 0, 22)
        sheet.set_column(1, len(heads), 12)
        for line, (key, f) in enumerate(figures[group].items(), start=1):
            name = {"queue": names.queue, "agent": names.person}.get(group, str)(key)
            sheet.write_string(line, 0, f"{name}:00" if group == "hour" else name)
            for column, field in enumerate([*fields, "abandon_rate"], start=1):
                value = getattr(f, field)
                if value is None:
                    sheet.write_blank(line, column, None)
                elif field.startswith("service_level") or field == "abandon_rate":
                    sheet.write_number(line, column, value, rate)
                else:
                    sheet.write_number(line, column, value)
    book.close()
    return out.getvalue()
