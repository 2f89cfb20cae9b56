"""Follows calls through AMI events and stores their timeline on the call record.

Events are queued off the AMI reader and stored in order, whatever has queued up at once,
through the call records' database thread (``CallRecords.track``: the events of a burst
share commits with the IVR's steps). Subscribers hear about connected calls (the agent
desktop's screen pop listens here) once the event is stored.

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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from agi.ami import AmiClient, AmiError
from agi.ami_protocol import Message
from hotline.calls.records import CallRecords, Tracked
from hotline.calls.timeline import TRACKED, OpenCall
from hotline.faults import FaultLog
from hotline.lease import acquire, release
from hotline.models import utcnow
from hotline.tasks import stop, supervise

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


@dataclass(frozen=True)
class CallLost:
    """The call's node was lost and its record closed (``hotline.calls.lost``): the live
    ``ended`` event goes to the agent as at any call's end. No wrap-up: the agent was set
    free on the other nodes when the node went (``agent_ui.live.presence``)."""

    call_id: int
    agent: str


CallNotice = CallConnected | CallCompleted | CallLost
Listener = Callable[[CallNotice], Awaitable[None] | None]


# Events taken from the queue at once: one batch of the database thread's, so that the
# IVR's steps queued meanwhile go before the tracker's next events, not after thousands.
MAX_BATCH = 100


class CallTracker:
    """``records``: the call records to write through; one shared with the IVR puts both
    on the same database thread and into the same commits (``hotline serve`` does)."""

    def __init__(
        self, engine: Engine, max_backlog: int = 10_000, *, records: CallRecords | None = None
    ) -> None:
        self._records = records or CallRecords(engine)
        self._own_records = records is None
        self._events: asyncio.Queue[Message] = asyncio.Queue(max_backlog)
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self.handled = 0
        self.active = True  # False on an instance that does not hold the tracker lease
        self._faults = FaultLog(log)

    def attach(self, ami: AmiClient) -> None:
        for name in TRACKED:
            ami.on(name, self._events.put)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        self._task = supervise("call tracker", self._run)

    async def stop(self, grace: float = 5.0) -> None:
        """Store what has queued up (for up to ``grace`` seconds: stop AMI first, so that
        nothing more comes), then stop. Never raises: a shutdown goes on."""
        if self._task is not None and not self._task.done():
            try:
                async with asyncio.timeout(grace):
                    await self.drained()
            except TimeoutError:
                log.error("%d AMI events not stored at shutdown", self._events.qsize())
        await stop(self._task)
        self._task = None
        if self._own_records:
            await asyncio.to_thread(self._records.close)

    async def reconcile(self, clients: Sequence[AmiClient], settle: float = 10.0) -> int:
        """Close the call records left open although their channel is gone: the app that
        had the call was killed, or no instance tracked while it ended, or the node it was
        on died. Open records are read first, then every Asterisk node's channels
        (``CoreShowChannels``): a record older than ``settle`` seconds whose channel its
        node no longer has has ended. A record that names its node (``calls.node``, several
        nodes) is judged by that node alone: a node that does not answer keeps its own
        records open for this round, not the others'. A record without a node needs every
        node's answer. Returns how many were closed."""
        before = utcnow() - dt.timedelta(seconds=settle)
        open_calls = await self._records.open_calls(before)
        if not open_calls:
            return 0
        live: dict[str, set[str]] = {}  # node name -> its channels' ids, for nodes that answered
        for client in clients:
            try:
                entries = await client.list_action("CoreShowChannels")
            except AmiError as exc:
                log.info("reconciling without node %s: %s", client.name, exc)
                continue
            live[client.name] = {e.get("Uniqueid") for e in entries if e.event == "CoreShowChannel"}
        everywhere = set().union(*live.values()) if live else set()
        every_node = len(live) == len(clients)

        def gone(call: OpenCall) -> bool:
            if call.node and call.node in live:
                return call.uniqueid not in live[call.node]
            if call.node and any(c.name == call.node for c in clients):
                return False  # its node did not answer: next round
            return every_node and call.uniqueid not in everywhere

        ended = [call for call in open_calls if gone(call)]
        for call in ended:
            await self._records.close_missed(call)
        if ended:
            log.info("closed %d call records whose channels had ended unseen", len(ended))
        return len(ended)

    async def close_lost_node(self, node: str, lost_at: dt.datetime, by: str = "app") -> int:
        """Close the open call records of ``node``, unreachable since ``lost_at`` (for
        longer than ``node_lost_seconds``): outcome ``node_lost``, a ``NodeLost`` step in
        each timeline; a ``CallLost`` notice per call that had an agent. Returns how many."""
        closed = await self._records.close_node(node, lost_at, by)
        if closed:
            log.warning(
                "node %s lost since %s: closed %d call records (outcome node_lost)",
                node,
                lost_at.isoformat(timespec="seconds"),
                len(closed),
            )
        for call in closed:
            if call.agent:
                await self._tell(CallLost(call.id, call.agent))
        return len(closed)

    async def drained(self) -> None:
        """Wait until every queued event is stored (tests, shutdown)."""
        await self._events.join()

    async def _run(self) -> None:
        """Whatever has queued up goes to the database together, in order (under a burst
        of calls, thousands of events a second; one transaction per event fell behind by
        seconds, and with it the screen pops)."""
        while True:
            events = [await self._events.get()]
            while len(events) < MAX_BATCH and not self._events.empty():
                events.append(self._events.get_nowait())
            try:
                if self.active:
                    await self._store(events)
            except Exception:
                self._faults.fault("batch", "could not store %d events", len(events), exc_info=True)
            finally:
                self.handled += len(events)
                for _ in events:
                    self._events.task_done()

    async def _store(self, events: list[Message]) -> None:
        results = await self._records.track(events)
        for event, result in zip(events, results, strict=True):
            if isinstance(result, BaseException):
                self._faults.fault(
                    f"store {event.event}", "could not store %s", event.event, exc_info=result
                )
                continue
            notice = _notice(event, result)
            if notice is not None:
                await self._tell(notice)

    async def _tell(self, notice: CallNotice) -> None:
        for listener in self._listeners:
            try:
                heard = listener(notice)
                if inspect.isawaitable(heard):
                    await heard
            except Exception:
                self._faults.fault(
                    f"listener {type(notice).__name__}",
                    "a listener failed on %s",
                    notice,
                    exc_info=True,
                )


