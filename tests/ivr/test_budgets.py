"""The worst-case table: the flow run on a virtual clock (the built audio's own table is
checked on the real Asterisk's prompts, tests/asterisk/test_call_path.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.actions import OUTCOMES
from ivr.budgets import ALLOWANCE, ANSWER_WAIT, speech_cases, worst_cases
from ivr.flow import Flow, load_flow

DATA = Path(__file__).parents[2] / "data" / "ivr"


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(DATA / "flow.toml", DATA / "prompts.csv", OUTCOMES)


def lengths(flow: Flow, **special: float) -> dict[str, float]:
    return {key: special.get(key, 1.0) for key in flow.prompts}


def test_the_paths_of_the_default_flow(flow: Flow) -> None:
    table = {row.path: row for row in worst_cases(flow, lengths(flow, greeting=4.0), 15)}
    silent = table["unknown caller, no key"]
    assert (silent.worst, silent.route) == (4.0 + 1.5 + ALLOWANCE + ANSWER_WAIT, "city queue")
    assert table["known caller (history)"].route == "district queue"
    assert table["a district's own number"].route == "district queue"
    assert (table["9 during the greeting"].worst, table["9 during the greeting"].route) == (
        ALLOWANCE,
        "emergency",
    )
    assert table["emergency center not answering"].worst == ALLOWANCE + 15
    status = table["2, case number, #"]
    # intro, state, "deadline", month, day, hour, minute, "please hold": not the number.
    assert (status.worst, status.route) == (8 + ALLOWANCE, "district queue")
    assert all(row.within for row in table.values())


def test_the_longest_state_and_date_words_count(flow: Flow) -> None:
    slow = lengths(flow, state_handled=3.0, minute_59=2.0, day_31=1.5)
    status = {row.path: row for row in worst_cases(flow, slow, 15)}["2, case number, #"]
    assert status.worst == 8 + 2.0 + 1.0 + 0.5 + ALLOWANCE


def test_a_long_greeting_breaks_the_budget(flow: Flow) -> None:
    table = worst_cases(flow, lengths(flow, greeting=9.0), 15)
    assert [row.path for row in table if not row.within] == [
        "unknown caller, no key",
        "known caller (history)",
        "a district's own number",
    ]


def test_a_prompt_without_audio_is_named(flow: Flow) -> None:
    partial = lengths(flow)
    del partial["greeting"]
    with pytest.raises(KeyError, match="greeting"):
        worst_cases(flow, partial, 15)


def test_speech_rows(flow: Flow) -> None:
    silent, said = speech_cases(flow, lengths(flow, greeting=4.0, speak_place=2.0), 3.0, 3.5)
    base = 4.0 + 1.5 + ALLOWANCE + ANSWER_WAIT
    assert (silent.worst, said.worst) == (base + 2.0 + 3.0, base + 2.0 + 3.5)
    assert silent.budget == said.budget == 12.0
