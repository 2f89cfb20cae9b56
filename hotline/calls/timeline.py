"""What one AMI event means for a call record: a pure function, no I/O.

``apply_event`` takes the call as it stands (plain values) and an event, and returns the
column updates and the timeline entry to store. Events of the caller's own channel end the
call; events of other legs with the same linkedid (agents, transfers) only add to the
timeline.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from agi.ami_protocol import Message

# The events the tracker follows, and per event which headers the timeline keeps.
_DETAIL = {
    "QueueCallerJoin": ("Queue", "Position", "Count"),
    "AgentCalled": ("Queue", "MemberName", "Interface"),
    "AgentConnect": ("Queue", "MemberName", "Interface", "HoldTime", "RingTime"),
    "AgentComplete": ("Queue", "MemberName", "HoldTime", "TalkTime", "Reason"),
    "AgentRingNoAnswer": ("Queue", "MemberName", "RingTime"),
    "QueueCallerAbandon": ("Queue", "Position", "OriginalPosition", "HoldTime"),
    "BlindTransfer": ("Result", "Extension", "Context", "IsExternal"),
    "AttendedTransfer": ("Result", "DestType", "DestApp", "DestBridgeUniqueid"),
    "Hangup": ("Channel", "Cause", "Cause-txt"),
}
TRACKED = tuple(_DETAIL)


# The columns whose change ``advance`` carries into the view.
_VIEWED = frozenset({"connected_at", "queue_joined_at", "outcome"})


@dataclass(frozen=True)
class CallView:
    """The columns of the call record that the fold reads."""

    uniqueid: str
    linkedid: str
    connected: bool = False
    queued: bool = False
    outcome: str | None = None


@dataclass(frozen=True)
class Change:
    updates: dict[str, Any] = field(default_factory=dict)
    kind: str = ""
    detail: dict[str, str] = field(default_factory=dict)
    at: dt.datetime | None = None


def event_time(event: Message) -> dt.datetime:
    """The event's own time (``timestampevents = yes``), or now if it has none we can read
    ("x", "nan", a year past 9999)."""
    stamp = event.get("Timestamp")
    try:
        return dt.datetime.fromtimestamp(float(stamp), dt.UTC)
    except (ValueError, OverflowError, OSError):
        return dt.datetime.now(dt.UTC)


def apply_event(call: CallView, event: Message) -> Change | None:
    name = event.event
    if name not in _DETAIL:  # not a tracked event
        return None
    own = event.get("Uniqueid") == call.uniqueid
    if not own and event.get("Linkedid") != call.linkedid:  # another call's
        return None
    at = event_time(event)
    detail = {key: _clean(value, 256) for key in _DETAIL[name] if (value := event.get(key))}
    updates: dict[str, Any] = {}
    if name == "QueueCallerJoin" and own:
        updates = {"queue_joined_at": at, "queue": _clean(event.get("Queue"), 64)}
    elif name == "AgentConnect" and own:
        agent = event.get("MemberName") or event.get("Interface")
        updates = {"connected_at": at, "agent": _clean(agent, 64)}
    elif name == "QueueCallerAbandon" and own:
        updates = {"outcome": "abandoned_queue"}
    elif name in ("BlindTransfer", "AttendedTransfer"):
        updates = {"outcome": "transferred"}
    elif name == "Hangup":
        if not own:
            return Change({}, name, detail, at)
        updates = {"ended_at": at}
        if call.outcome is None:
            updates["outcome"] = (
                "answered" if call.connected else "abandoned_queue" if call.queued else "ended"
            )
    return Change(updates, name, detail, at)


def _clean(value: str, size: int) -> str:
    """A header as a column can hold it: no NUL (PostgreSQL's text refuses it), at most
    ``size`` characters (a longer queue or member name would fail the whole event)."""
    return value.replace("\0", "")[:size]


def advance(call: CallView, change: Change) -> CallView:
    """The call as it stands once ``change`` is stored (for the next event's fold)."""
    if not change.updates.keys() & _VIEWED:
        return call  # other legs' hangups, agents rung or done: nothing the view holds
    return dataclasses.replace(
        call,
        connected=call.connected or "connected_at" in change.updates,
        queued=call.queued or "queue_joined_at" in change.updates,
        outcome=change.updates.get("outcome", call.outcome),
    )


@dataclass(frozen=True)
class OpenCall:
    """A call record without an end, as reconciliation reads it."""

    id: int
    uniqueid: str
    queued: bool
    connected: bool
    node: str = ""  # the Asterisk node the IVR ran on, if it said (several nodes)


def missed_end(call: OpenCall, now: dt.datetime) -> dict[str, Any]:
    """The columns that close a call whose channel is gone while no tracker saw it end (the
    app was killed, or no instance held the tracker lease). The outcome is what the record
    knows: answered, left in the queue, or just ``ended`` (where the caller was when the
    call ended is not known)."""
    outcome = "answered" if call.connected else "abandoned_queue" if call.queued else "ended"
    return {"ended_at": now, "outcome": outcome}
