"""Page texts in zh-CN (the default) and English, from the catalogue ``texts.toml``; the
language comes from ``?lang=`` or the ``lang`` cookie.

The catalogue is checked when it is loaded: every entry is a pair of non-empty strings, and
the same placeholders appear in both languages.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from fastapi import Request

CATALOGUE = Path(__file__).with_name("texts.toml")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class CatalogueError(ValueError):
    """The text catalogue is malformed; the message names the file and the key."""


def load_texts(path: Path = CATALOGUE) -> dict[str, tuple[str, str]]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path}: {exc}") from exc
    texts: dict[str, tuple[str, str]] = {}
    for key, pair in raw.items():
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(p, str) and p for p in pair)
        ):
            raise CatalogueError(f'{path}: {key}: give ["中文", "English"]')
        zh, en = pair
        if set(_PLACEHOLDER.findall(zh)) != set(_PLACEHOLDER.findall(en)):
            raise CatalogueError(f"{path}: {key}: the two languages name different placeholders")
        texts[key] = (zh, en)
    return texts


TEXTS = load_texts()


class Texts(dict[str, str]):
    """The texts of one language: ``t.key`` or ``t["key"]`` in templates, ``t.get(key,
    default)`` for a key built at run time, ``t.fmt(key, n=3)`` to fill placeholders."""

    def __getattr__(self, key: str) -> str:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def fmt(self, key: str, **values: object) -> str:
        return self.get(key, key).format(**values)


_BY_LANGUAGE = {
    lang: Texts({key: pair[index] for key, pair in TEXTS.items()})
    for index, lang in enumerate(("zh", "en"))
}


def language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get("lang") or "zh"
    return "en" if chosen == "en" else "zh"


def translator(request: Request) -> Texts:
    return _BY_LANGUAGE[language(request)]


def texts_for(lang: str) -> Texts:
    return _BY_LANGUAGE["en" if lang == "en" else "zh"]
