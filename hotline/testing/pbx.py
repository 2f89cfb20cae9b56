"""Driving a real Asterisk in tests: the running PBX, and scenarios that place calls through
it with our FastAGI server and AMI client in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine, select

from agi.ami import AmiClient, AmiError
from agi.ami_protocol import Message
from agi.queues import QueueMonitor
from agi.server import FastAgiServer
from dialplan.render import render
from hotline import migrate
from hotline.calls.records import CallRecords
from hotline.calls.tracker import CallTracker
from hotline.db import make_engine, transaction
from hotline.demo import load_demo_users
from hotline.models import Call
from hotline.refdata import load_reference_data
from hotline.settings import PROJECT_ROOT, AmiNode, FastAgiBind, Settings
from ivr.audio import build_prompts
from ivr.entry import call_handler, load_ivr

SCRIPT = PROJECT_ROOT / "scripts" / "asterisk.sh"
TEST_CONTEXTS = Path(__file__).parent / "extensions_local.conf"


class PbxUnavailable(RuntimeError):
    """Asterisk cannot run here (not root, tools missing, or it failed to start)."""


def start_pbx(work: Path, **overrides: Any) -> Pbx:
    """A database with the reference data and demo users, the config rendered from it plus
    the test contexts, the prompts built, and Asterisk started on it."""
    if os.geteuid() != 0:
        raise PbxUnavailable("the Asterisk chroot needs root")
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise PbxUnavailable("espeak-ng and sox are needed for the prompts")
    url = overrides.pop("database_url", None) or f"sqlite:///{work / 'hotline.db'}"
    migrate.upgrade(url)
    engine = make_engine(url, pool_size=20, max_overflow=20)
    load_reference_data(engine, PROJECT_ROOT / "data" / "reference")
    load_demo_users(engine)  # agents with PJSIP endpoints, so pjsip.conf has phones
    values: dict[str, Any] = {
        "database_url": url,
        "fastagi": FastAgiBind(port=free_port()),
        "ami": [AmiNode(port=free_port(), username="hotline", secret=SecretStr("test-secret"))],
        "sip_secret": SecretStr("test-sip-secret"),
        "emergency_dial": "Local/answer@test-emergency",
        "agent_interface": "Local/{username}@test-agents/n",  # an agent phone that answers
    }
    settings = Settings(**(values | overrides))
    conf = work / "asterisk"
    render(settings, engine, conf)
    shutil.copy(TEST_CONTEXTS, conf / "extensions_local.conf")
    build_prompts(load_ivr().prompts, conf / "sounds")
    started = subprocess.run(
        [str(SCRIPT), "start", str(conf)], capture_output=True, text=True, timeout=600, check=False
    )
    if started.returncode != 0:
        engine.dispose()
        raise PbxUnavailable(f"asterisk did not start: {started.stderr[-2000:]}")
    root = subprocess.run(
        [str(SCRIPT), "root"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Pbx(settings, engine, Path(root))


def stop_pbx(pbx: Pbx) -> None:
    subprocess.run([str(SCRIPT), "stop"], capture_output=True, timeout=60, check=False)
    pbx.engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Pbx:
    settings: Settings
    engine: Engine
    root: Path

    def cli(self, command: str) -> str:
        return subprocess.run(
            [str(SCRIPT), "cli", command], capture_output=True, text=True, check=True, timeout=30
        ).stdout

    def log(self, name: str = "messages.log") -> str:
        return (self.root / "var" / "log" / "asterisk" / name).read_text("utf-8", "replace")


def last_call(pbx: Pbx, caller: str) -> Call:
    """The newest call record of ``caller``."""
    with transaction(pbx.engine) as session:
        call = session.scalars(
            select(Call).where(Call.caller_number == caller).order_by(Call.id.desc())
        ).first()
        assert call is not None, f"no call record for {caller}"
        return call


@dataclass
class Scene:
    """One scenario: our servers, an AMI connection and every event seen."""

    pbx: Pbx
    ami: AmiClient
    monitor: QueueMonitor
    agi: FastAgiServer | None
    tracker: CallTracker
    events: list[Message] = field(default_factory=list)
    members: list[tuple[str, str]] = field(default_factory=list)

    async def add_agent(self, queue: str, name: str) -> None:
        await self.ami.action(
            "QueueAdd", Queue=queue, Interface=f"Local/{name}@test-agents/n", MemberName=name
        )
        self.members.append((queue, f"Local/{name}@test-agents/n"))
        await self.monitor.refresh()

    async def call(
        self, caller: str, script: str = "keys", to: str = "12319", **variables: str
    ) -> None:
        fields: dict[str, Any] = {
            "Channel": f"Local/{to}@hotline/n",
            "Context": "test-caller",
            "Exten": script,
            "Priority": "1",
            "CallerID": f'"Citizen" <{caller}>',
            "Async": "true",
            "Timeout": "30000",
        }
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        await self.ami.action("Originate", **fields)

    async def wait_for(
        self, predicate: Callable[[Message], bool], timeout: float = 45.0
    ) -> Message:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                await asyncio.sleep(0.05)

    def seen(self, predicate: Callable[[Message], bool]) -> list[Message]:
        return [e for e in self.events if predicate(e)]


Scenario = Callable[[Scene], Awaitable[None]]


def play(
    pbx: Pbx,
    scenario: Scenario,
    *,
    app: bool = True,
    settings: Settings | None = None,
    **handler_kwargs: Any,
) -> Scene:
    """Run ``scenario`` with our FastAGI server (unless ``app`` is False) and an AMI client."""
    settings = settings or pbx.settings
    holder: list[Scene] = []

    async def main() -> None:
        node = settings.ami[0]
        ami = AmiClient(
            node.host,
            node.port,
            node.username,
            node.secret.get_secret_value(),
            events="call,agent,user,agi",
        )
        await ami.connect()
        monitor = QueueMonitor(ami)
        await monitor.refresh()
        agi = None
        records = CallRecords(pbx.engine)  # shared by the IVR and the tracker, as in serve
        if app:
            handler = call_handler(
                settings, pbx.engine, queues=monitor.snapshot, records=records, **handler_kwargs
            )
            agi = FastAgiServer(handler)
            await agi.start(settings.fastagi.host, settings.fastagi.port)
        tracker = CallTracker(pbx.engine, records=records)
        tracker.attach(ami)
        tracker.start()
        scene = Scene(pbx, ami, monitor, agi, tracker)
        holder.append(scene)
        ami.on("*", scene.events.append)
        try:
            await scenario(scene)
        finally:
            for queue, interface in scene.members:
                await ami.action("QueueRemove", Queue=queue, Interface=interface)
            with contextlib.suppress(AmiError):  # nothing left to hang up is fine
                await ami.action("Hangup", Channel="/^Local/.*/")
            if agi is not None:
                await agi.stop(grace=5)
            async with asyncio.timeout(10):
                await tracker.drained()
            await tracker.stop()
            await asyncio.to_thread(records.close)
            await ami.close()

    asyncio.run(main())
    return holder[0]
