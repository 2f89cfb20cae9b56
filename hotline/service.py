"""``hotline serve``: the web desktop and the FastAGI server in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn

from agent_ui.main import create_app
from agi.ami import AmiClient
from agi.queues import QueueMonitor
from agi.server import FastAgiServer
from hotline.db import make_engine
from hotline.settings import Settings
from ivr.entry import call_handler

log = logging.getLogger("hotline")


class _WebServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``run`` owns SIGINT/SIGTERM for both servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _ami_monitor(settings: Settings) -> tuple[AmiClient | None, QueueMonitor | None]:
    """The first AMI node's client and queue monitor, or none when no secret is set (the
    demo without Asterisk): routing then keeps districts' queues without overflow checks."""
    if not settings.ami or not settings.ami[0].secret.get_secret_value():
        log.info("no AMI secret configured: running without live queue state")
        return None, None
    node = settings.ami[0]
    ami = AmiClient(
        node.host, node.port, node.username, node.secret.get_secret_value(), name=node.name
    )
    ami.run_forever()
    monitor = QueueMonitor(ami)
    monitor.start()
    return ami, monitor


async def run(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    app = create_app(settings, engine)
    web = _WebServer(
        uvicorn.Config(
            app, host=settings.web.host, port=settings.web.port, log_config=None, lifespan="on"
        )
    )
    ami, monitor = _ami_monitor(settings)
    agi = FastAgiServer(
        call_handler(settings, engine, queues=monitor.snapshot if monitor else lambda: None)
    )
    await agi.start(settings.fastagi.host, settings.fastagi.port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    web_task = asyncio.create_task(web.serve())
    log.info(
        "web on http://%s:%s/  FastAGI on %s:%s",
        settings.web.host,
        settings.web.port,
        settings.fastagi.host,
        settings.fastagi.port,
    )
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({web_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    web.should_exit = True
    await agi.stop()
    if monitor is not None and ami is not None:
        await monitor.stop()
        await ami.close()
    await web_task
    stop_task.cancel()
    engine.dispose()
