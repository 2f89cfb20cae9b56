"""No single point of failure on the phone side (issue #22): Kamailio in front of two Asterisk
22 nodes, two ``hotline serve`` instances on one PostgreSQL talking AMI to both, the agent's
phone registered once, with the proxy (hotline.testing.cluster).

The calls come from the carrier (the world instance) through the proxy; the agent is
city_agent (phone agent2001), ready in the city queue on both nodes; the kill test adds a
second agent (city_agent_two, phone agent2009)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from agi.ami import AmiClient
from agi.ami_protocol import Message
from hotline import migrate
from hotline.cases.service import Actor
from hotline.db import make_engine, transaction
from hotline.demo import load_demo_users
from hotline.models import Call, CallEvent
from hotline.refdata import load_reference_data
from hotline.settings import PROJECT_ROOT
from hotline.testing import pg
from hotline.testing.cases import handled_case
from hotline.testing.cluster import Cluster, start_cluster, wait_until
from hotline.testing.pbx import PbxUnavailable
from hotline.testing.serve import Instance, ami_environment, app_environment, sign_in
from hotline.users import add_user

PG_ADMIN_URL = os.environ.get("HOTLINE_TEST_PG_URL", pg.DEFAULT_URL)
AGENT, PASSWORD, PHONE = "city_agent", "agent-demo-123", "agent2001"
# A second agent of the city queue, with a phone of their own (the kill test's).
AGENT2, PASSWORD2, PHONE2 = "city_agent_two", "agent-two-demo-123", "agent2009"
NODES = ("node-a", "node-b")
CITY_AGENT = Actor(AGENT, "agent", "110000")
NODE_LOST = 20  # seconds a node may be unreachable before its open records are closed


@dataclass
class TwoNodes:
    cluster: Cluster
    apps: dict[str, Instance]  # node -> the instance its dialplan's FastAGI reaches
    db_url: str


@pytest.fixture(scope="module")
def two_nodes(pg_available: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoNodes]:
    if not pg_available:
        pytest.skip("PostgreSQL not reachable (with CI=true this fails instead)")
    url = pg.create_database(PG_ADMIN_URL).render_as_string(hide_password=False)
    migrate.upgrade(url)
    engine = make_engine(url)
    load_reference_data(engine, PROJECT_ROOT / "data" / "reference")
    load_demo_users(engine)
    with transaction(engine) as session:
        add_user(session, AGENT2, PASSWORD2, "agent", "110000", sip_endpoint=PHONE2)
    work = tmp_path_factory.mktemp("two-nodes")
    try:
        cluster = start_cluster(work, engine, [PHONE, PHONE2])
    except PbxUnavailable as exc:
        engine.dispose()
        pg.drop_database(PG_ADMIN_URL, url.rsplit("/", 1)[1])
        if os.environ.get("CI") == "true":
            pytest.fail(f"real Asterisk and Kamailio are required in CI: {exc}")
        pytest.skip(f"{exc} (with CI=true this fails instead)")
    apps: dict[str, Instance] = {}
    try:
        for node in NODES:
            environment = app_environment(cluster.settings, url, cluster.agi_ports[node])
            environment["HOTLINE_NODE_LOST_SECONDS"] = str(NODE_LOST)
            apps[node] = Instance(f"app-{node}", environment, work)
        for app in apps.values():
            app.wait_ready()
        yield TwoNodes(cluster, apps, url)
    finally:
        for app in apps.values():
            app.stop()
        cluster.stop()
        pg.drop_database(PG_ADMIN_URL, url.rsplit("/", 1)[1])


def go_ready(app: Instance, agent: str = AGENT, password: str = PASSWORD) -> None:
    with httpx.Client(base_url=app.base, timeout=30) as client:
        csrf = sign_in(client, agent, password)
        done = client.post("/agent/state", json={"state": "ready"}, headers={"X-CSRF-Token": csrf})
        assert done.status_code == 200, done.text


def calls_of(db_url: str, callers: list[str] | None = None) -> list[Call]:
    """The call records of ``callers``; with None, the records still open."""
    engine = make_engine(db_url)
    try:
        with transaction(engine) as session:
            where = Call.ended_at.is_(None) if callers is None else Call.caller_number.in_(callers)
            found = session.scalars(select(Call).where(where)).all()
            session.expunge_all()
            return list(found)
    finally:
        engine.dispose()


def open_calls(db_url: str) -> list[Call]:
    return calls_of(db_url, None)


def ended(db_url: str, callers: list[str]) -> bool:
    calls = calls_of(db_url, callers)
    return len(calls) == len(callers) and all(c.ended_at is not None for c in calls)


def ami_connected(app: Instance) -> dict[str, int]:
    text = httpx.get(f"{app.base}/metrics", timeout=10).text
    return {
        m.group(1): int(float(m.group(2)))
        for m in re.finditer(r'hotline_ami_connected\{node="([^"]+)"\} (\S+)', text)
    }


def available(app: Instance, queue: str) -> int | None:
    """The agents available in ``queue`` over every node, as the app's /metrics says."""
    text = httpx.get(f"{app.base}/metrics", timeout=10).text
    found = re.search(rf'hotline_queue_agents_available{{queue="{queue}"}} (\S+)', text)
    return int(float(found.group(1))) if found else None