def _notice(event: Message, tracked: Tracked | None) -> CallNotice | None:
    """What subscribers hear of a stored event: a call connected, or an agent's part done."""
    if tracked is None:
        return None
    change = tracked.change
    if change.kind == "AgentConnect" and "agent" in change.updates:
        return CallConnected(tracked.call_id, str(change.updates["agent"]))
    if change.kind == "AgentComplete" and event.get("MemberName"):
        return CallCompleted(
            tracked.call_id, event.get("MemberName"), event.get("Queue"), event.get("Interface")
        )
    return None


LEASE = "call-tracker"


async def track_while_leader(
    tracker: CallTracker,
    engine: Engine,
    holder: str,
    interval: float = 5.0,
    clients: Sequence[AmiClient] = (),
    reconcile_every: int = 12,
    node_lost: float = 0.0,
) -> None:
    """Keep ``tracker.active`` true exactly while this instance holds the tracker lease.
    The lease lasts three intervals, so a dead leader's place is taken within that time;
    the calls that ended in that gap (or whose app was killed) are closed by
    :meth:`CallTracker.reconcile` against ``clients`` when the lease is taken, and every
    ``reconcile_every`` intervals after. With several nodes, a node unreachable for
    ``node_lost`` seconds (0: never) has its open records closed as lost
    (:meth:`CallTracker.close_lost_node`), once per time it goes away."""
    ttl = dt.timedelta(seconds=interval * 3)
    rounds = 0
    up = {client.name: client.connected.is_set() for client in clients}
    lost = _LostNodes(node_lost if len(clients) > 1 else 0.0)
    try:
        while True:
            try:
                leader = await asyncio.to_thread(acquire, engine, LEASE, holder, ttl, utcnow())
            except Exception:
                log.exception("could not renew the tracker lease")
                leader = False
            if leader != tracker.active:
                log.info("call tracking %s on %s", "starts" if leader else "stops", holder)
                rounds = 0
            tracker.active = leader
            # A node back (restarted after a crash): the calls it had are gone, close them now.
            back = [c.name for c in clients if c.connected.is_set() and not up[c.name]]
            up = {client.name: client.connected.is_set() for client in clients}
            if back and rounds:
                log.info("node %s is back: reconciling its open call records", ", ".join(back))
            if leader and clients and (back or rounds % reconcile_every == 0):
                try:
                    await tracker.reconcile(clients)
                except Exception:
                    log.warning("could not reconcile the open call records", exc_info=True)
            for node, since in lost.due(clients, utcnow()):
                if not leader:
                    continue
                try:
                    await tracker.close_lost_node(node, since)
                except Exception:
                    log.warning("could not close the records of node %s", node, exc_info=True)
                else:
                    lost.closed(node)
            rounds += 1
            await asyncio.sleep(interval)
    finally:
        tracker.active = False
        with contextlib.suppress(Exception):
            await asyncio.to_thread(release, engine, LEASE, holder)


class _LostNodes:
    """When each node was last seen up; which nodes are due to be given up."""

    def __init__(self, grace: float) -> None:
        self._grace = dt.timedelta(seconds=grace)
        self._down_since: dict[str, dt.datetime] = {}
        self._closed: set[str] = set()

    def due(self, clients: Sequence[AmiClient], now: dt.datetime) -> list[tuple[str, dt.datetime]]:
        """The nodes down for longer than the grace, not closed yet, with since when (the
        moment their AMI connection was lost, else when this was first seen)."""
        if not self._grace:
            return []
        for client in clients:
            if client.connected.is_set():
                self._down_since.pop(client.name, None)
                self._closed.discard(client.name)
            else:
                self._down_since.setdefault(client.name, client.down_since or now)
        return [
            (node, since)
            for node, since in self._down_since.items()
            if node not in self._closed and now - since >= self._grace
        ]

    def closed(self, node: str) -> None:
        self._closed.add(node)
