"""Reading operator-edited data files while keeping line numbers for error messages.

CSV files may hold ``#`` comment lines and blank lines. GeoJSON features are located in the
text so an error can name the line a feature starts on.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DataError:
    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class DataErrors(Exception):
    """Raised with every problem found; nothing has been written when it is raised."""

    def __init__(self, errors: list[DataError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class Row:
    file: str
    line: int
    values: dict[str, str] = field(default_factory=dict)


def read_csv(path: Path, columns: tuple[str, ...], errors: list[DataError]) -> list[Row]:
    """Rows of a UTF-8 CSV file whose header must hold exactly ``columns`` (any order)."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        errors.append(DataError(name, None, None, "file not found"))
        return []
    except UnicodeDecodeError as exc:
        errors.append(DataError(name, None, None, f"not UTF-8 text ({exc.reason})"))
        return []

    numbered = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not numbered:
        errors.append(DataError(name, None, None, "no header line"))
        return []
    header_line, header_text = numbered[0]
    header = [h.strip() for h in next(csv.reader([header_text]))]
    missing = [c for c in columns if c not in header]
    unknown = [h for h in header if h not in columns]
    for column in missing:
        errors.append(DataError(name, header_line, column, "column missing from header"))
    for column in unknown:
        errors.append(DataError(name, header_line, column, "unknown column"))
    if missing or unknown:
        return []

    rows: list[Row] = []
    for number, line in numbered[1:]:
        cells = next(csv.reader(io.StringIO(line)))
        if len(cells) != len(header):
            errors.append(
                DataError(name, number, None, f"expected {len(header)} fields, found {len(cells)}")
            )
            continue
        rows.append(Row(name, number, {h: c.strip() for h, c in zip(header, cells, strict=True)}))
    return rows


def read_geojson_features(path: Path, errors: list[DataError]) -> list[tuple[int, dict[str, Any]]]:
    """(line, feature) pairs of a GeoJSON FeatureCollection."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        errors.append(DataError(name, None, None, "file not found"))
        return []
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        errors.append(DataError(name, exc.lineno, None, f"invalid JSON: {exc.msg}"))
        return []
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        errors.append(DataError(name, 1, "type", "expected a GeoJSON FeatureCollection"))
        return []
    features = document.get("features")
    if not isinstance(features, list):
        errors.append(DataError(name, 1, "features", "expected a list of features"))
        return []
    try:
        lines = _feature_lines(text, len(features))
    except (ValueError, IndexError):  # unusual layout: fall back to the file's first line
        lines = [1] * len(features)
    return list(zip(lines, features, strict=True))


def _feature_lines(text: str, count: int) -> list[int]:
    """Line on which each element of the top-level ``features`` array starts."""
    decoder = json.JSONDecoder()
    start = text.find("[", text.find('"features"'))
    lines: list[int] = []
    position = start + 1
    for _ in range(count):
        while text[position] in " \t\r\n,":
            position += 1
        lines.append(text.count("\n", 0, position) + 1)
        _, position = decoder.raw_decode(text, position)
    return lines
