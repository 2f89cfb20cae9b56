"""Two app instances (two ``hotline serve`` processes on two ports) on one PostgreSQL and one
Asterisk: the call is answered through instance A, which runs the IVR and holds the call
tracker's lease; the agent's page is served by instance B; the screen pop still reaches it,
carried by PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from agi.ami import AmiClient
from hotline import migrate
from hotline.calls.tracker import LEASE
from hotline.db import make_engine, transaction
from hotline.demo import load_demo_users
from hotline.models import Call, Lease
from hotline.refdata import load_reference_data
from hotline.settings import PROJECT_ROOT
from hotline.testing.originate import place_call
from hotline.testing.pbx import Pbx, free_port
from hotline.testing.serve import Instance as Served
from hotline.testing.serve import app_environment, sign_in

CALLER = "13800000601"
MEMBER = "Local/city_agent@test-agents/n"


@pytest.fixture
def shared_db(pg_url: str) -> str:
    migrate.upgrade(pg_url)
    engine = make_engine(pg_url)
    load_reference_data(engine, PROJECT_ROOT / "data" / "reference")
    load_demo_users(engine)
    engine.dispose()
    return pg_url


def Instance(name: str, pbx: Pbx, db_url: str, agi_port: int, work: Path) -> Served:
    """A ``hotline serve`` process on ``pbx``'s one node."""
    return Served(name, app_environment(pbx.settings, db_url, agi_port), work)


def lease_holder(db_url: str) -> str | None:
    engine = make_engine(db_url)
    try:
        with transaction(engine) as session:
            return session.scalar(select(Lease.holder).where(Lease.name == LEASE))
    finally:
        engine.dispose()


def originate(pbx: Pbx) -> None:
    import asyncio

    node = pbx.settings.ami[0]

    async def call() -> None:
        ami = AmiClient(node.host, node.port, node.username, node.secret.get_secret_value())
        await ami.connect()
        try:
            # Chaoyang has no agent: the call goes to the city queue, day or night
            await place_call(ami, CALLER, KEYS="0ww05", HOLD=20)
        finally:
            await ami.close()

    asyncio.run(call())


def first_pop(stream: Iterator[str], deadline: float) -> dict[str, object]:
    kind = ""
    for line in stream:
        if time.monotonic() > deadline:
            break
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind == "pop":
            return dict(json.loads(line.removeprefix("data: ")))
    raise AssertionError("no pop reached the page on instance B")


def test_a_call_through_instance_a_pops_on_a_page_of_instance_b(
    pbx: Pbx, shared_db: str, tmp_path: Path
) -> None:
    a = Instance("instance-a", pbx, shared_db, pbx.settings.fastagi.port, tmp_path)
    b = None
    try:
        a.wait_ready()
        for _ in range(100):  # A takes the tracker lease before B exists
            if lease_holder(shared_db):
                break
            time.sleep(0.1)
        holder = lease_holder(shared_db)
        assert holder and holder.endswith(f"-{a.process.pid}"), a.log()
        b = Instance("instance-b", pbx, shared_db, free_port(), tmp_path)
        b.wait_ready()
        with httpx.Client(base_url=b.base, timeout=10) as client:
            csrf = sign_in(client, "city_agent", "agent-demo-123")
            headers = {"X-CSRF-Token": csrf}
            with client.stream("GET", "/events", timeout=60) as events:
                assert events.status_code == 200
                ready = client.post("/agent/state", json={"state": "ready"}, headers=headers)
                assert ready.status_code == 200, ready.text
                assert ready.json()["queue"] == "hotline-city"
                originate(pbx)
                pop = first_pop(events.iter_lines(), time.monotonic() + 60)
            shown = client.get(f"/calls/{pop['call_id']}/pop")
            assert shown.status_code == 200 and CALLER in shown.text, shown.text[:300]
            client.post("/agent/state", json={"state": "logged_out"}, headers=headers)
        assert lease_holder(shared_db) == holder  # B never tracked: the pop crossed instances
        engine = make_engine(shared_db)
        with transaction(engine) as session:
            call = session.get(Call, pop["call_id"])
            assert call is not None and call.caller_number == CALLER
            assert (call.queue, call.agent) == ("hotline-city", "city_agent")
        engine.dispose()
        assert "listening for live events on PostgreSQL" in b.log()
        assert "call tracking starts" in a.log() and "call tracking starts" not in b.log()
    finally:
        if b is not None:
            b.stop()
        a.stop()
        pbx.cli("channel request hangup all")


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    load_reference_data(engine, PROJECT_ROOT / "data" / "reference")
    load_demo_users(engine)
    engine.dispose()
    return url


def test_one_instance_on_sqlite_pops_across_its_two_processes(
    pbx: Pbx, sqlite_db: str, tmp_path: Path
) -> None:
    """The embedded default: the call is tracked in ``hotline serve``'s own process, the
    agent's page is served by one of its web processes, and the pop crosses between them
    (a live-event socket to each, hotline.web_process)."""
    one = Instance("one", pbx, sqlite_db, pbx.settings.fastagi.port, tmp_path)
    try:
        one.wait_ready()
        with httpx.Client(base_url=one.base, timeout=10) as client:
            csrf = sign_in(client, "city_agent", "agent-demo-123")
            headers = {"X-CSRF-Token": csrf}
            with client.stream("GET", "/events", timeout=60) as events:
                assert events.status_code == 200
                ready = client.post("/agent/state", json={"state": "ready"}, headers=headers)
                assert ready.status_code == 200, ready.text
                originate(pbx)
                pop = first_pop(events.iter_lines(), time.monotonic() + 60)
            shown = client.get(f"/calls/{pop['call_id']}/pop")
            assert shown.status_code == 200 and CALLER in shown.text, shown.text[:300]
            client.post("/agent/state", json={"state": "logged_out"}, headers=headers)
        log = one.log()  # web_workers: one per core
        assert "processes of their own" in log or "a process of its own" in log
    finally:
        one.stop()
        pbx.cli("channel request hangup all")
