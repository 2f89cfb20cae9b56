"""Prometheus /metrics: the case backlog and overdue jobs from the database, the live parts
from the instance (here none: no Asterisk, no FastAGI)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import Engine, update

from agent_ui.main import create_app
from hotline.db import make_engine, transaction
from hotline.models import Case
from hotline.settings import Settings
from routing.model import QueueState

CASE = {
    "kind": "event",
    "class_code": "0102",
    "district_code": "110101",
    "grid_code": "110101001001001",
    "description": "暴露垃圾",
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_backlog_and_overdue_jobs(api: Any, loaded_engine: Engine) -> None:
    for key in ("m-1", "m-2"):
        created = api.client.post(
            "/api/v1/cases", json=CASE, headers={**api.system, "Idempotency-Key": key}
        )
        assert created.status_code == 201, created.text
    with transaction(loaded_engine) as session:
        session.execute(
            update(Case)
            .where(Case.idempotency_key == "rest:api:city-system:m-1")  # keys are per client
            .values(overdue_at=dt.datetime(2026, 11, 30, tzinfo=dt.UTC))
        )
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    open_cases = {k[1][0][1]: v for k, v in found.items() if k[0] == "hotline_cases_open"}
    assert sum(open_cases.values()) == 2
    assert found[("hotline_jobs_overdue", (("district", "110101"),))] == 1
    assert found[("hotline_calls_in_ivr", ())] == 0


def test_queues_and_the_token(loaded_engine: Engine, loaded_db_url: str) -> None:
    settings = Settings(database_url=loaded_db_url, metrics_token=SecretStr("scrape-me"))
    snapshot = {"hotline-110101": QueueState("hotline-110101", 3, 1, 4, 42.0)}
    app = create_app(settings, loaded_engine, queues=lambda: snapshot)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert right.status_code == 200
    found = samples(right.text)
    queue = (("queue", "hotline-110101"),)
    assert found[("hotline_queue_callers_waiting", queue)] == 4
    assert found[("hotline_queue_longest_wait_seconds", queue)] == 42.0
    assert found[("hotline_queue_agents_available", queue)] == 1


def test_status_needs_the_token_or_a_signed_in_user(sqlite_loaded_db_url: str) -> None:
    """/status counts users and units: with a token configured (production) it is for a
    scraper with the token or a signed-in user; the demo, with none, keeps it open."""
    engine = make_engine(sqlite_loaded_db_url)
    try:
        guarded = Settings(database_url=sqlite_loaded_db_url, metrics_token=SecretStr("t0k"))
        with TestClient(create_app(guarded, engine)) as client:
            anonymous = client.get("/status", follow_redirects=False)
            assert anonymous.status_code == 303
            assert anonymous.headers["location"].startswith("/login")
            assert client.get("/metrics").status_code == 401
            odd = {"Authorization": "Bearer t0k\u00e9".encode("latin-1")}  # refused, not a 500
            assert client.get("/metrics", headers=odd).status_code == 401
            scraped = client.get("/status", headers={"Authorization": "Bearer t0k"})
            assert scraped.status_code == 200 and "单元网格" in scraped.text
            page = client.get("/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf is not None
            client.post(
                "/login",
                data={
                    "username": "dc_agent",
                    "password": "agent-demo-123",
                    "csrf_token": csrf.group(1),
                },
            )
            assert client.get("/status").status_code == 200
        demo = Settings(database_url=sqlite_loaded_db_url)
        with TestClient(create_app(demo, engine)) as client:
            assert client.get("/status").status_code == 200
            assert client.get("/metrics").status_code == 200
    finally:
        engine.dispose()
