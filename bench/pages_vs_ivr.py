#!/usr/bin/env python3
"""Callers come first: the IVR's step latency while the heaviest pages load, with the pages
in processes of their own (``web_process = true``, the default; one web process, and
``web_workers`` at its default of one per core at a lower CPU priority) against one process
and one event loop for both (``web_process = false``), in the same run on the same database.

``hotline serve`` runs as a user runs it (a subprocess with a config file) on a database
with the demo history (``hotline demo history``). A FastAGI client that speaks as Asterisk
22 does (bench/fastagi_load.py) places IVR sessions one after another and times each step:
from its reply to the IVR's next command, what a caller waits for on top of the prompts.
Meanwhile ``--loaders`` clients load the public evaluation and the city's case list in a
loop. Each mode is measured idle and under the page load. Exits non-zero when the pages
delay the split IVR's p95 step by more than the goal.

    python bench/pages_vs_ivr.py [--days 90] [--per-day 40] [--seconds 20] [--loaders 4]
"""

from __future__ import annotations

import argparse
import asyncio
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

import httpx  # noqa: E402
from fastagi_load import env_header, free_port, reply_for  # noqa: E402
from stats import percentile  # noqa: E402

from hotline.testing.web import sign_in  # noqa: E402

GOAL_MS = 10.0  # the pages may add at most this to the IVR's p95 step (split mode)
PAGES = [("/public/evaluation", None), ("/cases?view=all&sort=oldest", "city_dispatcher")]


def prepare(directory: Path, days: int, per_day: int) -> str:
    url = f"sqlite:///{directory / 'bench.db'}"
    env = {**os.environ, "HOTLINE_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "hotline", "demo", "history", "--days", str(days),
         "--per-day", str(per_day)],
        env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return url


def start(
    url: str, directory: Path, split: bool, workers: int = 0
) -> tuple[subprocess.Popen[bytes], int, int]:
    web, agi = free_port(), free_port()
    config = directory / f"hotline-{split}-{workers}.toml"
    config.write_text(
        f'database_url = "{url}"\nweb_process = {str(split).lower()}\nweb_workers = {workers}\n'
        f"[web]\nport = {web}\n[fastagi]\nport = {agi}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{web}/healthz", timeout=1).status_code == 200:
                return server, web, agi
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("hotline serve did not answer within 60 s")


async def ivr_steps(port: int, seconds: float, tag: str) -> list[float]:
    """Sessions one after another for ``seconds``; every step's wait, in ms."""
    steps: list[float] = []
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = time.perf_counter()
        writer.write(env_header(f"{tag}-{n:06d}", f"139{n:08d}"))
        async with asyncio.timeout(30):
            while line := await reader.readline():
                steps.append((time.perf_counter() - sent) * 1000)
                sent = time.perf_counter()
                writer.write(reply_for(line))
        writer.close()
    return steps


async def load_pages(web: int, stop: asyncio.Event) -> int:
    loads = 0
    base = f"http://127.0.0.1:{web}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        signed = False
        while not stop.is_set():
            for path, user in PAGES:
                if user and not signed:
                    await sign_in(client, user, "dispatch-demo-123")
                    signed = True
                await client.get(path)
                loads += 1
    return loads


async def measure(web: int, agi: int, seconds: float, loaders: int, tag: str) -> dict:
    idle = await ivr_steps(agi, seconds / 2, f"{tag}-idle")
    stop = asyncio.Event()
    pages = [asyncio.create_task(load_pages(web, stop)) for _ in range(loaders)]
    await asyncio.sleep(1)  # the pages are loading
    busy = await ivr_steps(agi, seconds, f"{tag}-busy")
    stop.set()
    loads = sum(await asyncio.gather(*pages))
    return {"idle": idle, "busy": busy, "loads": loads}


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (the web process), in MB."""
    total = 0
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def row(name: str, steps: list[float]) -> str:
    return (
        f"| {name} | {len(steps)} | {percentile(steps, 0.5):.1f} | {percentile(steps, 0.95):.1f}"
        f" | {max(steps):.1f} |"
    )


MODES = (  # label, web_process, web_workers (0: hotline serve's default)
    ("one process", False, 1),
    ("pages in one process of their own", True, 1),
    ("pages in web_workers processes (default)", True, 0),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--loaders", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        url = prepare(directory, args.days, args.per_day)
        results = {}
        for label, split, workers in MODES:
            server, web, agi = start(url, directory, split, workers)
            try:
                before = rss_mb(server.pid)
                results[label] = asyncio.run(
                    measure(web, agi, args.seconds, args.loaders, f"{split}{workers}")
                )
                results[label]["rss"] = (before, rss_mb(server.pid))
            finally:
                server.terminate()
                server.wait(timeout=60)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"history: {args.days} days x {args.per_day} cases a working day; {args.loaders}")
    print("page loaders (public evaluation, city case list) in a loop\n")
    print("| IVR step latency (ms) | steps | p50 | p95 | max |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, _, _ in MODES:
        r = results[label]
        print(row(f"{label}, idle", r["idle"]))
        print(row(f"{label}, pages loading ({r['loads']} loads)", r["busy"]))
    for label, _, _ in MODES:
        before, after = results[label]["rss"]
        print(
            f"\nhotline serve RSS, {label}: {before:.0f} MB before the load, {after:.0f} MB after"
        )
    missed = []
    for label, split, _ in MODES:
        if not split:
            continue
        r = results[label]
        added = percentile(r["busy"], 0.95) - percentile(r["idle"], 0.95)
        print(f"\n{label}: the pages added {added:.1f} ms to the IVR's p95 step")
        if added > GOAL_MS:
            missed.append(label)
    print(
        f"goal: the pages add at most {GOAL_MS:.0f} ms to the IVR's p95 step with the pages "
        f"apart: {'missed (' + ', '.join(missed) + ')' if missed else 'met'}"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
