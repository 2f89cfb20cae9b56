"""The web app on a real uvicorn on loopback, and signing in the way a browser does."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn

from hotline.service import EmbeddedWebServer
from hotline.testing.pbx import free_port


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 (a free port) for the block; its base URL.
    The server stops even when the block fails."""
    port = free_port()
    server = EmbeddedWebServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, backlog=1024)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # it could not start: say why
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> str:
    """Sign in through the form; the desktop's CSRF token for JSON calls (X-CSRF-Token)."""
    await log_in(client, username, password)
    desk = await client.get("/")
    token = re.search(r'csrf: "([^"]+)"', desk.text) or re.search(
        r'name="csrf_token" value="([^"]+)"', desk.text
    )
    assert token is not None, desk.text[:300]
    return token.group(1)


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> None:
    """Sign in through the form, as anyone (a unit's account has no desk)."""
    page = await client.get("/login")
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert form_token is not None, page.text[:300]
    done = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": form_token.group(1)},
    )
    assert done.status_code in (200, 303), done.text[:300]
