"""The published evaluation (no personal data) and the monthly ledger export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from sqlalchemy import Engine

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
    assert "东城区" in page.text and "东城区环境卫生服务中心" in page.text
    assert "王小明" not in page.text and "13912345678" not in page.text
    data = api.client.get("/public/evaluation.json", params={"month": "2026-11"}).json()
    (district,) = [d for d in data["districts"] if d["code"] == "110101"]
    assert (district["registered"], district["dispatched"]) == (1, 1)
    assert api.client.get("/public/evaluation", params={"month": "2026-13"}).status_code == 422


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
