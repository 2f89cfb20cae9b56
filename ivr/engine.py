"""Runs a flow (``ivr.flow``) over a :class:`~ivr.channel.Channel` and returns what it learnt.

The engine knows node types, not the hotline: what a step means is in ``ivr.actions``.
Every flow ends: the number of steps is bounded, and running off the end routes the call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from hotline.callers import CallerFacts
from ivr.channel import Channel
from ivr.flow import Flow, Node
from routing.model import CallerHistory

log = logging.getLogger("hotline.ivr")
MAX_STEPS = 40


@dataclass
class CallState:
    """What the conversation has learnt so far; actions read and fill it."""

    caller: str
    did: str
    vars: dict[str, str] = field(default_factory=dict)
    district: str | None = None
    district_source: str | None = None
    grid: str | None = None
    case_number: str | None = None
    intent: str = "unknown"
    history: CallerHistory = field(default_factory=CallerHistory)
    facts: CallerFacts | None = None  # prefetched with the call record, when available
    path: list[str] = field(default_factory=list)


class Action(Protocol):
    async def __call__(self, state: CallState, channel: Channel) -> str: ...


async def run_flow(
    flow: Flow, channel: Channel, state: CallState, actions: dict[str, Action]
) -> CallState:
    node_id: str | None = flow.start
    for _ in range(MAX_STEPS):
        if node_id is None:
            break
        node = flow.nodes[node_id]
        state.path.append(node_id)
        if node.type == "route":
            state.intent = node.intent
            return state
        node_id = await _step(node, channel, state, actions)
    log.warning("IVR flow did not reach a route node in %d steps: %s", MAX_STEPS, state.path)
    return state


async def _step(node: Node, channel: Channel, state: CallState, actions: dict[str, Action]) -> str:
    if node.type == "play":
        await channel.play(node.prompt)
        return node.next
    if node.type == "action":
        outcome = await actions[node.action](state, channel)
        return node.outcomes[outcome]
    if node.type == "menu":
        for _ in range(node.retries + 1):
            key = await channel.collect(node.prompt, 1, node.timeout_ms)
            if key in node.choices:
                state.vars[f"{node.id}_key"] = key
                return node.choices[key]
            if key == "":
                break  # silence: no retry, the caller goes on to a human
        return node.default
    # collect
    prompt = node.prompt
    for _ in range(node.retries + 1):
        digits = (await channel.collect(prompt, node.max_digits, node.timeout_ms)).rstrip("#")
        state.vars[node.var] = digits
        if not digits:
            break  # silence: no retry, the caller goes on to a human
        if not node.check or await actions[node.check](state, channel) == "found":
            return node.next
        prompt = node.invalid_prompt or node.prompt
    return node.fallback
