"""One call through the IVR: record it, talk, decide the route, tell the dialplan.

The dialplan has already set the city queue as the fallback target before ``AGI()`` ran, so
whatever fails here (database, flow, routing) the caller still reaches a human. Variables set
for the dialplan and the agent screen:

``HOTLINE_CALL_ID``, ``HOTLINE_DISTRICT``, ``HOTLINE_GRID``, ``HOTLINE_INTENT``,
``HOTLINE_TARGET`` (``queue`` or ``emergency``), ``HOTLINE_QUEUE``, ``HOTLINE_PRIORITY``,
``HOTLINE_REASON``, and for emergencies ``HOTLINE_EMERGENCY_DIAL`` with the queue and
priority to use if the transfer fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from agi.channel import AgiChannel
from agi.server import AgiSession, CallEnded, Handler
from hotline.calls.records import CallRecords
from hotline.cases.callback import request_callback
from hotline.db import transaction
from hotline.models import utcnow
from hotline.platforms import load_rules
from hotline.settings import PROJECT_ROOT, Settings
from ivr.actions import OUTCOMES, make_actions
from ivr.channel import say
from ivr.engine import CallState, run_flow
from ivr.flow import Flow, load_flow
from ivr.say import digit_words
from ivr.speech import SpeechService
from routing import IvrOutcome, QueueState, decide
from routing.model import Decision, Intent, RoutingRules

log = logging.getLogger("hotline.ivr")
RECORDS_TIMEOUT = 3.0  # seconds a call waits for its record at most
FLOW_DIR = PROJECT_ROOT / "data" / "ivr"
QueueSnapshot = Callable[[], Mapping[str, QueueState] | None]


def load_ivr(directory: Path = FLOW_DIR) -> Flow:
    return load_flow(directory / "flow.toml", directory / "prompts.csv", OUTCOMES)


def call_handler(
    settings: Settings,
    engine: Engine,
    *,
    flow: Flow | None = None,
    queues: QueueSnapshot = lambda: None,
    clock: Callable[[], dt.datetime] = utcnow,
    speech: SpeechService | None = None,
    records: CallRecords | None = None,
) -> Handler:
    """The FastAGI handler. ``queues`` gives the live queue snapshot (None when AMI is down);
    ``clock`` is injectable for tests; ``speech`` lets callers say the place; ``records``
    may be shared with the call tracker."""
    flow = flow or load_ivr(settings.ivr_dir)
    records = records or CallRecords(engine)
    with transaction(engine) as session:
        rules = load_rules(session)
    zone = ZoneInfo(settings.timezone)
    actions = make_actions(records, rules, flow.history_days, speech, zone)

    async def handle(session: AgiSession) -> None:
        if session.env.script == "callback":
            await callback(session)
            return
        await ivr(session)

    async def callback(session: AgiSession) -> None:
        """``AGI(.../callback,CALL_ID,QUEUE)`` from the queue's exit context."""
        args = session.env.args
        raw_id = args[0] if args else ""
        call_id = int(raw_id) if raw_id.isdigit() else None
        queue = args[1] if len(args) > 1 else ""
        case = await asyncio.to_thread(
            _request_callback,
            engine,
            call_id,
            session.env.get("callerid"),
            queue,
            session.env.uniqueid,
            zone,
        )
        session.log.info("callback request: case %s", case)
        channel = AgiChannel(session, flow.language)
        await channel.set_language()
        await say(channel, ["callback_registered", *digit_words(case), "callback_goodbye"])

    async def ivr(session: AgiSession) -> None:
        env = session.env
        channel = AgiChannel(session, flow.language)
        caller = env.get("callerid")
        did = env.get("arg_1") or env.get("dnid")
        # A database that hangs must not hold the caller in silence: past the bound the AGI
        # ends and the dialplan takes the call to its fallback queue.
        async with asyncio.timeout(RECORDS_TIMEOUT):
            call_id, facts = await records.start_call(
                env.uniqueid,
                env.get("arg_2") or env.uniqueid,
                caller,
                did,
                flow.history_days,
                node=env.get("arg_3"),
                channel=env.get("channel"),
            )
        state = CallState(caller=caller, did=did, facts=facts)
        try:
            await channel.set_language()
            await run_flow(flow, channel, state, actions)
        except CallEnded:
            await records.abandon_in_ivr(call_id, state.path)
            raise
        except Exception:
            # The dialplan takes the caller to its fallback queue; the recording and the
            # callback should still carry the call's id. Best effort: the channel may be gone.
            with contextlib.suppress(Exception):
                await channel.set_variable("HOTLINE_CALL_ID", str(call_id))
            raise
        outcome = IvrOutcome(
            _intent(state.intent),
            state.district,
            state.district_source,
            state.grid,
            state.case_number,
        )
        decision = decide(outcome, state.history, queues(), clock().astimezone(zone).time(), rules)
        await _tell_dialplan(channel, call_id, state, decision, rules, settings)
        await _finish(
            records,
            session,
            call_id,
            {
                "ivr_ended_at": utcnow(),
                "district_code": decision.district,
                "grid_code": state.grid,
                "intent": state.intent,
                "ivr_result": {
                    "path": state.path,
                    "district_source": state.district_source,
                    "case_number": state.case_number,
                    "vars": state.vars,
                },
                "queue": decision.queue or None,
                "priority": decision.priority,
                "route_target": decision.target,
                "route_reason": decision.reason,
            },
        )
        session.log.info(
            "call from %s to %s routed: %s %s priority %s (%s)",
            session.env.get("callerid"),
            session.env.get("dnid"),
            decision.target,
            decision.queue or settings.emergency_dial,
            decision.priority,
            decision.reason,
        )

    return handle


