"""An asyncio AMI client for one Asterisk node: actions as futures keyed by ActionID, list
actions finished by ``EventList: Complete``, a deadline on every action, events dispatched by
name, and a reconnect loop that logs in again and tells subscribers it did.

On disconnect every pending action fails at once (:class:`AmiError`), never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import itertools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agi.ami_protocol import AmiParser, AmiProtocolError, Message, encode_action
from hotline.faults import FaultLog
from hotline.tasks import stop, supervise

log = logging.getLogger("hotline.ami")
EventHandler = Callable[[Message], Awaitable[None] | None]
# Events this client makes up itself (never asked of Asterisk), and a name no event has.
_LOCAL_EVENTS = frozenset({"HotlineAmiConnected", "HotlineAmiDisconnected"})
_NO_EVENT = "HotlineNoEvent"


class AmiError(Exception):
    """An action failed: error response, timeout or lost connection."""


@dataclass
class _Pending:
    future: asyncio.Future[list[Message]]
    is_list: bool
    items: list[Message] = field(default_factory=list)


class AmiClient:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        name: str = "",
        action_timeout: float = 10.0,
        events: str = "call,agent,user,system",
        filter_events: bool = False,
        keepalive: float | None = 2.0,
    ) -> None:
        """``filter_events``: after each login, ask Asterisk for the events this client
        has handlers for and no others (see :meth:`on`). ``keepalive``: seconds without an
        action after which a Ping is sent (see :meth:`_keep_alive`)."""
        self.host, self.port, self.name = host, port, name or f"{host}:{port}"
        self._username, self._secret, self._events = username, secret, events
        self._filter_events = filter_events
        self._filtered: set[str] = set()  # names the current session asked for
        self._filtering: set[asyncio.Task[None]] = set()
        self.events_received = 0  # events Asterisk sent unasked (not action replies)
        self._timeout = action_timeout
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._handlers: dict[str, list[EventHandler]] = defaultdict(list)
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        # When the connection was last lost (or this client made): None while connected.
        self.down_since: dt.datetime | None = dt.datetime.now(dt.UTC)
        self._faults = FaultLog(log)
        self._keepalive = keepalive
        self._keepalive_task: asyncio.Task[None] | None = None
        self._last_sent = 0.0  # loop time of the last action written
        self._leaving = False  # we are closing the connection: its end is no news

    # --- events -------------------------------------------------------------------------
    def on(self, event: str, handler: EventHandler) -> None:
        """Call ``handler`` for each event named ``event`` (``*`` = every event). With
        ``filter_events``, a name added while logged in is asked for at once; ``*`` only
        takes effect from the next login."""
        self._handlers[event].append(handler)
        new = event != "*" and event not in self._filtered and event not in _LOCAL_EVENTS
        if new and self._filtered and self.connected.is_set():  # a filtered session
            task = asyncio.ensure_future(self._ask_for_late(event))
            self._filtering.add(task)
            task.add_done_callback(self._filtering.discard)

    async def _dispatch(self, message: Message) -> None:
        for handler in (*self._handlers.get(message.event, ()), *self._handlers.get("*", ())):
            try:
                result = handler(message)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self._faults.fault(
                    f"handler {message.event}",
                    "[%s] handler for %s failed",
                    self.name,
                    message.event,
                    exc_info=True,
                )

    # --- connection ---------------------------------------------------------------------
    async def connect(self) -> None:
        """Connect and log in once; raise :class:`AmiError` on failure."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self._timeout
            )
        except (OSError, TimeoutError) as exc:
            raise AmiError(f"[{self.name}] cannot connect: {exc}") from exc
        self._writer, self._leaving = writer, False
        self._reader_task = asyncio.create_task(self._read(reader, writer))
        try:
            await self.action(
                "Login", Username=self._username, Secret=self._secret, Events=self._events
            )
        except AmiError:
            await self._disconnect()
            raise
        self._filtered = set()
        if self._filter_events and "*" not in self._handlers:
            # Asterisk's name filters (21+): a busy PBX sends dozens of events per call,
            # each written, read and parsed; the tracker needs four or five of them.
            names = {name for name in self._handlers if name not in _LOCAL_EVENTS}
            refused = await self._ask_for(names)
            if refused and self._filtered:  # some names would never arrive: log in again
                await self._disconnect()
                raise AmiError(f"[{self.name}] AMI filters refused for {sorted(refused)}")
            if refused:
                log.warning("[%s] AMI filters refused: receiving every event", self.name)
        self.connected.set()
        self.down_since = None
        if self._keepalive:
            self._keepalive_task = asyncio.create_task(self._keep_alive(self._keepalive))
        await self._dispatch(Message((("Event", "HotlineAmiConnected"),)))
        log.info("[%s] AMI logged in", self.name)

    async def _keep_alive(self, interval: float) -> None:
        """A Ping after ``interval`` seconds without an action, while connected.

        It wakes Asterisk's thread for this session, which has been reported to hold an
        event it has queued until something else wakes it (asterisk/asterisk#2145, "events
        delivered seconds to minutes late"); with ``hotline serve``'s queue polls every
        second the session is never idle that long, but a client that only listens is. And
        it finds a connection that died without a word (a host gone, a half-open TCP
        connection): no answer in time, and the connection is dropped, so that
        ``run_forever`` makes a new one instead of waiting for events that never come."""
        loop = asyncio.get_running_loop()
        while True:
            idle = loop.time() - self._last_sent
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            try:
                await self.action("Ping")
            except AmiError as exc:
                log.warning("[%s] no answer to a keepalive Ping (%s): reconnecting", self.name, exc)
                self._leave()
                return

    def _leave(self) -> None:
        """Close the connection from our side (the reader then ends it)."""
        self._leaving = True
        if self._writer is not None:
            self._writer.close()

    async def _ask_for(self, names: set[str]) -> set[str]:
        """Add an include filter per event name to this session (with no names, one that
        matches no event: once there is an include filter, every other event is dropped).
        Returns the names Asterisk refused."""
        refused = set()
        for name in sorted(names) or [_NO_EVENT]:
            try:
                await self.action("Filter", Operation="Add", MatchCriteria=f"name({name})")
            except AmiError as exc:
                log.warning("[%s] could not ask for %s events: %s", self.name, name, exc)
                refused.add(name)
                continue
            self._filtered.add(name)
        return refused

    async def _ask_for_late(self, name: str) -> None:
        """A handler added while logged in: its events are asked for now, or, if that
        fails, at a new login (the connection is dropped; the supervisor logs in again)."""
        if await self._ask_for({name}):
            self._leave()

    def run_forever(self, retry: float = 1.0, max_retry: float = 30.0) -> asyncio.Task[None]:
        """Keep a connection up in the background, reconnecting with backoff (a supervised
        task: should the loop itself ever die, it is logged and started again)."""
        self._supervisor = supervise(
            f"AMI {self.name}", lambda: self._keep_connected(retry, max_retry)
        )
        return self._supervisor

    async def _keep_connected(self, retry: float, max_retry: float) -> None:
        delay = retry
        while True:
            try:
                await self.connect()
                delay = retry
                assert self._reader_task is not None
                await asyncio.shield(self._reader_task)
            except AmiError as exc:
                log.warning("%s; retrying in %.0f s", exc, delay)
            except Exception as exc:  # a peer that breaks what connect() expects
                self._faults.fault(
                    "connect", "[%s] AMI session failed: %r", self.name, exc, exc_info=True
                )
                await self._disconnect()
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_retry)

    async def close(self) -> None:
        """Stop reconnecting and drop the connection; pending actions fail. Never raises."""
        await stop(self._supervisor)
        self._supervisor = None
        await self._disconnect()

    async def _disconnect(self) -> None:
        await stop(self._keepalive_task)
        self._keepalive_task = None
        if self._writer is not None:
            self._leave()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        await stop(self._reader_task)  # what it died of, if it did, was logged by now
        self._fail_pending("connection closed")

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = AmiParser()
        try:
            while data := await reader.read(65536):
                for message in parser.feed(data):
                    await self._route(message)
            if not self._leaving:  # Asterisk stopped, or it closed this session
                log.warning("[%s] AMI connection closed by Asterisk", self.name)
        except (OSError, AmiProtocolError) as exc:  # OSError: resets, timeouts, ...
            log.warning("[%s] AMI connection lost: %s", self.name, exc)
        finally:
            if self.connected.is_set():
                self.down_since = dt.datetime.now(dt.UTC)
            self.connected.clear()
            if self._keepalive_task is not None:
                self._keepalive_task.cancel()
            writer.close()
            self._fail_pending("connection lost")
            await self._dispatch(Message((("Event", "HotlineAmiDisconnected"),)))

    async def _route(self, message: Message) -> None:
        pending = self._pending.get(message.action_id) if message.action_id else None
        if pending is not None and not pending.future.done():
            if message.is_response:
                if message.get("Response") == "Error":
                    del self._pending[message.action_id]
                    pending.future.set_exception(AmiError(message.get("Message") or "error"))
                    return
                pending.items.append(message)
                if not pending.is_list or message.get("EventList").lower() != "start":
                    del self._pending[message.action_id]
                    pending.future.set_result(pending.items)
                return
            if pending.is_list:
                pending.items.append(message)
                if message.get("EventList").lower() == "complete":
                    del self._pending[message.action_id]
                    pending.future.set_result(pending.items)
                return
        if message.event:
            self.events_received += 1
            await self._dispatch(message)

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for item in pending.values():
            if not item.future.done():
                item.future.set_exception(AmiError(f"[{self.name}] {reason}"))

    # --- actions ------------------------------------------------------------------------
    async def action(
        self, name: str, *, timeout: float | None = None, **fields: str | list[str]
    ) -> Message:
        """Send an action; its response (raises :class:`AmiError` on Error)."""
        return (await self._send(name, False, timeout, fields))[0]

    async def list_action(
        self, name: str, *, timeout: float | None = None, **fields: str | list[str]
    ) -> list[Message]:
        """Send a list action (QueueStatus, ...): the response, then every list event up to
        and including the ``...Complete`` one."""
        return await self._send(name, True, timeout, fields)

    async def command(self, command: str) -> list[str]:
        """Run a CLI command; its output lines."""
        return (await self.action("Command", Command=command)).get_all("Output")

    async def _send(
        self, name: str, is_list: bool, timeout: float | None, fields: dict[str, str | list[str]]
    ) -> list[Message]:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise AmiError(f"[{self.name}] not connected")
        action_id = f"hotline-{next(self._ids)}"
        future: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(future, is_list)
        try:
            writer.write(encode_action(name, action_id, fields))
            self._last_sent = asyncio.get_running_loop().time()
            async with asyncio.timeout(timeout or self._timeout):
                await writer.drain()
                return await future
        except TimeoutError as exc:
            raise AmiError(f"[{self.name}] {name} timed out") from exc
        except ConnectionError as exc:
            raise AmiError(f"[{self.name}] {name}: {exc}") from exc
        finally:
            self._pending.pop(action_id, None)
