"""Two Asterisk nodes behind Kamailio, for tests and the benchmark (docs/production.md,
"Two Asterisk nodes").

Everything runs from the one chroot of scripts/asterisk.sh, each part on an address of its
own on 127.0.0.0/8 (ports chosen free, so sessions side by side do not meet):

- ``proxy`` (127.0.0.10): Kamailio (scripts/kamailio.sh) with the rendered kamailio.cfg;
- ``node-a`` (127.0.0.11), ``node-b`` (127.0.0.12): Asterisk, each with the configuration
  ``hotline dialplan render --node`` makes (its own AMI and SIP, its own system name);
- ``world`` (127.0.0.13): a third Asterisk standing in for the outside: the carrier whose
  calls come in through the proxy (AMI Originate ``PJSIP/12319@proxy`` into the test
  callers' contexts) and the agents' phones, registered with the proxy and answering in
  ``[test-phones]`` (each stays on the line ``PHONE_HOLD`` seconds, a global variable).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine

from agi.ami import AmiClient
from dialplan.render import render, render_proxy, sip_password
from hotline.settings import PROJECT_ROOT, AmiNode, FastAgiBind, Settings
from hotline.testing.originate import place_call, proxy_channel
from hotline.testing.pbx import (
    INSTANCE,
    TEST_CONTEXTS,
    Pbx,
    PbxUnavailable,
    free_port,
    run_script,
    start_asterisk,
    stop_pbx,
)
from ivr.audio import build_prompts
from ivr.entry import load_ivr

KAMAILIO = PROJECT_ROOT / "scripts" / "kamailio.sh"
PROXY_HOST, WORLD_HOST = "127.0.0.10", "127.0.0.13"
NODE_HOSTS = {"node-a": "127.0.0.11", "node-b": "127.0.0.12"}
SECRET = "test-secret"

PHONES_CONTEXT = """
; The agents' phones (the world instance): rung through the proxy, they answer and stay
; on the line PHONE_HOLD seconds (a global variable the test sets; 2 by default).
[test-phones]
exten => _[a-z0-9].,1,UserEvent(TestPhoneRang,Phone: ${EXTEN})
 same => n,Answer()
 same => n,Wait(${IF($["${PHONE_HOLD}" = ""]?2:${PHONE_HOLD})})
 same => n,Hangup()
"""


def _kamailio(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_script(KAMAILIO, args, timeout, {"HOTLINE_KAMAILIO_INSTANCE": INSTANCE})


def _world_pjsip(proxy: str, bind: str, phones: list[tuple[str, str]]) -> str:
    lines = [
        "[transport-udp]",
        "type = transport",
        "protocol = udp",
        f"bind = {bind}",
        "[proxy]",
        "type = endpoint",
        "context = test-phones",
        "disallow = all",
        "allow = alaw,ulaw",
        "direct_media = no",
        "dtmf_mode = rfc4733",
        "aors = proxy",
        f"media_address = {WORLD_HOST}",
        "bind_rtp_to_media_address = yes",
        "[proxy]",
        "type = aor",
        f"contact = sip:{proxy}",
        "[proxy]",
        "type = identify",
        "endpoint = proxy",
        f"match = {PROXY_HOST}",
    ]
    for endpoint, password in phones:
        lines += [
            f"[reg-{endpoint}]",
            "type = registration",
            "transport = transport-udp",
            f"outbound_auth = auth-{endpoint}",
            f"server_uri = sip:{proxy}",
            f"client_uri = sip:{endpoint}@{proxy}",
            f"contact_user = {endpoint}",
            "retry_interval = 2",
            "forbidden_retry_interval = 2",
            "max_retries = 1000",
            "expiration = 60",
            f"[auth-{endpoint}]",
            "type = auth",
            "auth_type = userpass",
            f"username = {endpoint}",
            f"password = {password}",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class Cluster:
    settings: Settings  # the apps': both nodes, the proxy, agents' state interface
    engine: Engine
    work: Path
    agi_ports: dict[str, int]  # node -> the FastAGI port its dialplan calls
    nodes: dict[str, Pbx] = field(default_factory=dict)
    world: Pbx | None = None

    # --- the parts -----------------------------------------------------------------------
    def conf(self, node: str) -> Path:
        return self.work / node

    def start_node(self, node: str) -> Pbx:
        pbx = start_asterisk(self.settings, self.engine, self.conf(node), f"{INSTANCE}-{node}")
        self.nodes[node] = pbx
        return pbx

    def kill_node(self, node: str) -> None:
        """kill -9, as a crash: no goodbye to AMI, the proxy or the calls."""
        os.kill(self.asterisk_pid(node), signal.SIGKILL)

    def rpc(self, *command: str) -> str:
        done = _kamailio("rpc", *command, timeout=30)
        done.check_returncode()
        return done.stdout

    def kamailio_pids(self) -> list[int]:
        """The proxy's main process and its children (its workers and timers)."""
        main = int(
            (self.nodes["node-a"].root.parent / "run" / f"kamailio-{INSTANCE}.pid").read_text()
        )
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == main:
                children.append(int(stat.parent.name))
        return [main, *children]

    def asterisk_pid(self, name: str) -> int:
        return int(
            (self.nodes[name].root.parent / "run" / f"asterisk-{INSTANCE}-{name}.pid").read_text()
        )

    def registered(self, endpoint: str) -> bool:
        return f"sip:{endpoint}@{WORLD_HOST}" in self.rpc("ul.dump")

    def stop(self) -> None:
        for pbx in [*self.nodes.values(), *([self.world] if self.world else [])]:
            stop_pbx(pbx, dispose=False)
        _kamailio("stop")
        self.engine.dispose()

    # --- the outside world ---------------------------------------------------------------
    def world_ami(self) -> AmiClient:
        assert self.world is not None
        node = self.world.settings.ami[0]
        return AmiClient(node.host, node.port, node.username, SECRET, events="call,user")

    def node_ami(self, node: str, events: str = "call,agent,user") -> AmiClient:
        ami = next(n for n in self.settings.ami if n.name == node)
        return AmiClient(ami.host, ami.port, ami.username, SECRET, name=node, events=events)

    async def calls(self, callers: list[str], hold: int = 120, apart: float = 1.0) -> None:
        """Place a call from each of ``callers``, ``apart`` seconds from one another."""
        world = self.world_ami()
        await world.connect()
        try:
            for caller in callers:
                await self.call(world, caller, hold=hold)
                await asyncio.sleep(apart)
        finally:
            await world.close()

    async def call(self, world: AmiClient, caller: str, hold: int = 40) -> None:
        """A citizen's call from the carrier through the proxy to 12319: presses 0 after
        the greeting has started and stays ``hold`` seconds (the city queue takes it)."""
        await place_call(world, caller, channel=proxy_channel(), KEYS=0, PRE=2, HOLD=hold)

    def phone_hold(self, seconds: int) -> None:
        """How long the agents' phones stay on a call they answer from now on."""
        assert self.world is not None
        self.world.cli(f"dialplan set global PHONE_HOLD {seconds}")


