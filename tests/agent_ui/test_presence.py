"""An agent is one person across nodes: the custom device state set on every node for a
callback's ringing staff phone, and freed when the phone was not answered (pure, with
stand-in AMI clients that record what they were told)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from agent_ui.live.presence import AgentPresence
from agi.ami_protocol import Message
from hotline.settings import Settings


class Node:
    """An AMI client as the presence uses it: handlers by event, actions recorded."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.connected = asyncio.Event()
        self.connected.set()
        self.handlers: dict[str, list[Callable[[Message], None]]] = {}
        self.told: list[str] = []

    def on(self, kind: str, handler: Callable[[Message], None]) -> None:
        self.handlers.setdefault(kind, []).append(handler)

    def hear(self, kind: str, **headers: str) -> None:
        event = Message(headers=(("Event", kind), *headers.items()))
        for handler in self.handlers.get(kind, []):
            handler(event)

    async def action(self, name: str, **fields: Any) -> Message:
        if name == "Setvar":
            self.told.append(f"{fields['Variable']}={fields['Value']}")
        return Message(headers=(("Response", "Success"),))


def test_a_callback_ringing_keeps_the_agent_busy_everywhere_until_unanswered() -> None:
    async def main() -> list[list[str]]:
        nodes = [Node("node-a"), Node("node-b")]
        settings = Settings(agent_state_interface="Custom:agent-{username}")
        presence = AgentPresence(nodes, settings, engine=None)  # type: ignore[arg-type]
        presence.attach()
        presence.start()
        try:
            ringing = {"UserEvent": "HotlineAgentBusy", "Agent": "dc_agent"}
            nodes[0].hear("UserEvent", **ringing, Channel="cb-1", State="RINGING")
            await presence.settled()
            assert presence.busy == {"dc_agent": ("node-a", "RINGING")}
            nodes[0].hear("OriginateResponse", Uniqueid="other", Response="Failure")
            nodes[0].hear("OriginateResponse", Uniqueid="cb-1", Response="Failure")
            await presence.settled()
            assert presence.busy == {}
            # Answered: the dialplan says INUSE and, at the end, NOT_INUSE.
            nodes[1].hear("UserEvent", **ringing, Channel="cb-2", State="RINGING")
            nodes[1].hear("OriginateResponse", Uniqueid="cb-2", Response="Success")
            nodes[1].hear("UserEvent", **ringing, State="INUSE")
            await presence.settled()
            assert presence.busy == {"dc_agent": ("node-b", "INUSE")}
            nodes[1].hear("UserEvent", **ringing, State="NOT_INUSE")
            await presence.settled()
            return [node.told for node in nodes]
        finally:
            await presence.stop()

    told = asyncio.run(main())
    state = "DEVICE_STATE(Custom:agent-dc_agent)"
    expected = [f"{state}={s}" for s in ("RINGING", "NOT_INUSE", "RINGING", "INUSE", "NOT_INUSE")]
    assert told == [expected, expected]  # the same on both nodes
