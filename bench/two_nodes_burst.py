#!/usr/bin/env python3
"""A burst of carrier calls through Kamailio into two Asterisk 22 nodes, against the same
burst into one node behind the same proxy, in the same run (issue #22).

The cluster of tests/asterisk/test_two_nodes.py (hotline/testing/cluster.py): Kamailio,
node-a and node-b, and a third Asterisk, the "world", placing the carrier's calls (AMI
Originate of PJSIP/<Dongcheng's number>@proxy; the caller hangs up a second after the
answer). Each node runs AGI to our FastAGI server (its own process, the prompt-free flow
bench/flows/quick, SQLite) and the call joins the district's queue; a call counts when its
QueueCallerJoin arrives on either node. Phase "one node": node-b is disabled in the
proxy's dispatcher (kamcmd dispatcher.set_state), every call goes to node-a. Phase "two
nodes": both active. CPU from /proc over each phase: Kamailio (all its processes), the nodes,
our server; the world is the load generator and is shown apart. Needs root.

Goal: no caller lost in either phase; the proxy's CPU per call at most 0.2 of the nodes'
(it only relays signalling; about 0.1 measured); the two nodes' calls/s at least 0.8 of
one node's (on a 2-core machine the nodes share the cores, so no gain is expected: what is
checked is that the proxy and the second node cost little), and each node took at least a
third of the calls
of the two-node phase. Exits 1 when missed.

    sudo .venv/bin/python bench/two_nodes_burst.py [--calls 300] [--concurrency 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from fastagi_load import cpu_seconds  # noqa: E402
from stats import verdict  # noqa: E402

from agi.ami_protocol import Message  # noqa: E402
from hotline import migrate  # noqa: E402
from hotline.db import make_engine  # noqa: E402
from hotline.demo import load_demo_users  # noqa: E402
from hotline.refdata import load_reference_data  # noqa: E402
from hotline.testing.cluster import INSTANCE, NODE_HOSTS, Cluster, start_cluster  # noqa: E402
from hotline.testing.originate import place_call, proxy_channel  # noqa: E402
from hotline.testing.pbx import free_port  # noqa: E402

DID = "65120001"  # Dongcheng's own number: its queue, no menu
GOAL_PROXY_SHARE = 0.2
GOAL_RATE_KEPT = 0.8
GOAL_NODE_SHARE = 1 / 3


@dataclass
class Phase:
    name: str
    done: int
    failures: int
    wall: float
    per_node: dict[str, int]
    cpu: dict[str, float]  # part -> CPU seconds over the phase

    def per_call(self, part: str) -> float:
        return self.cpu[part] / max(self.done, 1) * 1000

    @property
    def nodes_cpu(self) -> float:
        return self.cpu["node-a"] + self.cpu["node-b"]


def cpu_of(cluster: Cluster, server: int, world: int) -> dict[str, float]:
    proxy = 0.0
    for pid in cluster.kamailio_pids():
        with contextlib.suppress(OSError):  # a child that ended meanwhile
            proxy += cpu_seconds(pid)
    return {
        "proxy": proxy,
        "node-a": cpu_seconds(cluster.asterisk_pid("node-a")),
        "node-b": cpu_seconds(cluster.asterisk_pid("node-b")),
        "ours": cpu_seconds(server),
        "world": cpu_seconds(world),
    }


async def burst(
    cluster: Cluster, calls: int, concurrency: int, tag: str, server: int, world_pid: int, name: str
) -> Phase:
    nodes = {n: cluster.node_ami(n, events="agent") for n in NODE_HOSTS}
    joined: dict[str, asyncio.Event] = {}
    per_node = dict.fromkeys(NODE_HOSTS, 0)
    last_join = 0.0

    def on_join(node: str) -> object:
        def seen(event: Message) -> None:
            nonlocal last_join
            number = event.get("CallerIDNum")
            if number in joined and not joined[number].is_set():
                joined[number].set()
                per_node[node] += 1
                last_join = time.perf_counter()

        return seen

    for node, client in nodes.items():
        await client.connect()
        client.on("QueueCallerJoin", on_join(node))  # type: ignore[arg-type]
    world = cluster.world_ami()
    await world.connect()
    gate = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(n: int) -> None:
        nonlocal failures
        number = f"{tag}{n:07d}"
        joined[number] = asyncio.Event()
        async with gate:
            await place_call(
                world, number, channel=proxy_channel(DID), script="quit", name="Bench", PRE=1
            )
            try:
                async with asyncio.timeout(30):
                    await joined[number].wait()
            except TimeoutError:
                failures += 1

    before = cpu_of(cluster, server, world_pid)
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(calls)))
    await asyncio.sleep(2)  # the callers hang up; their CPU counts too
    after = cpu_of(cluster, server, world_pid)
    for client in [*nodes.values(), world]:
        await client.close()
    return Phase(
        name,
        calls - failures,
        failures,
        (last_join or time.perf_counter()) - started,
        per_node,
        {part: after[part] - before[part] for part in before},
    )


def set_node(cluster: Cluster, node: str, state: str) -> None:
    """``state``: "a" active, "d" disabled (not probed, not used: it stays out)."""
    address = next(n.sip for n in cluster.settings.ami if n.name == node)
    cluster.rpc("dispatcher.set_state", state, "1", f"sip:{address}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=60)
    parser.add_argument("--flow", default=str(HERE / "flows" / "quick"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        url = f"sqlite:///{work / 'hotline.db'}"
        migrate.upgrade(url)
        engine = make_engine(url)
        load_reference_data(engine, ROOT / "data" / "reference")
        load_demo_users(engine)
        agi_port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "fastagi_servers.py"),
                "ours-ivr",
                str(agi_port),
                url,
                args.flow,
            ],
            stdout=subprocess.PIPE,
            stderr=(work / "server.log").open("w"),
            text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        assert server.stdout is not None and server.stdout.readline().strip() == "READY"
        cluster = start_cluster(work / "cluster", engine, [], agi_port, ivr_dir=Path(args.flow))
        try:
            assert cluster.world is not None
            world_pid = int(
                (cluster.world.root.parent / "run" / f"asterisk-{INSTANCE}-world.pid").read_text()
            )

            async def run() -> list[Phase]:
                await burst(cluster, 20, 20, "137", server.pid, world_pid, "warm-up")
                set_node(cluster, "node-b", "d")
                one = await burst(
                    cluster, args.calls, args.concurrency, "138", server.pid, world_pid, "one node"
                )
                set_node(cluster, "node-b", "a")
                await asyncio.sleep(1)
                two = await burst(
                    cluster, args.calls, args.concurrency, "139", server.pid, world_pid, "two nodes"
                )
                return [one, two]

            phases = asyncio.run(run())
        finally:
            cluster.stop()
            server.terminate()
            server.communicate(timeout=10)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"{args.calls} calls per phase, {args.concurrency} at once, flow {args.flow}, SQLite")
    print(
        "| phase | calls in queue | node-a / node-b | calls/s | proxy CPU/call | nodes CPU/call "
        "| ours CPU/call | world (caller) CPU/call |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for p in phases:
        print(
            f"| {p.name} | {p.done} of {p.done + p.failures} | {p.per_node['node-a']} / "
            f"{p.per_node['node-b']} | {p.done / p.wall:.0f} | {p.per_call('proxy'):.2f} ms | "
            f"{p.nodes_cpu / max(p.done, 1) * 1000:.2f} ms | {p.per_call('ours'):.2f} ms | "
            f"{p.per_call('world'):.2f} ms |"
        )
    one, two = phases
    missed = []
    for p in phases:
        if p.failures:
            missed.append(f"{p.name}: {p.failures} callers lost")
        if p.cpu["proxy"] > GOAL_PROXY_SHARE * p.nodes_cpu:
            missed.append(f"{p.name}: proxy CPU {p.cpu['proxy'] / p.nodes_cpu:.2f} of the nodes'")
    rate_one, rate_two = one.done / one.wall, two.done / two.wall
    if rate_two < GOAL_RATE_KEPT * rate_one:
        missed.append(f"two nodes {rate_two:.0f} calls/s < {GOAL_RATE_KEPT} x {rate_one:.0f}")
    if min(two.per_node.values()) < GOAL_NODE_SHARE * two.done:
        missed.append(f"two nodes: uneven spread {two.per_node}")
    if one.per_node["node-b"]:
        missed.append(f"one node: node-b took {one.per_node['node-b']} calls")
    return verdict(
        missed,
        f"no caller lost, proxy CPU <= {GOAL_PROXY_SHARE} of the nodes', two nodes' calls/s "
        f">= {GOAL_RATE_KEPT} of one's, each node >= a third of the calls",
    )


if __name__ == "__main__":
    sys.exit(main())