def start_cluster(
    work: Path, engine: Engine, phones: list[str], agi_port: int = 0, **overrides: Any
) -> Cluster:
    """Kamailio, node-a, node-b and the world (carrier + the agents' ``phones``), on the
    database behind ``engine`` (reference data and demo users loaded). Each node's dialplan
    calls a FastAGI port of its own, or ``agi_port`` for both; ``overrides``: settings."""
    if os.geteuid() != 0:
        raise PbxUnavailable("the Asterisk chroot needs root")
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise PbxUnavailable("espeak-ng and sox are needed for the prompts")
    proxy = f"{PROXY_HOST}:{free_port()}"
    nodes = [
        AmiNode(
            name=name,
            host=host,
            port=free_port(),
            secret=SecretStr(SECRET),
            sip=f"{host}:{free_port()}",
        )
        for name, host in NODE_HOSTS.items()
    ]
    settings = Settings(
        database_url=str(engine.url.render_as_string(hide_password=False)),
        ami=nodes,
        sip_proxy=proxy,
        sip_trunks=[WORLD_HOST],
        sip_secret=SecretStr("test-sip-secret"),
        ami_permit=["127.0.0.0/255.0.0.0"],
        emergency_dial="Local/answer@test-emergency",
        callback_dial="Local/{number}@test-citizen-long/n",  # on the line until staff hang up
        agent_interface="PJSIP/{endpoint}@proxy",
        agent_state_interface="Custom:agent-{username}",
        **overrides,
    )
    cluster = Cluster(settings, engine, work, {n.name: agi_port or free_port() for n in nodes})
    prompts = work / "sounds"
    build_prompts(load_ivr(settings.ivr_dir).prompts, prompts)
    for node in nodes:
        conf = cluster.conf(node.name)
        own = settings.model_copy(
            update={"fastagi": FastAgiBind(port=cluster.agi_ports[node.name])}
        )
        render(own, engine, conf, node=node.name)
        shutil.copy(TEST_CONTEXTS, conf / "extensions_local.conf")
        shutil.copytree(prompts, conf / "sounds")
    render_proxy(settings, engine, work / "proxy")
    started = _kamailio("start", str(work / "proxy"))
    if started.returncode != 0:
        raise PbxUnavailable(f"kamailio did not start: {started.stderr[-2000:]}")
    try:
        for node in nodes:
            cluster.start_node(node.name)
        cluster.world = _start_world(work / "world", settings, engine, proxy, phones)
    except Exception:
        cluster.stop()
        raise
    return cluster


def _start_world(
    conf: Path, settings: Settings, engine: Engine, proxy: str, phones: list[str]
) -> Pbx:
    secret = settings.sip_secret.get_secret_value()
    own = Settings(
        database_url=settings.database_url,
        ami=[AmiNode(name="world", host=WORLD_HOST, port=free_port(), secret=SecretStr(SECRET))],
        ami_bind=WORLD_HOST,
        ami_permit=["127.0.0.0/255.0.0.0"],
        sip_secret=settings.sip_secret,
        emergency_dial=settings.emergency_dial,
        callback_dial=settings.callback_dial,
    )
    render(own, engine, conf)
    (conf / "pjsip.conf").write_text(
        _world_pjsip(
            proxy, f"{WORLD_HOST}:{free_port()}", [(p, sip_password(secret, p)) for p in phones]
        ),
        "utf-8",
    )
    (conf / "extensions_local.conf").write_text(
        TEST_CONTEXTS.read_text("utf-8") + PHONES_CONTEXT, "utf-8"
    )
    return start_asterisk(own, engine, conf, f"{INSTANCE}-world")


async def wait_until(check: object, timeout: float, what: str, every: float = 0.5) -> None:
    """Poll ``check()`` (sync) until true; AssertionError naming ``what`` after ``timeout``."""
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {what} in {timeout:g} s")
        await asyncio.sleep(every)
