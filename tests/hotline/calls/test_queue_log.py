"""Reading Asterisk's queue_log (lines as Asterisk 22 writes them)."""

from __future__ import annotations

import logging

import pytest

from hotline.calls.queue_log import parse, tally

LOG = """\
1795876534|NONE|NONE|NONE|QUEUESTART|
1795876537|1795876534.1|hotline-110101|NONE|ENTERQUEUE||13800000101|1
1795876537|1795876534.1|hotline-110101|agent-a|CONNECT|3|1795876537.2|0
1795876539|1795876534.1|hotline-110101|agent-a|COMPLETEAGENT|3|2|1
1795876586|1795876553.13|hotline-city|NONE|ENTERQUEUE||13800000104|1
1795876586|1795876553.13|hotline-city|NONE|ABANDON|1|1|12
garbage line
1795876600|1795876590.1|hotline-city|NONE|ENTERQUEUE||13800000105|1
1795876700|1795876590.1|hotline-city|NONE|EXITWITHTIMEOUT|1|1|100
"""


def test_tally_per_queue(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "hotline.queue_log"):
        entries = parse(LOG.splitlines(keepends=True))
    assert "line 7 skipped" in caplog.text
    figures = tally(entries)
    district, city = figures["hotline-110101"], figures["hotline-city"]
    assert (district.offered, district.answered, district.abandoned, district.holds) == (
        1,
        1,
        0,
        [3],
    )
    assert (city.offered, city.answered, city.abandoned) == (2, 0, 2)
    only = tally(entries, {"1795876553.13"})
    assert only["hotline-city"].offered == 1 and "hotline-110101" not in only
