"""Live events across app instances, carried by PostgreSQL LISTEN/NOTIFY.

With several instances behind one PostgreSQL, the instance that sees a call connect (the one
tracking AMI events) is rarely the one serving the agent's browser. Every instance LISTENs on
one channel; ``publish`` NOTIFYs it; whatever arrives is handed to the instance's own
:class:`~agent_ui.live.events.EventHub`, which holds the open pages. PostgreSQL delivers a
notification to every listening session, the sender's included, so each page gets each event
once, whichever instance serves it.

No new broker to run: the database is already there. Payloads are small (a call id, a
state); PostgreSQL caps one at 8000 bytes, and a larger one is refused here with a log line.
While the database cannot be reached an event is delivered to this instance's pages only,
and the listener reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from agent_ui.live.events import EventHub
from hotline.faults import FaultLog
from hotline.tasks import stop, supervise

log = logging.getLogger("hotline.events.pg")
CHANNEL = "hotline_events"
MAX_PAYLOAD = 7900  # PostgreSQL's limit is 8000 bytes
OUTBOX_SIZE = 10_000
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)


def libpq_conninfo(database_url: str) -> str:
    """The SQLAlchemy URL (``postgresql+psycopg://...``) as a libpq connection string."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"LISTEN/NOTIFY needs PostgreSQL, not {url.get_backend_name()}")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgEventBus:
    """``publish`` from any instance reaches the pages on every instance."""

    def __init__(self, database_url: str, hub: EventHub) -> None:
        self._conninfo = libpq_conninfo(database_url)
        self._hub = hub
        self._outbox: asyncio.Queue[tuple[str, str, dict[str, Any]]] = asyncio.Queue(OUTBOX_SIZE)
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = asyncio.Event()
        self.sent = 0
        self.received = 0
        self.local_only = 0
        self._faults = FaultLog(log)

    def start(self) -> None:
        self._tasks = [
            supervise("live events: listen", self._listen),
            supervise("live events: send", self._send),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            await stop(task)
        self._tasks = []

    def publish(self, user: str, kind: str, data: dict[str, Any]) -> None:
        """Queue the event for NOTIFY; never blocks the caller."""
        try:
            self._outbox.put_nowait((user, kind, data))
        except asyncio.QueueFull:
            self.local_only += 1
            log.warning("event outbox full: %s for %s delivered on this instance only", kind, user)
            self._hub.deliver(user, kind, data)

    async def _send(self) -> None:
        await self._reconnecting("sender", self._send_on, self._drain_locally)

    async def _send_on(self, connection: psycopg.AsyncConnection[Any]) -> None:
        while True:
            user, kind, data = await self._outbox.get()
            payload = json.dumps({"user": user, "kind": kind, "data": data}, ensure_ascii=False)
            if len(payload.encode()) > MAX_PAYLOAD:
                log.error("event %s for %s too large for NOTIFY: not sent", kind, user)
                continue
            try:
                await connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                self.sent += 1
            except psycopg.Error:
                self.local_only += 1
                self._hub.deliver(user, kind, data)  # at least this instance's pages
                raise

    async def _drain_locally(self, seconds: float) -> None:
        """While disconnected, hand queued events to this instance's pages for ``seconds``."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while (left := until - loop.time()) > 0:
            try:
                user, kind, data = await asyncio.wait_for(self._outbox.get(), left)
            except TimeoutError:
                return
            self.local_only += 1
            self._hub.deliver(user, kind, data)

    async def _listen(self) -> None:
        await self._reconnecting("listener", self._listen_on, asyncio.sleep)

    async def _listen_on(self, connection: psycopg.AsyncConnection[Any]) -> None:
        await connection.execute(f"LISTEN {CHANNEL}")
        self.listening.set()
        log.info("listening for live events on PostgreSQL")
        try:
            async for notice in connection.notifies():
                self._receive(notice.payload)
        finally:
            self.listening.clear()

    async def _reconnecting(
        self,
        role: str,
        work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]],
        meanwhile: Callable[[float], Awaitable[None]],
    ) -> None:
        """Run ``work`` on a fresh connection, again after each loss, with backoff."""
        attempt = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as connection:
                    attempt = 0
                    await work(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                attempt += 1
                log.warning("event %s lost PostgreSQL (%s); again in %.1f s", role, exc, delay)
                await meanwhile(delay)

    def _receive(self, payload: str) -> None:
        try:
            event = json.loads(payload)
            user, kind, data = event["user"], event["kind"], event["data"]
            if not isinstance(user, str) or not isinstance(kind, str) or not isinstance(data, dict):
                raise TypeError("user and kind must be strings, data an object")
        except (ValueError, KeyError, TypeError) as exc:
            self._faults.fault(
                "malformed", "ignored a malformed event on %s: %s (%.200r)", CHANNEL, exc, payload
            )
            return
        self.received += 1
        self._hub.deliver(user, kind, data)
