"""Asterisk's AudioSocket protocol: the caller's audio over TCP, without a process per call.

``AudioSocket(UUID,HOST:PORT)`` in the dialplan (the IVR runs it through AGI) connects here
and sends frames of a 3-byte header (kind; payload length, 2 bytes big-endian) and a payload:

====  =========================================================
0x00  hangup (either side; closing the socket does the same)
0x01  the stream's UUID (16 bytes), always the first frame
0x03  a DTMF digit (1 ASCII byte)
0x10  audio: signed 16-bit linear, 8 kHz, mono, little-endian
0xff  error (1 byte code)
====  =========================================================

The IVR announces a stream with :meth:`AudioSocketServer.expect` before it starts the
application; the connection carrying that UUID is handed to the stream's consumer. When the
consumer is done it calls :meth:`AudioStream.finish`: the server sends a hangup frame and
closes, and Asterisk 22's AudioSocket() returns to the dialplan, the call going on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Literal

from agi.server import LISTEN_BACKLOG
from hotline.faults import FaultLog

log = logging.getLogger("hotline.audiosocket")

KIND_HANGUP, KIND_ID, KIND_DTMF, KIND_AUDIO, KIND_ERROR = 0x00, 0x01, 0x03, 0x10, 0xFF
FIRST_FRAME_TIMEOUT = 5.0
# Asterisk ends AudioSocket() after 2 s without a frame from us: send 20 ms of silence (which
# the caller hears as nothing) this often while we listen.
KEEPALIVE_SECONDS = 0.5
SILENCE = bytes(320)
_NUMBERS = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+")  # stream ids, sizes, kinds


class ProtocolError(ValueError):
    """The peer broke the protocol; the connection is closed with a log line."""


@dataclass(frozen=True)
class Frame:
    kind: int
    payload: bytes


def encode(kind: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError("an AudioSocket payload holds at most 65535 bytes")
    return bytes((kind,)) + len(payload).to_bytes(2, "big") + payload


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """The next frame, or None at a clean end of stream (between frames)."""
    header = await reader.read(1)
    if not header:
        return None
    try:
        rest = await reader.readexactly(2)
        payload = await reader.readexactly(int.from_bytes(rest, "big"))
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError(f"stream ended inside a frame ({len(exc.partial)} bytes)") from exc
    return Frame(header[0], payload)


Event = tuple[Literal["audio", "dtmf", "end"], bytes]


class AudioStream:
    """One expected stream: its consumer reads ``events`` (audio chunks, DTMF digits, and
    one final ``end``) and calls ``finish`` when it has heard enough."""

    def __init__(self, stream_id: uuid.UUID) -> None:
        self.id = stream_id
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.finished = asyncio.Event()

    def finish(self) -> None:
        self.finished.set()


class AudioSocketServer:
    def __init__(self) -> None:
        self._expected: dict[uuid.UUID, AudioStream] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._faults = FaultLog(log)
        self.refused = 0

    def expect(self) -> AudioStream:
        """A new stream; pass ``str(stream.id)`` to AudioSocket(), then read its events."""
        stream = AudioStream(uuid.uuid4())
        self._expected[stream.id] = stream
        return stream

    def forget(self, stream: AudioStream) -> None:
        """Stop waiting for a stream that never connected (the call went elsewhere)."""
        self._expected.pop(stream.id, None)
        stream.finish()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accept, host, port, backlog=LISTEN_BACKLOG)
        address = self._server.sockets[0].getsockname()
        log.info("AudioSocket listening on %s:%s", address[0], address[1])
        return address[0], address[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        peer = writer.get_extra_info("peername")
        try:
            await self._serve(reader, writer)
        except (ProtocolError, ConnectionError, TimeoutError) as exc:
            kind = _NUMBERS.sub("#", str(exc))  # "unknown stream #: refused"
            self._faults.fault(kind, "AudioSocket peer %s: %s", peer, exc or "timeout")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            if task is not None:
                self._connections.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await asyncio.wait_for(read_frame(reader), FIRST_FRAME_TIMEOUT)
        if first is None:
            raise ProtocolError("closed before naming its stream")
        if first.kind != KIND_ID or len(first.payload) != 16:
            raise ProtocolError(f"first frame is kind {first.kind:#04x}, not a 16-byte id")
        stream = self._expected.pop(uuid.UUID(bytes=first.payload), None)
        if stream is None:
            self.refused += 1
            writer.write(encode(KIND_HANGUP))
            raise ProtocolError(f"unknown stream {uuid.UUID(bytes=first.payload)}: refused")
        stream.connected.set()
        reading = asyncio.create_task(self._pump(reader, stream))
        done = asyncio.create_task(stream.finished.wait())
        alive = asyncio.create_task(self._keep_alive(writer))
        try:
            await asyncio.wait({reading, done, alive}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reading, done, alive):
                task.cancel()
            await asyncio.gather(reading, done, alive, return_exceptions=True)
            stream.events.put_nowait(("end", b""))
        if stream.finished.is_set():
            writer.write(encode(KIND_HANGUP))  # AudioSocket() returns; the call goes on
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    @staticmethod
    async def _keep_alive(writer: asyncio.StreamWriter) -> None:
        while True:
            writer.write(encode(KIND_AUDIO, SILENCE))
            await writer.drain()
            await asyncio.sleep(KEEPALIVE_SECONDS)

    async def _pump(self, reader: asyncio.StreamReader, stream: AudioStream) -> None:
        while (frame := await read_frame(reader)) is not None:
            if frame.kind == KIND_AUDIO:
                stream.events.put_nowait(("audio", frame.payload))
            elif frame.kind == KIND_DTMF:
                stream.events.put_nowait(("dtmf", frame.payload[:1]))
            elif frame.kind == KIND_HANGUP:
                return
            elif frame.kind == KIND_ERROR:
                code = frame.payload[0] if frame.payload else 0
                log.warning("AudioSocket stream %s: Asterisk reports error %#04x", stream.id, code)
                return
            else:  # once, not once a frame (fifty a second)
                self._faults.fault(
                    f"kind {frame.kind}",
                    "AudioSocket stream %s: frame kind %#04x ignored",
                    stream.id,
                    frame.kind,
                )
