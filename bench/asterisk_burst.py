#!/usr/bin/env python3
"""A burst of calls through the real Asterisk 22 into the queues, with our real IVR, routing
and database, and the CPU each side spent.

Each call: AMI Originate of Local/<Dongcheng's number>@hotline/n; the hotline side answers,
runs AGI (our FastAGI server, in its own process: IVR flow, routing, SQLite writes, channel
variables) and joins the district's queue; the caller side hangs up after a second. A call
counts when its QueueCallerJoin arrives. CPU is read from /proc for Asterisk and for our
server over the same interval, so the two are compared in the same run. On PostgreSQL the
database server's CPU for our database (its backends, and the shared checkpointer, WAL
writer, ...) is read from /proc too and counted with ours: on SQLite that work is done inside
our process. Needs root.

Goal (issue, docs/benchmarks.md): at least 250 calls/s into the queues with no caller lost,
and our CPU (plus PostgreSQL's, on PostgreSQL) at most 0.3 of Asterisk's. Exits 1 when missed.

    sudo .venv/bin/python bench/asterisk_burst.py [--calls 1000] [--concurrency 200]
        [--flow bench/flows/quick] [--postgresql] [--whole]

``--whole`` runs ``hotline serve`` (FastAGI, the AMI call tracker, the queue monitor, the
web desktop) as the server, as production does; without it, the FastAGI server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from fastagi_load import CLOCK_TICKS, cpu_seconds  # noqa: E402
from stats import percentile, postgres_cpu_seconds, verdict  # noqa: E402

from agi.ami import AmiClient  # noqa: E402
from agi.ami_protocol import Message  # noqa: E402
from hotline.settings import Settings  # noqa: E402
from hotline.testing import pg  # noqa: E402
from hotline.testing.originate import hotline_channel, place_call  # noqa: E402
from hotline.testing.pbx import free_port, start_pbx, stop_pbx  # noqa: E402

GOAL_CALLS_PER_S = 250  # issue: at least 250 calls/s into the queues
GOAL_RATIO = 0.3  # issue: our CPU at most 0.3 of Asterisk's (with PostgreSQL's, on PostgreSQL)


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    ticks = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / CLOCK_TICKS, sum(ticks) / CLOCK_TICKS


async def burst(
    ami: AmiClient, calls: int, concurrency: int, did: str, tag: str
) -> tuple[float, int, list[float], float]:
    """Returns the burst's wall time, the calls that never reached a queue, each reached
    call's time from its Originate to its QueueCallerJoin, and the share of the machine's
    CPU time that was busy (all processes) until the last call reached its queue."""
    gate = asyncio.Semaphore(concurrency)
    joined: dict[str, asyncio.Event] = {}
    latencies: list[float] = []
    last_join = 0.0
    busy_at_start, busy_at_last_join = machine_busy_seconds(), (0.0, 0.0)

    def on_event(event: Message) -> None:
        nonlocal last_join, busy_at_last_join
        number = event.get("CallerIDNum")
        if event.event == "QueueCallerJoin" and number in joined:
            joined[number].set()
            last_join = time.perf_counter()
            busy_at_last_join = machine_busy_seconds()

    ami.on("QueueCallerJoin", on_event)
    ami.on(
        "OriginateResponse",
        lambda e: (
            e.get("Response") == "Failure"
            and print("originate failed:", e.get("Channel"), e.get("Reason"), file=sys.stderr)
        ),
    )
    failures = 0

    async def one(n: int) -> None:
        nonlocal failures
        number = f"{tag}{n:07d}"
        joined[number] = asyncio.Event()
        async with gate:
            sent = time.perf_counter()
            await place_call(
                ami, number, channel=hotline_channel(did), script="quit", name="Bench", PRE=1
            )
            try:  # the slot is free once the call is in its queue
                async with asyncio.timeout(30):
                    await joined[number].wait()
                latencies.append(time.perf_counter() - sent)
            except TimeoutError:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(calls)))
    (b0, t0), (b1, t1) = busy_at_start, busy_at_last_join
    busy = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
    return last_join - started, failures, latencies, busy  # to the last call in a queue


def start_fastagi_only(settings: Settings, flow: str, log: Path) -> subprocess.Popen[str]:
    """Our FastAGI server with the real IVR, nothing else (bench/fastagi_servers.py)."""
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "fastagi_servers.py"),
            "ours-ivr",
            str(settings.fastagi.port),
            settings.database_url,
            flow,
        ],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert server.stdout is not None and server.stdout.readline().strip() == "READY"
    return server


def start_whole(settings: Settings, flow: str, log: Path) -> subprocess.Popen[str]:
    """``hotline serve`` as production runs it: the FastAGI server, the AMI client with the
    call tracker and the queue monitor (events of every call), and the web desktop."""
    node, web = settings.ami[0], free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    environment |= {
        "HOTLINE_DATABASE_URL": settings.database_url,
        "HOTLINE_WEB__PORT": str(web),
        "HOTLINE_FASTAGI__PORT": str(settings.fastagi.port),
        "HOTLINE_IVR_DIR": flow,
        "HOTLINE_AMI": json.dumps(
            [
                {
                    "host": node.host,
                    "port": node.port,
                    "username": node.username,
                    "secret": node.secret.get_secret_value(),
                }
            ]
        ),
        "HOTLINE_AGENT_INTERFACE": settings.agent_interface,
        "HOTLINE_EMERGENCY_DIAL": settings.emergency_dial,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve"],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=environment,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"hotline serve exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{web}/healthz", timeout=1).status_code == 200:
                time.sleep(1)  # the tracker's AMI login
                return server
        time.sleep(0.2)
    raise SystemExit("hotline serve did not answer /healthz within 60 s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--flow", default=str(HERE / "flows" / "quick"))
    parser.add_argument(
        "--postgresql",
        metavar="ADMIN_URL",
        nargs="?",
        const=pg.DEFAULT_URL,
        help="use a fresh PostgreSQL database instead of SQLite",
    )
    parser.add_argument(
        "--whole",
        action="store_true",
        help="run `hotline serve` (FastAGI, call tracker, queue monitor, web) as the server",
    )
    args = parser.parse_args()
    database = (
        pg.create_database(args.postgresql, prefix="hotline_bench") if args.postgresql else None
    )
    with tempfile.TemporaryDirectory() as scratch:
        url = database.render_as_string(hide_password=False) if database else None
        pbx = start_pbx(Path(scratch), ivr_dir=Path(args.flow), database_url=url)
        settings = pbx.settings
        server = (start_whole if args.whole else start_fastagi_only)(
            settings, args.flow, Path(scratch) / "server.log"
        )
        try:
            run_dir = pbx.root.parent / "run"  # scripts/asterisk: one PID file per instance
            asterisk_pid = int((run_dir / f"asterisk-{pbx.instance.name}.pid").read_text())
            node = settings.ami[0]

            database_name = str(database.database) if database is not None else ""

            def server_cpu() -> float:
                """Our server's CPU, and on PostgreSQL the database server's for our database:
                the work SQLite does inside our process happens there."""
                ours = cpu_seconds(server.pid)
                return ours + postgres_cpu_seconds(database_name) if database_name else ours

            async def run() -> tuple[float, int, list[float], float, float, float, float, float]:
                ami = AmiClient(
                    node.host,
                    node.port,
                    node.username,
                    node.secret.get_secret_value(),
                    events="agent",  # QueueCallerJoin only: the harness shares the CPU
                    filter_events=True,
                )
                await ami.connect()
                await burst(ami, 20, 20, "65120001", "139")
                await asyncio.sleep(1)
                a0, o0 = cpu_seconds(asterisk_pid), cpu_seconds(server.pid)
                d0 = postgres_cpu_seconds(database_name) if database_name else 0.0
                h0 = cpu_seconds(os.getpid())
                wall, failures, latencies, busy = await burst(
                    ami, args.calls, args.concurrency, "65120001", "138"
                )
                await asyncio.sleep(2)  # the callers hang up; their CPU counts too
                a1, o1 = cpu_seconds(asterisk_pid), cpu_seconds(server.pid)
                d1 = postgres_cpu_seconds(database_name) if database_name else 0.0
                h1 = cpu_seconds(os.getpid())
                await ami.close()
                return wall, failures, latencies, a1 - a0, o1 - o0, d1 - d0, h1 - h0, busy

            (wall, failures, latencies, asterisk_cpu, our_cpu, database_cpu, harness_cpu, busy) = (
                asyncio.run(run())
            )
            log_lines = (Path(scratch) / "server.log").read_text().splitlines()
            problems = [line for line in log_lines if "WARNING" in line or "ERROR" in line]
            print(
                f"server log: {len(log_lines)} lines, {len(problems)} warnings/errors",
                *problems[:5],
                sep="\n",
            )
        finally:
            server.terminate()
            sessions = server.communicate(timeout=10)[0].strip()
            stop_pbx(pbx)
            if database is not None:
                pg.drop_database(args.postgresql, str(database.database))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"flow: {args.flow}; {args.calls} calls, {args.concurrency} at once; "
        f"database: {'PostgreSQL' if database else 'SQLite'}; "
        f"server: {'hotline serve' if args.whole else 'FastAGI only'}"
    )
    done = args.calls - failures
    if done == 0:
        raise SystemExit(f"no call reached its queue ({failures} failures)")
    print(
        f"{done} calls in their queue in {wall:.2f} s: {done / wall:.0f} calls/s; "
        f"failures {failures}"
    )
    if latencies:
        print(
            "Originate to QueueCallerJoin: "
            f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms; "
            f"cores busy during the burst {busy:.0%}; "
            f"harness CPU {harness_cpu / args.calls * 1000:.2f} ms/call"
        )
    if sessions:  # the FastAGI-only server reports them
        print(f"our server's AGI sessions (handler start to end): {sessions}")
    per_call = 1000 / args.calls
    print(
        f"Asterisk CPU {asterisk_cpu:.2f} s = {asterisk_cpu * per_call:.2f} ms/call; "
        f"ours {our_cpu:.2f} s = {our_cpu * per_call:.2f} ms/call; "
        f"ratio ours/Asterisk {our_cpu / asterisk_cpu:.2f}"
    )
    ours = our_cpu
    if database is not None:
        ours = our_cpu + database_cpu
        print(
            f"PostgreSQL server CPU (our database's backends and the shared processes) "
            f"{database_cpu:.2f} s = {database_cpu * per_call:.2f} ms/call; "
            f"ours + PostgreSQL {ours * per_call:.2f} ms/call; "
            f"ratio (ours + PostgreSQL)/Asterisk {ours / asterisk_cpu:.2f}"
        )
    rate = done / wall
    missed = []
    if rate < GOAL_CALLS_PER_S:
        missed.append(f"{rate:.0f} calls/s < {GOAL_CALLS_PER_S}")
    if failures:
        missed.append(f"{failures} callers lost")
    if ours / asterisk_cpu > GOAL_RATIO:
        missed.append(f"CPU ratio {ours / asterisk_cpu:.2f} > {GOAL_RATIO}")
    return verdict(
        missed, f">= {GOAL_CALLS_PER_S} calls/s, no caller lost, CPU ratio <= {GOAL_RATIO}"
    )


if __name__ == "__main__":
    sys.exit(main())
