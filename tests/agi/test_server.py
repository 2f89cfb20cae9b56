"""The asyncio FastAGI server against a scripted Asterisk peer on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable

import pytest

from agi.audiosocket import AudioSocketServer
from agi.server import AgiSession, CallEnded, FastAgiServer, raise_open_files_limit
from hotline.testing.transcripts import load

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


# The caller hangs up during a prompt: the reply and the HANGUP line, as the transcript
# (agi-hangup-1.txt) has them: b'200 result=-1\n' then b'HANGUP\n'.
HANGUP_REPLY = b"200 result=-1\n"
HANGUP_LINE = b"HANGUP\n"


@pytest.mark.parametrize("apart", [0.0, 0.05], ids=["one-write", "two-writes"])
def test_a_hangup_behind_the_reply_ends_the_call_at_once(apart: float) -> None:
    """Whatever order the bytes are read in (the reply and HANGUP in one write, or HANGUP
    a moment later), the IVR sees a hang-up, not silence, and sends nothing more."""
    from agi.channel import AgiChannel

    outcome: dict[str, object] = {}

    async def handler(session: AgiSession) -> None:
        channel = AgiChannel(session)
        try:
            outcome["keys"] = await channel.collect("greeting", 1, 1500)
        except CallEnded:
            outcome["ended"] = session.hung_up
            raise
        await channel.play("connecting")  # a live channel would go on

    async def test(server: FastAgiServer, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(ENV.format(uid="race").encode())
        line = await asyncio.wait_for(reader.readline(), 5)
        assert line == b"GET DATA hotline/zh/greeting 1500 1\n"
        if apart:
            writer.write(HANGUP_REPLY)
            await writer.drain()
            await asyncio.sleep(apart)
            writer.write(HANGUP_LINE)
        else:
            writer.write(HANGUP_REPLY + HANGUP_LINE)
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(), 5)
        assert rest == b""  # no command after the hang-up
        await close(writer)

    serve(handler, test)
    assert outcome == {"ended": True}


def test_a_missing_prompt_on_a_live_channel_goes_on() -> None:
    """``-1`` without a HANGUP (a sound file missing): logged, the caller goes on."""
    from agi.channel import AgiChannel

    outcome: dict[str, object] = {}

    async def handler(session: AgiSession) -> None:
        channel = AgiChannel(session)
        outcome["keys"] = await channel.collect("greeting", 1, 1500)

    async def test(server: FastAgiServer, port: int) -> None:
        await asterisk(port, "missing", [(b"GET DATA hotline/zh/greeting 1500 1\n", HANGUP_REPLY)])

    serve(handler, test)
    assert outcome == {"keys": ""}


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


# The IVR transcript of a real Asterisk 22 call (tests/transcripts/agi-ivr-1.txt): its header
# and replies are sent byte for byte, and the commands our handler sends must match it.
IVR = load("agi-ivr-1.txt")
IVR_COMMANDS = [
    ("ANSWER",),
    ("CHANNEL STATUS",),
    ("GET VARIABLE", "CALLERID(num)"),
    ("STREAM FILE", "beep", ""),
    ("GET DATA", "beep", "3000", "4"),
    ("WAIT FOR DIGIT", "5000"),
    ("SET VARIABLE", "IVR_CHOICE", "12"),
    ("VERBOSE", "ivr done, choice 12", "1"),
]


def sent_by_us(command: bytes) -> bytes:
    """The transcript's client quoted every value; ours quotes only what needs it
    (Asterisk reads both alike)."""
    return command.replace(b'IVR_CHOICE "12"', b"IVR_CHOICE 12")


async def ivr_handler(session: AgiSession) -> None:
    for words in IVR_COMMANDS:
        await session.command(*words)


async def asterisk_replays_ivr(port: int) -> list[bytes]:
    """Play Asterisk's side of the transcript; the commands that came, then what followed
    them (b"": the server closed when the handler was done)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received: list[bytes] = []
    for step in IVR:
        if step.from_asterisk:
            writer.write(step.data)
            continue
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5)
        assert line == sent_by_us(step.data), (line, step.data)
        received.append(line)
    await writer.drain()
    received.append(await asyncio.wait_for(reader.read(), 5))
    await close(writer)
    return received


