"""Debian's chromium for the browser tests, started as the issue asks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotline.testing.browser import ARTIFACTS, CHROMIUM


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium is not installed (with CI=true this fails instead)")
    ARTIFACTS.mkdir(exist_ok=True)
    return CHROMIUM
