"""Driving a real Asterisk in tests: the running PBX, and scenarios that place calls through
it with our FastAGI server and AMI client in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
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
from hotline.testing.originate import hotline_channel, place_call
from ivr.audio import build_prompts
from ivr.entry import FLOW_DIR, call_handler, load_ivr
from ivr.flow import Flow

SCRIPT = PROJECT_ROOT / "scripts" / "asterisk.sh"
TEST_CONTEXTS = Path(__file__).parent / "extensions_local.conf"
# This process's own Asterisk instance (scripts/asterisk.sh): other test sessions on the
# machine run theirs beside it, and neither stops the other's.
INSTANCE = f"pytest-{os.getpid()}"


def _script(
    *args: str, timeout: float = 60, instance: str = INSTANCE
) -> subprocess.CompletedProcess[str]:
    return run_script(SCRIPT, args, timeout, {"HOTLINE_ASTERISK_INSTANCE": instance})


def run_script(
    script: Path, args: Sequence[str], timeout: float, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """One of scripts/ with ``args``, its output captured, ``environment`` added."""
    return subprocess.run(
        [str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **environment},
    )


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
        "sip_bind": f"127.0.0.1:{free_port()}",  # not 5060: another instance may hold it
        "sip_secret": SecretStr("test-sip-secret"),
        "emergency_dial": "Local/answer@test-emergency",
        "callback_dial": "Local/{number}@test-citizen/n",  # a citizen who answers
        "agent_interface": "Local/{username}@test-agents/n",  # an agent phone that answers
    }
    settings = Settings(**(values | overrides))
    conf = work / "asterisk"
    render(settings, engine, conf)
    shutil.copy(TEST_CONTEXTS, conf / "extensions_local.conf")
    build_prompts(load_ivr().prompts, conf / "sounds")
    try:
        return start_asterisk(settings, engine, conf, INSTANCE)
    except PbxUnavailable:
        engine.dispose()
        raise


def start_asterisk(settings: Settings, engine: Engine, conf: Path, instance: str) -> Pbx:
    """Start the Asterisk instance ``instance`` (its own folder in the chroot) on ``conf``."""
    started = _script("start", str(conf), timeout=600, instance=instance)
    if started.returncode != 0:
        raise PbxUnavailable(f"asterisk did not start: {started.stderr[-2000:]}")
    root, folder = (
        _script(where, instance=instance).stdout.strip() for where in ("root", "instance")
    )
    return Pbx(settings, engine, Path(root), Path(folder), instance)


def stop_pbx(pbx: Pbx, dispose: bool = True) -> None:
    _script("stop", instance=pbx.name)
    if dispose:
        pbx.engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Pbx:
    """``root``: the chroot; ``instance``: this Asterisk's own folder in it (``etc``,
    ``log``, ``spool``, ``data/sounds``), as the host sees it."""

    settings: Settings
    engine: Engine
    root: Path
    instance: Path
    name: str = INSTANCE  # the instance's name for scripts/asterisk.sh

    def cli(self, command: str) -> str:
        done = _script("cli", command, timeout=30, instance=self.name)
        done.check_returncode()
        return done.stdout

    def log(self, name: str = "messages.log") -> str:
        return (self.instance / "log" / name).read_text("utf-8", "replace")

    @property
    def sounds(self) -> Path:
        """Sound files this Asterisk plays by name (``hotline/…`` prompts, ``test/…``)."""
        return self.instance / "data" / "sounds"

    @property
    def recordings(self) -> Path:
        return self.instance / "spool" / "monitor"


def last_call(pbx: Pbx, caller: str) -> Call:
    """The newest call record of ``caller``."""
    with transaction(pbx.engine) as session:
        call = session.scalars(
            select(Call).where(Call.caller_number == caller).order_by(Call.id.desc())
        ).first()
        assert call is not None, f"no call record for {caller}"
        return call


Answers = Sequence[tuple[str, str]]


@dataclass
class Scene:
    """One scenario: our servers, an AMI connection and every event seen."""

    pbx: Pbx
    ami: AmiClient
    monitor: QueueMonitor
    agi: FastAgiServer | None
    tracker: CallTracker
    events: list[Message] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)  # monotonic time of each event
    members: list[tuple[str, str]] = field(default_factory=list)
    callers: list[asyncio.Task[None]] = field(default_factory=list)

    async def add_agent(self, queue: str, name: str) -> None:
        await self.ami.action(
            "QueueAdd", Queue=queue, Interface=f"Local/{name}@test-agents/n", MemberName=name
        )
        self.members.append((queue, f"Local/{name}@test-agents/n"))
        await self.monitor.refresh()

    async def call(
        self,
        caller: str,
        script: str = "keys",
        to: str = "12319",
        *,
        answers: Answers = (),
        hold: float | None = None,
        **variables: str,
    ) -> None:
        """Place a call from ``caller``. With ``answers`` ((prompt, keys), in order) the
        caller keys on cue: each prompt's keys are pressed once the IVR is reading keys
        for it (its ``GET DATA`` has started, as an AMI AGIExecStart event shows), and the
        caller hangs up ``hold`` seconds after the last keys. Otherwise ``script`` in the
        test-caller context runs on its own clock (``KEYS`` after fixed waits), which on a
        busy machine can come before the IVR listens: the keys are lost."""
        if answers:
            script = "listen"
            self.callers.append(asyncio.create_task(self._answer(caller, answers, hold)))
        await place_call(self.ami, caller, channel=hotline_channel(to), script=script, **variables)

    async def _answer(self, caller: str, answers: Answers, hold: float | None) -> None:
        seen, leg = 0, ""
        for prompt, keys in answers:

            def asks(event: Message, prompt: str = prompt) -> bool:
                return (
                    event.event == "AGIExecStart"
                    and event.get("CallerIDNum") == caller
                    and _reads_keys_for(event.get("Command"), prompt)
                )

            asked, seen = await self._next(asks, seen, f"the IVR to ask {caller} for {prompt}")
            # The caller's side of the Local channel presses them with the dialplan's
            # SendDTMF, as in the clocked script (AMI PlayDTMF sends digits back to back, and
            # a second one without audio behind it waits in Asterisk until the call ends).
            leg = asked.get("Channel").removesuffix(";2") + ";1"
            await self.ami.action("Setvar", Channel=leg, Variable="PRESS", Value=keys)
            await self.ami.action(
                "Redirect", Channel=leg, Context="test-caller", Exten="press", Priority="1"
            )
        if hold is not None and leg:
            await asyncio.sleep(hold)
            with contextlib.suppress(AmiError):  # gone already
                await self.ami.action("Hangup", Channel=leg)

    async def wait_for(
        self, predicate: Callable[[Message], bool], timeout: float = 45.0
    ) -> Message:
        return (await self._next(predicate, 0, "an event", timeout))[0]

    async def _next(
        self, predicate: Callable[[Message], bool], start: int, what: str, timeout: float = 45.0
    ) -> tuple[Message, int]:
        """The first event from ``start`` on that matches, and the index after it. Fails
        at once, saying why, if the AMI connection is lost or a caller's keys failed:
        waiting out the timeout would only hide it."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for n in range(start, len(self.events)):
                        if predicate(self.events[n]):
                            return self.events[n], n + 1
                    start = len(self.events)
                    if not self.ami.connected.is_set():
                        raise AssertionError(f"AMI connection lost waiting for {what}")
                    for task in self.callers:
                        if task.done() and not task.cancelled() and task.exception():
                            raise AssertionError("a caller failed") from task.exception()
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"no {what} in {timeout:g} s") from None

    def seen(self, predicate: Callable[[Message], bool]) -> list[Message]:
        return [e for e in self.events if predicate(e)]

    def _record(self, event: Message) -> None:
        self.events.append(event)
        self.arrived.append(time.monotonic())

    def when(self, predicate: Callable[[Message], bool], last: bool = False) -> float:
        """When the first (or ``last``) matching event reached us: the caller's side of a
        timing, as AMI reports it the moment it happens."""
        times = [t for e, t in zip(self.events, self.arrived, strict=True) if predicate(e)]
        assert times, "no such event"
        return times[-1] if last else times[0]


