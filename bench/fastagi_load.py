#!/usr/bin/env python3
"""FastAGI load: a generator that speaks AGI as Asterisk 22 does runs the IVR's calls against
several servers in the same run, and reports sessions/s and server CPU per session.

The environment header is the byte-exact one captured on a real Asterisk 22
(tests/transcripts/agi-ivr-1.txt, with a fresh uniqueid per call); replies have the exact
shapes Asterisk sends (``200 result=1``, ``200 result=01`` for GET DATA digits, ...).
Server CPU is read from /proc (user + system, children included), so the process-per-call
baseline is charged for its children. Bounded: a fixed number of sessions per server.

    python bench/fastagi_load.py [--sessions 2000] [--concurrency 50]
        [--servers ours,ours-ivr,panoramisk,pyst2] [--baseline-python /path/to/python]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from fastagi_servers import SCRIPT  # noqa: E402

from hotline.testing.transcripts import load  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@functools.cache
def _captured_header() -> bytes:
    lines = [s.data for s in load("agi-ivr-1.txt") if s.from_asterisk]
    return b"".join(lines[: lines.index(b"\n") + 1])


def env_header(uniqueid: str, caller: str) -> bytes:
    header = _captured_header().replace(
        b"agi_uniqueid: lab-ivr-queue-agent-1795847304-2", f"agi_uniqueid: {uniqueid}".encode()
    )
    return header.replace(b"agi_callerid: 5551234", f"agi_callerid: {caller}".encode())


def reply_for(command: bytes) -> bytes:
    if command.startswith(b"GET DATA hotline/zh/greeting"):
        return b"200 result=0\n"  # the caller pressed 0
    if command.startswith(b"GET DATA"):
        return b"200 result=01\n"  # Dongcheng, if the district menu is switched on
    if command.startswith((b"STREAM FILE", b"SAY ")):
        return b"200 result=0 endpos=8000\n"
    if command.startswith((b"ANSWER", b"EXEC")):
        return b"200 result=0\n"
    return b"200 result=1\n"


async def session(port: int, uniqueid: str, caller: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(env_header(uniqueid, caller))
    commands = 0
    try:
        async with asyncio.timeout(30):
            while line := await reader.readline():
                commands += 1
                writer.write(reply_for(line))
    finally:
        writer.close()
        await writer.wait_closed()
    return commands


async def drive(port: int, sessions: int, concurrency: int, tag: str) -> tuple[float, int, int]:
    gate = asyncio.Semaphore(concurrency)
    failures = 0
    commands = 0

    async def one(n: int) -> None:
        nonlocal failures, commands
        async with gate:
            try:
                # New callers (no history), so every session takes the same IVR path.
                got = await session(port, f"{tag}-{n:08d}", f"{100 + len(tag)}{n:08d}")
                commands += got
                if got < len(SCRIPT):  # the IVR's own sequence is as long as SCRIPT
                    failures += 1
            except (OSError, TimeoutError):
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(sessions)))
    return time.perf_counter() - started, failures, commands


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_db(directory: Path) -> str:
    from hotline import migrate
    from hotline.db import make_engine
    from hotline.refdata import load_reference_data

    url = f"sqlite:///{directory / 'bench.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    load_reference_data(engine, ROOT / "data" / "reference")
    engine.dispose()
    return url


def run_server(name: str, python: str, sessions: int, concurrency: int, db_url: str) -> dict:
    port = free_port()
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [python, str(HERE / "fastagi_servers.py"), name, str(port), db_url],
        stdout=subprocess.PIPE,
        stderr=open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "w"),  # noqa: SIM115
        text=True,
        env=environment,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "READY"
        asyncio.run(drive(port, min(50, sessions), concurrency, f"warm-{name}"))  # warm up
        before = cpu_seconds(process.pid)
        wall, failures, commands = asyncio.run(drive(port, sessions, concurrency, name))
        time.sleep(0.2)  # let the last children be reaped
        cpu = cpu_seconds(process.pid) - before
    finally:
        process.terminate()
        process.wait(timeout=10)
    return {
        "server": name,
        "sessions": sessions,
        "failures": failures,
        "wall": wall,
        "per_second": sessions / wall,
        "cpu_ms": cpu / sessions * 1000,
        "commands": commands / sessions,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--servers", default="ours,ours-ivr,panoramisk,pyst2")
    parser.add_argument(
        "--baseline-python",
        default=sys.executable,
        help="Python with panoramisk and pyst2 installed",
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"{args.sessions} sessions per server, {args.concurrency} at once")
    print(f"{'server':<12}{'sessions/s':>12}{'CPU ms/session':>16}{'failures':>10}{'cmds':>6}")
    with tempfile.TemporaryDirectory() as scratch:
        db_url = prepare_db(Path(scratch))
        for name in args.servers.split(","):
            python = sys.executable if name.startswith("ours") else args.baseline_python
            result = run_server(name, python, args.sessions, args.concurrency, db_url)
            print(
                f"{result['server']:<12}{result['per_second']:>12.0f}{result['cpu_ms']:>16.2f}"
                f"{result['failures']:>10}{result['commands']:>6.0f}"
            )


if __name__ == "__main__":
    main()
