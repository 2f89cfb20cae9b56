"""The sans-IO parser on the byte-exact transcripts of a real Asterisk 22."""

from __future__ import annotations

import pytest

from agi.protocol import (
    NEED_DATA,
    AgiConnection,
    Closed,
    Env,
    Event,
    Hangup,
    ProtocolError,
    Reply,
    encode_command,
    parse_reply_line,
    quote,
)
from hotline.testing.transcripts import agi_transcripts, load


def events(connection: AgiConnection) -> list[Event]:
    found: list[Event] = []
    while (event := connection.next_event()) is not NEED_DATA:
        assert not isinstance(event, type(NEED_DATA))
        found.append(event)  # type: ignore[arg-type]
        if isinstance(event, Closed):
            break
    return found


def replay(name: str, chunk: int | None = None) -> list[Event]:
    connection = AgiConnection()
    data = b"".join(step.data for step in load(name) if step.from_asterisk)
    result: list[Event] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        connection.receive_data(piece)
        result.extend(events(connection))
    connection.receive_data(b"")
    result.extend(events(connection))
    return result


@pytest.mark.parametrize("name", agi_transcripts())
def test_one_reply_per_command(name: str) -> None:
    steps = load(name)
    commands = [s for s in steps if not s.from_asterisk]
    found = replay(name)
    assert isinstance(found[0], Env)
    assert isinstance(found[-1], Closed)
    replies = [e for e in found if isinstance(e, Reply)]
    assert len(replies) == len(commands), name
    hangups = sum(1 for s in steps if s.from_asterisk and s.data == b"HANGUP\n")
    assert sum(isinstance(e, Hangup) for e in found) == hangups


@pytest.mark.parametrize("name", agi_transcripts())
@pytest.mark.parametrize("chunk", [1, 7])
def test_split_reads_give_the_same_events(name: str, chunk: int) -> None:
    assert replay(name, chunk) == replay(name)


def test_ivr_transcript_values() -> None:
    found = replay("agi-ivr-1.txt")
    env = found[0]
    assert isinstance(env, Env)
    assert env.uniqueid == "lab-ivr-queue-agent-1795847304-2"
    assert env.get("callerid") == "5551234"
    assert env.get("accountcode") == ""
    assert env.args == ("first arg", "second")
    assert env.script == "ivr"
    replies = [e for e in found if isinstance(e, Reply)]
    assert replies[2].data == "5551234"  # GET VARIABLE CALLERID(num)
    assert replies[3].extras["endpos"] == "3520"  # STREAM FILE
    assert replies[4].result == "12"  # GET DATA
    assert replies[5].result_int == 51  # WAIT FOR DIGIT → '3'


def test_proto_transcript_520_block_keeps_replies_aligned() -> None:
    steps = load("agi-proto-1.txt")
    commands = [s.data for s in steps if not s.from_asterisk]
    replies = [e for e in replay("agi-proto-1.txt") if isinstance(e, Reply)]
    by_command = dict(zip(commands, replies, strict=True))
    assert by_command[b"FOO BAR\n"].code == 510
    usage = by_command[b"GET DATA\n"]
    assert usage.code == 520 and len(usage.usage) >= 2
    assert by_command[b'SET VARIABLE PROTO_VAR "hello world"\n'].result == "1"
    assert by_command[b"GET VARIABLE PROTO_VAR\n"].data == "hello world"


def test_hangup_then_511() -> None:
    found = replay("agi-hangup-1.txt")
    kinds = [type(e).__name__ + (f":{e.code}" if isinstance(e, Reply) else "") for e in found]
    assert kinds[:4] == ["Env", "Reply:200", "Hangup", "Reply:511"]
    assert "Reply:511" in kinds[4:]


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "extras"),
    [
        ("200 result=0", 200, "0", None, {}),
        ("200 result= (timeout)", 200, "", "timeout", {}),
        ("200 result=1 (5551234)", 200, "1", "5551234", {}),
        ("200 result=53 endpos=5760", 200, "53", None, {"endpos": "5760"}),
        ("200 result=-1 endpos=0", 200, "-1", None, {"endpos": "0"}),
        ("200 result=1 (hello world)", 200, "1", "hello world", {}),
        ("200 result=1 (王五)", 200, "1", "王五", {}),
        ("200 result=-1 (hangup)", 200, "-1", "hangup", {}),
        ("510 Invalid or unknown command", 510, "", "Invalid or unknown command", {}),
        (
            "511 Command Not Permitted on a dead channel or intercept routine",
            511,
            "",
            "Command Not Permitted on a dead channel or intercept routine",
            {},
        ),
    ],
)
def test_reply_lines(
    line: str, code: int, result: str, data: str | None, extras: dict[str, str]
) -> None:
    reply = parse_reply_line(line)
    assert (reply.code, reply.result, reply.data, dict(reply.extras)) == (
        code,
        result,
        data,
        extras,
    )


