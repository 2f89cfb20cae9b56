"""Signing in to the web desktop from a test, the way a browser does."""

from __future__ import annotations

import re

import httpx


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> str:
    """Sign in through the form; the desktop's CSRF token for JSON calls (X-CSRF-Token)."""
    page = await client.get("/login")
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert form_token is not None, page.text[:300]
    done = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": form_token.group(1)},
    )
    assert done.status_code in (200, 303), done.text[:300]
    desk = await client.get("/")
    token = re.search(r'csrf: "([^"]+)"', desk.text) or re.search(
        r'name="csrf_token" value="([^"]+)"', desk.text
    )
    assert token is not None, desk.text[:300]
    return token.group(1)
