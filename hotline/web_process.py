"""The pages in a process of their own, so that callers come first.

``hotline serve`` runs the telephony (FastAGI, AudioSocket, the AMI tracker, wrap-up
timers) in its own process and event loop and starts the web pages in a child process.
A heavy page (an evaluation over a year of cases, an export) then takes the child's CPU
and its interpreter lock, never the loop that answers Asterisk: with both in one loop, two
clients loading the public evaluation in a loop delayed IVR steps from 7 ms to 172 ms at
the median (issue 21; ``bench/pages_vs_ivr.py`` measures it).

What the two halves share:

- the database (each its own pool);
- Asterisk: each connects its own AMI session per node (the web's for agent controls, the
  callback's Originate and the wallboard's queue state; the telephony's for the tracker);
- live events (a screen pop, a wrap-up end), which start at the tracker and end in a
  page: on PostgreSQL through LISTEN/NOTIFY as between any two instances; on SQLite
  through :class:`EventLink`, a Unix socket from the telephony to the web process.

With ``web_workers`` above one, several such children serve the pages, each on a socket
of its own bound to the web port (``SO_REUSEPORT``: the kernel spreads the connections),
so the pages use more than one core (``hotline.service.web_workers``: one per core by
default). Each child has its own pool, AMI sessions and live-event socket; the jobs that
are not the callers' (overdue scheduler, renewal of the kept figures, webhooks) run in the
first child only.

A child is started again if it dies; the telephony never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
from collections import deque
from pathlib import Path
from typing import Any, Protocol

from agent_ui.live.events import EventHub
from hotline.settings import Settings

log = logging.getLogger("hotline.web_process")
RESTART_DELAY = 1.0
STOP_WAIT = 35.0  # the web finishes its requests for up to 30 s
BACKLOG = 1000  # events kept while the web process is (re)starting
# The web processes run at a lower CPU priority than the telephony: with one per core, pages
# loading on every core would otherwise take CPU from the IVR's next step (a nice of 5 gives
# the telephony about three times a web process's share of a contended core).
WEB_NICE = 5


class EventLink:
    """The telephony side of the live events: each event goes as one JSON line to the
    web process's socket. While the web process starts (or restarts) events wait in a
    bounded queue; the oldest are dropped first, counted in ``dropped``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dropped = 0
        self._waiting: deque[bytes] = deque(maxlen=BACKLOG)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def publish(self, user: str, kind: str, data: dict[str, Any]) -> None:
        if len(self._waiting) == self._waiting.maxlen:
            self.dropped += 1
        line = json.dumps([user, kind, data], ensure_ascii=False) + "\n"
        self._waiting.append(line.encode("utf-8"))
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._send(), name="event link")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _send(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(str(self.path))
            except OSError:
                await asyncio.sleep(0.2)  # the web process is starting
                continue
            # The web process never writes: the end of its side means it went away, and an
            # event must wait for the next one rather than go into a closed socket.
            gone = asyncio.ensure_future(reader.read())
            try:
                while True:
                    while self._waiting:
                        if gone.done() or writer.is_closing():
                            raise ConnectionResetError("the web process closed the link")
                        writer.write(self._waiting[0])
                        await writer.drain()
                        self._waiting.popleft()
                    self._wake.clear()
                    woken = asyncio.ensure_future(self._wake.wait())
                    await asyncio.wait({woken, gone}, return_when=asyncio.FIRST_COMPLETED)
                    woken.cancel()
                    if gone.done():
                        raise ConnectionResetError("the web process closed the link")
            except OSError:
                log.info("the web process went away; live events wait for it")
            finally:
                gone.cancel()
                writer.close()


class EventFanOut:
    """Every live event to each web process's link (a page may be served by any of them)."""

    def __init__(self, links: list[EventLink]) -> None:
        self.links = links

    def publish(self, user: str, kind: str, data: dict[str, Any]) -> None:
        for link in self.links:
            link.publish(user, kind, data)


class EventReceiver:
    """The web side: every line from the telephony process reaches this process's pages."""

    def __init__(self, hub: EventHub) -> None:
        self.hub = hub
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._server = await asyncio.start_unix_server(self._on_client, str(path))

    def close(self) -> None:
        """Stop listening and drop the telephony's connection (it connects again)."""
        if self._server is not None:
            self._server.close()
        for writer in self._clients:
            writer.close()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while line := await reader.readline():
                try:
                    user, kind, data = json.loads(line)
                except ValueError:
                    log.warning("a malformed live event from the telephony process: %r", line)
                    continue
                self.hub.deliver(str(user), str(kind), data)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()


async def receive_events(path: Path, hub: EventHub) -> EventReceiver:
    receiver = EventReceiver(hub)
    await receiver.start(path)
    return receiver


class AgiStats:
    """What ``/metrics`` in the web process reads of the FastAGI server in the telephony
    process (shared memory the telephony writes every second)."""

    def __init__(self, shared: Any) -> None:
        self._shared = shared

    @property
    def active_calls(self) -> int:
        return int(self._shared[0])

    @property
    def rejected(self) -> int:
        return int(self._shared[1])


CONTEXT = multiprocessing.get_context("spawn")  # a clean interpreter, no event loop copied


class _AgiFigures(Protocol):
    @property
    def active_calls(self) -> int: ...

    @property
    def rejected(self) -> int: ...


def new_agi_stats() -> Any:
    """The FastAGI figures the web processes read: calls in the IVR, sessions refused."""
    return CONTEXT.RawArray("q", 2)


async def share_agi_stats(shared: Any, agi: _AgiFigures) -> None:
    """Copy the FastAGI server's figures for the web processes' /metrics, every second."""
    while True:
        shared[0], shared[1] = agi.active_calls, agi.rejected
        await asyncio.sleep(1)


def check_web_port(host: str, port: int) -> None:
    """Fail at start, with the reason, when the web port is taken (bound and let go at once:
    each web process binds it on a socket of its own, ``bind_web_socket``)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    try:
        socket.create_server((host, port), family=family).close()
    except OSError as exc:
        raise OSError(exc.errno, f"the web port {host}:{port}: {exc.strerror}") from None


def bind_web_socket(host: str, port: int) -> socket.socket:
    """A web process's own socket on the web port (``SO_REUSEPORT``): the kernel spreads
    new connections over the processes' sockets, and a process that ends takes its socket
    out of the spread. One listening socket shared by every process let whichever woke
    first accept a whole burst of connections: a browser keeps its connection, and in a
    benchmark 20 of 20 went to one process while the other's core idled."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family, backlog=2048, reuse_port=True)


class WebProcess:
    """One child process serving the pages, started again whenever it ends by itself.

    ``number`` 0 runs the background jobs too; the child binds the web port on a socket of
    its own (``bind_web_socket``)."""

    def __init__(
        self,
        settings: Settings,
        link: Path | None,
        *,
        number: int = 0,
        agi_stats: Any = None,
    ) -> None:
        self.settings, self.link, self.number = settings, link, number
        self.starts = 0
        self.agi_stats = agi_stats if agi_stats is not None else new_agi_stats()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._stopping = False

    async def run(self) -> None:
        while not self._stopping:
            self._process = CONTEXT.Process(
                target=web_main,
                args=(
                    self.settings,
                    str(self.link) if self.link else None,
                    os.getpid(),
                    self.agi_stats,
                    self.number,
                ),
                name=f"hotline-web-{self.number}",
                daemon=False,
            )
            self._process.start()
            self.starts += 1
            await asyncio.to_thread(self._process.join)
            code = self._process.exitcode
            if self._stopping:
                return
            log.error("the web process ended (exit status %s): starting it again", code)
            await asyncio.sleep(RESTART_DELAY)

    async def stop(self) -> None:
        self._stopping = True
        process = self._process
        if process is None or process.exitcode is not None:
            return
        if process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
        await asyncio.to_thread(process.join, STOP_WAIT)
        if process.exitcode is None:
            log.error("the web process did not stop in %.0f s: killed", STOP_WAIT)
            process.kill()
            await asyncio.to_thread(process.join, 5)


def link_paths(count: int) -> list[Path]:
    """Fresh Unix socket paths (one per web process) for the live events of one
    ``hotline serve``, in one new folder."""
    folder = Path(tempfile.mkdtemp(prefix="hotline-"))
    return [folder / f"events-{number}.sock" for number in range(count)]


def web_main(
    settings: Settings,
    link: str | None,
    parent: int,
    agi_stats: Any = None,
    number: int = 0,
) -> None:
    """The child's entry: the web pages and (in child 0) the jobs that are not the callers'
    (overdue scheduler, webhooks), in a loop of their own, until SIGTERM/SIGINT or the
    parent's end."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sock = bind_web_socket(settings.web.host, settings.web.port)
    with contextlib.suppress(OSError):  # callers first: the telephony wins a busy CPU
        os.nice(WEB_NICE)
    from hotline.service import logging_off_the_loop, new_event_loop, serve_web_part

    with (
        logging_off_the_loop(),
        asyncio.Runner(loop_factory=lambda: new_event_loop(settings.event_loop)) as runner,
    ):
        runner.run(
            serve_web_part(
                settings,
                Path(link) if link else None,
                parent,
                AgiStats(agi_stats) if agi_stats is not None else None,
                sock=sock,
                jobs=number == 0,
            )
        )
