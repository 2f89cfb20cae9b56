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


@pytest.fixture(scope="module")
def menu_flow(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    """The shipped flow with the district key menu switched on, as docs/telephony.md says."""
    folder = tmp_path_factory.mktemp("menu")
    text = (DATA / "flow.toml").read_text("utf-8")
    text = text.replace(
        'unsure = "confirm_place", none = "report"',
        'unsure = "confirm_place", none = "district_menu"',
    )
    assert 'none = "district_menu"' in text
    (folder / "flow.toml").write_text(text, "utf-8")
    return load_flow(folder / "flow.toml", DATA / "prompts.csv", OUTCOMES)


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


def test_silence_goes_to_the_city_without_a_menu(flow: Flow) -> None:
    state, channel = run(flow, [])
    assert (state.intent, state.district) == ("report", None)
    assert channel.heard == ["greeting"]  # no district menu, no retry


def test_an_unknown_key_goes_to_the_city(flow: Flow) -> None:
    state, channel = run(flow, ["5"])
    assert (state.intent, state.district, channel.heard) == ("report", None, ["greeting"])


def test_district_menu_when_switched_on(menu_flow: Flow) -> None:
    state, channel = run(menu_flow, ["0", "01"])
    assert (state.intent, state.district, state.district_source) == ("report", "110101", "keyed")
    assert channel.heard == ["greeting", "district_menu"]


def test_district_menu_silence_is_not_retried(menu_flow: Flow) -> None:
    state, channel = run(menu_flow, ["", ""])
    assert (state.intent, state.district) == ("report", None)
    assert channel.heard == ["greeting", "district_menu"]


def test_district_menu_wrong_number_goes_to_the_city(menu_flow: Flow) -> None:
    state, channel = run(menu_flow, ["", "77", "02"])
    assert state.district is None
    assert channel.heard == ["greeting", "district_menu"]


def test_withheld_number_skips_history(flow: Flow) -> None:
    records = Records(CallerFacts("110102", CallerHistory()))
    state, _ = run(flow, [""], records, caller="anonymous")
    assert (state.district, state.district_source) == (None, None)


def test_case_status(flow: Flow) -> None:
    due = dt.datetime(2026, 12, 3, 6, 30, tzinfo=dt.UTC)  # 14:30 in Beijing
    records = Records(cases={"2611280001": CaseStatus("2611280001", "dispatched", "110101", due)})
    state, channel = run(flow, ["2", "2611280001#"], records)
    assert (state.intent, state.case_number, state.district) == ("status", "2611280001", "110101")
    # The number is not read back; the deadline is said in the city's time: 12月3日14点30分.
    assert channel.heard == [
        "greeting",
        "status_enter_number",
        "status_intro",
        "state_dispatched",
        "status_deadline",
        "month_12",
        "day_3",
        "hour_14",
        "minute_30",
        "status_to_agent",
    ]


def test_case_status_cut_short_by_a_key(flow: Flow) -> None:
    due = dt.datetime(2026, 12, 3, 6, 30, tzinfo=dt.UTC)
    records = Records(cases={"2611280001": CaseStatus("2611280001", "dispatched", "110101", due)})
    channel = ScriptedCaller(["2", "2611280001#"], pressed={"state_dispatched": "0"})
    actions = make_actions(records, RULES, flow.history_days)
    state = asyncio.run(run_flow(flow, channel, CallState("13800000000", "12319"), actions))  # type: ignore[arg-type]
    assert (state.intent, state.district) == ("status", "110101")
    assert channel.heard[-2:] == ["status_intro", "state_dispatched"]


def test_case_not_found_twice(flow: Flow) -> None:
    state, channel = run(flow, ["2", "123#", "456#", "", ""])
    assert (state.intent, state.district) == ("report", None)
    assert channel.heard == [
        "greeting",
        "status_enter_number",
        "status_not_found_retry",
        "status_not_found",
    ]


def test_case_number_silence_is_not_retried(flow: Flow) -> None:
    state, channel = run(flow, ["2", ""])
    assert state.intent == "report"
    assert channel.heard == ["greeting", "status_enter_number", "status_not_found"]


def test_every_state_has_a_prompt(flow: Flow) -> None:
    from hotline.models import CASE_STATES

    assert all(f"state_{s}" in flow.prompts for s in CASE_STATES)