@pytest.mark.parametrize("line", ["hello", "20 result=1", "200 nothing"])
def test_bad_reply_lines(line: str) -> None:
    with pytest.raises(ProtocolError):
        parse_reply_line(line)


def test_utf8_split_inside_a_character() -> None:
    connection = AgiConnection()
    data = "agi_calleridname: 张三丰\nagi_uniqueid: 1\n\n200 result=1 (王五)\n".encode()
    cut = data.index("三".encode()) + 1
    connection.receive_data(data[:cut])
    assert connection.next_event() is NEED_DATA
    connection.receive_data(data[cut:])
    env = connection.next_event()
    assert isinstance(env, Env) and env.get("calleridname") == "张三丰"
    reply = connection.next_event()
    assert isinstance(reply, Reply) and reply.data == "王五"


def test_half_header_then_eof() -> None:
    connection = AgiConnection()
    connection.receive_data(b"agi_network: yes\nagi_chan")
    assert connection.next_event() is NEED_DATA
    connection.receive_data(b"")
    assert isinstance(connection.next_event(), Closed)


def test_line_too_long_and_garbage() -> None:
    connection = AgiConnection(max_line=64)
    connection.receive_data(b"agi_x: " + b"a" * 100)
    with pytest.raises(ProtocolError, match="longer"):
        connection.next_event()
    connection = AgiConnection()
    connection.receive_data(b"GET / HTTP/1.1\r\n")
    with pytest.raises(ProtocolError, match="environment"):
        connection.next_event()
    connection = AgiConnection()
    connection.receive_data(b"agi_x: \xff\xfe\n")
    with pytest.raises(ProtocolError, match="UTF-8"):
        connection.next_event()


def test_header_written_a_line_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """As Asterisk writes it: a line per write. The parser waits for the blank line and
    reads the header in one pass, not line by line; a line that cannot belong to a header
    is refused as soon as it arrives."""
    writes = [s.data for s in load("agi-ivr-1.txt") if s.from_asterisk]
    lines = writes[: writes.index(b"\n") + 1]  # the transcript keeps Asterisk's writes
    assert len(lines) > 20 and all(line.count(b"\n") == 1 for line in lines)
    expected = replay("agi-ivr-1.txt")[0]
    taken: list[int] = []
    monkeypatch.setattr(AgiConnection, "_line", lambda self: taken.append(1))
    connection = AgiConnection()
    for line in lines[:-1]:
        connection.receive_data(line[:5])
        assert connection.next_event() is NEED_DATA
        connection.receive_data(line[5:])
        assert connection.next_event() is NEED_DATA
    connection.receive_data(lines[-1])
    env = connection.next_event()
    assert isinstance(env, Env) and env == expected and taken == []
    monkeypatch.undo()
    for bad in (b"GET / HTTP/1.1\n", b"agi_x\n", b"agi_x: \xff\n"):
        connection = AgiConnection()
        connection.receive_data(lines[0] + bad)
        with pytest.raises(ProtocolError):
            connection.next_event()


def test_environment_size_is_capped() -> None:
    connection = AgiConnection(max_env_lines=3)
    connection.receive_data(b"".join(b"agi_k%d: v\n" % i for i in range(5)))
    with pytest.raises(ProtocolError, match="too long"):
        connection.next_event()


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "trickled"])
def test_environment_bytes_are_capped(whole: bool) -> None:
    """100 lines of 200 bytes: each line and the count are fine, the total is not what
    Asterisk sends (about 700 bytes). Refused whether it comes at once or a line at a time
    without its end."""
    lines = [b"agi_k%03d: %s\n" % (i, b"v" * 190) for i in range(100)]
    connection = AgiConnection()
    if whole:
        connection.receive_data(b"".join(lines) + b"\n")
        with pytest.raises(ProtocolError, match="larger than 16384 bytes"):
            connection.next_event()
        return
    with pytest.raises(ProtocolError, match="larger than 16384 bytes"):
        for line in lines:
            connection.receive_data(line)
            assert connection.next_event() is NEED_DATA


@pytest.mark.parametrize(
    ("words", "wire"),
    [
        (("ANSWER",), b"ANSWER\n"),
        (("STREAM FILE", "beep", ""), b'STREAM FILE beep ""\n'),
        (("GET DATA", "beep", "3000", "4"), b"GET DATA beep 3000 4\n"),
        (("SET VARIABLE", "PROTO_VAR", "hello world"), b'SET VARIABLE PROTO_VAR "hello world"\n'),
        (("SET VARIABLE", "Q", 'say "hi"'), b'SET VARIABLE Q "say \\"hi\\""\n'),
        (("SET VARIABLE", "NAME", "张三"), "SET VARIABLE NAME 张三\n".encode()),
    ],
)
def test_encode(words: tuple[str, ...], wire: bytes) -> None:
    assert encode_command(*words) == wire


def test_encode_refuses_injection() -> None:
    with pytest.raises(ValueError):
        quote("x\nHANGUP")
