"""Asterisk's own queue log (``/var/log/asterisk/queue_log``), read to check our reports
against it: ``time|callid|queue|agent|event|data1|data2|...``.

Where both define a figure they must agree: offered (ENTERQUEUE), answered (CONNECT, with
the hold time in data1), abandoned (ABANDON, EXITWITHKEY, EXITWITHTIMEOUT: the caller left
unanswered). A malformed line is skipped with a log line naming it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

log = logging.getLogger("hotline.queue_log")
LEFT_UNANSWERED = frozenset({"ABANDON", "EXITWITHKEY", "EXITWITHTIMEOUT"})


@dataclass(frozen=True)
class Entry:
    time: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]


@dataclass
class QueueTally:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    holds: list[int] = field(default_factory=list)  # seconds waited by answered calls


def parse(lines: Iterable[str]) -> list[Entry]:
    entries = []
    for number, line in enumerate(lines, 1):
        parts = line.rstrip("\n").split("|")
        if len(parts) < 5 or not parts[0].isdigit():
            if line.strip():
                log.warning("queue_log line %d skipped: %.120r", number, line)
            continue
        entries.append(
            Entry(int(parts[0]), parts[1], parts[2], parts[3], parts[4], tuple(parts[5:]))
        )
    return entries


def tally(entries: Iterable[Entry], callids: set[str] | None = None) -> dict[str, QueueTally]:
    """Per queue, for the calls in ``callids`` (all calls when None)."""
    queues: dict[str, QueueTally] = defaultdict(QueueTally)
    for entry in entries:
        if callids is not None and entry.callid not in callids:
            continue
        figures = queues[entry.queue]
        if entry.event == "ENTERQUEUE":
            figures.offered += 1
        elif entry.event == "CONNECT":
            figures.answered += 1
            if entry.data and entry.data[0].isdigit():
                figures.holds.append(int(entry.data[0]))
        elif entry.event in LEFT_UNANSWERED:
            figures.abandoned += 1
    return dict(queues)
