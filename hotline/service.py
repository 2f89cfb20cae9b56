"""``hotline serve``: the telephony (FastAGI, AudioSocket, the AMI tracker) in this process's
event loop and the web pages in a child process of their own (``hotline.web_process``), or
both in one loop with ``web_process = false``."""

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
import shutil
import signal
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from sqlalchemy import Engine

from agent_ui.live.events import EventHub
from agent_ui.live.pg_events import PgEventBus
from agent_ui.live.presence import AgentPresence
from agent_ui.live.wrapup import WrapUp
from agent_ui.main import create_app
from agent_ui.pages.map_layers import warm as warm_map_layers
from agi.ami import AmiClient
from agi.queues import QueueMonitor, merged_snapshot
from agi.server import MAX_WAITING, FastAgiServer, raise_open_files_limit
from hotline.calls.records import CallRecords
from hotline.calls.tracker import CallTracker, track_while_leader
from hotline.cases import kept_figures
from hotline.cases.outbox import OutboxDeliverer
from hotline.cases.overdue import run_scheduler
from hotline.db import serving_engine
from hotline.settings import Settings
from hotline.tasks import Shutdown, supervise
from hotline.tasks import stop as stop_task
from hotline.web_process import (
    AgiStats,
    EventFanOut,
    EventLink,
    WebProcess,
    check_web_port,
    link_paths,
    new_agi_stats,
    receive_events,
    share_agi_stats,
)
from ivr.entry import call_handler
from ivr.speech_setup import start_speech
from routing.model import QueueState

log = logging.getLogger("hotline")
# FastAGI's calls and connections waiting for their header, AudioSocket streams, web
# clients, database connections, log files.
SOCKETS_NEEDED = 1000 + MAX_WAITING + 1000 + 256


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

    def shut_down_with(self, shutdown: Shutdown) -> None:
        """On the way down: the polls stop, AMI closes (no event comes any more), then the
        tracker stores what has queued up and stops."""
        if self.tracker is not None:
            shutdown.add("call tracker", self.tracker.stop)
        for client in self.clients:
            shutdown.add(f"AMI {client.name}", client.close)
        for monitor in self.monitors:
            shutdown.add("queue poll", monitor.stop)


def _telephony(
    settings: Settings, engine: Engine, records: CallRecords | None, track: bool = True
) -> _Telephony:
    """Connect to every configured node with a secret, with the call tracker unless
    ``track`` is false (the web process: agent controls and queue state only). Without any
    node (the demo without Asterisk) routing keeps districts' queues without overflow
    checks."""
    nodes = [n for n in settings.ami if n.secret.get_secret_value()]
    if not nodes:
        log.info("no AMI secret configured: running without live queue state")
        return _Telephony([], [], None)
    tracker = CallTracker(engine, records=records) if track else None
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
        if tracker is not None:
            tracker.attach(client)
        client.run_forever()
        monitor = QueueMonitor(client)
        monitor.start()
        clients.append(client)
        monitors.append(monitor)
    if tracker is not None:
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
    """The overdue scheduler and the renewal of the evaluation's kept figures (each on one
    instance at a time, by lease) and webhook delivery."""
    holder = _instance_name()
    grace = dt.timedelta(hours=settings.escalation_grace_hours)
    interval = settings.scheduler_interval_seconds
    jobs = [supervise("overdue scheduler", lambda: run_scheduler(engine, holder, grace, interval))]
    if settings.figures_refresh_seconds > 0:
        zone, every = ZoneInfo(settings.timezone), settings.figures_refresh_seconds
        jobs.append(
            supervise(
                "figures renewal",
                lambda: kept_figures.keep_renewing(engine, holder, zone, every),
            )
        )
    if settings.webhook_url:
        deliverer = OutboxDeliverer(
            engine, settings.webhook_url, settings.webhook_secret.get_secret_value()
        )
        jobs.append(supervise("webhook outbox", lambda: deliverer.run(holder=holder)))
    return jobs


def web_config(settings: Settings, app: Any) -> uvicorn.Config:
    """The web server's configuration. Forwarded headers (X-Forwarded-For/-Proto) are read
    only from the proxies ``forwarded_allow_ips`` names: none by default, since a client
    that reaches the port directly could otherwise pick its own address (and with it dodge
    the sign-in limits) or claim HTTPS."""
    trusted = settings.forwarded_allow_ips.strip()
    return uvicorn.Config(
        app,
        host=settings.web.host,
        port=settings.web.port,
        log_config=None,
        lifespan="on",
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )


async def _serve_web(web: uvicorn.Server, sock: socket.socket | None = None) -> None:
    try:
        await web.serve(sockets=[sock] if sock is not None else None)
    except SystemExit as exc:  # uvicorn's way to say it could not start (port taken, ...)
        raise RuntimeError(f"the web server could not start (exit status {exc.code})") from None


