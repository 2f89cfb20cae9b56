"""From what a caller said to a place: the gazetteer's names and aliases become the speech
grammar, and the recognized text is matched back to district, street and grid. Pure: the
rows come from the database at start-up, the grid from a lookup function."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Smaller areas say more: a street names its district too. Districts rank last (3).
KIND_RANK = {"community": 0, "street": 1, "road": 2, "landmark": 2, "park": 2, "station": 2}


@dataclass(frozen=True)
class NamedPlace:
    kind: str
    name: str
    aliases: tuple[str, ...]
    area_code: str
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True)
class HeardPlace:
    district: str
    street: str | None
    grid: str | None
    said: tuple[str, ...]  # the names matched, in the order spoken


def _is_cjk(char: str) -> bool:
    return unicodedata.name(char, "").startswith("CJK UNIFIED IDEOGRAPH")


def grammar_phrase(name: str) -> str:
    """Chinese names go to the recognizer character by character (a model's vocabulary has
    the characters even when it lacks the whole name); other scripts word by word."""
    parts: list[str] = []
    word = ""
    for char in name:
        if _is_cjk(char):
            if word:
                parts.append(word)
                word = ""
            parts.append(char)
        elif char.isspace():
            if word:
                parts.append(word)
                word = ""
        else:
            word += char
    if word:
        parts.append(word)
    return " ".join(parts)


def _key(text: str) -> str:
    return "".join(text.split()).lower()


def _rank(place: NamedPlace) -> int:
    return KIND_RANK.get(place.kind, 3)


class PlaceMatcher:
    def __init__(
        self,
        places: Iterable[NamedPlace],
        locate: Callable[[float, float], str | None] = lambda lon, lat: None,
    ) -> None:
        self._locate = locate
        self._by_name: dict[str, list[NamedPlace]] = {}
        self._spoken: set[str] = set()
        for place in places:
            for name in (place.name, *place.aliases):
                if _key(name):
                    self._by_name.setdefault(_key(name), []).append(place)
                    self._spoken.add(grammar_phrase(name))
        # Longest names first, so 安定门外 wins over 安定门.
        self._names = sorted(self._by_name, key=len, reverse=True)

    def phrases(self) -> list[str]:
        """The recognizer's grammar: every name and alias."""
        return sorted(self._spoken)

    def match(self, text: str) -> HeardPlace | None:
        """The place ``text`` names, or None when it names none or is ambiguous (two
        districts, or a name that several districts have and no district to tell them)."""
        rest, found = _key(text), []
        while rest:
            name = next((n for n in self._names if rest.startswith(n)), None)
            if name is None:
                rest = rest[1:]
                continue
            found.append(name)
            rest = rest[len(name) :]
        candidates = [p for name in found for p in self._by_name[name]]
        said = {p.area_code[:6] for p in candidates if p.kind == "district"}
        if not candidates or len(said) > 1:
            return None
        pool = [p for p in candidates if not said or p.area_code[:6] in said]
        for name in found:  # a name none of whose places lies in the district said
            if said and not any(p.area_code[:6] in said for p in self._by_name[name]):
                return None
        finest_rank = min(_rank(p) for p in pool)
        finest = [p for p in pool if _rank(p) == finest_rank]
        if len({p.area_code[:6] for p in finest}) > 1:
            return None
        place = max(finest, key=lambda p: len(p.area_code))
        street = place.area_code[:9] if len(place.area_code) >= 9 else None
        grid = None
        if place.lon is not None and place.lat is not None:
            grid = self._locate(place.lon, place.lat)
        return HeardPlace(place.area_code[:6], street, grid, tuple(found))
