"""The IVR's FastAGI handler when its database hangs: the caller is let go to the dialplan's
fallback queue within the bound instead of waiting in silence."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

import ivr.entry
from agi.server import FastAgiServer
from hotline.calls.records import CallRecords
from hotline.settings import PROJECT_ROOT, Settings
from ivr.entry import call_handler

ENV = (
    "agi_network: yes\nagi_network_script: ivr\nagi_uniqueid: hang-1\nagi_channel: Local/x\n"
    "agi_callerid: 13800000009\nagi_arg_1: 65120001\n\n"
)


class HangingRecords(CallRecords):
    async def start_call(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(30)  # a database that does not answer


def test_a_hanging_database_lets_the_call_go(
    loaded_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ivr.entry, "CallRecords", HangingRecords)
    monkeypatch.setattr(ivr.entry, "RECORDS_TIMEOUT", 0.3)
    settings = Settings(
        database_url=str(loaded_engine.url), ivr_dir=PROJECT_ROOT / "bench" / "flows" / "quick"
    )

    async def main() -> tuple[bytes, float]:
        server = FastAgiServer(call_handler(settings, loaded_engine))
        _, port = await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = time.monotonic()
            writer.write(ENV.encode())
            sent = await asyncio.wait_for(reader.read(), 5)  # until the server hangs up
            writer.close()
            return sent, time.monotonic() - started
        finally:
            await server.stop(grace=1)

    sent, waited = asyncio.run(main())
    # No command at all: HOTLINE_TARGET stays "fallback", so the dialplan queues the city.
    assert sent == b"" and waited < 2
