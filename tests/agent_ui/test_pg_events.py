"""Live events between app instances over PostgreSQL LISTEN/NOTIFY, on the real server."""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pytest

from agent_ui.live.events import EventHub
from agent_ui.live.pg_events import CHANNEL, PgEventBus, libpq_conninfo
from hotline.testing.pbx import free_port


async def next_event(stream: object) -> str:
    async def read() -> str:
        while True:
            item = await stream.__anext__()  # type: ignore[attr-defined]
            if item.startswith("event:"):
                return str(item)

    return await asyncio.wait_for(read(), 5)


async def pages(hub: EventHub, user: str) -> object:
    async def connected() -> bool:
        return False

    stream = hub.stream(user, connected)
    assert (await stream.__anext__()).startswith("retry:")  # the page is now subscribed
    return stream


def test_an_event_published_on_one_instance_reaches_pages_on_both(pg_url: str) -> None:
    async def main() -> None:
        hub_a, hub_b = EventHub(), EventHub()
        bus_a, bus_b = PgEventBus(pg_url, hub_a), PgEventBus(pg_url, hub_b)
        hub_a.carrier, hub_b.carrier = bus_a, bus_b
        bus_a.start()
        bus_b.start()
        try:
            await asyncio.wait_for(bus_a.listening.wait(), 5)
            await asyncio.wait_for(bus_b.listening.wait(), 5)
            page_a, page_b = await pages(hub_a, "dc_agent"), await pages(hub_b, "dc_agent")
            assert hub_a.publish("dc_agent", "pop", {"call_id": 7, "区": "东城"}) == 0
            for page in (page_a, page_b):
                assert await next_event(page) == (
                    'event: pop\ndata: {"call_id": 7, "区": "东城"}\n\n'
                )
            hub_b.publish("dc_agent", "state", {"state": "ready"})
            hub_b.publish("dc_agent", "pop", {"call_id": 8})
            assert "state" in await next_event(page_a)  # in the order they were published
            assert '"call_id": 8' in await next_event(page_a)
            for _ in range(100):  # a sender counts after its NOTIFY returns, which can be
                if (bus_a.sent, bus_b.sent) == (1, 2):  # after the listeners have it
                    break
                await asyncio.sleep(0.01)
            assert (bus_a.sent, bus_b.sent, bus_a.received) == (1, 2, 3)
        finally:
            await bus_a.stop()
            await bus_b.stop()

    asyncio.run(main())


def test_malformed_notifications_are_logged_once_and_ignored(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        hub = EventHub()
        bus = PgEventBus(pg_url, hub)
        hub.carrier = bus
        bus.start()
        try:
            await asyncio.wait_for(bus.listening.wait(), 5)
            page = await pages(hub, "dc_agent")
            async with await psycopg.AsyncConnection.connect(
                libpq_conninfo(pg_url), autocommit=True
            ) as other:
                for bad in ("not json", '{"user": 1, "kind": "pop", "data": {}}', "[]"):
                    await other.execute("SELECT pg_notify(%s, %s)", (CHANNEL, bad))
            hub.publish("dc_agent", "pop", {"call_id": 1})
            assert '"call_id": 1' in await next_event(page)
            assert bus.received == 1
        finally:
            await bus.stop()

    with caplog.at_level(logging.WARNING, "hotline.events.pg"):
        asyncio.run(main())
    # Logged once: a peer that keeps sending junk does not flood the log.
    assert sum("malformed event" in r.getMessage() for r in caplog.records) == 1


def test_with_the_database_unreachable_events_still_reach_this_instance() -> None:
    async def main() -> None:
        hub = EventHub()
        nowhere = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
        bus = PgEventBus(nowhere, hub)
        hub.carrier = bus
        bus.start()
        try:
            page = await pages(hub, "dc_agent")
            hub.publish("dc_agent", "pop", {"call_id": 9})
            assert '"call_id": 9' in await next_event(page)
            assert bus.local_only == 1 and not bus.listening.is_set()
        finally:
            await bus.stop()

    logging.getLogger("hotline.events.pg").setLevel(logging.ERROR)  # the expected retries
    try:
        asyncio.run(main())
    finally:
        logging.getLogger("hotline.events.pg").setLevel(logging.NOTSET)


def test_only_postgresql_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        libpq_conninfo("sqlite:///x.db")
    assert libpq_conninfo("postgresql+psycopg://u:p@h:5/db") == "postgresql://u:p@h:5/db"
