"""The call timeline folded from a real Asterisk 22 event stream (byte-exact transcript)."""

from __future__ import annotations

from agi.ami_protocol import Message
from hotline.calls.timeline import CallView, advance, apply_event
from hotline.testing.transcripts import ami_events

UNIQUEID = "lab-ivr-queue-agent-1795847304-2"
LINKEDID = "lab-ivr-queue-agent-1795847304"


def events() -> list[Message]:
    return ami_events("ami-ivr-queue-agent.txt")


def fold(view: CallView) -> tuple[CallView, list[str], dict[str, object]]:
    kinds: list[str] = []
    columns: dict[str, object] = {}
    for event in events():
        change = apply_event(view, event)
        if change is None:
            continue
        kinds.append(change.kind)
        columns |= change.updates
        view = advance(view, change)
    return view, kinds, columns


def test_answered_call() -> None:
    _, kinds, columns = fold(CallView(UNIQUEID, LINKEDID))
    order = [
        kinds.index(k) for k in ("QueueCallerJoin", "AgentCalled", "AgentConnect", "AgentComplete")
    ]
    assert order == sorted(order)
    assert kinds.count("Hangup") >= 2  # every leg is on the timeline
    assert columns["queue"] == "test-queue"
    assert columns["agent"] == "Agent One"
    assert columns["outcome"] == "answered"
    assert columns["queue_joined_at"] <= columns["connected_at"] <= columns["ended_at"]


def test_other_calls_are_ignored() -> None:
    _, kinds, columns = fold(CallView("someone-else", "another-call"))
    assert kinds == [] and columns == {}


def test_outcome_already_set_is_kept() -> None:
    view, _, columns = fold(CallView(UNIQUEID, LINKEDID, outcome="transferred"))
    assert "outcome" not in columns and view.outcome == "transferred"
