"""The demo history's calls, written as the IVR and the call tracker write them: the IVR's
call record (``CallRecords.start_call`` and ``finish_ivr``) and the tracker's fold of the
AMI events Asterisk sends for a queued call (QueueCallerJoin, AgentConnect, AgentComplete or
QueueCallerAbandon, Hangup), each event stamped with its simulated time as Asterisk stamps
them (``timestampevents``). The reports and the agents' figures read these records.

A citizen who reaches an agent with a new problem becomes a phone case (returned to the
case history, which registers it with the call's id when the agent saves it). A caller who
gives up waiting may press 1 instead of hanging up: the queue lets the call go (Asterisk's
EXITWITHKEY: no QueueCallerAbandon), the IVR's callback step makes a callback-request case
(returned to the case history, which makes it at its moment through ``request_callback``,
as the IVR does) and says its number, and the caller hangs up. The callbacks the desk
places later are call records too (``start_callback``); their legs' hangups are folded
here, as the tracker folds them (``track_callbacks``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from dataclasses import dataclass

from sqlalchemy import Engine

from agi.ami_protocol import Message
from hotline.calls.records import CallRecords

CITY_QUEUE = "hotline-city"
AGENTS = {"110101": "dc_agent", "110102": "xc_agent"}  # demo accounts; the rest: city_agent
IVR_SECONDS = 6.3  # the default flow's worst case to a queue (docs/telephony.md)
CALLBACK_AGI_SECONDS = 0.5  # from the key to the IVR's callback step
CALLBACK_PROMPT_SECONDS = 9.0  # "your request is registered", its number, goodbye


@dataclass(frozen=True)
class CallMix:
    """``[calls]`` of history.toml."""

    per_phone_case: float  # calls per phone case: status questions, repeats, abandons
    city_share: float  # calls whose district cannot be told: the city platform takes them
    mean_wait: float  # seconds in the queue before an agent answers (exponential)
    mean_patience: float  # seconds a caller waits before hanging up (exponential)
    talk: tuple[float, float]  # seconds on the line with the agent (uniform)
    callback_share: float = 0.0  # of the callers who give up waiting: press 1 instead
    callback_minutes: tuple[float, float] = (10, 120)  # the desk calls back this much later
    desk_hours: tuple[float, float] = (8, 20)  # local hours the desk places callbacks


@dataclass(frozen=True)
class CallbackRequest:
    """A caller who left the queue asking to be called back: the request the IVR makes
    (``request_callback``'s arguments), for the case history."""

    at: dt.datetime  # the IVR's callback step
    call_id: int
    caller: str
    queue: str
    uniqueid: str
    district: str  # where the problem is (the caller says so on the callback)
    brings_case: bool  # a new problem, or a question the callback answers


@dataclass(frozen=True)
class PhoneReport:
    """An answered call that brings a new problem: the case the agent registers from it."""

    saved_at: dt.datetime  # the agent saves the case as the call ends
    call_id: int
    caller: str
    district: str


def _stamp(at: dt.datetime) -> str:
    return f"{at.timestamp():.6f}"


def _event(
    name: str, uniqueid: str, at: dt.datetime, linkedid: str = "", **headers: str
) -> Message:
    pairs = [("Event", name), ("Uniqueid", uniqueid), ("Linkedid", linkedid or uniqueid)]
    pairs += [(k, v) for k, v in headers.items()]
    pairs.append(("Timestamp", _stamp(at)))
    return Message(headers=tuple(pairs))


async def _one_call(
    records: CallRecords,
    mix: CallMix,
    rng: random.Random,
    answered: dt.datetime,
    key: str,
    caller: str,
    district: str,
    reports: bool,
) -> PhoneReport | CallbackRequest | None:
    city = rng.random() < mix.city_share
    queue = CITY_QUEUE if city else f"hotline-{district}"
    agent = "city_agent" if city else AGENTS.get(district, "city_agent")
    call_id, _ = await records.start_call(key, key, caller, "12319", 90, at=answered)
    ivr_end = answered + dt.timedelta(seconds=IVR_SECONDS)
    await records.finish_ivr(
        call_id,
        {
            "ivr_ended_at": ivr_end,
            "district_code": None if city else district,
            "intent": "report",
            "ivr_result": {"path": ["greeting"], "district_source": "none" if city else "did"},
            "queue": queue,
            "priority": 0,
            "route_target": "queue",
            "route_reason": "city-default" if city else "district-known",
        },
    )
    joined = ivr_end + dt.timedelta(seconds=0.3)
    wait = rng.expovariate(1 / mix.mean_wait)
    patience = rng.expovariate(1 / mix.mean_patience)
    events = [_event("QueueCallerJoin", key, joined, Queue=queue, Position="1", Count="1")]
    report: PhoneReport | CallbackRequest | None = None
    if wait <= patience:
        connect = joined + dt.timedelta(seconds=wait)
        talk = rng.uniform(*mix.talk)
        end = connect + dt.timedelta(seconds=talk)
        held, spoke = str(round(wait)), str(round(talk))
        events += [
            _event("AgentConnect", key, connect, Queue=queue, MemberName=agent, HoldTime=held),
            _event(
                "AgentComplete",
                key,
                end,
                Queue=queue,
                MemberName=agent,
                HoldTime=held,
                TalkTime=spoke,
                Reason="caller",
            ),
        ]
        if reports:
            report = PhoneReport(end, call_id, caller, district)
    elif rng.random() < mix.callback_share:
        pressed = joined + dt.timedelta(seconds=patience)
        at = pressed + dt.timedelta(seconds=CALLBACK_AGI_SECONDS)
        report = CallbackRequest(at, call_id, caller, queue, key, district, reports)
        end = pressed + dt.timedelta(seconds=CALLBACK_PROMPT_SECONDS)
    else:
        end = joined + dt.timedelta(seconds=patience)
        events.append(
            _event("QueueCallerAbandon", key, end, Queue=queue, HoldTime=str(round(patience)))
        )
    events.append(_event("Hangup", key, end, Channel=f"PJSIP/trunk-{key}", Cause="16"))
    await _track(records, events)
    return report


async def _track(records: CallRecords, events: list[Message]) -> None:
    for result in await records.track(events):
        if isinstance(result, BaseException):
            raise result


async def _calls(
    engine: Engine,
    mix: CallMix,
    rng: random.Random,
    plan: list[tuple[dt.datetime, str, str, bool]],
    seed: int,
) -> list[PhoneReport | CallbackRequest]:
    records = CallRecords(engine)
    try:
        reports = []
        for n, (answered, caller, district, brings_case) in enumerate(plan):
            key = f"demo-{seed}-{n:07d}"
            done = await _one_call(records, mix, rng, answered, key, caller, district, brings_case)
            if done is not None:
                reports.append(done)
        return reports
    finally:
        await asyncio.to_thread(records.close)


def generate_calls(
    engine: Engine,
    mix: CallMix,
    rng: random.Random,
    plan: list[tuple[dt.datetime, str, str, bool]],
    seed: int,
) -> list[PhoneReport | CallbackRequest]:
    """Write the planned calls (answer time, caller, district, whether it brings a new
    problem); for the case history, the answered ones that bring one and the callback
    requests."""
    return asyncio.run(_calls(engine, mix, rng, plan, seed))


@dataclass(frozen=True)
class PlacedCallback:
    """A callback the desk placed (its call record written by ``start_callback``)."""

    channel_id: str  # the staff phone's leg: the call record's uniqueid
    ended: dt.datetime


def track_callbacks(engine: Engine, placed: list[PlacedCallback]) -> None:
    """The tracker's part of the callbacks: the citizen's leg hangs up, then the staff
    phone's (the record's own channel: the call ends)."""

    async def run() -> None:
        records = CallRecords(engine)
        try:
            for start in range(0, len(placed), 200):
                events = []
                for call in placed[start : start + 200]:
                    key, end = call.channel_id, call.ended
                    citizen = f"{key}.2"
                    events += [
                        _event("Hangup", citizen, end, key, Channel=f"PJSIP/trunk-{citizen}"),
                        _event("Hangup", key, end, Channel=f"Local/{key}@hotline-callback"),
                    ]
                await _track(records, events)
        finally:
            await asyncio.to_thread(records.close)

    asyncio.run(run())
