#!/usr/bin/env python3
"""The FastAGI servers compared by bench/fastagi_load.py, each run as its own process:

    ours            agi.server.FastAgiServer running SCRIPT (the IVR's command sequence)
    ours-ivr        agi.server.FastAgiServer running the real IVR (flow, routing, SQLite
                    writes)
    panoramisk      panoramisk 1.4 fast_agi.Application running SCRIPT
    panoramisk-ivr  panoramisk 1.4 fast_agi.Application running the same real IVR, through
                    a thin adapter that gives the IVR panoramisk's request as a session
                    (what a user who picked panoramisk would write)
    pyst2           a forking server: one process per call running SCRIPT with pyst2
                    0.5.1's stdin/stdout AGI (what Asterisk's own AGI() does)

Usage: fastagi_servers.py NAME PORT [DB_URL [FLOW_DIR]]. Prints READY when listening.
Baselines need panoramisk 1.4 and pyst2 0.5.1 importable (`pip install --target DIR
panoramisk==1.4 pyst2==0.5.1`, then DIR on PYTHONPATH: bench/fastagi_load.py
--baseline-path DIR does that).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socketserver
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

# The command sequence our IVR sends for a caller of a district's own number who presses
# nothing (the default flow, see data/ivr/).
SCRIPT: list[tuple[str, ...]] = [
    ("SET VARIABLE", "CHANNEL(language)", "zh"),
    ("GET DATA", "hotline/zh/greeting", "1500", "1"),
    (
        "EXEC",
        "MSet",
        "HOTLINE_CALL_ID=1,HOTLINE_DISTRICT=110101,HOTLINE_GRID=,HOTLINE_INTENT=report,"
        "HOTLINE_REASON=district-known,HOTLINE_PRIORITY=0,HOTLINE_QUEUE=hotline-110101,"
        "HOTLINE_TARGET=queue",
    ),
]


def as_line(words: tuple[str, ...]) -> str:
    args = [f'"{w}"' if (w == "" or " " in w) else w for w in words[1:]]
    return " ".join([words[0], *args])


def ours(port: int) -> None:
    from agi.server import AgiSession, FastAgiServer

    async def handler(session: AgiSession) -> None:
        for words in SCRIPT:
            await session.command(*words)

    serve_ours(FastAgiServer(handler, max_calls=10_000), port)


def real_ivr(db_url: str, flow_dir: str = "") -> Callable[[Any], Awaitable[None]]:
    """The IVR's call handler as `hotline serve` builds it (flow, routing, database)."""
    from hotline.db import make_engine
    from hotline.service import freeze_startup_objects
    from hotline.settings import Settings
    from ivr.entry import call_handler

    settings = Settings(database_url=db_url, **({"ivr_dir": Path(flow_dir)} if flow_dir else {}))
    engine = make_engine(db_url, pool_size=20, max_overflow=20)
    handle = call_handler(settings, engine)
    freeze_startup_objects()  # as `hotline serve` does
    return handle


def ours_ivr(port: int, db_url: str, flow_dir: str = "") -> None:
    """The real IVR; on SIGTERM it prints how long its sessions took (see ``report``)."""
    from agi.server import AgiSession, FastAgiServer

    handle = real_ivr(db_url, flow_dir)
    durations: list[float] = []
    full_passes: list[float] = []  # the GC's full collections while serving, in seconds
    full_pass_started = 0.0

    def time_full_passes(phase: str, info: dict[str, int]) -> None:
        nonlocal full_pass_started
        if info["generation"] != 2:
            return
        if phase == "start":
            full_pass_started = time.perf_counter()
        else:
            full_passes.append(time.perf_counter() - full_pass_started)

    gc.callbacks.append(time_full_passes)

    async def timed(session: AgiSession) -> None:
        started = time.perf_counter()
        try:
            await handle(session)
        finally:
            durations.append(time.perf_counter() - started)

    def report(*_: object) -> None:
        """On SIGTERM: one line with the sessions' times (the burst bench prints it)."""
        from stats import percentile

        longest = max(durations, default=float("nan"))
        print(
            f"SESSIONS {len(durations)} p50 {percentile(durations, 0.5) * 1000:.1f} ms "
            f"p99 {percentile(durations, 0.99) * 1000:.1f} ms max {longest * 1000:.1f} ms; "
            f"full GC passes {len(full_passes)}, "
            f"longest {max(full_passes, default=0.0) * 1000:.0f} ms",
            flush=True,
        )
        os._exit(0)

    signal.signal(signal.SIGTERM, report)
    serve_ours(FastAgiServer(timed, max_calls=10_000), port)


