"""The asyncio FastAGI server: one task per call, each command under a deadline.

A call ends normally when the caller hangs up (``HANGUP`` line, ``511`` replies) or when the
handler returns. At capacity a new call is closed at once: with no target set, the
dialplan's fallback takes the caller to the city queue. Connections that have not sent
their whole header yet do not count as calls (:class:`FastAgiServer`). Calls are owned
tasks: ``stop()`` stops accepting, waits for running calls up to a grace period, then
cancels the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Final

from agi.protocol import (
    NEED_DATA,
    AgiConnection,
    Closed,
    Env,
    Hangup,
    ProtocolError,
    Reply,
    encode_command,
)
from hotline.faults import FaultLog

log = logging.getLogger("hotline.agi")

# Asterisk writes the whole AGI environment as soon as it has connected (within the same
# millisecond in every transcript and benchmark run); a peer still short of it after this
# long is not Asterisk.
HEADER_TIMEOUT: Final = 2.0
# Connections that may wait for their header at once (see FastAgiServer).
MAX_WAITING: Final = 1024
COMMAND_TIMEOUT: Final = 10.0
READ_SIZE: Final = 65536
HANGUP_WAIT: Final = 0.25  # seconds to wait for a HANGUP line after a -1 reply
# Connections the kernel may hold for us before we accept them. asyncio's default, 100,
# overflowed in a burst of 200 calls at once (bench/asterisk_burst.py): each dropped SYN
# cost that caller a second (TCP's first retransmission) in silence, and Asterisk gives up
# on the AGI after 2 s. The kernel caps it at net.core.somaxconn (4096 on Debian 12).
LISTEN_BACKLOG: Final = 1024
DRAIN_ABOVE: Final = 65536


class CallLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with the call's Asterisk uniqueid."""

    def process(self, msg: object, kwargs: Any) -> tuple[object, Any]:
        return f"[{self.extra['call'] if self.extra else '-'}] {msg}", kwargs


class CallEnded(Exception):
    """The caller hung up or Asterisk went away: stop talking to this channel."""


class AgiCommandError(Exception):
    """Asterisk rejected a command (510 unknown, 520 usage); a bug on our side."""

    def __init__(self, reply: Reply, command: bytes) -> None:
        super().__init__(f"{reply.code} for {command!r}: {reply.data or ''}")
        self.reply = reply


