"""A shift start: 200 pages loaded at once (the agent desk, the wallboard, the reports) on
one instance, a real uvicorn on loopback. Each request used to hold its session's
connection while taking a second one; with every worker thread doing that the pool ran dry,
the instance hung for the pool's 30 s and then answered 500. Now: every load answers 200.
Timings are in bench/page_burst.py and docs/benchmarks.md, never asserted here."""

from __future__ import annotations

import asyncio
import collections

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from agent_ui.main import create_app
from hotline.db import make_engine
from hotline.settings import Settings
from hotline.testing.web import serving, sign_in

CONCURRENT = 200


@pytest.mark.parametrize(
    ("path", "username", "password"),
    [
        ("/", "dc_agent", "agent-demo-123"),
        ("/supervisor", "dc_super", "super-demo-123"),
        ("/reports", "city_super", "super-demo-123"),
    ],
)
def test_200_loads_at_once_all_answer(
    loaded_engine: Engine, loaded_db_url: str, path: str, username: str, password: str
) -> None:
    async def main() -> collections.Counter[int]:
        app = create_app(Settings(database_url=loaded_db_url), loaded_engine)
        async with serving(app) as base:
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                await sign_in(client, username, password)
                cookies = dict(client.cookies)
            limits = httpx.Limits(max_connections=CONCURRENT)
            async with httpx.AsyncClient(
                base_url=base, timeout=60, cookies=cookies, limits=limits
            ) as burst:
                answers = await asyncio.gather(*(burst.get(path) for _ in range(CONCURRENT)))
        return collections.Counter(a.status_code for a in answers)

    assert asyncio.run(main()) == {200: CONCURRENT}


def test_a_dry_pool_answers_503_soon(loaded_db_url: str) -> None:
    """Every connection held elsewhere: the page says "busy, retry" instead of hanging."""
    engine = make_engine(loaded_db_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    app = create_app(Settings(database_url=loaded_db_url), engine)
    try:
        with TestClient(app) as client, engine.connect():
            client.cookies.set("hotline_session", "whatever")
            busy = client.get("/")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
        assert busy.json()["error_id"] == "busy"
    finally:
        engine.dispose()
