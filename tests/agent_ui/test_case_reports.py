"""The reports page's cases: figures per period and place for the supervisors, scoped as the
calls report (a district's supervisor sees their district only), in Chinese with the English
switch, names not codes, and the same figures in the CSV and the Excel file."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine

from agent_ui.pages import evaluation
from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction
from hotline.demo import load_demo_users

WHEN = dt.datetime(2026, 11, 10, 2, tzinfo=dt.UTC)
PASSWORDS = {"dc_super": "super-demo-123", "city_super": "super-demo-123"}


def world(engine: Engine) -> None:
    """Two Dongcheng cases (a call, a walk-in; one dispatched) and a Xicheng call."""
    load_demo_users(engine)
    with transaction(engine) as session:
        for key, source, district in (
            ("a", "phone", "110101"),
            ("b", "walk_in", "110101"),
            ("c", "phone", "110102"),
        ):
            actor = Actor(f"{key}_dispatcher", "dispatcher", district)
            case, _ = create_case(
                session,
                actor,
                NewCase(
                    source=source,
                    kind="event",
                    class_code="0102",
                    district_code=district,
                    grid_code="110101001001001" if district == "110101" else None,
                ),
                key,
                now=WHEN,
            )
            if key == "a":
                transition(
                    session, actor, case.number, "dispatch", 1, {"unit_code": "auto"}, now=WHEN
                )


def sign_in(client: Any, user: str) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"username": user, "password": PASSWORDS[user], "csrf_token": csrf.group(1)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303


@pytest.fixture
def december(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluation, "now", lambda: dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC))


def test_a_district_supervisor_sees_their_district_only(
    api: Any, loaded_engine: Engine, december: None
) -> None:
    world(loaded_engine)
    sign_in(api.client, "dc_super")
    own = api.client.get("/reports/cases.json", params={"period": "2026-11"}).json()
    assert own["district"] == "110101" and own["running"] is False
    assert own["total"]["received"] == 2 and own["total"]["dispatched"] == 1
    assert set(own["groups"]["district"]) == {"110101"}
    assert own["groups"]["source"] == {
        "phone": {**own["groups"]["source"]["phone"], "received": 1},
        "walk_in": {**own["groups"]["source"]["walk_in"], "received": 1},
    }
    page = api.client.get("/reports/cases", params={"period": "2026-11", "by": "district"})
    assert page.status_code == 200
    assert "东城区" in page.text and "西城区" not in page.text
    assert "热线电话" in page.text and "来访" in page.text  # sources by name
    assert "案卷统计" in page.text and "2026年11月" in page.text and "统计口径" in page.text
    assert "phone" not in re.sub(r"<script.*?</script>", "", page.text, flags=re.S)
    street = api.client.get("/reports/cases", params={"period": "2026-11", "by": "street"})
    assert "东华门街道" in street.text
    # Another district's figures are nowhere in the files either.
    csv_text = api.client.get("/reports/cases.csv", params={"period": "2026-11"}).text
    assert csv_text.startswith("\ufeff分组,代码,名称,受理数") and "西城区" not in csv_text
    assert api.client.get("/reports/cases", params={"period": "2026-13"}).status_code == 422


def test_the_city_sees_every_district_and_the_files_agree(
    api: Any, loaded_engine: Engine, december: None
) -> None:
    world(loaded_engine)
    sign_in(api.client, "city_super")
    data = api.client.get("/reports/cases.json", params={"period": "2026-11"}).json()
    assert data["district"] is None and data["total"]["received"] == 3
    assert {k: v["received"] for k, v in data["groups"]["district"].items()} == {
        "110101": 2,
        "110102": 1,
    }
    assert data["previous"]["received"] == 0 and len(data["trend"]) == 30
    assert data["trend"][9]["received"] == 3  # 10 Nov, local
    book = openpyxl.load_workbook(
        io.BytesIO(api.client.get("/reports/cases.xlsx", params={"period": "2026-11"}).content)
    )
    assert book.sheetnames == ["合计", "按区", "按街道", "按类别", "按来源", "趋势"]
    rows = list(book["按区"].iter_rows(values_only=True))
    assert rows[0][:3] == ("代码", "名称", "受理数")
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ("110101", "东城区", 2),
        ("110102", "西城区", 1),
    ]
    english = api.client.get(
        "/reports/cases", params={"period": "2026-11", "by": "class", "lang": "en"}
    )
    assert "Case report" in english.text and "Registered" in english.text
    assert "受理数" not in english.text
    year = api.client.get("/reports/cases.json", params={"period": "2026"}).json()
    assert year["total"]["received"] == 3 and len(year["trend"]) == 12
