"""``hotline serve``'s event loop: uvloop unless the settings ask for Python's own. Either
must carry what the server puts on it: TCP servers and clients with timeouts (FastAGI, AMI)
and results handed over from the call records' database thread."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop
from pydantic import ValidationError

from agi.server import LISTEN_BACKLOG
from hotline.calls.batch import BatchedWork
from hotline.db import make_engine
from hotline.service import new_event_loop
from hotline.settings import Settings


@pytest.mark.parametrize("kind", ["uvloop", "asyncio"])
def test_the_loop_carries_sockets_timeouts_and_the_database_thread(
    kind: str, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'loop.db'}")
    work = BatchedWork(engine)

    async def main() -> tuple[bytes, list[int]]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"200 result=" + (await reader.readline()))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0, backlog=LISTEN_BACKLOG)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"1\n")
        async with asyncio.timeout(5):
            line = await reader.readline()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await reader.readline()  # the peer closed: b"" at once, then wait forever
                await asyncio.Event().wait()
        writer.close()
        server.close()
        await server.wait_closed()
        steps = [lambda c, n=n: c.exec_driver_sql(f"SELECT {n}").scalar() for n in range(3)]
        return line, list(await asyncio.gather(*(work.run(step) for step in steps)))

    loop = new_event_loop(kind)
    assert isinstance(loop, uvloop.Loop) == (kind == "uvloop")
    try:
        with asyncio.Runner(loop_factory=lambda: loop) as runner:
            assert runner.run(main()) == (b"200 result=1\n", [0, 1, 2])
    finally:
        work.close()
        engine.dispose()


def test_the_setting_names_a_known_loop() -> None:
    assert Settings().event_loop == "uvloop"
    assert Settings(event_loop="asyncio").event_loop == "asyncio"
    with pytest.raises(ValidationError, match="event_loop"):
        Settings(event_loop="tokio")
