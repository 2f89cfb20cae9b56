"""The published evaluation (no personal data) and the monthly ledger export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import pytest
from sqlalchemy import Engine

from agent_ui.pages import evaluation
from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction

AGENT = Actor("dc_dispatcher", "dispatcher", "110101")
SUPER = Actor("dc_super", "supervisor", "110101")
UNIT = Actor("u", "unit", "110101", "dongcheng.sanitation")
WHEN = dt.datetime(2026, 11, 16, 2, tzinfo=dt.UTC)


def a_month(engine: Engine) -> str:
    with transaction(engine) as session:
        case, _ = create_case(
            session,
            AGENT,
            NewCase(
                source="phone",
                kind="event",
                class_code="0102",
                district_code="110101",
                citizen_name="王小明",
                citizen_phone="13912345678",
            ),
            "k",
            now=WHEN,
        )
        transition(session, AGENT, case.number, "dispatch", 1, {"unit_code": "auto"}, now=WHEN)
        transition(session, UNIT, case.number, "accept", 2, now=WHEN)
        transition(
            session,
            SUPER,
            case.number,
            "to_ledger",
            3,
            {"note": "需市政改造，年内无法解决"},
            now=WHEN + dt.timedelta(hours=1),
        )
        return case.number


def test_public_evaluation(api: Any, loaded_engine: Engine) -> None:
    a_month(loaded_engine)
    page = api.client.get("/public/evaluation", params={"month": "2026-11"})
    assert page.status_code == 200
    assert "东城区" in page.text
    by_unit = api.client.get("/public/evaluation", params={"month": "2026-11", "scope": "unit"})
    assert "东城区环境卫生服务中心" in by_unit.text
    assert "王小明" not in page.text and "13912345678" not in page.text
    assert "<table" not in page.text and "ev-cards" in page.text  # cards: readable on a phone
    assert "按时立案率" in page.text and "计算方法" in page.text  # the formulas beside
    data = api.client.get("/public/evaluation.json", params={"month": "2026-11"}).json()
    (district,) = [d for d in data["rows"] if d["code"] == "110101"]
    assert (district["registered"], district["dispatched"]) == (1, 1)
    assert (data["period"], data["previous_period"], data["running"]) == (
        "2026-11",
        "2026-10",
        False,
    )
    assert api.client.get("/public/evaluation", params={"month": "2026-13"}).status_code == 422
    for bad in ({"period": "2026-02-31"}, {"period": "2026-W60"}, {"scope": "nobody"}):
        assert api.client.get("/public/evaluation", params=bad).status_code == 422


def test_a_running_month_shows_nothing_overdue_before_its_deadlines(
    api: Any, loaded_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On 2 December a job due on 30 December showed an overdue rate of 100 %."""
    monkeypatch.setattr(evaluation, "now", lambda: dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC))
    day = dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC)
    with transaction(loaded_engine) as session:
        case, _ = create_case(
            session,
            AGENT,
            NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
            "k",
            now=day,
        )
        transition(session, AGENT, case.number, "dispatch", 1, {"unit_code": "auto"}, now=day)
        case.due_at = dt.datetime(2026, 12, 30, 2, tzinfo=dt.UTC)
    data = api.client.get("/public/evaluation.json", params={"period": "2026-12"}).json()
    (district,) = [d for d in data["rows"] if d["code"] == "110101"]
    assert data["running"] is True
    assert (district["dispatched"], district["due"], district["overdue_rate"]) == (1, 0, None)
    page = api.client.get("/public/evaluation", params={"period": "2026-12"})
    assert "本期进行中" in page.text and "2026年12月" in page.text
    for period in ("2026-12-01", "2026-W49", "2026-Q4", "2026"):
        assert api.client.get("/public/evaluation", params={"period": period}).status_code == 200


def test_ledger_csv(api: Any, loaded_engine: Engine) -> None:
    number = a_month(loaded_engine)
    response = api.client.get("/api/v1/ledger.csv", params={"month": "2026-11"}, headers=api.system)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][:2] == ["month", "case"]
    assert rows[1][1] == number and rows[1][-1] == "需市政改造，年内无法解决"
    assert ["", "110101", "dongcheng.sanitation", "0102", "1"] in rows
    other = api.client.get("/api/v1/ledger.csv", params={"month": "2026-11"}, headers=api.xicheng)
    assert number not in other.text  # Xicheng's system sees Xicheng's ledger only
    assert api.client.get("/api/v1/ledger.csv", headers=api.unit).status_code == 403


def test_api_docs_load_nothing_from_elsewhere(api: Any) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200 and "/static/vendor/swagger-ui-" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    assert api.client.get("/redoc").status_code == 404
    for asset in re.findall(r"/static/vendor/[\w.-]+", page.text):
        assert api.client.get(asset).status_code == 200
