"""A scripted Asterisk Manager peer on 127.0.0.1, for fault tests: it says what a real
Asterisk would, or what a broken one might (the real thing cannot be made to send a
malformed QueueStatus)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
OK = b"Response: Success\r\nActionID: {id}\r\nMessage: OK\r\n\r\n"


def queue_status(*entries: list[str]) -> bytes:
    """A QueueStatus reply: the response, one list event per ``entries`` item (its header
    lines, as sent, well formed or not), and the closing event. ``{id}`` is the ActionID."""
    body = [b"Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\n"]
    for lines in entries:
        body.append("\r\n".join([*lines, "ActionID: {id}"]).encode() + b"\r\n\r\n")
    body.append(b"Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\n\r\n")
    return b"".join(body)


def params(queue: str, calls: str = "0", holdtime: str = "0") -> list[str]:
    return ["Event: QueueParams", f"Queue: {queue}", f"Calls: {calls}", f"Holdtime: {holdtime}"]


def member(queue: str, name: str = "agent", paused: str = "0") -> list[str]:
    return [
        "Event: QueueMember",
        f"Queue: {queue}",
        f"Name: {name}",
        "Status: 1",
        f"Paused: {paused}",
        "InCall: 0",
    ]


def entry(queue: str, wait: str) -> list[str]:
    return ["Event: QueueEntry", f"Queue: {queue}", f"Wait: {wait}"]


class ScriptedAmi:
    """Logs anyone in, accepts every other action with Success, answers QueueStatus with
    :attr:`reply` (bytes sent as they are, ``{id}`` replaced by the ActionID; None: no
    answer at all), and sends :meth:`push` bytes to every connected client."""

    def __init__(self, reply: bytes | None = None) -> None:
        self.reply: bytes | None = reply if reply is not None else queue_status(params("q"))
        self.asked: Counter[str] = Counter()  # actions by name
        self.answering = True  # False: read actions, answer none (a peer gone dead)
        self.sessions = 0  # connections accepted
        self.ended = 0  # connections ended (by either side)
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

    async def push(self, data: bytes) -> None:
        for writer in list(self._writers):
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        self._writers.add(writer)
        writer.write(BANNER)
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                headers = dict(
                    line.split(": ", 1) for line in raw.decode().split("\r\n") if ": " in line
                )
                name, action_id = headers.get("Action", ""), headers.get("ActionID", "")
                self.asked[name] += 1
                answer = self.reply if name == "QueueStatus" else OK
                if answer is not None and self.answering:
                    writer.write(answer.replace(b"{id}", action_id.encode()))
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            self.ended += 1
            writer.close()
