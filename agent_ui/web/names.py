"""Names, not internal codes, on every page: units, districts and streets, classes, queues,
people. Read once a minute per process (reference data changes only when an operator loads
it), looked up in the page's language, the code itself where nothing is known."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent_ui.web.i18n import language
from agent_ui.web.shared_cache import SharedCache
from hotline.models import Area, CallPlatform, CatalogueClass, Unit, User

TTL = 60.0


@dataclass(frozen=True)
class _Catalogue:
    areas: dict[str, tuple[str, str]]
    units: dict[str, tuple[str, str]]
    classes: dict[tuple[str, str], tuple[str, str]]
    queues: dict[str, tuple[str, str]]
    people: dict[str, str]
    stamp: float = field(default_factory=time.monotonic)  # which read: pieces rendered with it


def _load(session: Session) -> _Catalogue:
    def pairs(rows: object) -> dict[str, tuple[str, str]]:
        return {code: (zh, en or zh) for code, zh, en in rows}  # type: ignore[attr-defined]

    return _Catalogue(
        areas=pairs(session.execute(select(Area.code, Area.name_zh, Area.name_en))),
        units=pairs(session.execute(select(Unit.code, Unit.name_zh, Unit.name_en))),
        classes={
            (kind, code): (zh, en or zh)
            for kind, code, zh, en in session.execute(
                select(
                    CatalogueClass.kind,
                    CatalogueClass.code,
                    CatalogueClass.name_zh,
                    CatalogueClass.name_en,
                )
            )
        },
        queues={
            queue: (zh, zh)
            for queue, zh in session.execute(select(CallPlatform.queue, CallPlatform.name_zh))
        },
        people={
            name: shown for name, shown in session.execute(select(User.username, User.display_name))
        },
    )


class Names:
    """The lookups of one page, in its language."""

    def __init__(self, catalogue: _Catalogue, lang: str) -> None:
        self._c, self._i = catalogue, 1 if lang == "en" else 0

    @property
    def version(self) -> tuple[float, int]:
        """Which names these are (the read and the language): the key of what a page renders
        with them and keeps (``agent_ui.web.templating.cached_case``)."""
        return self._c.stamp, self._i

    def area(self, code: str | None) -> str:
        return self._c.areas[code][self._i] if code in self._c.areas else (code or "")

    def unit(self, code: str | None) -> str:
        return self._c.units[code][self._i] if code in self._c.units else (code or "")

    def klass(self, kind: str | None, code: str | None) -> str:
        key = (kind or "", code or "")
        return self._c.classes[key][self._i] if key in self._c.classes else (code or "")

    def major(self, kind: str | None, code: str | None) -> str:
        """The major class (the first two digits) of a class code."""
        return self.klass(kind, (code or "")[:2]) if code else ""

    def queue(self, name: str | None) -> str:
        return self._c.queues[name][self._i] if name in self._c.queues else (name or "")

    def person(self, username: str | None) -> str:
        if not username:
            return ""
        return self._c.people.get(username) or username

    def units(self) -> dict[str, str]:
        return {code: pair[self._i] for code, pair in self._c.units.items()}

    def districts(self) -> dict[str, str]:
        return {
            code: pair[self._i]
            for code, pair in self._c.areas.items()
            if len(code) == 6 and not code.endswith("0000")
        }


def names_for(request: Request, session: Session) -> Names:
    cache: SharedCache = request.app.state.shared_cache
    catalogue = cache.get(("names", str(request.app.state.engine.url)), TTL, lambda: _load(session))
    return Names(catalogue, language(request))
