"""The shipped flow, driven by a scripted caller: no PBX, no sockets, no sleeps."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from hotline.testing.ivr import RULES, Records, ScriptedCaller
from ivr.actions import OUTCOMES, CallerFacts, CaseStatus, make_actions
from ivr.engine import CallState, run_flow
from ivr.flow import Flow, load_flow
from routing.model import CallerHistory

DATA = Path(__file__).parents[2] / "data" / "ivr"


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(DATA / "flow.toml", DATA / "prompts.csv", OUTCOMES)


def run(
    flow: Flow,
    keys: list[str],
    records: Records | None = None,
    caller: str = "13800000000",
    did: str = "12319",
) -> tuple[CallState, ScriptedCaller]:
    channel = ScriptedCaller(keys)
    actions = make_actions(records or Records(), RULES, flow.history_days)
    state = asyncio.run(run_flow(flow, channel, CallState(caller, did), actions))  # type: ignore[arg-type]
    return state, channel


def test_emergency_key(flow: Flow) -> None:
    state, channel = run(flow, ["9"])
    assert state.intent == "emergency"
    assert channel.heard == ["greeting"]


def test_known_caller_goes_to_their_district(flow: Flow) -> None:
    records = Records(CallerFacts("110102", CallerHistory()))
    state, channel = run(flow, [""], records)
    assert (state.intent, state.district, state.district_source) == ("report", "110102", "history")
    assert "district_menu" not in channel.heard


def test_open_case_district_wins(flow: Flow) -> None:
    records = Records(CallerFacts("110102", CallerHistory("110101", "2611280001")))
    state, _ = run(flow, [""], records)
    assert (state.district, state.history.open_case_number) == ("110101", "2611280001")


def test_district_did(flow: Flow) -> None:
    state, _ = run(flow, [""], did="65120002")
    assert (state.district, state.district_source) == ("110102", "did")


def test_unknown_caller_keys_a_district(flow: Flow) -> None:
    state, channel = run(flow, ["0", "01"])
    assert (state.intent, state.district, state.district_source) == ("report", "110101", "keyed")
    assert channel.heard == ["greeting", "district_menu"]


def test_wrong_district_then_right_one(flow: Flow) -> None:
    state, channel = run(flow, ["", "77", "02"])
    assert state.district == "110102"
    assert channel.heard == ["greeting", "district_menu", "district_invalid"]


def test_silence_goes_to_the_city(flow: Flow) -> None:
    state, channel = run(flow, [])
    assert (state.intent, state.district) == ("report", None)
    assert channel.heard == ["greeting", "district_menu", "district_menu"]  # one retry


def test_withheld_number_skips_history(flow: Flow) -> None:
    records = Records(CallerFacts("110102", CallerHistory()))
    state, _ = run(flow, ["", "01"], records, caller="anonymous")
    assert state.district == "110101"


def test_case_status(flow: Flow) -> None:
    due = dt.datetime(2026, 12, 1, 17, tzinfo=dt.UTC)
    records = Records(cases={"2611280001": CaseStatus("2611280001", "dispatched", "110101", due)})
    state, channel = run(flow, ["2", "2611280001#"], records)
    assert (state.intent, state.case_number, state.district) == ("status", "2611280001", "110101")
    assert channel.heard == [
        "greeting",
        "status_enter_number",
        "status_intro",
        "digits:2611280001",
        "state_dispatched",
        "status_deadline",
        "datetime",
        "status_to_agent",
    ]


def test_case_not_found_twice(flow: Flow) -> None:
    state, channel = run(flow, ["2", "123#", "456#", "", ""])
    assert state.intent == "report"
    assert channel.heard[:5] == [
        "greeting",
        "status_enter_number",
        "status_not_found_retry",
        "status_not_found",
        "district_menu",
    ]


def test_every_state_has_a_prompt(flow: Flow) -> None:
    from hotline.models import CASE_STATES

    assert all(f"state_{s}" in flow.prompts for s in CASE_STATES)
