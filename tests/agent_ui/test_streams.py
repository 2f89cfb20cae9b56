"""Open event streams must not hold database connections: 30 pages stay connected (more than
the pool's 15) and ordinary requests still go through. A real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import re

import httpx
import uvicorn
from sqlalchemy import Engine

from agent_ui.events import EventHub
from agent_ui.main import create_app
from hotline.service import EmbeddedWebServer
from hotline.settings import Settings
from hotline.testing.pbx import free_port


def test_many_streams_leave_the_pool_free(loaded_engine: Engine, loaded_db_url: str) -> None:
    async def main() -> None:
        hub = EventHub()
        port = free_port()
        server = EmbeddedWebServer(
            uvicorn.Config(
                create_app(Settings(database_url=loaded_db_url), loaded_engine, hub=hub),
                host="127.0.0.1",
                port=port,
                log_config=None,
            )
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                page = await client.get("/login")
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                assert csrf is not None
                signed = await client.post(
                    "/login",
                    data={
                        "username": "dc_agent",
                        "password": "agent-demo-123",
                        "csrf_token": csrf.group(1),
                    },
                )
                assert signed.status_code == 303, signed.text
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
        finally:  # a failed assertion must not leave the server or its sockets open
            server.should_exit = True
            await serving

    asyncio.run(main())
