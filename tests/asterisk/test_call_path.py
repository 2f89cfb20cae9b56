"""Citizens' calls through the real Asterisk: IVR, routing, queues, fallbacks.

The default flow's paths are timed from the caller's side (AMI events as they happen) and
checked against the worst case computed for the audio this Asterisk plays
(``ivr.budgets``), with ``SLACK`` seconds on top for a machine that is busy: the test checks
the path, not the machine's speed. The times measured are in docs/telephony.md."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from agi.ami_protocol import Message
from hotline.db import transaction
from hotline.models import Call, CallEvent, Case
from hotline.testing import pbx as pbx_module
from hotline.testing.pbx import (
    Pbx,
    Scene,
    district_menu_flow,
    hung_up,
    joined,
    keyed,
    last_call,
    play,
)
from ivr.audio import durations
from ivr.budgets import PathTime, speech_cases, worst_cases
from ivr.entry import load_ivr
from ivr.speech_setup import speech_config

NOON = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.UTC)  # 12:00 in Beijing, a Monday
SLACK = 3.0  # seconds a busy machine may add to a path's computed worst case


def worst(pbx: Pbx, path: str) -> PathTime:
    """The row of the worst-case table for the prompts this Asterisk plays."""
    flow = load_ivr()
    lengths = durations(pbx.sounds / "hotline" / flow.language, flow.prompts)
    table = {
        row.path: row for row in worst_cases(flow, lengths, pbx.settings.emergency_ring_seconds)
    }
    assert table[path].within, table[path]
    return table[path]


def within(pbx: Pbx, path: str, measured: float) -> None:
    row = worst(pbx, path)
    print(
        f"\nmeasured {path}: {measured:.2f} s "
        f"(worst case {row.worst:.2f} s, budget {row.budget:g} s)"
    )
    assert measured <= row.worst + SLACK, (path, measured, row)


def answered(caller: str):  # type: ignore[no-untyped-def]
    """The hotline answers: its side of the call (Local ;2) comes up."""

    def match(event: Message) -> bool:
        return (
            event.event == "Newstate"
            and event.get("ChannelStateDesc") == "Up"
            and event.get("CallerIDNum") == caller
            and "@hotline-" in event.get("Channel")
            and event.get("Channel").endswith(";2")
        )

    return match


def pressed(caller: str, digit: str):  # type: ignore[no-untyped-def]
    """The hotline receives the caller's key (its DTMF ends)."""

    def match(event: Message) -> bool:
        return (
            event.event == "DTMFEnd"
            and event.get("Digit") == digit
            and event.get("Direction") == "Received"
            and event.get("CallerIDNum") == caller
        )

    return match


call_row = last_call


def test_rendered_config_loads(pbx: Pbx) -> None:
    dialplan = pbx.cli("dialplan show hotline")
    assert "AGI(${HOTLINE_AGI}" in dialplan and "Queue(${HOTLINE_QUEUE}" in dialplan
    queues = pbx.cli("queue show")
    for queue in ("hotline-city", "hotline-110101", "hotline-110102", "hotline-110119"):
        assert f"{queue} has 0 calls" in queues
    assert "Aor:  agent1001" in pbx.cli("pjsip show aors")
    errors = [line for line in pbx.log().splitlines() if "ERROR" in line]
    assert errors == []
    config_warnings = [
        line for line in pbx.log().splitlines() if "WARNING" in line and ".conf" in line
    ]
    assert config_warnings == []


def test_the_worst_case_table_of_the_built_audio(pbx: Pbx) -> None:
    """Every word the IVR says is built, and every path of the default flow is within its
    budget with the audio this Asterisk plays (speech on included)."""
    flow = load_ivr()
    lengths = durations(pbx.sounds / "hotline" / flow.language, flow.prompts)
    assert set(lengths) == set(flow.prompts)
    speech = speech_config(pbx.settings)
    rows = worst_cases(flow, lengths, pbx.settings.emergency_ring_seconds)
    rows += speech_cases(flow, lengths, speech.no_speech_seconds, speech.listen_seconds)
    assert [row for row in rows if not row.within] == []
    assert {row.route for row in rows} >= {"city queue", "district queue", "emergency"}