async def _tell_dialplan(
    channel: AgiChannel,
    call_id: int,
    state: CallState,
    decision: Decision,
    rules: RoutingRules,
    settings: Settings,
) -> None:
    # The call's id goes with the route, not in a command of its own at the start: nothing
    # reads it during the IVR (the dialplan set u<uniqueid> before AGI), and every command
    # is a round trip to Asterisk for every call.
    values = {
        "HOTLINE_CALL_ID": str(call_id),
        "HOTLINE_DISTRICT": decision.district or "",
        "HOTLINE_GRID": state.grid or "",
        "HOTLINE_INTENT": state.intent,
        "HOTLINE_REASON": decision.reason,
        "HOTLINE_PRIORITY": str(decision.priority),
    }
    if decision.target == "emergency":
        values |= {
            "HOTLINE_EMERGENCY_DIAL": settings.emergency_dial,
            "HOTLINE_QUEUE": rules.city.queue,
        }
    else:
        values["HOTLINE_QUEUE"] = decision.queue
    # Last: the target switches the dialplan from its fallback to our decision. One MSet
    # sets them all in order, so the target never arrives without its queue.
    values["HOTLINE_TARGET"] = decision.target
    await channel.set_variables(values)


async def _finish(
    records: CallRecords, session: AgiSession, call_id: int, values: dict[str, Any]
) -> None:
    """Store the IVR's result. The route is already on the channel, so a failure here is
    logged and the caller goes on; the call tracker still records what follows."""
    try:
        async with asyncio.timeout(RECORDS_TIMEOUT):
            await records.finish_ivr(call_id, values)
    except Exception:
        session.log.exception("could not store the IVR result of call %s", call_id)


def _request_callback(
    engine: Engine, call_id: int | None, caller: str, queue: str, uniqueid: str, zone: ZoneInfo
) -> str:
    with transaction(engine) as session:
        return request_callback(
            session, call_id=call_id, caller=caller, queue=queue, uniqueid=uniqueid, zone=zone
        ).number


def _intent(value: str) -> Intent:
    return value if value in ("report", "emergency", "status", "unknown") else "unknown"  # type: ignore[return-value]
