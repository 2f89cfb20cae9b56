"""Open event streams must not hold database connections: 30 pages stay connected (more than
the pool's 15) and ordinary requests still go through. A real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest
from sqlalchemy import Engine

from agent_ui.live.events import EventHub
from agent_ui.main import create_app
from hotline.settings import Settings
from hotline.testing.web import serving, sign_in


def test_many_streams_leave_the_pool_free(loaded_engine: Engine, loaded_db_url: str) -> None:
    async def main() -> None:
        hub = EventHub()
        app = create_app(Settings(database_url=loaded_db_url), loaded_engine, hub=hub)
        async with serving(app) as base:
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                await sign_in(client, "dc_agent", "agent-demo-123")
                cookie = client.cookies.get("hotline_session")
                assert cookie, "sign-in set no session cookie"
            stack = contextlib.AsyncExitStack()
            async with stack:
                for _ in range(30):
                    stream_client = await stack.enter_async_context(
                        httpx.AsyncClient(
                            base_url=base, cookies={"hotline_session": cookie}, timeout=10
                        )
                    )
                    response = await stack.enter_async_context(
                        stream_client.stream("GET", "/events")
                    )
                    assert response.status_code == 200
                for _ in range(50):
                    if hub.subscribers("dc_agent") == 30:
                        break
                    await asyncio.sleep(0.05)
                assert hub.subscribers("dc_agent") == 30
                async with httpx.AsyncClient(
                    base_url=base, timeout=10, cookies={"hotline_session": cookie}
                ) as other:
                    places = await other.get("/desk/places", params={"q": "dhm"})
                    assert places.status_code == 200 and places.json()[0]["name"] == "东华门街道"

    asyncio.run(main())


def test_a_page_that_connects_mid_call_gets_its_pop(
    loaded_engine: Engine, loaded_db_url: str
) -> None:
    """A pop sent while the desk was not connected (loading, reloading, its stream
    reconnecting) is not lost: the stream opens with the call the agent is on, until that
    call's end is sent. Another agent's call is not shown."""

    async def first_event(client: httpx.AsyncClient) -> str:
        async with client.stream("GET", "/events") as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            while not (line := await asyncio.wait_for(anext(lines), 5)).startswith("data:"):
                pass
            return line

    async def main() -> None:
        hub = EventHub()
        app = create_app(Settings(database_url=loaded_db_url), loaded_engine, hub=hub)
        async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
            await sign_in(client, "dc_agent", "agent-demo-123")
            hub.publish("dc_agent", "pop", {"call_id": 41})
            hub.publish("dc_agent", "ended", {"call_id": 41, "lost": False})
            hub.publish("dc_agent", "pop", {"call_id": 42})  # no page open: sent to none
            hub.publish("xc_agent", "pop", {"call_id": 43})
            assert json.loads((await first_event(client))[5:]) == {"call_id": 42}
            assert json.loads((await first_event(client))[5:]) == {"call_id": 42}  # a reload
            hub.publish("dc_agent", "ended", {"call_id": 42, "lost": False})
            with pytest.raises(TimeoutError):  # the call ended: nothing to show on connect
                await first_event(client)

    asyncio.run(main())