def test_unknown_caller_keys_a_district_with_the_menu_on(pbx: Pbx) -> None:
    """The optional district menu (off in the default flow). The caller holds long after
    the agent has hung up, so AgentComplete comes however slow the machine is."""
    caller = "13800000101"

    async def scenario(scene: Scene) -> None:
        await scene.add_agent("hotline-110101", "agent-a")
        await scene.call(caller, answers=keyed("01"), hold=40)
        await scene.wait_for(joined(caller, "hotline-110101"), timeout=60)
        await scene.wait_for(
            lambda e: e.event == "AgentComplete" and e.get("CallerIDNum") == caller, timeout=60
        )
        await scene.wait_for(
            lambda e: (
                e.event == "Hangup"
                and e.get("CallerIDNum") == caller
                and "@hotline" in e.get("Channel")
            ),
            timeout=60,
        )

    play(pbx, scenario, clock=lambda: NOON, flow=district_menu_flow())
    call = call_row(pbx, caller)
    assert (call.district_code, call.queue, call.route_reason) == (
        "110101",
        "hotline-110101",
        "district-known",
    )
    assert call.ivr_result is not None and call.ivr_result["district_source"] == "keyed"
    # The tracker stored the timeline from AMI events.
    assert (call.agent, call.outcome) == ("agent-a", "answered")
    assert call.answered_at and call.ivr_ended_at and call.queue_joined_at and call.connected_at
    assert call.ended_at is not None
    with transaction(pbx.engine) as session:
        kinds = session.scalars(
            select(CallEvent.kind).where(CallEvent.call_id == call.id).order_by(CallEvent.id)
        ).all()
    for kind in (
        "IvrStart",
        "IvrEnd",
        "QueueCallerJoin",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "Hangup",
    ):
        assert kind in kinds, kinds
    # The call was recorded under its call id.
    recording = pbx.recordings / f"call-{call.id}.wav"
    assert recording.is_file() and recording.stat().st_size > 44  # more than a WAV header


def test_known_caller_goes_to_their_district(pbx: Pbx) -> None:
    caller = "13800000102"
    with transaction(pbx.engine) as session:
        session.add(
            Call(
                uniqueid="earlier-102",
                linkedid="earlier-102",
                caller_number=caller,
                district_code="110102",
                created_at=NOON - dt.timedelta(days=10),
            )
        )

    async def scenario(scene: Scene) -> None:
        await scene.add_agent("hotline-110102", "agent-b")
        await scene.call(caller, "silent", HOLD="30")
        await scene.wait_for(joined(caller, "hotline-110102"), timeout=60)

    scene = play(pbx, scenario, clock=lambda: NOON)
    call = call_row(pbx, caller)
    assert call.ivr_result is not None and call.ivr_result["district_source"] == "history"
    assert call.route_reason == "district-known"
    took = scene.when(joined(caller)) - scene.when(answered(caller))
    within(pbx, "known caller (history)", took)


def test_district_number_goes_to_that_district(pbx: Pbx) -> None:
    caller = "13800000103"

    async def scenario(scene: Scene) -> None:
        await scene.add_agent("hotline-110102", "agent-c")
        await scene.call(caller, "silent", to="65120002", HOLD="30")
        await scene.wait_for(joined(caller, "hotline-110102"), timeout=60)

    scene = play(pbx, scenario, clock=lambda: NOON)
    call = call_row(pbx, caller)
    assert (call.did, call.ivr_result and call.ivr_result["district_source"]) == ("65120002", "did")
    took = scene.when(joined(caller)) - scene.when(answered(caller))
    within(pbx, "a district's own number", took)


def test_silence_goes_to_the_city(pbx: Pbx) -> None:
    caller = "13800000104"

    async def scenario(scene: Scene) -> None:
        await scene.call(caller, "silent", HOLD="30")
        await scene.wait_for(joined(caller, "hotline-city"), timeout=60)

    scene = play(pbx, scenario, clock=lambda: NOON)
    call = call_row(pbx, caller)
    assert (call.district_code, call.route_reason) == (None, "district-unknown")
    commands = [e.get("Command") for e in scene.seen(lambda e: e.event == "AGIExecStart")]
    assert not [c for c in commands if "district_menu" in c]  # no menu, no retry
    assert [c for c in commands if c.startswith("GET DATA")] == [
        "GET DATA hotline/zh/greeting 1500 1"
    ]
    assert "SET VARIABLE CHANNEL(language) zh" in commands
    took = scene.when(joined(caller)) - scene.when(answered(caller))
    within(pbx, "unknown caller, no key", took)


def test_emergency_is_transferred(pbx: Pbx) -> None:
    caller = "13800000105"

    async def scenario(scene: Scene) -> None:
        await scene.call(caller, answers=[("greeting", "9")], hold=20)
        await scene.wait_for(
            lambda e: (
                e.event == "UserEvent"
                and e.get("UserEvent") == "TestEmergencyAnswered"
                and e.get("Caller") == caller
            ),
            timeout=60,
        )

    scene = play(pbx, scenario, clock=lambda: NOON)
    assert not scene.seen(joined(caller))
    call = call_row(pbx, caller)
    assert (call.route_target, call.route_reason, call.priority) == ("emergency", "emergency", 10)
    dialled = scene.when(
        lambda e: e.event == "DialBegin" and "test-emergency" in e.get("DestChannel")
    )
    within(pbx, "9 during the greeting", dialled - scene.when(pressed(caller, "9")))


