"""Place names for the IVR's speech step and the agent's location search.

Matches Chinese names and aliases by substring, and pinyin by full spelling or initials
(``dhm`` finds 东华门), so an agent can type whichever comes first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pypinyin import Style, lazy_pinyin
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hotline.models import GazetteerEntry


def _blank_each(chunk: str) -> Any:
    """pypinyin's ``errors`` callback: one empty syllable per non-Han character (pypinyin
    accepts a list here though its type hints say str)."""
    return [""] * len(chunk)


def pinyin_of(name: str, readings: Mapping[str, tuple[str, ...]] | None = None) -> tuple[str, str]:
    """(full pinyin, initials) in lower case without tones or spaces.

    ``readings`` (phrase → one syllable per character, from the data's pinyin.csv) override
    pypinyin where it reads a place name wrong; the longest phrase at each position wins.
    """
    # One entry per character ("" for non-Han ones), so phrase positions line up.
    syllables = lazy_pinyin(name, style=Style.NORMAL, errors=_blank_each)
    if readings:
        longest = max(map(len, readings))
        at = 0
        while at < len(name):
            for size in range(min(longest, len(name) - at), 0, -1):
                reading = readings.get(name[at : at + size])
                if reading is not None:
                    syllables[at : at + size] = reading
                    at += size
                    break
            else:
                at += 1
    full = "".join(syllables).lower()
    initials = "".join(s[0] for s in syllables if s).lower()
    return full, initials


# Administrative areas first, larger before smaller, then named places.
KIND_ORDER = ("district", "street", "community", "road", "landmark", "park", "station")


@dataclass(frozen=True)
class Place:
    kind: str
    name_zh: str
    area_code: str
    lon: float | None
    lat: float | None


def search(session: Session, text: str, limit: int = 20) -> list[Place]:
    """Places whose name, alias or pinyin matches ``text``, best matches first."""
    query = text.strip()
    if not query:
        return []
    lowered = query.lower().replace(" ", "")
    # autoescape: a caller's "%" or "_" is a character to find, not a wildcard.
    rows = session.scalars(
        select(GazetteerEntry)
        .where(GazetteerEntry.active.is_(True))
        .where(
            or_(
                GazetteerEntry.name_zh.contains(query, autoescape=True),
                GazetteerEntry.aliases.contains(query, autoescape=True),
                GazetteerEntry.pinyin.startswith(lowered, autoescape=True),
                GazetteerEntry.initials.startswith(lowered, autoescape=True),
            )
        )
        .limit(limit * 5)
    ).all()

    def rank(entry: GazetteerEntry) -> tuple[int, int, int, str]:
        exact = (
            entry.name_zh == query
            or query in entry.aliases.split("|")
            or lowered in (entry.pinyin, entry.initials)
        )
        kind = KIND_ORDER.index(entry.kind) if entry.kind in KIND_ORDER else len(KIND_ORDER)
        return (0 if exact else 1, kind, len(entry.name_zh), entry.name_zh)

    ranked = sorted(rows, key=rank)[:limit]
    return [Place(e.kind, e.name_zh, e.area_code, e.lon, e.lat) for e in ranked]
