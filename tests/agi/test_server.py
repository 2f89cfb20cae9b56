"""The asyncio FastAGI server against a scripted Asterisk peer on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable

import pytest

from agi.audiosocket import AudioSocketServer
from agi.server import AgiSession, CallEnded, FastAgiServer

ENV = "agi_network: yes\nagi_network_script: ivr\nagi_uniqueid: {uid}\nagi_callerid: 5551234\n\n"
Script = list[tuple[bytes, bytes]]  # (expected command, reply bytes)


async def asterisk(port: int, uid: str, script: Script) -> list[bytes]:
    """Play Asterisk: send the environment, answer each expected command, return what came."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ENV.format(uid=uid).encode())
    received = []
    for expected, reply in script:
        line = await asyncio.wait_for(reader.readline(), 5)
        received.append(line)
        assert line == expected, (line, expected)
        writer.write(reply)
        await writer.drain()
    rest = await asyncio.wait_for(reader.read(), 5)  # the server closes when the call ends
    await close(writer)
    return [*received, rest]


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


def serve(
    handler: Callable[[AgiSession], Awaitable[None]],
    test: Callable[[FastAgiServer, int], Awaitable[None]],
    **kwargs: float,
) -> None:
    async def main() -> None:
        server = FastAgiServer(handler, **kwargs)  # type: ignore[arg-type]
        _, port = await server.start("127.0.0.1", 0)
        try:
            await test(server, port)
        finally:
            await server.stop(grace=1)

    asyncio.run(main())


def test_conversation() -> None:
    seen: dict[str, object] = {}

    async def handler(session: AgiSession) -> None:
        await session.command("ANSWER")
        reply = await session.command("GET VARIABLE", "CALLERID(num)")
        seen["caller"] = reply.data
        digits = await session.command("GET DATA", "beep", "3000", "4", timeout=5)
        seen["digits"] = digits.result
        await session.command("SET VARIABLE", "HOTLINE_QUEUE", "district-110101")

    async def test(server: FastAgiServer, port: int) -> None:
        received = await asterisk(
            port,
            "c1",
            [
                (b"ANSWER\n", b"200 result=0\n"),
                (b"GET VARIABLE CALLERID(num)\n", b"200 result=1 (5551234)\n"),
                (b"GET DATA beep 3000 4\n", b"200 result= (timeout)\n"),
                (b"SET VARIABLE HOTLINE_QUEUE district-110101\n", b"200 result=1\n"),
            ],
        )
        assert received[-1] == b""  # closed after the handler returned

    serve(handler, test)
    assert seen == {"caller": "5551234", "digits": ""}


def test_hangup_line_then_511_ends_the_call() -> None:
    outcome: dict[str, object] = {}

    async def handler(session: AgiSession) -> None:
        await session.command("WAIT FOR DIGIT", "10000", timeout=12)
        try:
            await session.command("STREAM FILE", "beep", "")
        except CallEnded:
            outcome["ended"] = session.hung_up
            raise

    async def test(server: FastAgiServer, port: int) -> None:
        await asterisk(
            port,
            "c2",
            [
                (b"WAIT FOR DIGIT 10000\n", b"200 result=-1\n"),
                (
                    b'STREAM FILE beep ""\n',
                    b"HANGUP\n511 Command Not Permitted on a dead channel\n",
                ),
            ],
        )

    serve(handler, test)
    assert outcome == {"ended": True}


def test_half_header_peer_does_not_stop_the_server() -> None:
    calls: list[str] = []

    async def handler(session: AgiSession) -> None:
        calls.append(session.env.uniqueid)
        await session.command("NOOP")

    async def test(server: FastAgiServer, port: int) -> None:
        # One peer sends half a header and closes; another sends half and stays silent.
        _, w1 = await asyncio.open_connection("127.0.0.1", port)
        w1.write(b"agi_network: yes\nagi_chan")
        await w1.drain()
        await close(w1)
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        w2.write(b"agi_network: yes\n")
        await w2.drain()
        await asterisk(port, "after", [(b"NOOP\n", b"200 result=0\n")])
        assert await asyncio.wait_for(r2.read(), 3) == b""  # dropped at the header timeout
        await close(w2)
        assert server.active_calls == 0

    serve(handler, test, header_timeout=0.3)
    assert calls == ["after"]


