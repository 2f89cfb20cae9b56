"""Driving a real Asterisk in tests: the running PBX, and scenarios that place calls through
it with our FastAGI server and AMI client in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from agi.ami import AmiClient, AmiError
from agi.ami_protocol import Message
from agi.queues import QueueMonitor
from agi.server import FastAgiServer
from hotline.calls.tracker import CallTracker
from hotline.settings import PROJECT_ROOT, Settings
from ivr.entry import call_handler

SCRIPT = PROJECT_ROOT / "scripts" / "asterisk.sh"


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
        if app:
            handler = call_handler(settings, pbx.engine, queues=monitor.snapshot, **handler_kwargs)
            agi = FastAgiServer(handler)
            await agi.start(settings.fastagi.host, settings.fastagi.port)
        tracker = CallTracker(pbx.engine)
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
            await ami.close()

    asyncio.run(main())
    return holder[0]