def joined(caller: str, queue: str | None = None) -> Callable[[Message], bool]:
    """The caller joins a queue (``queue``, or any)."""

    def match(event: Message) -> bool:
        return (
            event.event == "QueueCallerJoin"
            and event.get("CallerIDNum") == caller
            and (queue is None or event.get("Queue") == queue)
        )

    return match


def hung_up(caller: str) -> Callable[[Message], bool]:
    """The hotline's side of the caller's call (Local ``;2``) hangs up: the call is over."""

    def match(event: Message) -> bool:
        return (
            event.event == "Hangup"
            and event.get("CallerIDNum") == caller
            and event.get("Channel").endswith(";2")
        )

    return match


def keyed(district: str) -> Answers:
    """A caller who goes past the greeting (0) and keys a district's two digits: with the
    district menu switched on (``play(..., flow=district_menu_flow())``)."""
    return (("greeting", "0"), ("district_menu", district))


@functools.cache
def district_menu_flow() -> Flow:
    """The shipped flow with the optional district key menu switched on, the way
    docs/telephony.md tells an operator to: the speech step's ``none`` leads to it."""
    text = (FLOW_DIR / "flow.toml").read_text("utf-8")
    switched = text.replace(
        'unsure = "confirm_place", none = "report"',
        'unsure = "confirm_place", none = "district_menu"',
    )
    assert switched != text, "flow.toml no longer has the line that switches the menu on"
    folder = Path(tempfile.mkdtemp(prefix="hotline-menu-flow-"))
    (folder / "flow.toml").write_text(switched, "utf-8")
    shutil.copy(FLOW_DIR / "prompts.csv", folder / "prompts.csv")
    return load_ivr(folder)


def _reads_keys_for(command: str, prompt: str) -> bool:
    """``GET DATA hotline/zh/greeting 1500 1`` reads keys for the prompt ``greeting``."""
    words = command.split()
    return words[:2] == ["GET", "DATA"] and len(words) > 2 and words[2].endswith(f"/{prompt}")


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
            events="call,agent,user,agi,dtmf",
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
        ami.on("*", scene._record)
        try:
            await scenario(scene)
        finally:
            for caller in scene.callers:
                caller.cancel()
            await asyncio.gather(*scene.callers, return_exceptions=True)
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
