"""Bad input from a peer, logged once per kind.

A peer that keeps sending the same bad thing (a malformed AMI reply every second, a flood
of events the tracker cannot store, a webhook receiver that is down) would otherwise write
a line per message and bury everything else in the log. The first fault of a kind is
logged at once; repeats are counted and summed up in one line every ``quiet`` seconds at
most; when the peer behaves again (:meth:`FaultLog.ok`), that is logged and the kind
forgotten, so the next fault of it shows at once.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class _Seen:
    logged_at: float
    repeats: int = 0


class FaultLog:
    """``kind`` names a fault as code sees it ("QueueParams.Calls", "outbox pass"), never a
    value from the peer, so the kinds are few; ``max_kinds`` bounds them anyway."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        quiet: float = 600.0,
        level: int = logging.WARNING,
        max_kinds: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log, self._quiet, self._level = logger, quiet, level
        self._max_kinds, self._clock = max_kinds, clock
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    def fault(self, kind: str, message: str, *args: Any, exc_info: Any = None) -> bool:
        """Note one fault; log it if it is the first of its kind or the quiet time is over
        (with how many went unlogged meanwhile). True if a line was written."""
        now = self._clock()
        seen = self._seen.get(kind)
        if seen is not None and now - seen.logged_at < self._quiet:
            seen.repeats += 1
            return False
        if seen is not None and seen.repeats:
            message += f" ({seen.repeats} more like it since the last line)"
        self._seen[kind] = _Seen(now)
        self._seen.move_to_end(kind)
        while len(self._seen) > self._max_kinds:
            self._seen.popitem(last=False)
        self._log.log(self._level, message, *args, exc_info=exc_info)
        return True

    def ok(self, kind: str, message: str = "", *args: Any) -> None:
        """The peer behaves again: log ``message`` (if given) when the kind had faulted."""
        seen = self._seen.pop(kind, None)
        if seen is not None and message:
            more = f" ({seen.repeats} more faults since the last line)" if seen.repeats else ""
            self._log.info(message + more, *args)

    def faulting(self, kind: str) -> bool:
        return kind in self._seen
