"""``hotline serve``: the web desktop and the FastAGI server in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import logging.handlers
import os
import queue
import re
import signal
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import uvicorn
from sqlalchemy import Engine

from agent_ui.live.events import EventHub
from agent_ui.live.pg_events import PgEventBus
from agent_ui.live.wrapup import WrapUp
from agent_ui.main import create_app
from agi.ami import AmiClient
from agi.queues import QueueMonitor, merged_snapshot
from agi.server import FastAgiServer
from hotline.calls.records import CallRecords
from hotline.calls.tracker import CallTracker, track_while_leader
from hotline.cases.outbox import OutboxDeliverer
from hotline.cases.overdue import run_scheduler
from hotline.db import make_engine
from hotline.settings import Settings
from ivr.entry import call_handler
from ivr.speech_setup import start_speech
from routing.model import QueueState

log = logging.getLogger("hotline")


class EmbeddedWebServer(uvicorn.Server):
    """uvicorn without its own signal handling, for an event loop that runs other servers
    too: ``run`` owns SIGINT/SIGTERM for both (tests and benchmarks embed it alike)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class _Telephony:
    """AMI clients (one per Asterisk node), their queue monitors and the call tracker."""

    clients: list[AmiClient]
    monitors: list[QueueMonitor]
    tracker: CallTracker | None

    def snapshot(self) -> Mapping[str, QueueState] | None:
        return merged_snapshot(self.monitors)

    async def stop(self) -> None:
        for monitor in self.monitors:
            await monitor.stop()
        if self.tracker is not None:
            await self.tracker.stop()
        for client in self.clients:
            await client.close()


def _telephony(settings: Settings, engine: Engine, records: CallRecords) -> _Telephony:
    """Connect to every configured node with a secret. Without any (the demo without
    Asterisk) routing keeps districts' queues without overflow checks."""
    nodes = [n for n in settings.ami if n.secret.get_secret_value()]
    if not nodes:
        log.info("no AMI secret configured: running without live queue state")
        return _Telephony([], [], None)
    tracker = CallTracker(engine, records=records)
    clients, monitors = [], []
    for node in nodes:
        client = AmiClient(
            node.host,
            node.port,
            node.username,
            node.secret.get_secret_value(),
            name=node.name,
            filter_events=True,  # the tracker's events only
        )
        tracker.attach(client)
        client.run_forever()
        monitor = QueueMonitor(client)
        monitor.start()
        clients.append(client)
        monitors.append(monitor)
    tracker.start()
    return _Telephony(clients, monitors, tracker)


class _QueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread as they are, their message merged with its
    arguments (so that a later change to an argument does not change the line). The
    standard handler also formats and copies each record: with the writer in this process,
    that is work the writer does again."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record.msg, record.args = record.getMessage(), None
        return record


# What a log record collects that a format may not print (logging HOWTO, "Optimization"):
# (record field the format names, logging's switch). The caller's file and line cost a
# walk up the stack on every record.
_COLLECTED = (
    (("pathname", "filename", "module", "lineno", "funcName"), "_srcfile"),
    (("thread", "threadName"), "logThreads"),
    (("process",), "logProcesses"),
    (("processName",), "logMultiprocessing"),
)


def _format_of(handler: logging.Handler) -> str | None:
    """The format string a writer prints with (a plain Formatter's), None if unknown."""
    if handler.formatter is None:
        return "%(message)s"  # logging's default
    style = getattr(handler.formatter, "_style", None)  # Formatter keeps it there
    return getattr(style, "_fmt", None)