def emergency_to_city(caller: str):  # type: ignore[no-untyped-def]
    """A caller who presses 9 and, the center failing, waits in the city queue at the
    emergency priority."""

    async def scenario(scene: Scene) -> None:
        await scene.call(caller, answers=[("greeting", "9")], hold=40)
        await scene.wait_for(joined(caller, "hotline-city"), timeout=90)
        entries = await scene.ami.list_action("QueueStatus", Queue="hotline-city")
        mine = [e for e in entries if e.event == "QueueEntry" and e.get("CallerIDNum") == caller]
        assert mine and mine[0].get("Priority") == "10"

    return scenario


def test_emergency_center_down_goes_to_city_at_top_priority(pbx: Pbx) -> None:
    caller = "13800000106"
    settings = pbx.settings.model_copy(update={"emergency_dial": "Local/down@test-emergency"})

    play(pbx, emergency_to_city(caller), settings=settings, clock=lambda: NOON)


def test_emergency_center_not_answering_goes_to_city_at_top_priority(pbx: Pbx) -> None:
    """The center rings and nobody answers: after emergency_ring_seconds (rendered into the
    dialplan) the caller is in the city queue at the top priority, within 20 s of the 9."""
    caller = "13800000116"
    settings = pbx.settings.model_copy(update={"emergency_dial": "Local/noanswer@test-emergency"})

    scene = play(pbx, emergency_to_city(caller), settings=settings, clock=lambda: NOON)
    took = scene.when(joined(caller)) - scene.when(pressed(caller, "9"))
    within(pbx, "emergency center not answering", took)


def dispatched_case(pbx: Pbx, number: str, due: dt.datetime) -> None:
    """A Dongcheng case in the dispatched state, due at ``due``."""
    with transaction(pbx.engine) as session:
        session.add(
            Case(
                number=number,
                source="phone",
                state="dispatched",
                kind="event",
                class_code="0102",
                district_code="110101",
                citizen_phone="13999999999",
                due_at=due,
            )
        )


def test_case_status_then_agent(pbx: Pbx) -> None:
    caller = "13800000107"
    dispatched_case(pbx, "2611280007", NOON + dt.timedelta(hours=4, minutes=30))  # 16:30 Beijing

    async def scenario(scene: Scene) -> None:
        await scene.add_agent("hotline-110101", "agent-d")
        await scene.call(
            caller, answers=[("greeting", "2"), ("status_enter_number", "2611280007#")], hold=40
        )
        await scene.wait_for(joined(caller, "hotline-110101"), timeout=60)

    scene = play(pbx, scenario, clock=lambda: NOON)
    commands = [e.get("Command") for e in scene.seen(lambda e: e.event == "AGIExecStart")]
    # Mandarin only: our own word prompts, no SAY DIGITS/SAY DATETIME (English digit files),
    # and the deadline in the city's time: 11月30日16点30分 (08:30 UTC on the PBX clock).
    assert "SET VARIABLE CHANNEL(language) zh" in commands
    assert not [c for c in commands if c.startswith("SAY ")]
    said = [c.split()[2] for c in commands if c.startswith("STREAM FILE")]
    assert all(f.startswith("hotline/zh/") for f in said), said
    assert [f.removeprefix("hotline/zh/") for f in said] == [
        "status_intro",
        "state_dispatched",
        "status_deadline",
        "month_11",
        "day_30",
        "hour_16",
        "minute_30",
        "status_to_agent",
    ]
    call = call_row(pbx, caller)
    assert (call.intent, call.district_code) == ("status", "110101")
    took = scene.when(joined(caller)) - scene.when(pressed(caller, "#"))
    within(pbx, "2, case number, #", took)


def test_app_down_still_reaches_the_city_queue(pbx: Pbx) -> None:
    caller = "13800000108"

    async def scenario(scene: Scene) -> None:
        await scene.call(caller, "silent", HOLD="10")
        await scene.wait_for(joined(caller, "hotline-city"))

    scene = play(pbx, scenario, app=False)
    assert not scene.seen(lambda e: e.event == "AGIExecStart")  # nobody answered the AGI
    with transaction(pbx.engine) as session:
        assert session.scalars(select(Call).where(Call.caller_number == caller)).all() == []


