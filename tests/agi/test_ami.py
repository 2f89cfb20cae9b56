"""AMI: the parser on real Asterisk 22 transcripts, and the client against a scripted peer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import pytest

from agi.ami import AmiClient, AmiError
from agi.ami_protocol import AmiParser, AmiProtocolError, encode_action, parse_message
from agi.queues import queue_states
from hotline.testing.ami_peer import ScriptedAmi
from hotline.testing.transcripts import load


def from_asterisk(name: str) -> bytes:
    return b"".join(s.data for s in load(name) if s.from_asterisk)


@pytest.mark.parametrize("chunk", [None, 1, 13])
def test_actions_transcript(chunk: int | None) -> None:
    data = from_asterisk("ami-actions.txt")
    parser = AmiParser()
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    messages = [m for piece in pieces for m in parser.feed(piece)]
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    by_id = {m.action_id: m for m in messages if m.is_response}
    assert by_id["lab-2"].get("Ping") == "Pong"
    assert "Asterisk 22" in by_id["lab-4"].get("Output")
    status = [m for m in messages if m.action_id == "lab-5"]
    assert status[-1].event == "QueueStatusComplete"
    states = queue_states(status)
    assert states["test-queue"].members == 1 and states["test-queue"].available == 1
    assert states["empty-queue"].members == 0


def test_call_events_transcript() -> None:
    # This capture starts after the login: give the parser the banner it would have read.
    banner = b"Asterisk Call Manager/11.0.0\r\n"
    messages = AmiParser().feed(banner + from_asterisk("ami-ivr-queue-agent.txt"))
    names = [m.event for m in messages]
    for event in ("QueueCallerJoin", "AgentCalled", "AgentConnect", "AgentComplete", "Hangup"):
        assert event in names
    assert (
        names.index("QueueCallerJoin") < names.index("AgentConnect") < names.index("AgentComplete")
    )


def test_utf8_split_and_repeated_headers() -> None:
    parser = AmiParser()
    data = (
        "Asterisk Call Manager/11.0.0\r\nEvent: Newchannel\r\nCallerIDName: 张三丰\r\n"
        "ChanVariable: A=1\r\nChanVariable: B=2\r\n\r\n"
    ).encode()
    cut = data.index("三".encode()) + 1
    assert parser.feed(data[:cut]) == []
    (message,) = parser.feed(data[cut:])
    assert message.get("CallerIDName") == "张三丰"
    assert message.get_all("ChanVariable") == ["A=1", "B=2"]


def test_header_lines_as_written_and_odd() -> None:
    """Asterisk writes "Key: value"; a missing or doubled space, an empty value, a colon
    inside the value and a line without a colon are read as before the fast path."""
    raw = (
        b"Event: Odd\r\nA: 1\r\nB:2\r\nC:\r\nD: \r\nE:  two\r\nF: x: y\r\nG:h: i\r\n"
        b"no colon\r\n Padded : v\r\nevent: second"
    )
    message = parse_message(raw)
    assert message.headers == (
        ("Event", "Odd"),
        ("A", "1"),
        ("B", "2"),
        ("C", ""),
        ("D", ""),
        ("E", " two"),
        ("F", "x: y"),
        ("G", "h: i"),
        ("Padded", "v"),
        ("event", "second"),
    )
    # Names are matched without case; the first of a repeated header wins.
    assert message.event == "Odd" and message.get("padded") == "v"
    assert message.get("missing", "-") == "-"
    assert message.get_all("EVENT") == ["Odd", "second"]
    assert message == parse_message(raw) and hash(message) == hash(parse_message(raw))


def test_not_ami() -> None:
    with pytest.raises(AmiProtocolError):
        AmiParser().feed(b"HTTP/1.1 200 OK\r\n")


def test_encode_action() -> None:
    assert encode_action("QueueAdd", "x-1", {"Queue": "q", "Variable": ["a=1", "b=2"]}) == (
        b"Action: QueueAdd\r\nActionID: x-1\r\nQueue: q\r\nVariable: a=1\r\nVariable: b=2\r\n\r\n"
    )
    with pytest.raises(ValueError):
        encode_action("Command", "x-2", {"Command": "core stop now\r\nAction: Logoff"})


async def fake_asterisk(
    port_holder: list[int],
    script: dict[str, bytes],
    drop_after: str | None = None,
    answer: Callable[[dict[str, str]], bytes] | None = None,
) -> asyncio.Server:
    """Answers each action by name with ``script[name]`` (``{id}`` → its ActionID), or
    with what ``answer`` returns for the action's headers."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        with (
            contextlib.closing(writer),
            contextlib.suppress(ConnectionError, asyncio.IncompleteReadError),
        ):
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                headers = dict(line.split(": ", 1) for line in raw.decode().strip().split("\r\n"))
                name, action_id = headers["Action"], headers["ActionID"]
                if name == drop_after:
                    writer.close()
                    return
                reply = answer(headers) if answer else script.get(name)
                if reply is not None:
                    writer.write(reply.replace(b"{id}", action_id.encode()))
                    await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port_holder.append(server.sockets[0].getsockname()[1])
    return server


