"""A real Asterisk 22 (Debian sid chroot, scripts/asterisk.sh) running the rendered config.

One Asterisk per test session. Each scenario runs our FastAGI server and AMI client in its
own event loop, places calls by AMI Originate into Local channels and asserts on AMI events
and database rows. In CI these tests must run: a missing Asterisk fails them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from hotline.testing.pbx import Pbx, PbxUnavailable, start_pbx, stop_pbx


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "pbx" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.asterisk)


@pytest.fixture(scope="session")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    try:
        running = start_pbx(tmp_path_factory.mktemp("pbx"))
    except PbxUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"real Asterisk is required in CI: {exc}")
        pytest.skip(str(exc))
    try:
        yield running
    finally:
        stop_pbx(running)
