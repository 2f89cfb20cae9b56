"""A sans-IO AMI parser: bytes in, whole messages out.

Bytes are buffered and split on the blank line that ends a message, and only whole messages
are decoded, so a UTF-8 name split across TCP reads arrives intact. Headers may repeat
(``Output``, ``ChanVariable``): :class:`Message` keeps every value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

MAX_MESSAGE: Final = 1 << 20


class AmiProtocolError(Exception):
    """The peer is not speaking AMI."""


@dataclass(frozen=True)
class Message:
    headers: tuple[tuple[str, str], ...]

    # Each header's first value by its lowercase name, built on the first ``get``: a tracked
    # event is read about fifteen times, and a scan of its thirty headers per read was half
    # of the call tracker's time. (Not functools.cached_property: on Python 3.11 it takes a
    # lock shared by every instance, and messages are read in two threads.)
    _first: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    def get(self, name: str, default: str = "") -> str:
        first = self._first
        if first is None:
            first = {key.lower(): value for key, value in reversed(self.headers)}
            object.__setattr__(self, "_first", first)
        return first.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]

    def as_dict(self) -> dict[str, str]:
        """Headers as a dict (the first value of a repeated header wins)."""
        result: dict[str, str] = {}
        for key, value in self.headers:
            result.setdefault(key, value)
        return result

    @property
    def event(self) -> str:
        return self.get("Event")

    @property
    def action_id(self) -> str:
        return self.get("ActionID")

    @property
    def is_response(self) -> bool:
        return bool(self.get("Response"))


class AmiParser:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self.banner: str | None = None

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages: list[Message] = []
        if self.banner is None:
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > 1024:
                    raise AmiProtocolError("no AMI banner")
                return messages
            self.banner = bytes(self._buffer[:end]).decode("utf-8", "replace")
            del self._buffer[: end + 2]
            if not self.banner.startswith("Asterisk Call Manager/"):
                raise AmiProtocolError(f"unexpected banner {self.banner!r}")
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_MESSAGE:
                    raise AmiProtocolError("AMI message too large")
                return messages
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            if raw.strip():
                messages.append(parse_message(raw))


def parse_message(raw: bytes) -> Message:
    headers = []
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")  # as Asterisk writes every header
        if not sep or ":" in key:  # "Key:value", "Key:", or a colon before ": "
            key, sep, value = line.partition(":")
            if not sep:
                continue
            value = value[1:] if value.startswith(" ") else value
        headers.append((key.strip(), value))
    return Message(tuple(headers))


def encode_action(action: str, action_id: str, fields: dict[str, str | list[str]]) -> bytes:
    lines = [f"Action: {action}", f"ActionID: {action_id}"]
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            if "\r" in item or "\n" in item or "\r" in key or "\n" in key:
                raise ValueError("AMI fields cannot hold line breaks")
            lines.append(f"{key}: {item}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