LOGIN_OK = b"Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n"


def test_client_actions_lists_and_failures() -> None:
    async def main() -> None:
        port: list[int] = []
        server = await fake_asterisk(
            port,
            {
                "Login": LOGIN_OK,
                "Ping": b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n"
                b"Response: Success\r\nActionID: {id}\r\nPing: Pong\r\n\r\n",
                "QueueStatus": b"Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\n"
                b"Event: QueueParams\r\nActionID: {id}\r\nQueue: q\r\nCalls: 2\r\n\r\n"
                b"Event: QueueStatusComplete\r\nActionID: {id}\r\n"
                b"EventList: Complete\r\n\r\n",
                "Originate": b"Response: Error\r\nActionID: {id}\r\n"
                b"Message: Originate failed\r\n\r\n",
            },
            drop_after="Hangup",
        )
        client = AmiClient("127.0.0.1", port[0], "u", "s", action_timeout=0.5)
        events = []
        client.on("FullyBooted", events.append)
        await client.connect()
        assert (await client.action("Ping")).get("Ping") == "Pong"
        assert [e.event for e in events] == ["FullyBooted"]
        items = await client.list_action("QueueStatus")
        assert [m.event for m in items] == ["", "QueueParams", "QueueStatusComplete"]
        with pytest.raises(AmiError, match="Originate failed"):
            await client.action("Originate", Channel="Local/x@y")
        with pytest.raises(AmiError, match="timed out"):
            await client.action("CoreStatus")  # never answered
        pending = asyncio.create_task(client.action("CoreSettings", timeout=30))
        await asyncio.sleep(0.05)
        with pytest.raises(AmiError):  # the peer drops the connection: fail at once
            await client.action("Hangup", Channel="x", timeout=30)
        with pytest.raises(AmiError):
            await pending
        await client.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def test_client_bad_login_and_no_server() -> None:
    async def main() -> None:
        port: list[int] = []
        server = await fake_asterisk(
            port,
            {
                "Login": b"Response: Error\r\nActionID: {id}\r\n"
                b"Message: Authentication failed\r\n\r\n"
            },
        )
        with pytest.raises(AmiError, match="Authentication failed"):
            await AmiClient("127.0.0.1", port[0], "u", "bad").connect()
        server.close()
        await server.wait_closed()
        with pytest.raises(AmiError, match="cannot connect"):
            await AmiClient("127.0.0.1", port[0], "u", "s", action_timeout=1).connect()

    asyncio.run(main())


def test_merged_snapshot_over_nodes() -> None:
    from agi.queues import QueueMonitor, merged_snapshot
    from routing.model import QueueState

    class Fixed(QueueMonitor):
        def __init__(self, states: dict[str, QueueState] | None) -> None:
            self.states = states

        def snapshot(self) -> dict[str, QueueState] | None:  # type: ignore[override]
            return self.states

    one = Fixed({"q": QueueState("q", members=1, available=1, waiting=2, longest_wait=5)})
    two = Fixed(
        {
            "q": QueueState("q", members=2, available=0, waiting=1, longest_wait=9),
            "r": QueueState("r"),
        }
    )
    merged = merged_snapshot([one, two, Fixed(None)])
    assert merged is not None
    assert merged["q"] == QueueState("q", members=3, available=1, waiting=3, longest_wait=9)
    assert merged_snapshot([Fixed(None)]) is None


def test_one_agent_on_two_nodes_counts_once() -> None:
    """An agent is a member on every node: counted once; busy on one node, not available."""
    from agi.queues import QueueMonitor, merged_snapshot
    from routing.model import QueueState

    class Fixed(QueueMonitor):
        def __init__(self, states: dict[str, QueueState]) -> None:
            self.states = states

        def snapshot(self) -> dict[str, QueueState]:  # type: ignore[override]
            return self.states

    def node(available: set[str], waiting: int) -> Fixed:
        names = frozenset({"wang", "zhang"})
        state = QueueState("q", 2, len(available), waiting, 0.0, 0.0, names, frozenset(available))
        return Fixed({"q": state})

    merged = merged_snapshot([node({"wang", "zhang"}, 1), node({"zhang"}, 2)])
    assert merged is not None
    q = merged["q"]
    assert (q.members, q.available, q.waiting) == (2, 1, 3)  # wang busy on the second node
    assert q.available_names == {"zhang"}


