"""Live queue state for routing, from AMI ``QueueStatus``.

A poll every ``interval`` seconds keeps a snapshot; routing reads it without waiting. When
AMI is down the snapshot is ``None`` and routing keeps the district's queue (no overflow
decision on stale data).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from agi.ami import AmiClient, AmiError
from agi.ami_protocol import Message
from routing.model import QueueState

log = logging.getLogger("hotline.queues")
AVAILABLE_STATUS = {"0", "1"}  # AST_DEVICE_UNKNOWN (Local members), AST_DEVICE_NOT_INUSE


def queue_states(messages: list[Message]) -> dict[str, QueueState]:
    """Fold the events of one QueueStatus list into one state per queue."""
    params: dict[str, Message] = {}
    members: dict[str, list[Message]] = {}
    entries: dict[str, list[Message]] = {}
    for message in messages:
        queue = message.get("Queue")
        if message.event == "QueueParams":
            params[queue] = message
        elif message.event == "QueueMember":
            members.setdefault(queue, []).append(message)
        elif message.event == "QueueEntry":
            entries.setdefault(queue, []).append(message)
    states = {}
    for queue, param in params.items():
        queue_members = members.get(queue, [])
        available = sum(
            1
            for m in queue_members
            if m.get("Status") in AVAILABLE_STATUS
            and m.get("Paused") == "0"
            and m.get("InCall", "0") == "0"
        )
        waits = [float(e.get("Wait") or 0) for e in entries.get(queue, [])]
        states[queue] = QueueState(
            queue=queue,
            members=len(queue_members),
            available=available,
            waiting=int(param.get("Calls") or 0),
            longest_wait=max(waits, default=0.0),
            average_hold=float(param.get("Holdtime") or 0),
        )
    return states


class QueueMonitor:
    def __init__(self, ami: AmiClient, interval: float = 1.0, max_age: float = 10.0) -> None:
        self._ami = ami
        self._interval = interval
        self._max_age = max_age
        self._states: dict[str, QueueState] = {}
        self._at = 0.0
        self._task: asyncio.Task[None] | None = None

    def snapshot(self) -> Mapping[str, QueueState] | None:
        if time.monotonic() - self._at > self._max_age:
            return None
        return self._states

    async def refresh(self) -> None:
        messages = await self._ami.list_action("QueueStatus")
        self._states = queue_states(messages)
        self._at = time.monotonic()

    def start(self) -> None:
        async def poll() -> None:
            while True:
                try:
                    await self.refresh()
                except AmiError as exc:
                    log.debug("queue poll failed: %s", exc)
                await asyncio.sleep(self._interval)

        self._task = asyncio.create_task(poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def merged_snapshot(monitors: list[QueueMonitor]) -> Mapping[str, QueueState] | None:
    """One view over several Asterisk nodes: a queue's members and callers add up; None when
    no node has fresh state."""
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
            merged[name] = QueueState(
                queue=name,
                members=seen.members + state.members,
                available=seen.available + state.available,
                waiting=seen.waiting + state.waiting,
                longest_wait=max(seen.longest_wait, state.longest_wait),
                average_hold=max(seen.average_hold, state.average_hold),
            )
    return merged
