"""Debian's chromium as the browser tests start it (the flags the issue names)."""

from __future__ import annotations

import shutil
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