class AgiSession:
    """One call's FastAGI conversation. ``command()`` sends one command and reads its reply."""

    def __init__(
        self,
        env: Env,
        connection: AgiConnection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self.env = env
        self.hung_up = False
        self.log = CallLog(log, {"call": env.uniqueid})
        self._connection = connection
        self._reader = reader
        self._writer = writer
        self._command_timeout = command_timeout

    async def command(self, *words: str, timeout: float | None = None) -> Reply:
        """Send a command; its reply, or :class:`CallEnded` when the channel is gone.

        ``timeout`` bounds the wait for the reply (media commands pass their own length plus
        a margin). A ``HANGUP`` line seen while waiting is remembered, not returned.
        """
        data = encode_command(*words)
        if self._connection.closed:
            raise CallEnded("connection closed")
        self._writer.write(data)
        try:
            async with asyncio.timeout(timeout or self._command_timeout):
                if self._writer.transport.get_write_buffer_size() > DRAIN_ABOVE:
                    await self._writer.drain()  # only a slow peer makes us wait here
                reply = await self._read_reply()
        except TimeoutError as exc:
            raise CallEnded(f"no reply to {data!r} in time") from exc
        except (ConnectionError, ProtocolError) as exc:
            raise CallEnded(str(exc)) from exc
        if reply.code == 511:
            self.hung_up = True
            raise CallEnded("channel is dead (511)")
        if reply.code in (510, 520):
            raise AgiCommandError(reply, data)
        return reply

    async def _read_reply(self) -> Reply:
        while True:
            event = self._connection.next_event()
            if event is NEED_DATA:
                self._connection.receive_data(await self._reader.read(READ_SIZE))
                continue
            if isinstance(event, Hangup):
                self._hung_up()
                continue
            if isinstance(event, Closed):
                raise CallEnded("connection closed by Asterisk")
            if isinstance(event, Reply):
                if self._connection.hangup_pending():
                    self._hung_up()
                return event
            raise ProtocolError(f"unexpected event {event!r}")

    def _hung_up(self) -> None:
        if not self.hung_up:
            self.hung_up = True
            self.log.info("caller hung up")

    async def gone(self, wait: float = HANGUP_WAIT) -> bool:
        """After a ``-1`` reply: has the caller hung up? A ``HANGUP`` line already read (or
        in the same write as the reply) says so at once; otherwise it may follow within a
        millisecond, so wait up to ``wait`` seconds for one. ``False``: the channel is
        alive and the ``-1`` meant something else (a missing sound file)."""
        if self.hung_up:
            return True
        try:
            async with asyncio.timeout(wait):
                while not self.hung_up:
                    event = self._connection.next_event()
                    if event is NEED_DATA:
                        self._connection.receive_data(await self._reader.read(READ_SIZE))
                    elif isinstance(event, Hangup):
                        self._hung_up()
                    elif isinstance(event, Closed):
                        self.hung_up = True
                    else:
                        raise ProtocolError(f"unexpected event {event!r} with no command sent")
        except TimeoutError:
            pass
        return self.hung_up


Handler = Callable[[AgiSession], Awaitable[None]]


class FastAgiServer:
    """``max_calls`` bounds the calls in the IVR; a connection takes a call slot only once
    its whole AGI environment has arrived. Until then it is one of at most ``max_waiting``
    connections waiting for their header, each for at most ``header_timeout`` seconds: a
    peer that connects and sends nothing, or half a header, costs a waiting place for a
    short while and never a call slot. When every waiting place is taken, a newcomer takes
    the place of the oldest waiting connection from the address that holds the most (a
    real Asterisk sends its header within a millisecond of connecting, so what has waited
    longest is what will never finish; one flooding address cannot push out the others).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        max_calls: int = 1000,
        max_waiting: int = MAX_WAITING,
        header_timeout: float = HEADER_TIMEOUT,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self._handler = handler
        self._max_calls = max_calls
        self._max_waiting = max_waiting
        self._header_timeout = header_timeout
        self._command_timeout = command_timeout
        self._calls: set[asyncio.Task[None]] = set()
        # Connections still sending their header, oldest first, by the peer's address.
        self._waiting: dict[asyncio.StreamWriter, str] = {}
        self._waiting_from: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._faults = FaultLog(log)
        self.rejected = 0  # calls refused at capacity
        self.dropped = 0  # connections closed before their header was whole

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def waiting(self) -> int:
        """Connections whose AGI environment has not all arrived yet."""
        return len(self._waiting)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(
            self._accept, host, port, limit=READ_SIZE, backlog=LISTEN_BACKLOG
        )
        address = self._server.sockets[0].getsockname()
        log.info("FastAGI listening on %s:%s", address[0], address[1])
        return address[0], address[1]

    async def stop(self, grace: float = 5.0) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._waiting):
                writer.close()  # no call yet: nothing to wait for
            await self._server.wait_closed()
        if self._calls:
            _, pending = await asyncio.wait(set(self._calls), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            env = await self._header(reader, writer)
            if env is None:
                return
            if len(self._calls) >= self._max_calls:
                self.rejected += 1
                self._faults.fault(
                    "capacity",
                    "at capacity (%d calls): closing so the dialplan falls back",
                    len(self._calls),
                )
                return
            self._faults.ok("capacity", "taking calls again")
            task = asyncio.current_task()
            assert task is not None
            self._calls.add(task)
            try:
                await self._serve(env, reader, writer)
            finally:
                self._calls.discard(task)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _header(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[Env, AgiConnection] | None:
        """The connection's AGI environment, or None (closed, timed out, not AGI, or its
        waiting place given to a newcomer)."""
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else "-"
        if len(self._waiting) >= self._max_waiting:
            self._make_room()
        self._waiting[writer] = address
        self._waiting_from[address] += 1
        connection = AgiConnection()
        try:
            async with asyncio.timeout(self._header_timeout):
                env = await _read_env(connection, reader)
        except TimeoutError:
            self._drop("timeout", address, f"no whole header in {self._header_timeout:g} s")
            return None
        except ProtocolError as exc:
            self._drop("protocol", address, str(exc))
            return None
        except OSError as exc:
            self._drop("socket", address, str(exc) or type(exc).__name__)
            return None
        finally:
            self._forget(writer)
        if env is None:
            self.dropped += 1
            log.debug("FastAGI peer %s closed before sending its environment", address)
            return None
        return env, connection

    def _drop(self, kind: str, address: str, why: str) -> None:
        self.dropped += 1
        self._faults.fault(
            f"header {kind}",
            "dropping FastAGI connections without a whole AGI header (%s), e.g. from %s: %s",
            kind,
            address,
            why,
        )

    def _make_room(self) -> None:
        """Close the oldest waiting connection of the address with the most waiting."""
        crowded = self._waiting_from.most_common(1)[0][0]
        oldest = next(w for w, address in self._waiting.items() if address == crowded)
        self._faults.fault(
            "full",
            "%d FastAGI connections waiting for their header: closing the oldest from %s",
            len(self._waiting),
            crowded,
        )
        self._forget(oldest)  # now: the next newcomer must not pick it again
        oldest.transport.abort()  # its reader sees the end at once

    def _forget(self, writer: asyncio.StreamWriter) -> None:
        address = self._waiting.pop(writer, None)
        if address is not None:
            self._waiting_from[address] -= 1
            if not self._waiting_from[address]:
                del self._waiting_from[address]

    async def _serve(
        self,
        call: tuple[Env, AgiConnection],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        env, connection = call
        session = AgiSession(env, connection, reader, writer, self._command_timeout)
        # One INFO line per call is the handler's (its outcome); a burst pays for each line.
        session.log.debug(
            "call from %s to %s via %s", env.get("callerid"), env.get("dnid"), env.script
        )
        try:
            await self._handler(session)
        except CallEnded as exc:
            session.log.info("call from %s ended: %s", env.get("callerid"), exc)
        except asyncio.CancelledError:
            session.log.warning("call cancelled (server stopping)")
            raise
        except Exception:
            session.log.exception("IVR failed; the dialplan's fallback takes the call")
        else:
            session.log.debug("IVR finished")


def raise_open_files_limit() -> int:
    """Let this process open as many files as its hard limit allows, and return the new
    soft limit. Every call holds a socket, and so does every connection still sending its
    header: a thousand calls and as many waiting connections do not fit under systemd's
    default soft limit of 1,024 (past it, accept() fails and callers wait in silence while
    Asterisk gives up). Go's runtime does the same at start-up."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError):
        return soft
    return wanted


async def _read_env(connection: AgiConnection, reader: asyncio.StreamReader) -> Env | None:
    while True:
        event = connection.next_event()
        if event is NEED_DATA:
            connection.receive_data(await reader.read(READ_SIZE))
            continue
        if isinstance(event, Env):
            return event
        if isinstance(event, Closed):
            return None
        raise ProtocolError(f"expected the AGI environment, got {event!r}")
