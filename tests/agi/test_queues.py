"""Live queue state from AMI QueueStatus: the fold, and the poller against a scripted peer
that sends malformed replies (a real Asterisk cannot be made to)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from agi.ami import AmiClient
from agi.ami_protocol import AmiParser
from agi.queues import QueueMonitor, queue_states
from hotline.testing.ami_peer import BANNER, ScriptedAmi, entry, member, params, queue_status
from routing.model import QueueState

GOOD = "hotline-110101"
OTHER = "hotline-110102"


def reply_of(*entries: list[str]) -> bytes:
    """A QueueStatus reply; ``<ff>`` in a line stands for a byte that is not UTF-8."""
    return queue_status(*entries).replace(b"<ff>", b"\xff\xfe")


def fold(reply: bytes) -> tuple[dict[str, QueueState], list[tuple[str, str]]]:
    messages = AmiParser().feed(BANNER + reply.replace(b"{id}", b"x-1"))
    problems: list[tuple[str, str]] = []
    return queue_states(messages, problems), problems


def test_a_good_reply() -> None:
    states, problems = fold(
        queue_status(
            params(GOOD, calls="2", holdtime="12"),
            member(GOOD),
            member(GOOD, "b", paused="1"),
            entry(GOOD, "30"),
            entry(GOOD, "7"),
        )
    )
    assert problems == []
    assert states == {
        GOOD: QueueState(GOOD, members=2, available=1, waiting=2, longest_wait=30, average_hold=12)
    }


# Each: the lines of one queue's events as a broken peer might send them, and the kind of
# fault that names it.
MALFORMED: dict[str, tuple[list[list[str]], str]] = {
    "calls not a number": ([params(OTHER, calls="abc")], "QueueParams.Calls"),
    "wait not a number": ([params(OTHER), entry(OTHER, "x")], "QueueEntry.Wait"),
    "calls below zero": ([params(OTHER, calls="-1")], "QueueParams.Calls"),
    "calls a fraction": ([params(OTHER, calls="1.5")], "QueueParams.Calls"),
    "calls beyond belief": ([params(OTHER, calls="9" * 30)], "QueueParams.Calls"),
    "holdtime nan": ([params(OTHER, holdtime="nan")], "QueueParams.Holdtime"),
    "wait infinite": ([params(OTHER), entry(OTHER, "1e400")], "QueueEntry.Wait"),
    "wait empty-looking": ([params(OTHER), entry(OTHER, " ")], "QueueEntry.Wait"),
    "calls missing": (
        [["Event: QueueParams", f"Queue: {OTHER}", "Calls abc"]],
        "QueueParams.Calls",
    ),
    "calls not UTF-8": ([params(OTHER, calls="<ff>")], "QueueParams.Calls"),
    "no queue named": ([["Event: QueueParams", "Calls: 3"]], "QueueParams.Queue"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_queue_that_cannot_be_read_is_left_out(case: str) -> None:
    broken, kind = MALFORMED[case]
    states, problems = fold(reply_of(params(GOOD, calls="4"), *broken))
    assert set(states) == {GOOD} and states[GOOD].waiting == 4  # the other queue is fine
    assert [k for k, _ in problems] == [kind]


async def wait_until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Until ``check()`` holds (bounded by ``timeout``, which only a hung test reaches)."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


def test_malformed_replies_do_not_stop_live_queue_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The scripted peer answers with each malformed reply in turn, a few polls each, and a
    good one after each: live queue state comes back every time, and each kind of fault is
    one log line however many polls it lasted."""
    broken_replies = {case: reply_of(*lines) for case, (lines, _) in MALFORMED.items()}
    broken_replies |= {
        "error response": b"Response: Error\r\nActionID: {id}\r\nMessage: Denied\r\n\r\n",
        "list never completed": b"Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\n",
        "no answer at all": b"",
        # More than a message may hold: the connection is dropped and made again.
        "oversized message": b"Event: QueueParams\r\nX: " + b"x" * (1 << 21) + b"\r\n\r\n",
    }

    async def main() -> None:
        peer = ScriptedAmi()
        port = await peer.start()
        client = AmiClient("127.0.0.1", port, "u", "s", name="pbx", action_timeout=0.2)
        client.run_forever(retry=0.05)
        monitor = QueueMonitor(client, interval=0.01)
        monitor.start()
        try:
            for n, (case, broken) in enumerate(broken_replies.items()):
                peer.reply = broken or None
                asked = peer.asked["QueueStatus"] + (1 if case == "oversized message" else 3)
                await wait_until(lambda a=asked: peer.asked["QueueStatus"] >= a, case)
                peer.reply = queue_status(params(GOOD, calls=str(n)))
                await wait_until(
                    lambda n=n: (monitor.snapshot() or {}).get(GOOD) == QueueState(GOOD, waiting=n),
                    f"live state after {case}",
                )
        finally:
            await monitor.stop()
            await client.close()
            await peer.stop()
        assert peer.sessions >= 2  # the oversized message cost a reconnection

    with caplog.at_level(logging.INFO, "hotline"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "hotline.queues"]
    for case, (_, kind) in MALFORMED.items():
        faults = [line for line in lines if f"malformed QueueStatus ({kind})" in line]
        assert faults, case
    malformed = [line for line in lines if "malformed QueueStatus" in line]
    # once per run of the same fault (several polls each), never once per poll
    assert len(malformed) == len(MALFORMED), malformed
    assert sum("queue poll failed" in line for line in lines) == 3, lines
    assert not any(r.name == "hotline.tasks" for r in caplog.records)  # nothing died
