"""While serving, a log writer that blocks does not block the code that logs (the event
loop); what was logged is written once the writer moves again."""

from __future__ import annotations

import io
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


def test_records_collect_what_the_format_prints() -> None:
    """The caller's line and the thread are looked up only when a format prints them; a
    record's arguments are merged into its message when it is logged, not when written."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level

    def logged(fmt: str) -> str:
        writer = logging.StreamHandler(io.StringIO())
        writer.setFormatter(logging.Formatter(fmt))
        root.handlers, root.level = [writer], logging.INFO
        changing = ["before"]
        try:
            with logging_off_the_loop():
                assert (logging._srcfile is None) == ("lineno" not in fmt)
                assert logging.logThreads == ("thread" in fmt)
                logging.getLogger("hotline.test").info("%s at %s", changing, "x")
                changing[0] = "after"
        finally:
            root.handlers, root.level = saved, level
        assert logging._srcfile is not None and logging.logThreads  # put back
        return writer.stream.getvalue()  # type: ignore[attr-defined,no-any-return]

    assert logged("%(levelname)s %(message)s") == "INFO ['before'] at x\n"
    line = logged("%(filename)s:%(lineno)d %(threadName)s %(message)s")
    assert line.startswith("test_service_logging.py:") and "MainThread ['before']" in line
