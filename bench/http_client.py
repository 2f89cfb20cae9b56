"""A page load costing the benchmark's own client as little CPU as it can: one HTTP/1.1
keep-alive connection per user, a GET written by hand, the answer read by its length or
chunks. The server under test shares the machine's 2 cores with the client, and an
``httpx.AsyncClient`` costs about 1.6 ms of CPU per load (its request and response
models, its cookie jar): a user's browser is on another machine, so that CPU is the
benchmark's error, not the server's time. Sign-in stays ``httpx`` (``log_in``); its
cookies go on every request here.

Only what ``hotline serve`` answers is read: a status line, headers, then a body of
``Content-Length`` bytes or ``Transfer-Encoding: chunked``.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx

URL_SAFE = "/?&=%:+,;@!$'()*~"  # a path and query as written: only the rest is escaped


class KeepAlive:
    """One user's connection: ``await get(path)`` → (status, body bytes)."""

    def __init__(self, host: str, port: int, cookies: httpx.Cookies) -> None:
        self.host, self.port = host, port
        jar = "; ".join(f"{name}={value}" for name, value in cookies.items())
        self.head = f"Host: {host}:{port}\r\nCookie: {jar}\r\nAccept: */*\r\n\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, int]:
        target = quote(path, safe=URL_SAFE).encode("ascii")  # 重复上报 → %E9%87%8D…
        request = b"GET " + target + b" HTTP/1.1\r\n" + self.head
        head = await self._send(request, reused=True)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            size = 0
            while True:
                length = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(length + 2)
                size += length
                if length == 0:
                    break
        else:
            size = int(headers.get("content-length", "0"))
            await self.reader.readexactly(size)
        if headers.get("connection") == "close":
            self.writer.close()
        return status, size

    async def _send(self, request: bytes, reused: bool) -> bytes:
        """``request`` sent, the answer's head read; on a kept connection the server closed
        while idle (uvicorn: after 5 s), once more on a new one, as a browser does."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            reused = False
        assert self.reader is not None
        try:
            self.writer.write(request)
            return await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            if not reused:
                raise
            self.writer.close()
            return await self._send(request, reused=False)

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