class Listener:
    """AMI events of every node and of the world, as they come."""

    def __init__(self, two: TwoNodes) -> None:
        self.clients = {n: two.cluster.node_ami(n) for n in NODES}
        self.world = two.cluster.world_ami()
        self.events: list[tuple[str, Message]] = []

    async def __aenter__(self) -> Listener:
        for name, client in [*self.clients.items(), ("world", self.world)]:
            await client.connect()
            client.on("*", lambda e, name=name: self.events.append((name, e)))
        return self

    async def __aexit__(self, *_: object) -> None:
        for client in [*self.clients.values(), self.world]:
            await client.close()

    def seen(self, node: str | None, kind: str, **fields: str) -> list[Message]:
        return [e for _, e in self._matching(node, kind, fields)]

    def _matching(
        self, node: str | None, kind: str, fields: dict[str, str]
    ) -> list[tuple[str, Message]]:
        return [
            (n, e)
            for n, e in list(self.events)
            if (node is None or n == node)
            and e.event == kind
            and all(e.get(k) == v for k, v in fields.items())
        ]

    async def first(
        self, node: str | None, kind: str, timeout: float = 90, **fields: str
    ) -> tuple[str, Message]:
        async def earliest() -> tuple[str, Message]:
            while not (found := self._matching(node, kind, fields)):
                await asyncio.sleep(0.1)
            return found[0]

        try:
            return await asyncio.wait_for(earliest(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {kind} {fields} on {node or 'any node'}") from None


def test_calls_spread_over_both_nodes_and_the_agent_answers_on_either(two_nodes: TwoNodes) -> None:
    cluster = two_nodes.cluster
    callers = [f"1380000080{i}" for i in range(4)]

    async def scenario() -> None:
        await wait_until(lambda: cluster.registered(PHONE), 60, "registration with the proxy")
        await asyncio.to_thread(go_ready, two_nodes.apps["node-b"])
        for node in NODES:  # ready on every node, its state the one the app keeps
            shown = cluster.nodes[node].cli("queue show hotline-city")
            assert AGENT in shown and "Custom:agent-city_agent" in shown, (node, shown)
        for app in two_nodes.apps.values():  # the live queue state: one agent, not two
            await wait_until(
                lambda app=app: available(app, "hotline-city") == 1, 30, "one agent available"
            )
        cluster.phone_hold(2)
        await cluster.calls(callers)
        await wait_until(lambda: ended(two_nodes.db_url, callers), 240, "end of the 4 calls")

    asyncio.run(scenario())
    calls = calls_of(two_nodes.db_url, callers)
    assert {c.node for c in calls} == set(NODES), [(c.caller_number, c.node) for c in calls]
    for call in calls:  # the one agent, reached through the proxy from either node
        assert call.uniqueid.startswith(call.node), call.uniqueid
        assert (call.queue, call.agent) == ("hotline-city", AGENT), (call.node, call.outcome)
        assert call.connected_at is not None


def test_an_agent_busy_on_one_node_is_not_rung_by_the_other(two_nodes: TwoNodes) -> None:
    cluster = two_nodes.cluster
    first, second = "13800000811", "13800000812"

    async def scenario() -> None:
        await asyncio.to_thread(go_ready, two_nodes.apps["node-a"])
        async with Listener(two_nodes) as heard:
            cluster.phone_hold(20)
            await cluster.call(heard.world, first, hold=120)
            busy_on, _ = await heard.first(None, "AgentConnect", MemberName=AGENT)
            await cluster.call(heard.world, second, hold=120)
            waits_on, _ = await heard.first(None, "QueueCallerJoin", CallerIDNum=second)
            assert waits_on != busy_on, "the dispatcher sent both calls to one node"
            _, freed = await heard.first(busy_on, "AgentComplete", MemberName=AGENT)
            _, rung = await heard.first(waits_on, "AgentCalled", MemberName=AGENT)
            await heard.first(waits_on, "AgentConnect", MemberName=AGENT)
            # The other node rang the agent only once their call on the first was over
            # (Asterisk's own clocks, one machine): the phone rang once per call.
            assert float(rung.get("Timestamp")) >= float(freed.get("Timestamp"))
            assert len(heard.seen(waits_on, "AgentCalled", MemberName=AGENT)) == 1
            assert len(heard.seen("world", "UserEvent", UserEvent="TestPhoneRang")) == 2
            cluster.phone_hold(2)
        await wait_until(
            lambda: ended(two_nodes.db_url, [first, second]), 120, "end of the two calls"
        )

    asyncio.run(scenario())
    calls = {c.caller_number: c for c in calls_of(two_nodes.db_url, [first, second])}
    assert calls[first].agent == calls[second].agent == AGENT
    assert calls[first].node != calls[second].node


def test_an_agent_on_a_callback_is_rung_by_no_node(two_nodes: TwoNodes) -> None:
    """A callback (回访) the agent places from a case page goes out through one node; while
    the staff phone rings (RINGING, said by the app) and the call is up (INUSE) the agent's
    custom state is busy on both nodes, and the calls that come in meanwhile (one per node)
    wait: neither node rings the agent until the callback is over."""
    cluster = two_nodes.cluster
    callers = ["13800000851", "13800000852"]
    engine = make_engine(two_nodes.db_url)
    try:
        number = handled_case(engine, "two-nodes-callback", "13800000850", by=CITY_AGENT)
    finally:
        engine.dispose()

    async def scenario() -> tuple[Message, list[Message]]:
        await asyncio.to_thread(go_ready, two_nodes.apps["node-a"])
        async with Listener(two_nodes) as heard:
            cluster.phone_hold(25)  # the agent's phone stays on the callback 25 s
            await asyncio.to_thread(call_back, two_nodes.apps["node-b"], number)
            busy_on, inuse = await heard.first(
                None, "UserEvent", UserEvent="HotlineAgentBusy", State="INUSE"
            )
            # The app said so as soon as it rang the staff phone: no queue rings them meanwhile.
            ring_on, ringing = await heard.first(
                None, "UserEvent", UserEvent="HotlineAgentBusy", State="RINGING"
            )
            assert ring_on == busy_on and ringing.get("Agent") == AGENT
            assert float(ringing.get("Timestamp")) <= float(inuse.get("Timestamp"))
            for node in NODES:
                await until_state(heard.clients[node], "INUSE")
            cluster.phone_hold(2)
            for caller in callers:
                await cluster.call(heard.world, caller, hold=120)
                await asyncio.sleep(1)
            for caller in callers:
                await heard.first(None, "QueueCallerJoin", CallerIDNum=caller)
            _, over = await heard.first(
                busy_on, "UserEvent", UserEvent="HotlineAgentBusy", State="NOT_INUSE"
            )
            for node in NODES:
                await until_state(heard.clients[node], "NOT_INUSE")
            await wait_until(lambda: ended(two_nodes.db_url, callers), 120, "end of the calls")
            assert len(heard.seen("world", "UserEvent", UserEvent="TestPhoneRang")) == 3
            return over, heard.seen(None, "AgentCalled", MemberName=AGENT)

    over, rung = asyncio.run(scenario())
    calls = calls_of(two_nodes.db_url, callers)
    assert {c.node for c in calls} == set(NODES), [(c.caller_number, c.node) for c in calls]
    assert all(c.agent == AGENT and c.connected_at is not None for c in calls)
    # rung for the two calls only, each time once the callback was over (one machine's clock)
    assert len(rung) == 2, rung
    assert all(float(e.get("Timestamp")) >= float(over.get("Timestamp")) for e in rung)


def call_back(app: Instance, number: str) -> None:
    """The agent's 回访 button on the case's page."""
    with httpx.Client(base_url=app.base, timeout=30) as client:
        sign_in(client, AGENT, PASSWORD)
        page = client.get(f"/cases/{number}")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None and "拨打回访电话" in page.text, page.text[:300]
        placed = client.post(f"/cases/{number}/callback", data={"csrf_token": token[1]})
        assert placed.status_code == 303, placed.text


async def until_state(node: AmiClient, state: str, timeout: float = 15) -> None:
    """The agent's custom device state on ``node`` becomes ``state``."""
    variable = f"DEVICE_STATE(Custom:agent-{AGENT})"
    seen = ""
    async with asyncio.timeout(timeout):
        while seen != state:
            seen = (await node.action("Getvar", Variable=variable)).get("Value")
            await asyncio.sleep(0.2)


def test_a_node_killed_mid_burst(two_nodes: TwoNodes) -> None:
    """Two agents; kill -9 of node-a while one of them talks on it: the next calls go to
    node-b and both agents (the one cut off on node-a set free) answer them there; the apps
    see node-a down; while it stays away, the records of its calls are closed as lost once
    NODE_LOST seconds have passed (and an operator's close-node is refused for node-b, which
    is up); node-a started again is back in the apps, its queues have both agents again,
    calls reach it; no record left open."""
    cluster = two_nodes.cluster
    before = [f"1380000082{i}" for i in range(4)]
    after = [f"1380000083{i}" for i in range(6)]
    back = [f"1380000084{i}" for i in range(2)]
    killed_at: list[dt.datetime] = []

    async def scenario() -> None:
        await wait_until(lambda: cluster.registered(PHONE2), 60, "the second phone registered")
        await asyncio.to_thread(go_ready, two_nodes.apps["node-b"])
        await asyncio.to_thread(go_ready, two_nodes.apps["node-a"], AGENT2, PASSWORD2)
        cluster.phone_hold(20)  # talking on node-a when it dies
        async with Listener(two_nodes) as heard:
            for caller in before:
                await cluster.call(heard.world, caller, hold=60)
                await asyncio.sleep(0.5)
            await heard.first("node-a", "AgentConnect")
            cluster.kill_node("node-a")
            killed_at.append(dt.datetime.now(dt.UTC))
            cluster.phone_hold(6)  # the calls after overlap: both agents are needed
            for caller in after:
                await cluster.call(heard.world, caller, hold=120)
                await asyncio.sleep(1)
            await wait_until(lambda: ended(two_nodes.db_url, after), 240, "end of the calls after")
        for app in two_nodes.apps.values():
            await wait_until(
                lambda app=app: ami_connected(app).get("node-a") == 0, 60, "node-a marked down"
            )
        refused = await asyncio.to_thread(close_node, two_nodes, "node-b")
        assert refused.returncode == 1 and "node node-b answers" in refused.stderr, refused
        # node-a stays away: the records of its calls are closed as lost after the grace
        await wait_until(
            lambda: not [c for c in open_calls(two_nodes.db_url) if c.node == "node-a"],
            NODE_LOST + 60,
            "node-a's records closed as lost",
        )
        assert cluster.registered(PHONE)
        await asyncio.to_thread(cluster.start_node, "node-a")
        for app in two_nodes.apps.values():
            await wait_until(
                lambda app=app: ami_connected(app).get("node-a") == 1, 90, "node-a back"
            )
        await wait_until(
            lambda: all(
                a in cluster.nodes["node-a"].cli("queue show hotline-city") for a in (AGENT, AGENT2)
            ),
            60,
            "both agents back in node-a's queue",
        )
        await wait_until(lambda: not open_calls(two_nodes.db_url), 120, "every record closed")
        await wait_until(lambda: _active(cluster, "node-a"), 60, "node-a active in the proxy")
        await cluster.calls(back)
        await wait_until(lambda: ended(two_nodes.db_url, back), 180, "end of the calls back")

    asyncio.run(scenario())
    placed_after = calls_of(two_nodes.db_url, after)
    assert {c.node for c in placed_after} == {"node-b"}, [c.uniqueid for c in placed_after]
    assert all(c.connected_at is not None for c in placed_after), [c.outcome for c in placed_after]
    assert {c.agent for c in placed_after} == {AGENT, AGENT2}, [c.agent for c in placed_after]
    assert {c.node for c in calls_of(two_nodes.db_url, back)} == set(NODES)
    assert not open_calls(two_nodes.db_url)
    killed = [c for c in calls_of(two_nodes.db_url, before) if c.node == "node-a"]
    assert killed and all(c.ended_at is not None for c in killed)
    assert any(c.connected_at is not None for c in killed)  # an agent was talking on it
    lost = lost_steps(two_nodes.db_url)
    assert lost and {c.outcome for c in killed if c.id in lost} == {"node_lost"}, lost
    for call in killed:
        if call.id not in lost:  # ended in the IVR as the node died (its AGI session cut)
            assert call.outcome == "abandoned_ivr", (call.uniqueid, call.outcome)
            continue
        at, detail = lost[call.id]
        assert detail["node"] == "node-a" and detail["by"] == "app", detail
        # closed once the grace had passed, ended when the apps lost node-a
        assert (at - killed_at[0]).total_seconds() >= NODE_LOST - 1, (at, killed_at)
        assert call.ended_at is not None
        assert abs((_utc(call.ended_at) - killed_at[0]).total_seconds()) < 5, call.ended_at


def close_node(two: TwoNodes, node: str) -> subprocess.CompletedProcess[str]:
    """``hotline calls close-node NODE`` as an operator runs it, with the apps' settings."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    environment |= {
        "HOTLINE_DATABASE_URL": two.db_url,
        "HOTLINE_AMI": ami_environment(two.cluster.settings.ami),
    }
    return subprocess.run(
        [sys.executable, "-m", "hotline", "calls", "close-node", node],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def lost_steps(db_url: str) -> dict[int, tuple[dt.datetime, dict[str, str]]]:
    """call id -> (when, detail) of the NodeLost steps in the calls' timelines."""
    engine = make_engine(db_url)
    try:
        with transaction(engine) as session:
            rows = session.execute(
                select(CallEvent.call_id, CallEvent.at, CallEvent.detail).where(
                    CallEvent.kind == "NodeLost"
                )
            ).all()
            return {row.call_id: (_utc(row.at), row.detail) for row in rows}
    finally:
        engine.dispose()


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _active(cluster: Cluster, node: str) -> bool:
    """node's destination in the proxy's dispatcher is active (flags AP)."""
    listing = cluster.rpc("dispatcher.list")
    for block in listing.split("DEST:")[1:]:
        if f"name={node}" in block:
            return "FLAGS: AP" in block
    return False
