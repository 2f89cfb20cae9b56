"""The asyncio FastAGI server: one task per call, each command under a deadline.

A call ends normally when the caller hangs up (``HANGUP`` line, ``511`` replies) or when the
handler returns. At capacity a new connection is closed at once: with no target set, the
dialplan's fallback takes the caller to the city queue. Calls are owned tasks: ``stop()``
stops accepting, waits for running calls up to a grace period, then cancels the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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

log = logging.getLogger("hotline.agi")

HEADER_TIMEOUT: Final = 5.0
COMMAND_TIMEOUT: Final = 10.0
READ_SIZE: Final = 65536
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
                self.hung_up = True
                self.log.info("caller hung up")
                continue
            if isinstance(event, Closed):
                raise CallEnded("connection closed by Asterisk")
            if isinstance(event, Reply):
                return event
            raise ProtocolError(f"unexpected event {event!r}")


Handler = Callable[[AgiSession], Awaitable[None]]


class FastAgiServer:
    def __init__(
        self,
        handler: Handler,
        *,
        max_calls: int = 1000,
        header_timeout: float = HEADER_TIMEOUT,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self._handler = handler
        self._max_calls = max_calls
        self._header_timeout = header_timeout
        self._command_timeout = command_timeout
        self._calls: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.rejected = 0

    @property
    def active_calls(self) -> int:
        return len(self._calls)

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
            await self._server.wait_closed()
        if self._calls:
            _, pending = await asyncio.wait(set(self._calls), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._calls) >= self._max_calls:
            self.rejected += 1
            log.warning(
                "at capacity (%d calls): closing so the dialplan falls back", len(self._calls)
            )
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return
        task = asyncio.current_task()
        assert task is not None
        self._calls.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._calls.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = AgiConnection()
        peer = writer.get_extra_info("peername")
        try:
            async with asyncio.timeout(self._header_timeout):
                env = await _read_env(connection, reader)
        except (TimeoutError, ProtocolError, ConnectionError) as exc:
            log.warning("dropping FastAGI connection from %s: %s", peer, exc or "header timeout")
            return
        if env is None:
            log.info("FastAGI peer %s closed before sending its environment", peer)
            return
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