def test_reconnects_and_logs_in_again() -> None:
    async def main() -> None:
        logins = 0
        port: list[int] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal logins
            writer.write(b"Asterisk Call Manager/11.0.0\r\n")
            with (
                contextlib.closing(writer),
                contextlib.suppress(ConnectionError, asyncio.IncompleteReadError),
            ):
                while True:
                    raw = await reader.readuntil(b"\r\n\r\n")
                    headers = dict(
                        line.split(": ", 1) for line in raw.decode().split("\r\n") if ": " in line
                    )
                    action_id = headers["ActionID"].encode()
                    if headers["Action"] == "Login":
                        logins += 1
                        writer.write(LOGIN_OK.replace(b"{id}", action_id))
                    elif headers["Action"] == "Ping":
                        writer.write(
                            b"Response: Success\r\nActionID: "
                            + action_id
                            + b"\r\nPing: Pong\r\n\r\n"
                        )
                    elif headers["Action"] == "Logoff":  # the test's way to drop the line
                        writer.close()
                        return
                    await writer.drain()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        client = AmiClient("127.0.0.1", port[0], "u", "s", action_timeout=2)
        states: list[str] = []
        client.on("HotlineAmiConnected", lambda e: states.append("up"))
        client.on("HotlineAmiDisconnected", lambda e: states.append("down"))
        client.run_forever(retry=0.05)
        await asyncio.wait_for(client.connected.wait(), 5)
        with pytest.raises(AmiError):
            await client.action("Logoff")  # the connection drops under it: fails at once
        for _ in range(100):
            if logins == 2 and client.connected.is_set():
                break
            await asyncio.sleep(0.05)
        assert (await client.action("Ping")).get("Ping") == "Pong"
        assert logins == 2 and states[:3] == ["up", "down", "up"]
        await client.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())


REFUSED = b"Response: Error\r\nActionID: {id}\r\nMessage: Permission denied\r\n\r\n"


def filtering(asked: list[str], refuse: set[str]) -> Callable[[dict[str, str]], bytes]:
    """Logs in anyone; answers Filter actions (recording their MatchCriteria), refusing
    those named in ``refuse``."""

    def answer(headers: dict[str, str]) -> bytes:
        if headers["Action"] != "Filter":
            return LOGIN_OK
        asked.append(headers["MatchCriteria"])
        return REFUSED if headers["MatchCriteria"] in refuse else LOGIN_OK

    return answer


@pytest.mark.parametrize(
    ("refuse", "outcome"),
    [
        (set(), "filtered"),
        ({"name(Hangup)", "name(QueueCallerJoin)"}, "everything"),  # e.g. no system right
        ({"name(Hangup)"}, "login again"),  # Hangup would never arrive: not accepted
    ],
)
def test_filter_events_asks_for_the_handled_names(refuse: set[str], outcome: str) -> None:
    async def main() -> None:
        asked: list[str] = []
        port: list[int] = []
        server = await fake_asterisk(port, {}, answer=filtering(asked, refuse))
        client = AmiClient("127.0.0.1", port[0], "u", "s", action_timeout=2, filter_events=True)
        client.on("QueueCallerJoin", lambda m: None)
        client.on("Hangup", lambda m: None)
        client.on("HotlineAmiConnected", lambda m: None)  # made up here: never asked for
        if outcome == "login again":
            with pytest.raises(AmiError, match="refused"):
                await client.connect()
        else:
            await client.connect()
            assert client.connected.is_set()
        assert asked == ["name(Hangup)", "name(QueueCallerJoin)"]
        if outcome == "filtered":
            client.on("AgentConnect", lambda m: None)  # added while logged in: asked at once
            for _ in range(50):
                if len(asked) == 3:
                    break
                await asyncio.sleep(0.01)
            assert asked[-1] == "name(AgentConnect)"
        await client.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def test_an_idle_session_is_kept_awake_and_a_dead_one_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that only listens sends a Ping after ``keepalive`` seconds without an
    action. When a Ping gets no answer (the peer is there but dead), the connection is
    dropped and made again, and both are in the log."""

    async def main() -> None:
        peer = ScriptedAmi()
        port = await peer.start()
        client = AmiClient("127.0.0.1", port, "u", "s", action_timeout=0.2, keepalive=0.05)
        client.run_forever(retry=0.05)
        try:
            async with asyncio.timeout(10):
                while peer.asked["Ping"] < 3:  # idle: kept awake
                    await asyncio.sleep(0.01)
                peer.answering = False  # a peer that reads and never answers
                while peer.ended < 1:  # dropped by the client
                    await asyncio.sleep(0.01)
                peer.answering = True  # back: the client logs in again
                while peer.sessions < 2 or not client.connected.is_set():
                    await asyncio.sleep(0.01)
        finally:
            await client.close()
            await peer.stop()

    with caplog.at_level(logging.INFO, "hotline.ami"):
        asyncio.run(main())
    assert "no answer to a keepalive Ping" in caplog.text


def test_a_connection_closed_by_asterisk_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        peer = ScriptedAmi()
        port = await peer.start()
        client = AmiClient("127.0.0.1", port, "u", "s", keepalive=None)
        await client.connect()
        await peer.stop()  # Asterisk goes away
        async with asyncio.timeout(10):
            while client.connected.is_set():
                await asyncio.sleep(0.01)
        await client.close()

    with caplog.at_level(logging.INFO, "hotline.ami"):
        asyncio.run(main())
    assert "AMI connection closed by Asterisk" in caplog.text
