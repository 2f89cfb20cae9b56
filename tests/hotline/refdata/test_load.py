"""Loading into a real database: complete, idempotent, all-or-nothing, deactivating."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from hotline.db import transaction
from hotline.models import Area, CalendarDay, CatalogueClass, GazetteerEntry, GridCell, Unit
from hotline.refdata import DataErrors, load_reference_data
from hotline.testing.snapshot import snapshot


def test_load_then_reload_changes_nothing(engine: Engine, reference_copy: Path) -> None:
    first = load_reference_data(engine, reference_copy)
    assert first["areas"].added == 302
    assert first["grid_cells"].added == 11701
    assert first["components"].added == 5000
    assert first["catalogue"].added == 131 + 6  # the city's classes and the districts' own
    before = snapshot(engine)
    second = load_reference_data(engine, reference_copy)
    assert not any(counts.changed for counts in second.values()), second
    assert snapshot(engine) == before


def test_broken_file_changes_nothing(engine: Engine, reference_copy: Path) -> None:
    load_reference_data(engine, reference_copy)
    before = snapshot(engine)
    # One good edit and one broken line: neither may reach the database.
    units = reference_copy / "units.csv"
    text = units.read_text(encoding="utf-8")
    text = text.replace("北京市燃气集团", "北京燃气").replace(
        "bj.heating,city,,", "bj.heating,town,,"
    )
    units.write_text(text, encoding="utf-8")
    with pytest.raises(DataErrors) as caught:
        load_reference_data(engine, reference_copy)
    first = caught.value.errors[0]
    assert (first.file, first.field) == ("units.csv", "level")
    # Rules naming the broken unit are reported too, each with its own line.
    assert {e.file for e in caught.value.errors[1:]} <= {"assignment_rules.csv"}
    assert snapshot(engine) == before


def test_broken_file_on_empty_database_writes_nothing(engine: Engine, reference_copy: Path) -> None:
    (reference_copy / "grid_cells.geojson").write_text("{", encoding="utf-8")
    with pytest.raises(DataErrors):
        load_reference_data(engine, reference_copy)
    assert all(not rows for rows in snapshot(engine).values())


def test_edit_updates_and_removal_deactivates(engine: Engine, reference_copy: Path) -> None:
    load_reference_data(engine, reference_copy)
    catalogue = reference_copy / "catalogue.csv"
    text = catalogue.read_text(encoding="utf-8")
    text = text.replace("event,05,13,空调室外机低挂,Air conditioner unit hung too low,\n", "")
    text = text.replace("Exposed rubbish", "Exposed garbage")
    text += "event,05,14,共享单车堆积,Shared bicycles piled up,\n"
    catalogue.write_text(text, encoding="utf-8")
    calendar = reference_copy / "calendar.csv"
    calendar.write_text(
        calendar.read_text("utf-8").replace("2026-10-10,yes,国庆节调休\n", ""), "utf-8"
    )

    summary = load_reference_data(engine, reference_copy)
    assert (
        summary["catalogue"].added,
        summary["catalogue"].updated,
        summary["catalogue"].removed,
    ) == (1, 1, 1)
    assert summary["calendar_days"].removed == 1
    with transaction(engine) as session:
        gone = session.scalar(select(CatalogueClass).where(CatalogueClass.code == "0513"))
        assert gone is not None and gone.active is False  # kept for old cases, inactive
        assert (
            session.scalar(
                select(CatalogueClass.name_en).where(
                    CatalogueClass.kind == "event", CatalogueClass.code == "0102"
                )
            )
            == "Exposed garbage"
        )
        assert session.get(CalendarDay, __import__("datetime").date(2026, 10, 10)) is None

    # Putting the row back reactivates it rather than adding a second one.
    catalogue.write_text(
        text + "event,05,13,空调室外机低挂,Air conditioner unit hung too low,\n", "utf-8"
    )
    summary = load_reference_data(engine, reference_copy)
    assert (summary["catalogue"].added, summary["catalogue"].updated) == (0, 1)


def test_loaded_rows(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        dongcheng = session.get(Area, "110101")
        assert dongcheng is not None and dongcheng.name_zh == "东城区"
        cell = session.get(GridCell, "110101001001001")
        assert cell is not None and cell.community_code == "110101001001"
        assert cell.geometry["type"] == "Polygon"
        unit = session.get(Unit, "dongcheng.sanitation")
        assert unit is not None and unit.district_code == "110101"
        entry = session.scalar(select(GazetteerEntry).where(GazetteerEntry.name_zh == "东华门街道"))
        assert entry is not None and entry.initials == "dhmjd"
