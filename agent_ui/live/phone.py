"""An agent's phone in the queues, over AMI: join every queue of theirs with its penalty,
pause and unpause with a reason, leave. Used by the agent's own buttons and by a
supervisor forcing a pause or a log-out. And the callback (回访) from a case page: the
staff member's phone rings first, then the citizen is dialled."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import HTTPException
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from agi.ami import AmiClient, AmiError
from hotline.agent_states import record_state
from hotline.cases.case_calls import Callback
from hotline.models import User
from hotline.settings import Settings


async def apply_state(
    ami: AmiClient,
    queues: list[tuple[str, int]],
    interface: str,
    member_name: str,
    state: str,
    reason: str,
    state_interface: str = "",
) -> None:
    """``state`` is ready, paused or logged_out. Raises AmiError when Asterisk refuses.
    ``state_interface``: the device whose state the queue reads for this member
    (``Custom:agent-<name>`` with several nodes: the app keeps it the same on each)."""
    for queue, penalty in queues:
        if state == "logged_out":
            with contextlib.suppress(AmiError):  # not a member of this one: nothing to leave
                await ami.action("QueueRemove", Queue=queue, Interface=interface)
            continue
        if state == "ready":
            try:
                await ami.action(
                    "QueueAdd",
                    Queue=queue,
                    Interface=interface,
                    MemberName=member_name,
                    Penalty=str(penalty),
                    StateInterface=state_interface,  # empty: the interface's own state
                )
            except AmiError:  # already a member: keep the penalty up to date
                await ami.action(
                    "QueuePenalty", Queue=queue, Interface=interface, Penalty=str(penalty)
                )
        await ami.action(
            "QueuePause",
            Queue=queue,
            Interface=interface,
            Paused="true" if state == "paused" else "false",
            Reason=reason or "ready",
        )


async def bridged_with(ami: AmiClient, channel: str) -> str | None:
    """The channel in the same bridge as ``channel``: the agent's leg of a caller's call."""
    rows = [m for m in await ami.list_action("CoreShowChannels") if m.event == "CoreShowChannel"]
    bridge = next((m.get("BridgeId") for m in rows if m.get("Channel") == channel), "")
    if not bridge:
        return None
    return next(
        (
            m.get("Channel")
            for m in rows
            if m.get("BridgeId") == bridge and m.get("Channel") != channel
        ),
        None,
    )


def phone_of(settings: Settings, user: User) -> str:
    """The dial string of a user's phone (agents' and supervisors' alike)."""
    return settings.agent_interface.format(
        endpoint=user.sip_endpoint or user.username, username=user.username
    )


def node_client(app_state: Any, node: str) -> AmiClient | None:
    """The AMI client of the node a call is on (``calls.node``, several nodes); the first
    node's for a call that names none."""
    clients: list[AmiClient] = list(getattr(app_state, "ami_clients", ()))
    first: AmiClient | None = app_state.ami
    return next((c for c in clients if node and c.name == node), first)


def live_client(app_state: Any, node: str = "") -> AmiClient | None:
    """The client of ``node`` when it is up, else of the first node that is up (a callback
    or a listen-in placed while a node is down goes through another: every node reaches
    every phone through the SIP proxy); the first node's when none is up, so the caller
    gets its refusal."""
    clients: list[AmiClient] = [c for c in getattr(app_state, "ami_clients", ()) if c]
    first: AmiClient | None = app_state.ami
    up = [c for c in clients if c.connected.is_set()]
    return next((c for c in up if node and c.name == node), next(iter(up), first))


def state_interface_of(settings: Settings, username: str) -> str:
    """The queue member's state interface (``Custom:agent-<name>``), or "" for the phone's."""
    template = settings.agent_state_interface
    return template.format(username=username) if template else ""


async def apply_everywhere(
    clients: list[AmiClient],
    settings: Settings,
    agent: User,
    queues: list[tuple[str, int]],
    state: str,
    reason: str,
) -> int:
    """Apply ``state`` on every node whose AMI is up (an agent is one person across the
    nodes); a node that is down gets it when it comes back (hotline.calls.presence).
    Returns on how many nodes; raises AmiError when a node that is up refuses."""
    done = 0
    for client in clients:
        if not client.connected.is_set():
            continue
        await apply_state(
            client,
            queues,
            phone_of(settings, agent),
            agent.username,
            state,
            reason,
            state_interface_of(settings, agent.username),
        )
        done += 1
    return done


async def set_agent_state(
    app_state: Any,
    session: Session,
    agent: User,
    queues: list[tuple[str, int]],
    state: str,
    reason: str,
) -> None:
    """Apply ``state`` to all of ``agent``'s queues over AMI, store it (in the request's
    ``session``) for every instance and tell the agent's pages. 503 without Asterisk, 502
    when it refuses."""
    clients = [c for c in getattr(app_state, "ami_clients", ()) if c is not None]
    if not clients and app_state.ami is not None:
        clients = [app_state.ami]
    if not clients:
        raise HTTPException(503, "telephony is not connected")
    try:
        done = await apply_everywhere(clients, app_state.settings, agent, queues, state, reason)
    except AmiError as exc:
        raise HTTPException(502, f"Asterisk refused: {exc}") from exc
    if not done:
        raise HTTPException(503, "telephony is not connected")
    await run_in_threadpool(record_state, session, agent.username, state, reason)
    app_state.hub.publish(agent.username, "state", {"state": state, "reason": reason})


CALLBACK_CONTEXT = "hotline-callback"  # dialplan/templates/extensions.conf.j2
# The word that a staff member's callback rings (RINGING, said by the app), started (INUSE)
# or ended (NOT_INUSE, said by the dialplan): agent_ui.live.presence keeps it on every node.
BUSY_EVENT = "HotlineAgentBusy"
STAFF_RING_MS = 30_000  # how long the staff member's phone rings before the attempt ends


async def place_callback(
    ami: AmiClient, settings: Settings, staff: User, callback: Callback, case_number: str
) -> None:
    """Ring ``staff``'s phone; once answered, ``[hotline-callback]`` records the call and
    dials the citizen. The staff leg's uniqueid is the call record's (``ChannelId``), so
    the tracker stores its timeline. Raises AmiError when Asterisk refuses.

    While the staff phone rings, no queue on any node may ring it: the app's presence
    hears ``HotlineAgentBusy`` RINGING for the leg (and frees the agent if the
    ``OriginateResponse`` says the phone was not answered, or if Asterisk refuses)."""

    async def busy(state: str) -> None:
        await ami.action(
            "UserEvent",
            UserEvent=BUSY_EVENT,
            Agent=staff.username,
            Channel=callback.channel_id,
            State=state,
        )

    await busy("RINGING")
    try:
        await _originate(ami, settings, staff, callback, case_number)
    except AmiError:
        with contextlib.suppress(AmiError):
            await busy("NOT_INUSE")
        raise


async def _originate(
    ami: AmiClient, settings: Settings, staff: User, callback: Callback, case_number: str
) -> None:
    await ami.action(
        "Originate",
        Channel=phone_of(settings, staff),
        Context=CALLBACK_CONTEXT,
        Exten=callback.dial,
        Priority="1",
        ChannelId=callback.channel_id,
        CallerID=f'"回访 {case_number}" <{callback.dial}>',  # what the staff phone shows
        Variable=[
            f"HOTLINE_CALL_ID={callback.call.id}",
            f"HOTLINE_CASE={case_number}",
            f"HOTLINE_AGENT={staff.username}",  # busy on every node while it lasts
        ],
        Timeout=str(STAFF_RING_MS),
        Async="true",
    )
