"""What every page has: the navigation bar, which marks the one link the page belongs to, and
the language, which a ``?lang=`` keeps for the next pages."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine

from agent_ui.web.templating import NAVIGATION, _here

SUPERVISOR = NAVIGATION["supervisor"]


def test_the_longest_link_the_page_lies_under() -> None:
    assert _here(SUPERVISOR, "/supervisor") == "/supervisor"
    assert _here(SUPERVISOR, "/supervisor/ledger") == "/supervisor/ledger"
    assert _here(SUPERVISOR, "/supervisor/city/report") == "/supervisor/city"
    assert _here(SUPERVISOR, "/reports/cases") == "/reports"
    assert _here(SUPERVISOR, "/cases/1101010001") == "/cases"
    assert _here(SUPERVISOR, "/") == "/"
    assert _here(SUPERVISOR, "/supervisorx") == ""  # a path's piece, not a prefix of text
    agent = NAVIGATION["agent"]
    assert _here(agent, "/cases") == "/cases?view=mine"
    assert _here(agent, "/login") == ""


def test_a_supervisor_page_marks_only_its_own_link(api: Any, loaded_engine: Engine) -> None:
    form = api.client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    api.client.post(
        "/login",
        data={"username": "city_super", "password": "super-demo-123", "csrf_token": token[1]},
    )
    page = api.client.get("/supervisor/ledger")
    assert page.status_code == 200
    marked = re.findall(r'<a href="([^"]+)" aria-current="page">', page.text)
    assert marked == ["/supervisor/ledger"]


def test_a_chosen_language_is_kept(api: Any, loaded_engine: Engine) -> None:
    assert 'lang="zh-CN"' in api.client.get("/login").text
    chosen = api.client.get("/login?lang=en")
    assert 'lang="en"' in chosen.text and "lang=en" in chosen.headers["set-cookie"]
    assert 'lang="en"' in api.client.get("/login").text  # the cookie, no parameter
    other = api.client.get("/login?lang=fr").headers.get_list("set-cookie")
    assert not [c for c in other if c.startswith("lang=")]  # not a language: nothing kept
    assert 'lang="en"' in api.client.get("/login").text
    api.client.get("/login?lang=zh")
    assert 'lang="zh-CN"' in api.client.get("/login").text