def serve_ours(server: object, port: int) -> None:
    async def main() -> None:
        await server.start("127.0.0.1", port)  # type: ignore[attr-defined]
        print("READY", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def panoramisk(port: int) -> None:
    from panoramisk.fast_agi import Application

    async def handler(request: object) -> None:
        for words in SCRIPT:
            await request.send_command(as_line(words))  # type: ignore[attr-defined]

    async def main() -> None:
        app = Application()
        app.add_route("ivr", handler)
        await asyncio.start_server(app.handler, "127.0.0.1", port)
        print("READY", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class PanoramiskSession:
    """What the IVR needs of a session (``env``, ``log``, ``hung_up``, ``command``,
    ``gone``), over a panoramisk request: the least a panoramisk user must write to run
    this IVR. panoramisk parses replies into dicts; they are turned back into our ``Reply``.
    It has no per-command deadline and no HANGUP-after-reply handling, so neither is here."""

    def __init__(self, request: Any) -> None:
        from agi.protocol import Env
        from agi.server import CallLog, log

        self.request = request
        values = {k.removeprefix("agi_"): v for k, v in request.headers.items()}
        self.env = Env(MappingProxyType(values))
        self.hung_up = False
        self.log = CallLog(log, {"call": self.env.uniqueid})

    async def command(self, *words: str, timeout: float | None = None) -> Any:
        from agi.protocol import Reply, encode_command
        from agi.server import AgiCommandError, CallEnded

        line = encode_command(*words)
        answer = await self.request.send_command(line.decode().removesuffix("\n"))
        if answer.get("error") == "AGIResultHangup" or answer.get("status_code") == 511:
            self.hung_up = True
            raise CallEnded("caller hung up")
        code = int(answer.get("status_code", 0))
        if code != 200:
            raise AgiCommandError(Reply(code, data=answer.get("msg")), line)
        result, data = answer["result"]
        extras = {
            key: value[0]
            for key, value in answer.items()
            if key not in ("status_code", "result", "msg") and isinstance(value, tuple)
        }
        return Reply(code, result, data or None, MappingProxyType(extras))

    async def gone(self, wait: float = 0.0) -> bool:
        return self.hung_up


def panoramisk_ivr(port: int, db_url: str, flow_dir: str = "") -> None:
    from panoramisk.fast_agi import Application

    handle = real_ivr(db_url, flow_dir)

    async def handler(request: object) -> None:
        await handle(PanoramiskSession(request))

    async def main() -> None:
        app = Application()
        app.add_route("ivr", handler)
        await asyncio.start_server(app.handler, "127.0.0.1", port, backlog=1024)
        print("READY", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


PYST2_CHILD = """
from asterisk.agi import AGI
agi = AGI()
script = {script!r}
for words in script:
    agi.execute(words[0], *words[1:])
"""


def pyst2(port: int) -> None:
    child = PYST2_CHILD.format(script=SCRIPT)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            fd = self.request.fileno()
            pid = os.fork()
            if pid == 0:
                os.dup2(fd, 0)
                os.dup2(fd, 1)
                os.execv(sys.executable, [sys.executable, "-c", child])
            os.waitpid(pid, 0)

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 1024

    with Server(("127.0.0.1", port), Handler) as server:
        print("READY", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    name, port = sys.argv[1], int(sys.argv[2])
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if name == "ours":
        ours(port)
    elif name == "ours-ivr":
        ours_ivr(port, sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "")
    elif name == "panoramisk":
        panoramisk(port)
    elif name == "panoramisk-ivr":
        panoramisk_ivr(port, sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "")
    elif name == "pyst2":
        pyst2(port)
    else:
        raise SystemExit(f"unknown server {name}")
