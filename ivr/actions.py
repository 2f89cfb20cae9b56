"""The named steps a flow can take. Each returns an outcome the flow maps to a node.

Outcomes per action are declared in :data:`OUTCOMES` so the flow loader can check that the
flow handles every one of them. Checks (used by ``collect`` nodes) succeed with ``found``.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from ivr.channel import Channel, say
from ivr.engine import Action, CallState
from ivr.records import CallerFacts, CaseStatus, Records
from ivr.say import datetime_words
from ivr.speech import SpeechService
from routing.model import RoutingRules

__all__ = ["OUTCOMES", "CallerFacts", "CaseStatus", "Records", "make_actions"]

BEIJING = ZoneInfo("Asia/Shanghai")  # the default city (settings.timezone)
OUTCOMES: dict[str, tuple[str, ...]] = {
    "caller_history": ("found", "none"),
    "did_district": ("found", "none"),
    "keyed_district": ("found", "unknown"),
    "case_status": ("found", "not_found"),
    "spoken_place": ("found", "unsure", "none"),
    "confirm_place": ("yes", "no"),
}


def make_actions(
    records: Records,
    rules: RoutingRules,
    history_days: int,
    speech: SpeechService | None = None,
    zone: ZoneInfo = BEIJING,
) -> dict[str, Action]:
    """The steps; without ``speech`` (no model configured, or it failed to load) the speech
    step answers ``none`` at once and the flow goes on as keys only. ``zone``: the city's
    time zone, in which times are said."""

    async def caller_history(state: CallState, channel: Channel) -> str:
        if not state.caller or not state.caller.isdigit():
            return "none"
        facts = state.facts or await records.caller_facts(state.caller, history_days)
        state.history = facts.history
        district = facts.history.open_case_district or facts.recent_district
        if district in rules.districts:
            state.district, state.district_source = district, "history"
            return "found"
        return "none"

    async def did_district(state: CallState, channel: Channel) -> str:
        platform = rules.by_did(state.did)
        if platform is None:
            return "none"
        state.district, state.district_source = platform.area_code, "did"
        return "found"

    async def keyed_district(state: CallState, channel: Channel) -> str:
        platform = rules.by_menu_key(state.vars.get("district_key", ""))
        if platform is None:
            return "unknown"
        state.district, state.district_source = platform.area_code, "keyed"
        return "found"

    async def case_status(state: CallState, channel: Channel) -> str:
        number = state.vars.get("case_number", "")
        status = await records.case_status(number) if number.isdigit() else None
        if status is None:
            return "not_found"
        state.case_number = status.number
        if status.district in rules.districts:
            state.district, state.district_source = status.district, "case"
        # The case number is not read back (the caller has just keyed it): the state, the
        # deadline in the city's time, then the agent. A key cuts it short.
        words = ["status_intro", f"state_{status.state}"]
        if status.due_at is not None and status.state not in ("closed", "invalid", "duplicate"):
            words += ["status_deadline", *datetime_words(status.due_at, zone)]
        if not await say(channel, words):
            await channel.play("status_to_agent")
        return "found"

    async def spoken_place(state: CallState, channel: Channel) -> str:
        if speech is None:
            return "none"
        await channel.play("speak_place")
        heard = await speech.listen(channel.stream_audio)
        if heard is None:
            return "none"
        if heard.digits:  # keyed the district instead of saying it
            platform = rules.by_menu_key(heard.digits[:2])
            if platform is None:
                return "none"
            state.district, state.district_source = platform.area_code, "keyed"
            return "found"
        state.vars["speech_text"] = heard.text
        state.vars["speech_confidence"] = f"{heard.confidence:.2f}"
        place = heard.place
        if place is None or place.district not in rules.districts:
            return "none"
        if heard.confidence >= speech.config.accept_confidence:
            state.district, state.district_source = place.district, "speech"
            state.grid = place.grid
            if place.street:
                state.vars["street"] = place.street
            return "found"
        if heard.confidence >= speech.config.confirm_confidence:
            state.vars["heard_district"] = place.district
            return "unsure"
        return "none"

    async def confirm_place(state: CallState, channel: Channel) -> str:
        district = state.vars.get("heard_district", "")
        key = await channel.collect(f"confirm_{district}", 1, 3000)
        if key == "1" and district in rules.districts:
            state.district, state.district_source = district, "speech"
            return "yes"
        return "no"

    return {
        "caller_history": caller_history,
        "did_district": did_district,
        "keyed_district": keyed_district,
        "case_status": case_status,
        "spoken_place": spoken_place,
        "confirm_place": confirm_place,
    }
