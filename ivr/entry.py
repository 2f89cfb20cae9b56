"""Entry point from the FastAGI server into the IVR."""

from __future__ import annotations

from sqlalchemy import Engine

from agi.server import AgiSession, Handler
from hotline.settings import Settings


def call_handler(settings: Settings, engine: Engine) -> Handler:
    """The handler run for every FastAGI call.

    Until the IVR flow is wired in, the call is handed straight back to the dialplan, whose
    fallback (set before AGI() runs) queues it for the city platform.
    """

    async def handle(session: AgiSession) -> None:
        session.log.info("no IVR flow configured; returning the call to the dialplan fallback")

    return handle
