"""While serving, a log writer that blocks does not block the code that logs (the event
loop); what was logged is written once the writer moves again."""

from __future__ import annotations

import logging
import threading

from hotline.service import logging_off_the_loop


class BlockedWriter(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.written: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.gate.wait(10)
        self.written.append(record.getMessage())


def test_a_blocked_writer_does_not_hold_the_caller() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    writer = BlockedWriter()
    root.handlers, root.level = [writer], logging.INFO
    try:
        with logging_off_the_loop():
            logging.getLogger("hotline.test").info("call %s routed", 1)
            logging.getLogger("hotline.test").info("call %s routed", 2)
            assert writer.written == []  # logged, returned, while the writer is stuck
            writer.gate.set()
        assert writer.written == ["call 1 routed", "call 2 routed"]
        assert root.handlers == [writer]
    finally:
        root.handlers, root.level = saved, level