def test_command_timeout_ends_the_call() -> None:
    outcome: list[str] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.command("NOOP", timeout=0.2)
        except CallEnded as exc:
            outcome.append(str(exc))
            raise

    async def test(server: FastAgiServer, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(ENV.format(uid="slow").encode())
        assert await reader.readline() == b"NOOP\n"
        assert await asyncio.wait_for(reader.read(), 3) == b""  # never answered: closed
        await close(writer)

    serve(handler, test)
    assert outcome and "no reply" in outcome[0]


def test_many_calls_at_once() -> None:
    async def handler(session: AgiSession) -> None:
        await session.command("ANSWER")
        await session.command("SET VARIABLE", "X", session.env.uniqueid)

    async def test(server: FastAgiServer, port: int) -> None:
        results = await asyncio.gather(
            *(
                asterisk(
                    port,
                    f"c{n}",
                    [
                        (b"ANSWER\n", b"200 result=0\n"),
                        (f"SET VARIABLE X c{n}\n".encode(), b"200 result=1\n"),
                    ],
                )
                for n in range(100)
            )
        )
        assert len(results) == 100

    serve(handler, test)


def test_at_capacity_closes_at_once() -> None:
    release = asyncio.Event()

    async def handler(session: AgiSession) -> None:
        await release.wait()

    async def test(server: FastAgiServer, port: int) -> None:
        _, w1 = await asyncio.open_connection("127.0.0.1", port)
        w1.write(ENV.format(uid="busy").encode())
        await w1.drain()
        await asyncio.sleep(0.1)
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        w2.write(ENV.format(uid="over").encode())
        # Closed with our header unread, a reset is as final for Asterisk as an EOF.
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(r2.read(), 3) == b""
        assert server.rejected == 1
        release.set()
        await close(w1)
        await close(w2)

    serve(handler, test, max_calls=1)


def test_handler_exception_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(session: AgiSession) -> None:
        raise RuntimeError("boom")

    async def test(server: FastAgiServer, port: int) -> None:
        assert (await asterisk(port, "x", []))[-1] == b""

    serve(handler, test)
    assert "IVR failed" in caplog.text


def test_stop_cancels_stuck_calls() -> None:
    cancelled: list[bool] = []

    async def handler(session: AgiSession) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        server = FastAgiServer(handler)
        _, port = await server.start("127.0.0.1", 0)
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(ENV.format(uid="stuck").encode())
        await writer.drain()
        await asyncio.sleep(0.1)
        assert server.active_calls == 1
        await server.stop(grace=0.2)
        assert server.active_calls == 0
        await close(writer)

    asyncio.run(main())
    assert cancelled == [True]


async def _idle(session: AgiSession) -> None:
    return None


@pytest.mark.parametrize(
    "make_server",
    [lambda: FastAgiServer(_idle), AudioSocketServer],
    ids=["fastagi", "audiosocket"],
)
def test_a_burst_of_connections_waits_in_the_backlog(
    make_server: Callable[[], FastAgiServer | AudioSocketServer],
) -> None:
    """300 calls connect while the server is too busy to accept: every connect completes
    at once (asyncio's default backlog of 100 dropped the rest's SYNs: a second of silence
    for each of those callers, and Asterisk gives up on an AGI after MAX_AGI_CONNECT, 2 s)."""
    ready, release = threading.Event(), threading.Event()
    address: list[int] = []

    async def main() -> None:
        server = make_server()
        _, port = await server.start("127.0.0.1", 0)
        address.append(port)
        ready.set()
        release.wait(30)  # blocks the loop: nothing is accepted meanwhile
        await server.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    assert ready.wait(10)
    sockets: list[socket.socket] = []
    try:
        for _ in range(300):  # a SYN the kernel dropped would time out here (0.5 s)
            sockets.append(socket.create_connection(("127.0.0.1", address[0]), timeout=0.5))
    finally:
        release.set()
        for sock in sockets:
            sock.close()
        thread.join(10)
