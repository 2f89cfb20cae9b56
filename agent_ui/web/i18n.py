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
from starlette.datastructures import MutableHeaders, QueryParams
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class RememberLanguage:
    """A ``?lang=zh|en`` chosen on any page is kept in the ``lang`` cookie for the next ones.

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` ran every request
    through a task group and a stream of its body, for a header one request in hundreds
    carries."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = QueryParams(scope["query_string"]).get("lang") if scope["type"] == "http" else None
        if chosen not in ("zh", "en"):
            await self.app(scope, receive, send)
            return
        cookie = Response()
        cookie.set_cookie("lang", chosen, samesite="lax", max_age=365 * 86400)
        header = cookie.headers["set-cookie"]

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", header)
            await send(message)

        await self.app(scope, receive, with_cookie)
