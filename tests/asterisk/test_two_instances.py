"""Two app instances (two ``hotline serve`` processes on two ports) on one PostgreSQL and one
Asterisk: the call is answered through instance A, which runs the IVR and holds the call
tracker's lease; the agent's page is served by instance B; the screen pop still reaches it,
carried by PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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
from hotline.testing.pbx import Pbx, free_port

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


class Instance:
    """One ``hotline serve`` process; its output goes to a file shown when a test fails."""

    def __init__(self, name: str, pbx: Pbx, db_url: str, agi_port: int, work: Path) -> None:
        node = pbx.settings.ami[0]
        self.name, self.web = name, free_port()
        self.output = work / f"{name}.log"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        environment |= {
            "HOTLINE_DATABASE_URL": db_url,
            "HOTLINE_WEB__PORT": str(self.web),
            "HOTLINE_FASTAGI__PORT": str(agi_port),
            "HOTLINE_AMI": json.dumps(
                [
                    {
                        "name": "asterisk-1",
                        "host": node.host,
                        "port": node.port,
                        "username": node.username,
                        "secret": node.secret.get_secret_value(),
                    }
                ]
            ),
            "HOTLINE_AGENT_INTERFACE": pbx.settings.agent_interface,
            "HOTLINE_EMERGENCY_DIAL": pbx.settings.emergency_dial,
            "HOTLINE_WRAPUP_SECONDS": "0",
        }
        self._log_file = self.output.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hotline", "serve"],
            env=environment,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.web}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not start:\n{self.log()}")

    def log(self) -> str:
        return self.output.read_text("utf-8", "replace")[-4000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


def lease_holder(db_url: str) -> str | None:
    engine = make_engine(db_url)
    try:
        with transaction(engine) as session:
            return session.scalar(select(Lease.holder).where(Lease.name == LEASE))
    finally:
        engine.dispose()


def sign_in(client: httpx.Client, user: str, password: str) -> str:
    """Sign in; the desktop's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = client.post(
        "/login", data={"username": user, "password": password, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303, done.text
    desk = client.get("/")
    csrf = re.search(r'csrf: "([^"]+)"', desk.text)
    assert desk.status_code == 200 and csrf is not None, desk.text[:300]
    return csrf.group(1)


def originate(pbx: Pbx) -> None:
    import asyncio

    node = pbx.settings.ami[0]

    async def call() -> None:
        ami = AmiClient(node.host, node.port, node.username, node.secret.get_secret_value())
        await ami.connect()
        try:
            await ami.action(
                "Originate",
                Channel="Local/12319@hotline/n",
                Context="test-caller",
                Exten="keys",
                Priority="1",
                CallerID=f'"Citizen" <{CALLER}>',
                Async="true",
                Timeout="30000",
                # Chaoyang has no agent: the call goes to the city queue, day or night
                Variable=["KEYS=0ww05", "HOLD=20"],
            )
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
    agent's page is served by its web process, and the pop crosses between them (the
    live-event socket, hotline.web_process)."""
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
        assert "a process of its own" in one.log()
    finally:
        one.stop()
        pbx.cli("channel request hangup all")
