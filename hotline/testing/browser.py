"""Debian's chromium as the browser tests start it (the flags the issue names)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from hotline.settings import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"  # screenshots, linked from the README


async def signed_in_page(
    browser: Any, base: str, user: str, password: str, width: int = 1366, height: int = 768
) -> Any:
    """A new page of ``browser`` signed in through the form (a 1366×768 screen unless told)."""
    page = await browser.new_page(viewport={"width": width, "height": height})
    await page.goto(f"{base}/login")
    await page.fill("#username", user)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    return page


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """``app`` served on a free local port for the block; yields its base address."""
    import uvicorn

    from hotline.service import EmbeddedWebServer
    from hotline.testing.pbx import free_port

    port = free_port()
    web = EmbeddedWebServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    serving = asyncio.create_task(web.serve())
    while not web.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        web.should_exit = True
        await serving
