"""The AudioSocket server against a scripted peer over real TCP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from agi.audiosocket import (
    KIND_AUDIO,
    KIND_DTMF,
    KIND_ERROR,
    KIND_HANGUP,
    KIND_ID,
    AudioSocketServer,
    ProtocolError,
    encode,
    read_frame,
)


def reader_of(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_frames_round_trip_and_a_cut_frame_is_an_error() -> None:
    async def main() -> None:
        reader = reader_of(encode(KIND_AUDIO, b"\x01\x02" * 160) + encode(KIND_HANGUP))
        first = await read_frame(reader)
        assert first is not None and (first.kind, len(first.payload)) == (KIND_AUDIO, 320)
        second = await read_frame(reader)
        assert second is not None and second.kind == KIND_HANGUP
        assert await read_frame(reader) is None
        with pytest.raises(ProtocolError, match="inside a frame"):
            await read_frame(reader_of(b"\x10\x01"))
        with pytest.raises(ValueError):
            encode(KIND_AUDIO, bytes(70_000))

    asyncio.run(main())


async def serving() -> tuple[AudioSocketServer, int]:
    server = AudioSocketServer()
    _, port = await server.start("127.0.0.1", 0)
    return server, port


def test_a_stream_reaches_its_consumer_and_is_ended_by_it() -> None:
    async def main() -> None:
        server, port = await serving()
        stream = server.expect()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(encode(KIND_ID, stream.id.bytes))
        writer.write(encode(KIND_AUDIO, bytes(320)) + encode(KIND_DTMF, b"5"))
        await writer.drain()
        assert await asyncio.wait_for(stream.events.get(), 2) == ("audio", bytes(320))
        assert await asyncio.wait_for(stream.events.get(), 2) == ("dtmf", b"5")
        stream.finish()
        kinds = []
        while (frame := await asyncio.wait_for(read_frame(reader), 2)) is not None:
            kinds.append(frame.kind)
        assert kinds[-1] == KIND_HANGUP  # then the socket closes: AudioSocket() returns
        assert set(kinds[:-1]) <= {KIND_AUDIO}  # silence that keeps Asterisk from timing out
        assert await asyncio.wait_for(stream.events.get(), 2) == ("end", b"")
        writer.close()
        await server.stop()

    asyncio.run(main())


def test_the_peer_hanging_up_ends_the_stream() -> None:
    async def main() -> None:
        server, port = await serving()
        stream = server.expect()
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(encode(KIND_ID, stream.id.bytes) + encode(KIND_ERROR, b"\x02"))
        await writer.drain()
        assert await asyncio.wait_for(stream.events.get(), 2) == ("end", b"")
        writer.close()
        await server.stop()

    asyncio.run(main())


def test_bad_peers_are_logged_and_refused(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        server, port = await serving()
        # Unknown stream ids: told to hang up; twenty of them are one log line.
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(encode(KIND_ID, uuid.uuid4().bytes))
            frame = await asyncio.wait_for(read_frame(reader), 2)
            assert frame is not None and frame.kind == KIND_HANGUP
            writer.close()
        # Audio before the id, and half a header then gone: logged, nothing breaks.
        for data in (encode(KIND_AUDIO, bytes(4)), b"\x01\x00"):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            await writer.drain()
            writer.close()
        await asyncio.sleep(0.2)
        assert server.refused == 20
        await server.stop()

    with caplog.at_level(logging.WARNING, "hotline.audiosocket"):
        asyncio.run(main())
    text = caplog.text
    assert "unknown stream" in text and "not a 16-byte id" in text and "inside a frame" in text
    assert text.count("unknown stream") == 1
