"""The live events' way from the telephony process to the web process's pages (SQLite;
PostgreSQL uses LISTEN/NOTIFY as between any two instances): events published before the
web process listens are kept and arrive, a restarted web process gets the next ones, a
malformed line is logged and skipped."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from agent_ui.live.events import EventHub
from hotline.web_process import EventFanOut, EventLink, link_paths, receive_events


class Pages(EventHub):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, dict[str, object]]] = []

    def deliver(self, user: str, kind: str, data: dict[str, object]) -> int:
        self.seen.append((user, kind, data))
        return 1


async def until(check: object, seconds: float = 5) -> None:
    async with asyncio.timeout(seconds):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.01)


def test_events_cross_to_the_web_process(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.sock"

    async def main() -> None:
        link = EventLink(path)
        link.start()
        link.publish("dc_agent", "pop", {"call_id": 1})  # the web process is not up yet
        pages = Pages()
        server = await receive_events(path, pages)
        await until(lambda: len(pages.seen) == 1)
        assert pages.seen == [("dc_agent", "pop", {"call_id": 1})]
        server.close()  # the web process dies and comes back
        again = Pages()
        server = await receive_events(path, again)
        link.publish("dc_agent", "wrapup_end", {"中文": "是"})
        await until(lambda: ("dc_agent", "wrapup_end", {"中文": "是"}) in again.seen)
        _, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b"not json\n")
        await writer.drain()
        writer.close()
        await until(lambda: "malformed live event" in caplog.text)
        server.close()
        await link.stop()

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())


def test_each_web_process_gets_every_event(tmp_path: Path) -> None:
    """With several web processes a desk may be served by any of them: each gets the event."""
    paths = link_paths(2)

    async def main() -> None:
        links = [EventLink(path) for path in paths]
        for link in links:
            link.start()
        pages = [Pages(), Pages()]
        servers = [
            await receive_events(path, page) for path, page in zip(paths, pages, strict=True)
        ]
        EventFanOut(links).publish("dc_agent", "pop", {"call_id": 7})
        await until(lambda: all(page.seen for page in pages))
        assert [page.seen for page in pages] == [[("dc_agent", "pop", {"call_id": 7})]] * 2
        for server in servers:
            server.close()
        for link in links:
            await link.stop()

    asyncio.run(main())
    assert paths[0].parent == paths[1].parent and paths[0] != paths[1]