async def half_open(port: int, count: int, source: str = "127.0.0.1") -> list[Peer]:
    """``count`` peers that connect and send half an AGI header, then wait."""
    peers = []
    for _ in range(count):  # one by one: the order is the age the server sees
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        writer.write(b"agi_network: yes\nagi_chan")
        await writer.drain()
        peers.append((reader, writer))
    return peers


Peer = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):  # only a hung test reaches it
        while not check():
            await asyncio.sleep(0.01)


async def closed_by_server(peer: Peer) -> bool:
    try:
        return await asyncio.wait_for(peer[0].read(), 5) == b""
    except ConnectionResetError:
        return True


def test_a_call_is_served_while_a_thousand_peers_hold_half_headers() -> None:
    """1,000 connections that never finish their header, held for the whole test (a
    header deadline longer than the test): none of them takes a call slot, so a real
    call (the transcript's bytes) is served although there are only 1,000 slots."""
    assert raise_open_files_limit() >= 2100  # both ends of 1,000 sockets, in this process

    async def test(server: FastAgiServer, port: int) -> None:
        junk = await half_open(port, 1000)
        try:
            await wait_until(lambda: server.waiting == 1000)
            received = await asterisk_replays_ivr(port)
            assert received[:-1] == [sent_by_us(s.data) for s in IVR if not s.from_asterisk]
            assert received[-1] == b""  # the handler was done: closed
            assert server.rejected == 0 and server.waiting == 1000 and server.dropped == 0
        finally:
            for _, writer in junk:
                writer.close()

    serve(ivr_handler, test, header_timeout=600)


def test_waiting_places_go_to_newcomers_oldest_first() -> None:
    """With 100 waiting places and 300 peers holding half headers, the oldest are closed
    to make room, and a real call still finds a place and a slot."""

    async def test(server: FastAgiServer, port: int) -> None:
        junk = await half_open(port, 300)
        try:
            await wait_until(lambda: server.dropped == 200)
            assert server.waiting == 100
            assert await closed_by_server(junk[0]) and await closed_by_server(junk[199])
            received = await asterisk_replays_ivr(port)
            assert received[-1] == b"" and len(received) == len(IVR_COMMANDS) + 1
            # The call took the place of the oldest peer left, then moved on to its slot.
            assert (server.waiting, server.dropped) == (99, 201)
            assert await closed_by_server(junk[200])
        finally:
            for _, writer in junk:
                writer.close()

    serve(ivr_handler, test, header_timeout=600, max_waiting=100)


def test_one_flooding_address_does_not_push_out_another() -> None:
    """A slow peer on 127.0.0.1 (half its header sent) keeps its waiting place while
    127.0.0.2 floods: the flood's own oldest connections make the room. (Both are
    loopback addresses: nothing leaves the machine.)"""
    seen: list[str] = []

    async def handler(session: AgiSession) -> None:
        seen.append(session.env.uniqueid)
        await session.command("NOOP")

    async def test(server: FastAgiServer, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(ENV.format(uid="slow")[:30].encode())
        await writer.drain()
        await wait_until(lambda: server.waiting == 1)
        flood = await half_open(port, 60, source="127.0.0.2")
        try:
            await wait_until(lambda: server.dropped == 11)  # 61 peers, 50 places
            writer.write(ENV.format(uid="slow")[30:].encode())
            assert await reader.readline() == b"NOOP\n"
            writer.write(b"200 result=0\n")
            assert await asyncio.wait_for(reader.read(), 5) == b""
        finally:
            await close(writer)
            for _, junk in flood:
                junk.close()

    serve(handler, test, header_timeout=600, max_waiting=50)
    assert seen == ["slow"]