def _warm_maps(state: Any) -> None:
    """The map's index and outlines before the first map request (seconds on a big grid)."""
    try:
        warm_map_layers(state)
    except Exception:  # the first map request builds them instead
        log.exception("map warm-up failed")


async def run(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM or until the web server ends.

    Whatever fails on the way, the way down runs every step (:class:`Shutdown`): FastAGI
    stops taking calls, AMI closes, the tracker stores what it has queued, and the call
    records queued by the IVR and the tracker are written."""
    shutdown = Shutdown()
    try:
        await _serve(settings, shutdown)
    finally:
        await shutdown.run()


def web_workers(settings: Settings) -> int:
    """How many processes serve the pages: ``web_workers``, or one per core (at most 4).
    They run at a lower CPU priority than the telephony (``web_process.WEB_NICE``)."""
    return settings.web_workers or max(1, min(4, os.cpu_count() or 1))


async def _serve(settings: Settings, shutdown: Shutdown) -> None:
    split = settings.web_process
    engine = serving_engine(settings.database_url)
    shutdown.add("database pool", engine.dispose)
    serving: list[asyncio.Task[None]] = []  # the web server (or process), once it runs
    shutdown.add("web requests", partial(_finish_web, serving))  # near the end: pages stay
    hub = EventHub()
    workers = web_workers(settings) if split else 1
    links: list[Path | None] = [None] * workers
    if engine.dialect.name == "postgresql":
        _carry_over_postgresql(settings, hub, shutdown)
    elif split:  # to the web processes' pages through a socket of this instance each
        paths = link_paths(workers)
        shutdown.add("event sockets", partial(shutil.rmtree, paths[0].parent, ignore_errors=True))
        carriers = [EventLink(path) for path in paths]
        hub.carrier = EventFanOut(carriers)
        for carrier in carriers:
            carrier.start()
            shutdown.add("live events", carrier.stop)
        links = list(paths)
    if not split:  # else the web process runs them: they are not the callers' work
        for job in _background_jobs(settings, engine):
            shutdown.add(job.get_name(), partial(stop_task, job))
    records = CallRecords(engine)  # the IVR and the tracker share its thread and commits
    shutdown.add("call records", partial(asyncio.to_thread, records.close))  # written out
    telephony = _telephony(settings, engine, records)
    if telephony.tracker is not None:
        telephony.tracker.subscribe(hub.on_connected)  # a connected call pops on the page
        telephony.tracker.active = False  # until this instance holds the tracker lease
        tracker = telephony.tracker
        clients = telephony.clients
        leading = supervise(
            "tracker lease",
            lambda: track_while_leader(
                tracker,
                engine,
                _instance_name(),
                clients=clients,
                node_lost=settings.node_lost_seconds,
            ),
        )
        shutdown.add("tracker lease", partial(stop_task, leading))  # after the tracker's
    telephony.shut_down_with(shutdown)
    if settings.agent_state_interface and telephony.clients:
        presence = AgentPresence(telephony.clients, settings, engine)
        presence.attach()
        presence.start()
        shutdown.add("agent presence", presence.stop)
    if telephony.tracker is not None and telephony.clients:
        wrapup = WrapUp(telephony.clients, hub, engine, settings.wrapup_seconds)
        telephony.tracker.subscribe(wrapup)
        shutdown.add("wrap-up timers", wrapup.stop)
    speech, audio_socket = await start_speech(settings, engine)
    if speech is not None:
        shutdown.add("speech", speech.close)
    if audio_socket is not None:
        shutdown.add("AudioSocket", audio_socket.stop)
    agi = FastAgiServer(
        call_handler(settings, engine, queues=telephony.snapshot, speech=speech, records=records)
    )
    files = raise_open_files_limit()
    if files < SOCKETS_NEEDED:
        log.warning(
            "this process may open %d files only: under a burst of calls FastAGI may run out "
            "of sockets (raise LimitNOFILE / ulimit -n to %d or more)",
            files,
            SOCKETS_NEEDED,
        )
    await agi.start(settings.fastagi.host, settings.fastagi.port)
    shutdown.add("FastAGI", agi.stop)
    if split:
        check_web_port(settings.web.host, settings.web.port)
        stats = new_agi_stats()
        children = [
            WebProcess(settings, links[number], number=number, agi_stats=stats)
            for number in range(workers)
        ]
        sharing = asyncio.create_task(share_agi_stats(stats, agi), name="FastAGI figures")
        shutdown.add("FastAGI figures", partial(stop_task, sharing))
        web_task = asyncio.create_task(_run_all(children), name="web processes")
        for child in children:
            shutdown.add("web", child.stop)  # first: no new requests
    else:
        web = _web_server(settings, engine, hub, telephony, agi)
        web_task = asyncio.create_task(_serve_web(web), name="web")
        shutdown.add("web", partial(setattr, web, "should_exit", True))  # first: no new requests
    serving.append(web_task)
    stop = _stop_on_signals()
    frozen = freeze_startup_objects()
    log.info(
        "web on http://%s:%s/ (%s)  FastAGI on %s:%s  (%s loop; %d start-up objects frozen "
        "for the GC)",
        settings.web.host,
        settings.web.port,
        (f"{workers} processes of their own" if workers > 1 else "a process of its own")
        if split
        else "this loop",
        settings.fastagi.host,
        settings.fastagi.port,
        type(asyncio.get_running_loop()).__module__.split(".")[0],
        frozen,
    )
    await _until(stop, web_task)


async def _run_all(children: list[WebProcess]) -> None:
    await asyncio.gather(*(child.run() for child in children))


def _carry_over_postgresql(settings: Settings, hub: EventHub, shutdown: Shutdown) -> None:
    """Live events reach the pages of every instance (and process) through LISTEN/NOTIFY."""
    bus = PgEventBus(settings.database_url, hub)
    hub.carrier = bus
    bus.start()
    shutdown.add("live events", bus.stop)


def _web_server(
    settings: Settings, engine: Engine, hub: EventHub, ami: _Telephony, agi: Any
) -> EmbeddedWebServer:
    """The pages: agent controls and queue state through ``ami``'s clients, the IVR's
    figures for /metrics from ``agi`` (the server, or the other process's shared copy),
    the map's index built in a thread before the first map asks for it."""
    app = create_app(
        settings,
        engine,
        hub=hub,
        ami=ami.clients[0] if ami.clients else None,
        queues=ami.snapshot,
    )
    app.state.agi, app.state.ami_clients = agi, ami.clients  # for /metrics
    app.state.map_warming = asyncio.get_running_loop().run_in_executor(None, _warm_maps, app.state)
    return EmbeddedWebServer(web_config(settings, app))


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _until(stop: asyncio.Event, web_task: asyncio.Task[None]) -> None:
    """Serve until a signal, or until the web server ends by itself (then say why)."""
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({web_task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if web_task.done() and not stop.is_set():
        web_task.result()  # the web server died: say why (after the way down)
        log.error("the web server stopped by itself: shutting down")


async def serve_web_part(
    settings: Settings,
    link: Path | None,
    parent: int,
    agi: AgiStats | None = None,
    *,
    sock: socket.socket | None = None,
    jobs: bool = True,
) -> None:
    """A web process (``hotline.web_process``): the pages, the agents' AMI controls and
    queue state and, with ``jobs``, the overdue scheduler, the renewal of kept figures and
    webhooks; until a signal or the parent's end. ``sock``: this web process's socket on
    the web port (``hotline.web_process.bind_web_socket``)."""
    shutdown = Shutdown()
    try:
        await _serve_web_part(settings, link, parent, agi, shutdown, sock, jobs)
    finally:
        await shutdown.run()


async def _serve_web_part(
    settings: Settings,
    link: Path | None,
    parent: int,
    agi: AgiStats | None,
    shutdown: Shutdown,
    sock: socket.socket | None,
    jobs: bool,
) -> None:
    engine = serving_engine(settings.database_url)
    shutdown.add("database pool", engine.dispose)
    serving: list[asyncio.Task[None]] = []
    shutdown.add("web requests", partial(_finish_web, serving))
    hub = EventHub()
    if engine.dialect.name == "postgresql":
        _carry_over_postgresql(settings, hub, shutdown)
    elif link is not None:
        events = await receive_events(link, hub)
        shutdown.add("live events", events.close)
    for job in _background_jobs(settings, engine) if jobs else []:
        shutdown.add(job.get_name(), partial(stop_task, job))
    ami = _telephony(settings, engine, None, track=False)
    ami.shut_down_with(shutdown)
    web = _web_server(settings, engine, hub, ami, agi)
    stop = _stop_on_signals()
    orphan = asyncio.create_task(_watch_parent(parent, stop), name="parent watch")
    shutdown.add("parent watch", partial(stop_task, orphan))
    web_task = asyncio.create_task(_serve_web(web, sock), name="web")
    serving.append(web_task)
    shutdown.add("web", partial(setattr, web, "should_exit", True))
    freeze_startup_objects()
    await _until(stop, web_task)


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """The web process ends with its ``hotline serve`` (killed or not, it is no orphan)."""
    while os.getppid() == parent:
        await asyncio.sleep(1)
    log.error("hotline serve (pid %d) is gone: the web process stops", parent)
    stop.set()


async def _finish_web(serving: list[asyncio.Task[None]]) -> None:
    """The web server finishes the requests under way (for up to 30 s), then stops."""
    for task in serving:
        await asyncio.wait({task}, timeout=30)
        if not task.done():
            await stop_task(task)
        elif not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("the web server ended with %r", exc)  # raised by _serve already
