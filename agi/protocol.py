"""A sans-IO FastAGI protocol: feed it bytes, take events; it never sees a socket.

Asterisk opens with the ``agi_*`` environment (``key: value`` lines, then an empty line),
then answers each command with one reply line: ``200 result=1 (value) endpos=3520``. The
exceptions handled here are the ones measured on Asterisk 22:

* ``HANGUP`` lines arrive unprompted, before or after any reply;
* ``520-`` starts a multi-line usage block that ends with ``520 End of proper usage.``;
* ``200 result= (timeout)`` has an empty result (GET DATA with no digits);
* ``511`` answers media commands on a dead channel; ``510`` an unknown command.

Values are UTF-8. Lines are capped in length and the environment in size, so a peer cannot
make us buffer without bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

MAX_LINE: Final = 8192
MAX_ENV_LINES: Final = 256
# Asterisk's header is about 700 bytes (25 lines and the dialplan's arguments): what a peer
# may make us hold for one connection before its call starts.
MAX_ENV_BYTES: Final = 16384


class ProtocolError(Exception):
    """The peer sent something that is not FastAGI; the connection must be closed."""


@dataclass(frozen=True)
class Env:
    """The AGI environment of one call (``agi_`` prefix removed)."""

    values: MappingProxyType[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def script(self) -> str:
        """The path of the ``agi://host:port/path?query`` URL, without the query."""
        return self.get("network_script").split("?", 1)[0]

    @property
    def args(self) -> tuple[str, ...]:
        found = []
        for n in range(1, 64):
            key = f"arg_{n}"
            if key not in self.values:
                break
            found.append(self.values[key])
        return tuple(found)


@dataclass(frozen=True)
class Reply:
    """One reply: code, result (may be empty), the "(data)" part and key=value extras."""

    code: int
    result: str = ""
    data: str | None = None
    extras: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    usage: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def result_int(self) -> int | None:
        try:
            return int(self.result)
        except ValueError:
            return None


@dataclass(frozen=True)
class Hangup:
    """Asterisk's unprompted ``HANGUP`` line: the caller is gone."""


@dataclass(frozen=True)
class Closed:
    """The peer closed the connection."""


class NeedData:
    """More bytes are needed before the next event."""


NEED_DATA: Final = NeedData()
Event = Env | Reply | Hangup | Closed

_REPLY = re.compile(r"^(\d{3})(?: (.*))?$")
_RESULT = re.compile(r"^result=(\S*)(?: \((.*?)\))?(.*)$")


def parse_reply_line(line: str) -> Reply:
    """Parse one complete single-line reply."""
    match = _REPLY.match(line)
    if match is None:
        raise ProtocolError(f"not an AGI reply: {line[:80]!r}")
    code, rest = int(match.group(1)), match.group(2) or ""
    if code != 200:
        return Reply(code, data=rest or None)
    result = _RESULT.match(rest)
    if result is None:
        raise ProtocolError(f"200 reply without result=: {line[:80]!r}")
    extras: dict[str, str] = {}
    for part in result.group(3).split():
        key, sep, value = part.partition("=")
        if sep:
            extras[key] = value
    return Reply(200, result.group(1), result.group(2), MappingProxyType(extras))


# Whole lines of an AGI environment header as Asterisk writes them.
_ENV_LINES = re.compile(rb"(?:agi_[^\n]*:[^\n]*\n)*")


