"""A real Asterisk 22 (Debian sid chroot, scripts/asterisk.sh) running the rendered config.

One Asterisk per test session. Each scenario runs our FastAGI server and AMI client in its
own event loop, places calls by AMI Originate into Local channels and asserts on AMI events
and database rows. In CI these tests must run: a missing Asterisk fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from dialplan.render import render
from hotline import migrate
from hotline.db import make_engine
from hotline.demo import load_demo_users
from hotline.refdata import load_reference_data
from hotline.settings import PROJECT_ROOT, AmiNode, Bind, Settings
from hotline.testing.pbx import SCRIPT, Pbx, free_port
from ivr.audio import build_prompts
from ivr.entry import load_ivr

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "pbx" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.asterisk)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"real Asterisk is required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    if os.geteuid() != 0:
        _unavailable("the Asterisk chroot needs root")
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        _unavailable("espeak-ng and sox are needed for the prompts")
    work = tmp_path_factory.mktemp("pbx")
    url = f"sqlite:///{work / 'hotline.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    load_reference_data(engine, PROJECT_ROOT / "data" / "reference")
    load_demo_users(engine)  # agents with PJSIP endpoints, so pjsip.conf has phones
    settings = Settings(
        database_url=url,
        fastagi=Bind(port=free_port()),
        ami=[AmiNode(port=free_port(), username="hotline", secret=SecretStr("test-secret"))],
        sip_secret=SecretStr("test-sip-secret"),
        emergency_dial="Local/answer@test-emergency",
    )
    conf = work / "asterisk"
    render(settings, engine, conf)
    shutil.copy(HERE / "extensions_local.conf", conf / "extensions_local.conf")
    build_prompts(load_ivr().prompts, conf / "sounds")
    started = subprocess.run(
        [str(SCRIPT), "start", str(conf)], capture_output=True, text=True, timeout=600, check=False
    )
    if started.returncode != 0:
        _unavailable(f"asterisk did not start: {started.stderr[-2000:]}")
    root = Path(
        subprocess.run(
            [str(SCRIPT), "root"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    try:
        yield Pbx(settings, engine, root)
    finally:
        subprocess.run([str(SCRIPT), "stop"], capture_output=True, timeout=60, check=False)
        engine.dispose()