@pytest.mark.parametrize(
    ("caller", "answers", "hold", "during"),
    [
        ("13800000109", (), 0.0, "GET DATA hotline/zh/greeting"),
        ("13800000117", (("greeting", "2"),), 1.0, "GET DATA hotline/zh/status_enter_number"),
        (
            "13800000118",
            (("greeting", "2"), ("status_enter_number", "2611280008#")),
            4.5,  # the keys take about 2.5 s to send; then the status is being said
            "STREAM FILE hotline/zh/",
        ),
    ],
    ids=["greeting", "case-number", "status"],
)
def test_caller_hangs_up_in_the_ivr(
    pbx: Pbx, caller: str, answers: tuple[tuple[str, str], ...], hold: float, during: str
) -> None:
    """The caller hangs up during a prompt: the call is recorded as abandoned in the IVR
    (not routed) and the IVR sends no command after the hang-up."""
    if during.startswith("STREAM FILE"):
        dispatched_case(pbx, "2611280008", NOON + dt.timedelta(hours=4))
    servers = []

    async def scenario(scene: Scene) -> None:
        servers.append(scene.agi)
        if answers:
            await scene.call(caller, answers=answers, hold=hold)
        else:
            await scene.call(caller, "quit", PRE="2")
        await scene.wait_for(hung_up(caller), timeout=60)
        for _ in range(200):
            if scene.agi is not None and scene.agi.active_calls == 0:
                break
            await asyncio.sleep(0.05)

    scene = play(pbx, scenario, clock=lambda: NOON)
    assert servers[0] is not None and servers[0].active_calls == 0  # no task left running
    call = call_row(pbx, caller)
    assert call.outcome == "abandoned_ivr" and call.ended_at is not None, call.outcome
    assert call.route_target is None and call.queue is None  # a dead call is not routed
    commands = [
        e.get("Command")
        for e in scene.seen(lambda e: e.event == "AGIExecStart" and e.get("CallerIDNum") == caller)
    ]
    assert commands[-1].startswith(during), commands  # the hang-up came during that prompt
    dead = scene.seen(
        lambda e: (
            e.event == "AGIExecEnd"
            and e.get("CallerIDNum") == caller
            and e.get("ResultCode") == "511"
        )
    )
    assert dead == []  # no command sent to the dead channel


def test_overflow_when_the_district_queue_is_empty(pbx: Pbx) -> None:
    caller = "13800000110"

    async def scenario(scene: Scene) -> None:
        await scene.call(caller, "silent", to="65120003", HOLD="30")  # Chaoyang: no agent
        await scene.wait_for(joined(caller, "hotline-city"), timeout=60)

    play(pbx, scenario, clock=lambda: NOON)
    call = call_row(pbx, caller)
    assert (call.district_code, call.queue, call.route_reason) == (
        "110105",
        "hotline-city",
        "overflow-no-agent",
    )


def test_waiting_caller_asks_for_a_callback(pbx: Pbx) -> None:
    caller = "13800000111"

    async def scenario(scene: Scene) -> None:
        # The caller skips the greeting (0): the city queue, where nobody is; six seconds
        # later (in the queue, however slow the IVR) the caller presses 1.
        await scene.call(caller, KEYS="0wwwwwwwwwwww1", HOLD="20")
        await scene.wait_for(joined(caller, "hotline-city"), timeout=60)
        await scene.wait_for(
            lambda e: (
                e.event == "UserEvent"
                and e.get("UserEvent") == "HotlineCallbackRequest"
                and e.get("Caller") == caller
            )
        )
        await scene.wait_for(
            lambda e: (
                e.event == "AGIExecStart"
                and e.get("Command").startswith("STREAM FILE hotline/zh/callback_goodbye")
            ),
            timeout=60,
        )

    play(pbx, scenario, clock=lambda: NOON)
    call = call_row(pbx, caller)
    with transaction(pbx.engine) as session:
        cases = session.scalars(select(Case).where(Case.citizen_phone == caller)).all()
        assert len(cases) == 1
        case = cases[0]
        assert (case.source, case.state, case.call_id) == ("callback_request", "received", call.id)
        assert case.number.isdigit() and len(case.number) == 10
    assert call.outcome == "callback_requested"


def test_keys_wait_for_an_ivr_that_is_slow_to_start(
    pbx: Pbx, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The IVR starts 2.5 s late, as on a busy machine (a stand-in delay before the call's
    handler runs). A caller keying on a clock (1 s in, then 1 s later) lost its keys to
    that and went to the city queue; keying on cue, it reaches the district it keyed."""
    caller = "13800000115"
    real = pbx_module.call_handler

    def slow_to_start(*args: Any, **kwargs: Any) -> Any:
        handler = real(*args, **kwargs)

        async def late(session: Any) -> None:
            await asyncio.sleep(2.5)
            await handler(session)

        return late

    monkeypatch.setattr(pbx_module, "call_handler", slow_to_start)

    async def scenario(scene: Scene) -> None:
        await scene.add_agent("hotline-110101", "agent-slow")
        await scene.call(caller, answers=keyed("01"), hold=30)
        await scene.wait_for(joined(caller), timeout=60)

    play(pbx, scenario, clock=lambda: NOON, flow=district_menu_flow())
    call = call_row(pbx, caller)
    assert (call.queue, call.route_reason) == ("hotline-110101", "district-known")
