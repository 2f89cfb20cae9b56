"""Every kind of broken file is reported with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.refdata import DataErrors, read_reference_data


def test_shipped_data_is_valid() -> None:
    data = read_reference_data(Path(__file__).parents[3] / "data" / "reference")
    districts = [a for a in data.areas if a.level == "district"]
    assert len(districts) == 16
    assert {a.code for a in districts} >= {"110101", "110102", "110105", "110119"}
    streets = [a for a in data.areas if a.level == "street"]
    assert len([s for s in streets if s.parent == "110101"]) == 17
    assert len([s for s in streets if s.parent == "110102"]) == 15
    names = {a.code: a.name_zh for a in streets}  # statistical division codes, with their gaps
    assert names["110102001"] == "西长安街街道" and names["110102007"] == "月坛街道"
    assert names["110102012"] == "什刹海街道" and names["110102020"] == "广安门外街道"
    assert names["110101004"] == "安定门街道" and names["110101017"] == "永定门外街道"
    kinds = {(c.kind, c.major) for c in data.catalogue if c.minor is None}
    assert {("component", m) for m in ("01", "02", "03", "04", "05", "06")} <= kinds
    assert any(
        c.code == "0102" and c.name_zh == "暴露垃圾" for c in data.catalogue if c.kind == "event"
    )


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


CASES = [
    # file, old text, new text, field, message fragment, line marker (text on the line)
    (
        "gazetteer.csv",
        "road,灯市口大街,110101001,",
        "road,灯市口大街,110101001006,",
        "area",
        "lies in grid cell 110101001002013, outside area 110101001006",
        "灯市口大街",
    ),
    ("pinyin.csv", "chao yang men", "chao yang", "pinyin", "2 syllables for 3", "朝阳门"),
    ("pinyin.csv", "shi cha hai", "shí chà hǎi", "pinyin", "toneless pinyin", "什刹海"),
    ("pinyin.csv", "大栅栏,", "Dashilan,", "phrase", "pattern", "Dashilan"),
    (
        "areas.csv",
        "110101001,street,110101,",
        "110101001,street,110199,",
        "parent",
        "known district",
        "东华门街道",
    ),
    (
        "areas.csv",
        "110101002001,community,110101002,",
        "110101002001,community,110101001,",
        "code",
        "start with its parent",
        "隆福寺社区",
    ),
    ("areas.csv", "110119,district,", "110119,province,", "level", "Input should be", "延庆区"),
    ("catalogue.csv", "event,05,13,", "event,05,1x,", "minor", "pattern", "空调室外机"),
    ("catalogue.csv", "event,05,13,", "event,05,013,", "minor", "2 digits", "空调室外机"),
    ("catalogue.csv", "event,05,13,", "event,07,13,", "major", "no major class 07", "空调室外机"),
    ("catalogue.csv", "event,05,13,", "event,05,12,", "minor", "duplicate of line", "空调室外机"),
    (
        "units.csv",
        "dongcheng.sanitation,district,110101,",
        "dongcheng.sanitation,district,,",
        "district",
        "known district",
        "东城区环境卫生",
    ),
    (
        "assignment_rules.csv",
        "component,0101,*,bj.water_supply",
        "component,0101,*,bj.nobody",
        "unit",
        "unknown unit bj.nobody",
        "bj.nobody",
    ),
    (
        "assignment_rules.csv",
        "component,0101,*,",
        "component,0199,*,",
        "class_prefix",
        "no component class 0199",
        "0199",
    ),
    (
        "deadlines.csv",
        "event,0102,normal,4,working_hours",
        "event,0102,normal,0,working_hours",
        "amount",
        "greater than 0",
        "event,0102,normal,0",
    ),
    (
        "deadlines.csv",
        "event,0102,normal,4,working_hours",
        "event,0102,normal,4,hours",
        "unit",
        "Input should be",
        "event,0102,normal,4,hours",
    ),
    (  # a component outside its cell
        "components.csv",
        "1101010102000001,110101004006023,116.4088440,",
        "1101010102000001,110101004006023,116.4200000,",
        "lon",
        "outside grid cell 110101004006023",
        "116.4200000",
    ),
    (  # a bad component id: no such component class
        "components.csv",
        "1101010102000001,",
        "1101019902000001,",
        "id",
        "no component class 9902",
        "1101019902000001",
    ),
    (  # an id of 15 digits
        "components.csv",
        "1101010102000001,",
        "110101010200001,",
        "id",
        "should match pattern",
        "110101010200001,",
    ),
    (  # an unknown owner unit
        "components.csv",
        "116.4088440,39.9496722,bj.drainage,",
        "116.4088440,39.9496722,bj.nobody,",
        "owner_unit",
        "unknown unit bj.nobody",
        "bj.nobody",
    ),
    # A district's own types (district_catalogue.csv): within the code rules, never the
    # city's code, in a known district.
    (
        "district_catalogue.csv",
        "110101,event,05,50,",
        "110101,event,05,13,",
        "minor",
        "is the city's class (catalogue.csv line",
        "胡同违规停车",
    ),
    (
        "district_catalogue.csv",
        "110101,event,05,50,",
        "110101,event,05,30,",
        "minor",
        "a district's own minor codes are 50-98",
        "胡同违规停车",
    ),
    (
        "district_catalogue.csv",
        "110101,event,05,50,",
        "110199,event,05,50,",
        "district",
        "unknown district 110199",
        "胡同违规停车",
    ),
    (
        "district_catalogue.csv",
        "110101,event,05,50,",
        "110101,event,07,50,",
        "major",
        "no major class 07 for event",
        "胡同违规停车",
    ),
    (
        "district_catalogue.csv",
        "110101,event,05,50,",
        "110101,event,05,,",
        "minor",
        "types (minor classes) only",
        "胡同违规停车",
    ),
    (  # a code means one thing in the whole city: Xicheng may not reuse Dongcheng's
        "district_catalogue.csv",
        "110102,event,05,51,",
        "110102,event,05,50,",
        "minor",
        "duplicate of line",
        "什刹海黑三轮",
    ),
    (  # a rule for a district's own type is that district's
        "assignment_rules.csv",
        "event,0102,110101,dongcheng.sanitation",
        "event,0550,110102,dongcheng.sanitation",
        "district",
        "class 0550 is 110101's own",
        "event,0550,110102",
    ),
    ("calendar.csv", "2026-05-09,yes,", "2026-05-32,yes,", "date", "date", "2026-05-32"),
    ("working_hours.csv", "3,13:30,17:00", "3,13:30,12:00", "end", "after start", "3,13:30,12"),
    (
        "gazetteer.csv",
        "landmark,雍和宫,110101004,",
        "landmark,雍和宫,110101999,",
        "area",
        "unknown area",
        "雍和宫",
    ),
    (
        "gazetteer.csv",
        ",116.4170,39.9470",
        ",216.4170,39.9470",
        "lon",
        "less than or equal",
        "雍和宫",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "field", "message", "marker"), CASES)
def test_broken_file_names_file_line_field(
    reference_copy: Path, file: str, old: str, new: str, field: str, message: str, marker: str
) -> None:
    path = reference_copy / file
    _replace(path, old, new)
    with pytest.raises(DataErrors) as caught:
        read_reference_data(reference_copy)
    errors = caught.value.errors
    wanted = [e for e in errors if e.file == file and e.field == field and message in e.message]
    assert wanted, [str(e) for e in errors]
    assert wanted[0].line == _line_of(path, marker)


def test_missing_column_and_missing_file(reference_copy: Path) -> None:
    _replace(reference_copy / "units.csv", "code,level,district,", "code,level,dist,")
    (reference_copy / "deadlines.csv").unlink()
    with pytest.raises(DataErrors) as caught:
        read_reference_data(reference_copy)
    shown = [str(e) for e in caught.value.errors]
    assert any(s.startswith("units.csv:") and "district: column missing" in s for s in shown)
    assert any(s.startswith("units.csv:") and "dist: unknown column" in s for s in shown)
    assert "deadlines.csv: file not found" in shown


def test_wrong_field_count(reference_copy: Path) -> None:
    _replace(reference_copy / "units.csv", "bj.gas,city,,", "bj.gas,city,,,")
    with pytest.raises(DataErrors) as caught:
        read_reference_data(reference_copy)
    (error,) = [e for e in caught.value.errors if e.file == "units.csv"]
    assert error.line == _line_of(reference_copy / "units.csv", "bj.gas")
    assert "expected 6 fields, found 7" in error.message


GRID_CASES = [
    ('"110101001001002"', '"110101001009002"', "properties.code", "not a known community"),
    ('"110101001001002"', '"1101010010010"', "properties.code", "14 or 15 digits"),
    ('"110101001001002"', '"110101001001001"', "properties.code", "duplicate of line 2"),
    ('"type":"Polygon"', '"type":"Point"', "geometry", "Polygon or MultiPolygon"),
]


@pytest.mark.parametrize(("old", "new", "field", "message"), GRID_CASES)
def test_broken_grid(reference_copy: Path, old: str, new: str, field: str, message: str) -> None:
    path = reference_copy / "grid_cells.geojson"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert old in lines[2]
    if old.startswith('"type"'):
        lines[2] = lines[2].replace(old, new, 1)
    else:
        lines[2] = lines[2].replace(old, new, 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataErrors) as caught:
        read_reference_data(reference_copy)
    errors = [e for e in caught.value.errors if e.file == "grid_cells.geojson"]
    assert any(e.line == 3 and e.field == field and message in e.message for e in errors), [
        str(e) for e in errors
    ]


def test_overlapping_cells_and_bad_json(reference_copy: Path) -> None:
    path = reference_copy / "grid_cells.geojson"
    lines = path.read_text(encoding="utf-8").splitlines()
    # Shift cell 2 half a cell west so it overlaps cell 1.
    lines[2] = lines[2].replace("116.40617", "116.405585").replace("116.40734", "116.406755")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataErrors) as caught:
        read_reference_data(reference_copy)
    assert any(
        e.field == "geometry" and "overlaps cell 110101001001001" in e.message
        for e in caught.value.errors
    )
    path.write_text('{"type": "FeatureCollection", "features": [\n{"a": 1,}\n]}', "utf-8")
    with pytest.raises(DataErrors) as caught:
        read_reference_data(reference_copy)
    (error,) = caught.value.errors
    assert (error.file, error.line) == ("grid_cells.geojson", 2)
    assert "invalid JSON" in error.message