@contextlib.contextmanager
def logging_off_the_loop() -> Iterator[None]:
    """While serving, log records are written by a thread of their own: a stderr that
    blocks (a full pipe to journald or to a container's log driver) must not stop the
    event loop, where every call in the IVR would wait with it. Records collect only what
    the writers' formats print."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    formats = [_format_of(h) for h in handlers]
    # A writer whose format cannot be read may print anything: then nothing is switched off.
    printed = None if None in formats else " ".join(f for f in formats if f)
    switches = {
        switch: getattr(logging, switch)
        for fields, switch in _COLLECTED
        if printed is not None and not any(re.search(rf"\b{f}\b", printed) for f in fields)
    }
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    root.handlers = [_QueueHandler(records)]
    for switch in switches:
        setattr(logging, switch, None if switch == "_srcfile" else False)
    listener.start()
    try:
        yield
    finally:
        listener.stop()  # writes what is still queued
        root.handlers = handlers
        for switch, value in switches.items():
            setattr(logging, switch, value)


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """The loop ``hotline serve`` runs on. uvloop (libuv) does the loop's own work (sockets,
    transports, timers, callbacks) in C: in the burst benchmark the whole server's CPU per
    call fell by about a sixth with it. ``asyncio`` is Python's own loop, the one the tests'
    in-process servers run on."""
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def freeze_startup_objects() -> int:
    """Keep what start-up built out of the garbage collector's full passes; returns how
    many objects that is.

    The app, the reference data, the grid and the IVR flow are hundreds of thousands of
    objects that live as long as the process (about 370,000 in the demo). A full collection
    walks them all, about 160 ms on the benchmark machine, and the event loop stands still
    meanwhile: every call in the IVR, every page and the AMI tracker wait. In the burst
    benchmark one such pass came in each run of 1,000 calls. Frozen, they are skipped;
    what is made later is collected as before."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def _instance_name() -> str:
    """Names this app instance in the leases it holds."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _background_jobs(settings: Settings, engine: Engine) -> list[asyncio.Task[None]]:
    """The overdue scheduler (on one instance at a time, by lease) and webhook delivery."""
    holder = _instance_name()
    grace = dt.timedelta(hours=settings.escalation_grace_hours)
    jobs = [
        asyncio.create_task(
            run_scheduler(engine, holder, grace, settings.scheduler_interval_seconds)
        )
    ]
    if settings.webhook_url:
        deliverer = OutboxDeliverer(
            engine, settings.webhook_url, settings.webhook_secret.get_secret_value()
        )
        jobs.append(asyncio.create_task(deliverer.run(holder=holder)))
    return jobs


async def run(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    hub = EventHub()
    bus = None
    if engine.dialect.name == "postgresql":  # live events reach pages on every instance
        bus = PgEventBus(settings.database_url, hub)
        hub.carrier = bus
        bus.start()
    records = CallRecords(engine)  # the IVR and the tracker share its thread and commits
    telephony = _telephony(settings, engine, records)
    leading = None
    if telephony.tracker is not None:
        telephony.tracker.subscribe(hub.on_connected)  # a connected call pops on the page
        telephony.tracker.active = False  # until this instance holds the tracker lease
        leading = asyncio.create_task(
            track_while_leader(telephony.tracker, engine, _instance_name())
        )
    app = create_app(
        settings,
        engine,
        hub=hub,
        ami=telephony.clients[0] if telephony.clients else None,
        queues=telephony.snapshot,
    )
    wrapup = None
    if telephony.tracker is not None and telephony.clients:
        wrapup = WrapUp(telephony.clients[0], hub, engine, settings.wrapup_seconds)
        telephony.tracker.subscribe(wrapup)
    web = EmbeddedWebServer(
        uvicorn.Config(
            app,
            host=settings.web.host,
            port=settings.web.port,
            log_config=None,
            lifespan="on",
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
    )
    speech, audio_socket = await start_speech(settings, engine)
    agi = FastAgiServer(
        call_handler(settings, engine, queues=telephony.snapshot, speech=speech, records=records)
    )
    await agi.start(settings.fastagi.host, settings.fastagi.port)
    app.state.agi, app.state.ami_clients = agi, telephony.clients  # for /metrics
    background = _background_jobs(settings, engine)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    frozen = freeze_startup_objects()
    web_task = asyncio.create_task(web.serve())
    log.info(
        "web on http://%s:%s/  FastAGI on %s:%s  (%s loop; %d start-up objects frozen for the GC)",
        settings.web.host,
        settings.web.port,
        settings.fastagi.host,
        settings.fastagi.port,
        type(loop).__module__.split(".")[0],
        frozen,
    )
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({web_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    web.should_exit = True
    await agi.stop()
    if audio_socket is not None:
        await audio_socket.stop()
    if speech is not None:
        speech.close()
    if wrapup is not None:
        await wrapup.stop()
    if leading is not None:
        leading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leading
    await telephony.stop()
    await asyncio.to_thread(records.close)  # what the IVR and the tracker queued is written
    if bus is not None:
        await bus.stop()
    for job in background:
        job.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    await web_task
    stop_task.cancel()
    engine.dispose()