class AgiConnection:
    """State of one FastAGI conversation, driven by :meth:`receive_data` and :meth:`next_event`."""

    def __init__(
        self,
        max_line: int = MAX_LINE,
        max_env_lines: int = MAX_ENV_LINES,
        max_env_bytes: int = MAX_ENV_BYTES,
    ) -> None:
        self._buffer = bytearray()
        self._eof = False
        self._max_line = max_line
        self._max_env_lines = max_env_lines
        self._max_env_bytes = max_env_bytes
        self._env_read = 0  # bytes of the header taken line by line so far
        self._env: dict[str, str] | None = {}
        self._usage: list[str] | None = None
        self.closed = False

    def receive_data(self, data: bytes) -> None:
        """Bytes from the peer; ``b""`` means end of stream."""
        if data:
            self._buffer += data
        else:
            self._eof = True

    def hangup_pending(self) -> bool:
        """A ``HANGUP`` line has arrived and is not read yet. Asterisk writes a ``-1`` reply
        and ``HANGUP`` in one write when the caller hangs up during a prompt: behind the
        reply, the caller is already gone."""
        return self._buffer.startswith(b"HANGUP\n") or b"\nHANGUP\n" in self._buffer

    def _line(self) -> str | None:
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > self._max_line:
                raise ProtocolError(f"line longer than {self._max_line} bytes")
            return None
        if end > self._max_line:
            raise ProtocolError(f"line longer than {self._max_line} bytes")
        raw = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        if self._env is not None:
            self._env_read += end + 1
        try:
            return raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"line is not UTF-8: {raw[:80]!r}") from exc

    def next_event(self) -> Event | NeedData:
        if self._env is not None:
            end = self._buffer.find(b"\n\n")
            if self._env_read + (end + 2 if end >= 0 else len(self._buffer)) > self._max_env_bytes:
                raise ProtocolError(f"AGI environment larger than {self._max_env_bytes} bytes")
            block = self._env_block()
            if block is not None:
                return block
            if self._env_incomplete():
                return NEED_DATA
        while True:
            line = self._line()
            if line is None:
                if self._eof:
                    self.closed = True
                    return Closed()
                return NEED_DATA
            event = self._handle(line)
            if event is not None:
                return event

    def _env_incomplete(self) -> bool:
        """The header is arriving well formed and its end has not come yet: wait for it
        rather than take its lines one by one. Asterisk writes the header a line at a time,
        so it comes in several reads (four to five per call in the burst benchmark), and line
        by line it cost as much as the rest of the conversation's parsing. Anything else (end
        of stream, CR LF, a line that is not ``agi_...: ...``, bad UTF-8, too many lines, more
        than a line's worth of bytes) goes on to the line-by-line path, which says what is
        wrong at once."""
        buffer = self._buffer
        if self._eof or len(buffer) > self._max_line or b"\r" in buffer or b"\n\n" in buffer:
            return False
        cut = buffer.rfind(b"\n") + 1
        complete, tail = bytes(buffer[:cut]), bytes(buffer[cut : cut + 4])
        if not _ENV_LINES.fullmatch(complete) or not b"agi_".startswith(tail):
            return False
        if complete.count(b"\n") >= self._max_env_lines:
            return False
        try:
            complete.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def _env_block(self) -> Env | None:
        """The whole environment at once when its blank line has arrived: one decode and
        one split instead of a pass per line (the header is 25 lines on every call). The
        same checks as line by line; anything unusual (CR LF, blank lines before the
        header, a line too long) is left to the line-by-line path."""
        end = self._buffer.find(b"\n\n")
        if end <= 0 or end > self._max_line * self._max_env_lines:
            return None
        raw = bytes(self._buffer[:end])
        if raw.count(b"\n") >= self._max_env_lines or any(
            len(line) > self._max_line for line in raw.split(b"\n")
        ):
            return None
        try:
            lines = raw.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            return None
        if any(line == "" or line.endswith("\r") for line in lines):
            return None
        del self._buffer[: end + 2]
        for line in lines:
            self._handle_env_line(line)
        return self._handle_env_line("")

    def _handle(self, line: str) -> Event | None:
        if self._env is not None:
            return self._handle_env_line(line)
        if self._usage is not None:
            if line.startswith("520 "):
                usage, self._usage = tuple(self._usage), None
                return Reply(520, data="Invalid command syntax", usage=usage)
            self._usage.append(line)
            if len(self._usage) > self._max_env_lines:
                raise ProtocolError("520 usage block too long")
            return None
        if line == "HANGUP":
            return Hangup()
        if line.startswith("520-"):
            self._usage = []
            return None
        if not line:
            return None  # stray blank line between replies: harmless
        return parse_reply_line(line)

    def _handle_env_line(self, line: str) -> Env | None:
        assert self._env is not None
        if line == "":
            if not self._env:
                return None  # blank lines before the header are ignored
            env, self._env = self._env, None
            return Env(MappingProxyType(env))
        key, sep, value = line.partition(": ")
        if not sep or not key.startswith("agi_"):
            if line.endswith(":") and line.startswith("agi_"):  # "agi_x:" with empty value
                key, value = line[:-1], ""
            else:
                raise ProtocolError(f"not an AGI environment line: {line[:80]!r}")
        if len(self._env) >= self._max_env_lines:
            raise ProtocolError("AGI environment too long")
        self._env[key[4:]] = value
        return None


def quote(arg: str) -> str:
    """One command argument: quoted when empty or holding blanks or quotes."""
    if "\n" in arg or "\r" in arg or "\0" in arg:
        raise ValueError("AGI arguments cannot hold line breaks or NUL")
    if arg == "" or any(c in arg for c in ' \t"\\'):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


def encode_command(*words: str) -> bytes:
    """``encode_command("STREAM FILE", "beep", "")`` → ``b'STREAM FILE beep ""\\n'``.

    The first word is the command name, sent as is; the rest are quoted arguments.
    """
    if not words or not words[0]:
        raise ValueError("a command needs a name")
    return (" ".join([words[0], *(quote(w) for w in words[1:])]) + "\n").encode("utf-8")
