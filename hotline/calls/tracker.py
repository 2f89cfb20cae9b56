"""Follows calls through AMI events and stores their timeline on the call record.

Events are queued and handled one at a time, in order, off the AMI reader; the database is
reached through ``asyncio.to_thread``. Subscribers hear about connected calls (the agent
desktop's screen pop listens here).

With several app instances every one hears the same AMI events, but only the one holding the
``call-tracker`` lease stores them and tells its subscribers (``track_while_leader``): each
event is kept once and each pop and wrap-up happens once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Engine, or_, select, update

from agi.ami import AmiClient
from agi.ami_protocol import Message
from hotline.calls.timeline import TRACKED, CallView, apply_event
from hotline.db import transaction
from hotline.lease import acquire, release
from hotline.models import Call, CallEvent, utcnow

log = logging.getLogger("hotline.tracker")


@dataclass(frozen=True)
class CallConnected:
    call_id: int
    agent: str


@dataclass(frozen=True)
class CallCompleted:
    """The agent's part of the call ended (AgentComplete): wrap-up starts."""

    call_id: int
    agent: str
    queue: str
    interface: str


CallNotice = CallConnected | CallCompleted
Listener = Callable[[CallNotice], Awaitable[None] | None]


class CallTracker:
    def __init__(self, engine: Engine, max_backlog: int = 10_000) -> None:
        self._engine = engine
        self._events: asyncio.Queue[Message] = asyncio.Queue(max_backlog)
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self.handled = 0
        self.active = True  # False on an instance that does not hold the tracker lease

    def attach(self, ami: AmiClient) -> None:
        for name in TRACKED:
            ami.on(name, self._events.put)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def drained(self) -> None:
        """Wait until every queued event is stored (tests, shutdown)."""
        await self._events.join()

    async def _run(self) -> None:
        while True:
            event = await self._events.get()
            if not self.active:
                self._events.task_done()
                continue
            try:
                connected = await asyncio.to_thread(self._store, event)
                if connected is not None:
                    for listener in self._listeners:
                        result = listener(connected)
                        if inspect.isawaitable(result):
                            await result
            except Exception:
                log.exception("could not store %s", event.event)
            finally:
                self.handled += 1
                self._events.task_done()

    def _store(self, event: Message) -> CallNotice | None:
        uniqueid, linkedid = event.get("Uniqueid"), event.get("Linkedid")
        if not uniqueid and not linkedid:
            return None
        with transaction(self._engine) as session:
            call = session.scalars(
                select(Call)
                .where(or_(Call.uniqueid == uniqueid, Call.linkedid == linkedid))
                .order_by(Call.id.desc())
                .limit(1)
            ).first()
            if call is None:
                return None
            view = CallView(
                call.uniqueid,
                call.linkedid,
                call.connected_at is not None,
                call.queue_joined_at is not None,
                call.outcome,
            )
            change = apply_event(view, event)
            if change is None:
                return None
            if change.updates:
                session.execute(update(Call).where(Call.id == call.id).values(**change.updates))
            session.add(
                CallEvent(call_id=call.id, at=change.at, kind=change.kind, detail=change.detail)
            )
            if change.kind == "AgentConnect" and "agent" in change.updates:
                return CallConnected(call.id, str(change.updates["agent"]))
            if change.kind == "AgentComplete" and event.get("MemberName"):
                return CallCompleted(
                    call.id, event.get("MemberName"), event.get("Queue"), event.get("Interface")
                )
        return None


LEASE = "call-tracker"


async def track_while_leader(
    tracker: CallTracker, engine: Engine, holder: str, interval: float = 5.0
) -> None:
    """Keep ``tracker.active`` true exactly while this instance holds the tracker lease.
    The lease lasts three intervals, so a dead leader's place is taken within that time;
    events in that gap are not stored (the call records keep what the IVR wrote)."""
    ttl = dt.timedelta(seconds=interval * 3)
    try:
        while True:
            try:
                leader = await asyncio.to_thread(acquire, engine, LEASE, holder, ttl, utcnow())
            except Exception:
                log.exception("could not renew the tracker lease")
                leader = False
            if leader != tracker.active:
                log.info("call tracking %s on %s", "starts" if leader else "stops", holder)
            tracker.active = leader
            await asyncio.sleep(interval)
    finally:
        tracker.active = False
        with contextlib.suppress(Exception):
            await asyncio.to_thread(release, engine, LEASE, holder)
