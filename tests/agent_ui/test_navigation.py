"""The navigation bar marks the one link the page belongs to."""

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
