"""Live events to the browser over SSE: one bounded queue per open page.

The call tracker says a call connected to an agent; the hub puts a ``pop`` event on that
agent's pages. With several app instances a carrier (``agent_ui.live.pg_events``) takes each event
to every instance first. A page that does not keep up (queue full) is dropped rather than buffered
without bound; the browser's EventSource reconnects by itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

from hotline.calls.tracker import CallConnected, CallLost, CallNotice

log = logging.getLogger("hotline.events")
QUEUE_SIZE = 32
ON_CALL_AT_MOST = 4 * 3600.0  # seconds: a pop older than this without its end is forgotten
HEARTBEAT_SECONDS = 15.0
_CLOSE = object()


class Carrier(Protocol):
    """Carries an event to every app instance, this one included (PostgreSQL NOTIFY)."""

    def publish(self, user: str, kind: str, data: dict[str, Any]) -> None: ...


class EventHub:
    def __init__(self) -> None:
        self._pages: dict[str, set[asyncio.Queue[object]]] = defaultdict(set)
        self._on_call: dict[str, tuple[dict[str, Any], float]] = {}  # the pop not yet ended
        self.dropped = 0
        self.carrier: Carrier | None = None

    def subscribers(self, user: str) -> int:
        return len(self._pages.get(user, ()))

    def publish(self, user: str, kind: str, data: dict[str, Any]) -> int:
        """Send an event to every page of ``user``, on whichever instance it is open. With a
        carrier (several instances) the event travels through it and comes back to
        ``deliver``; returns the pages reached here at once (0 when it travels)."""
        if self.carrier is not None:
            self.carrier.publish(user, kind, data)
            return 0
        return self.deliver(user, kind, data)

    def deliver(self, user: str, kind: str, data: dict[str, Any]) -> int:
        """Queue an event for this instance's pages of ``user``; the number reached."""
        message = _message(kind, data)
        shown, _ = self._on_call.get(user, ({}, 0.0))
        if kind == "pop":
            self._on_call[user] = (data, time.monotonic())
        elif kind == "ended" and shown and shown.get("call_id") == data.get("call_id"):
            del self._on_call[user]
        reached = 0
        for queue in list(self._pages.get(user, ())):
            try:
                queue.put_nowait(message)
                reached += 1
            except asyncio.QueueFull:
                self.dropped += 1
                self._pages[user].discard(queue)
                queue.get_nowait()  # make room for the close marker
                queue.put_nowait(_CLOSE)
                log.warning("dropped a slow page of %s", user)
        return reached

    async def on_connected(self, event: CallNotice) -> None:
        if isinstance(event, CallConnected):
            self.publish(event.agent, "pop", {"call_id": event.call_id})
        else:  # the desk greys the call's controls; a lost node is said so
            lost = isinstance(event, CallLost)
            self.publish(event.agent, "ended", {"call_id": event.call_id, "lost": lost})

    def call_in_progress(self, user: str) -> dict[str, Any] | None:
        """The last pop sent to ``user``'s pages whose call has not ended (None: no such
        call, or it began more than :data:`ON_CALL_AT_MOST` ago and lost its end)."""
        found = self._on_call.get(user)
        if found is None or time.monotonic() - found[1] > ON_CALL_AT_MOST:
            return None
        return found[0]

    async def stream(self, user: str, disconnected: Any) -> AsyncIterator[str]:
        """SSE text for one page until the client goes away or is dropped. A page that
        connects while its user is on a call gets that call's pop first: a pop sent while
        the page was away (loading, reloading, its stream reconnecting) is not lost."""
        queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_SIZE)
        self._pages[user].add(queue)
        on_call = self.call_in_progress(user)  # with the queue: every later event comes by it
        try:
            yield "retry: 2000\n\n"
            if on_call is not None:
                yield _message("pop", on_call)
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    if await disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                if item is _CLOSE:
                    return
                yield str(item)
        finally:
            self._pages[user].discard(queue)


def _message(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
