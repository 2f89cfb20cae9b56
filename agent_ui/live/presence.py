"""One agent, one person across several Asterisk nodes.

Each node has its own queues and sees only its own calls: left alone, node B would ring an
agent who is talking on node A. So the queue members' state interface is a custom device
state (``agent_state_interface``, ``Custom:agent-<name>``) that the app keeps the same on
every node: when a node's queue rings, connects or releases an agent (AMI ``AgentCalled``,
``AgentConnect``, ``AgentComplete``, ``AgentRingNoAnswer``, ``AgentDump``), the state is set
(``DEVICE_STATE(Custom:…)``) on every node that is up, and with ``ringinuse = no`` no other
queue rings a member that is RINGING or INUSE. A callback (回访) is no queue call: the app
says when the staff phone starts ringing, the dialplan when the call starts and ends
(UserEvent ``HotlineAgentBusy``, ``[hotline-callback]``), an ``OriginateResponse`` when the
phone was not answered, and the state is set the same way.

A node that goes down takes its calls with it: the agents it had busy are set free on the
others. A node that comes up (started, restarted after a crash) has no members
(``persistentmembers = no``): every agent who is ready, paused or in wrap-up is put back
in its queues there, with the states of the agents busy elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select

from agent_ui.live.phone import BUSY_EVENT, apply_state, phone_of, state_interface_of
from agi.ami import AmiClient, AmiError
from agi.ami_protocol import Message
from hotline.db import transaction
from hotline.models import AgentState, User
from hotline.settings import Settings
from hotline.tasks import stop, supervise
from hotline.users import agent_queues

log = logging.getLogger("hotline.presence")

# What a queue event says of the member's device: RINGING and INUSE keep every other
# node's queues from ringing the agent (ringinuse = no); NOT_INUSE frees them.
DEVICE_STATE_OF = {
    "AgentCalled": "RINGING",
    "AgentConnect": "INUSE",
    "AgentComplete": "NOT_INUSE",
    "AgentRingNoAnswer": "NOT_INUSE",
    "AgentDump": "NOT_INUSE",
}
BUSY_STATES = frozenset({"RINGING", "INUSE", "NOT_INUSE"})  # of a callback (BUSY_EVENT)
# The desk's states that keep an agent in the queues (wrap-up is a pause).
IN_QUEUES = {"ready": "ready", "paused": "paused", "wrapup": "paused"}


@dataclass(frozen=True)
class _Change:
    node: str
    kind: str  # a queue event's name, "callback", or "up" / "down" for the node itself
    member: str = ""
    state: str = ""  # the device state to set (queue events and callbacks)


class AgentPresence:
    """Keeps agents' custom device states and queue memberships the same on every node."""

    def __init__(self, clients: list[AmiClient], settings: Settings, engine: Engine) -> None:
        self._clients, self._settings, self._engine = clients, settings, engine
        self._changes: asyncio.Queue[_Change] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.busy: dict[str, tuple[str, str]] = {}  # agent -> (node, device state)
        self._ringing: dict[str, str] = {}  # a ringing callback's staff leg -> agent

    def attach(self) -> None:
        for client in self._clients:
            for kind in DEVICE_STATE_OF:
                client.on(kind, self._heard(client.name, kind))
            client.on("UserEvent", self._callback(client.name))
            client.on("OriginateResponse", self._unanswered(client.name))
            client.on("HotlineAmiConnected", self._heard(client.name, "up"))
            client.on("HotlineAmiDisconnected", self._heard(client.name, "down"))

    def _heard(self, node: str, kind: str) -> Callable[[Message], None]:
        def put(event: Message) -> None:
            member, state = event.get("MemberName"), DEVICE_STATE_OF.get(kind, "")
            self._changes.put_nowait(_Change(node, kind, member, state))

        return put

    def _callback(self, node: str) -> Callable[[Message], None]:
        def put(event: Message) -> None:
            if event.get("UserEvent") != BUSY_EVENT or event.get("State") not in BUSY_STATES:
                return
            agent, state, leg = event.get("Agent"), event.get("State"), event.get("Channel")
            if state == "RINGING" and leg:
                self._ringing[leg] = agent
            elif leg:
                self._ringing.pop(leg, None)
            self._changes.put_nowait(_Change(node, "callback", agent, state))

        return put

    def _unanswered(self, node: str) -> Callable[[Message], None]:
        """A callback's staff phone that was not answered (or could not be rung) never
        reaches the dialplan that would free the agent: the OriginateResponse does."""

        def put(event: Message) -> None:
            agent = self._ringing.pop(event.get("Uniqueid"), None)
            if agent and event.get("Response") != "Success":
                self._changes.put_nowait(_Change(node, "callback", agent, "NOT_INUSE"))

        return put

    def start(self) -> None:
        self._task = supervise("agent presence", self._run)

    async def stop(self) -> None:
        await stop(self._task)
        self._task = None

    async def settled(self) -> None:
        """Wait until every change heard so far has been applied (tests)."""
        await self._changes.join()

    async def _run(self) -> None:
        while True:
            change = await self._changes.get()
            try:
                await self._apply(change)
            except Exception:
                log.warning("could not apply %s", change, exc_info=True)
            finally:
                self._changes.task_done()

    async def _apply(self, change: _Change) -> None:
        if change.kind == "down":
            freed = [a for a, (node, _) in self.busy.items() if node == change.node]
            if freed:
                log.info("node %s is down: %s free on the others", change.node, ", ".join(freed))
            for agent in freed:
                del self.busy[agent]
                await self._set_everywhere(agent, "NOT_INUSE")
            return
        if change.kind == "up":
            await self._restore(change.node)
            return
        if not change.member:
            return
        state = change.state
        if state == "NOT_INUSE":
            held = self.busy.get(change.member)
            if held is not None and held[0] != change.node:
                return  # another node's call holds the agent: that one frees them
            self.busy.pop(change.member, None)
        else:
            self.busy[change.member] = (change.node, state)
        await self._set_everywhere(change.member, state)

    async def _set_everywhere(self, agent: str, state: str) -> None:
        for client in self._clients:
            if client.connected.is_set():
                await self._set(client, agent, state)

    async def _set(self, client: AmiClient, agent: str, state: str) -> None:
        device = state_interface_of(self._settings, agent)
        if not device.startswith("Custom:"):
            return
        with contextlib.suppress(AmiError):  # down meanwhile: it is restored when back
            await client.action("Setvar", Variable=f"DEVICE_STATE({device})", Value=state)

    async def _restore(self, node: str) -> None:
        """Put every agent who is in the queues back in them on ``node``."""
        client = next((c for c in self._clients if c.name == node), None)
        if client is None:
            return
        agents = await asyncio.to_thread(self._agents_in_queues)
        for username, phone, queues, desk_state, reason in agents:
            with contextlib.suppress(AmiError):
                await self._set(client, username, self._device_state(username))
                await apply_state(
                    client,
                    queues,
                    phone,
                    username,
                    IN_QUEUES[desk_state],
                    reason,
                    state_interface_of(self._settings, username),
                )
        if agents:
            log.info("node %s is up: %d agents back in its queues", node, len(agents))

    def _device_state(self, agent: str) -> str:
        held = self.busy.get(agent)
        return held[1] if held is not None else "NOT_INUSE"

    def _agents_in_queues(self) -> list[tuple[str, str, list[tuple[str, int]], str, str]]:
        """(username, phone, queues, desk state, reason) of every agent in the queues."""
        with transaction(self._engine) as session:
            rows = session.execute(
                select(User, AgentState)
                .join(AgentState, AgentState.username == User.username)
                .where(AgentState.state.in_(IN_QUEUES), User.active.is_(True))
            ).all()
            return [
                (
                    user.username,
                    phone_of(self._settings, user),
                    agent_queues(session, user),
                    state.state,
                    state.reason,
                )
                for user, state in rows
            ]
