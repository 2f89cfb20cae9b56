"""Live queue state for routing, from AMI ``QueueStatus``.

A poll every ``interval`` seconds keeps a snapshot; routing reads it without waiting. When
AMI is down the snapshot is ``None`` and routing keeps the district's queue (no overflow
decision on stale data); a queue whose reply cannot be read is left out of the snapshot,
with the same effect for that queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from agi.ami import AmiClient, AmiError
from agi.ami_protocol import Message
from hotline.faults import FaultLog
from hotline.tasks import stop, supervise
from routing.model import QueueState

log = logging.getLogger("hotline.queues")
AVAILABLE_STATUS = {"0", "1"}  # AST_DEVICE_UNKNOWN (Local members), AST_DEVICE_NOT_INUSE


def queue_states(
    messages: list[Message], problems: list[tuple[str, str]] | None = None
) -> dict[str, QueueState]:
    """Fold the events of one QueueStatus list into one state per queue.

    A queue whose figures cannot be read (``Calls: abc``, ``Wait: nan``, a count below
    zero) is left out, as if AMI had not named it: routing then keeps the district's queue
    rather than decide on a number it made up. Each such value is added to ``problems`` as
    ``(kind, description)``."""
    problems = [] if problems is None else problems
    params: dict[str, Message] = {}
    members: dict[str, list[Message]] = {}
    entries: dict[str, list[Message]] = {}
    for message in messages:
        if message.event not in ("QueueParams", "QueueMember", "QueueEntry"):
            continue
        queue = message.get("Queue")
        if not queue:
            problems.append((f"{message.event}.Queue", f"{message.event} without a Queue"))
        elif message.event == "QueueParams":
            params[queue] = message
        elif message.event == "QueueMember":
            members.setdefault(queue, []).append(message)
        else:
            entries.setdefault(queue, []).append(message)
    states = {}
    for queue, param in params.items():
        try:
            waits = [_number(e, "Wait", float) for e in entries.get(queue, [])]
            waiting = _number(param, "Calls", int, required=True)
            average_hold = _number(param, "Holdtime", float)
        except _Unreadable as exc:
            problems.append((exc.kind, f"queue {queue}: {exc}"))
            continue
        queue_members = members.get(queue, [])
        available = [
            m
            for m in queue_members
            if m.get("Status") in AVAILABLE_STATUS
            and m.get("Paused") == "0"
            and m.get("InCall", "0") == "0"
        ]
        states[queue] = QueueState(
            queue=queue,
            members=len(queue_members),
            available=len(available),
            waiting=int(waiting),
            longest_wait=max(waits, default=0.0),
            average_hold=average_hold,
            member_names=frozenset(_member(m) for m in queue_members),
            available_names=frozenset(_member(m) for m in available),
        )
    return states


def _member(message: Message) -> str:
    """A member's name (MemberName, the agent's username) or, without one, its interface."""
    return message.get("Name") or message.get("MemberName") or message.get("Location")


class _Unreadable(ValueError):
    def __init__(self, message: Message, name: str, value: str) -> None:
        super().__init__(f"{message.event} {name}: {value[:40]!r} is not a plausible figure")
        self.kind = f"{message.event}.{name}"


# Far above any real queue (callers waiting, seconds waited): a bigger value is garbage.
_PLAUSIBLE = 1e7


def _number(message: Message, name: str, kind: type[float], *, required: bool = False) -> float:
    """A count or a number of seconds: finite, from zero up to a plausible bound. Missing
    is zero, unless ``required``."""
    raw = message.get(name)
    if not raw and not required:
        return 0.0
    try:
        value = float(kind(raw))
    except (ValueError, OverflowError):
        raise _Unreadable(message, name, raw) from None
    if not 0 <= value <= _PLAUSIBLE:  # NaN fails this too
        raise _Unreadable(message, name, raw)
    return value


class QueueMonitor:
    """Polls QueueStatus on one node every ``interval`` seconds (:meth:`start`, a supervised
    task: it comes back if it ever dies). A malformed reply leaves its queues out of the
    snapshot until a good one comes; each kind of fault is logged once, not every poll."""

    def __init__(self, ami: AmiClient, interval: float = 1.0, max_age: float = 10.0) -> None:
        self._ami = ami
        self._interval = interval
        self._max_age = max_age
        self._states: dict[str, QueueState] = {}
        self._at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._faults = FaultLog(log)
        self._faulty: set[str] = set()

    def snapshot(self) -> Mapping[str, QueueState] | None:
        if time.monotonic() - self._at > self._max_age:
            return None
        return self._states

    async def refresh(self) -> None:
        messages = await self._ami.list_action("QueueStatus")
        problems: list[tuple[str, str]] = []
        self._states = queue_states(messages, problems)
        self._at = time.monotonic()
        for kind, problem in problems:
            self._faults.fault(
                kind, "[%s] malformed QueueStatus (%s): %s", self._ami.name, kind, problem
            )
        for kind in self._faulty - {kind for kind, _ in problems}:
            self._faults.ok(kind, "[%s] QueueStatus readable again (%s)", self._ami.name, kind)
        self._faulty = {kind for kind, _ in problems}

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            try:
                await self.refresh()
                self._faults.ok("poll", "[%s] queue polls answered again", self._ami.name)
            except AmiError as exc:
                if self._ami.connected.is_set():  # while AMI is down, its client says so
                    self._faults.fault("poll", "[%s] queue poll failed: %s", self._ami.name, exc)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = supervise(f"queue poll {self._ami.name}", self.run)

    async def stop(self) -> None:
        await stop(self._task)
        self._task = None


def merged_snapshot(monitors: list[QueueMonitor]) -> Mapping[str, QueueState] | None:
    """One view over several Asterisk nodes: a queue's callers add up; its members are
    counted once each by name (an agent is a member on every node), available when no node
    has them busy or paused; None when no node has fresh state."""
    snapshots = [s for s in (m.snapshot() for m in monitors) if s is not None]
    if not snapshots:
        return None
    merged: dict[str, QueueState] = {}
    for snapshot in snapshots:
        for name, state in snapshot.items():
            seen = merged.get(name)
            if seen is None:
                merged[name] = state
                continue
            named = bool(seen.member_names or state.member_names)
            names = seen.member_names | state.member_names
            busy = (seen.member_names - seen.available_names) | (
                state.member_names - state.available_names
            )
            free = (seen.available_names | state.available_names) - busy
            merged[name] = QueueState(
                queue=name,
                members=len(names) if named else seen.members + state.members,
                available=len(free) if named else seen.available + state.available,
                waiting=seen.waiting + state.waiting,
                longest_wait=max(seen.longest_wait, state.longest_wait),
                average_hold=max(seen.average_hold, state.average_hold),
                member_names=names,
                available_names=free,
            )
    return merged
