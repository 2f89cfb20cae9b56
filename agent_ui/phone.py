"""An agent's phone in the queues, over AMI: join every queue of theirs with its penalty,
pause and unpause with a reason, leave. Used by the agent's own buttons and by a
supervisor forcing a pause or a log-out."""

from __future__ import annotations

import contextlib

from agi.ami import AmiClient, AmiError


async def apply_state(
    ami: AmiClient,
    queues: list[tuple[str, int]],
    interface: str,
    member_name: str,
    state: str,
    reason: str,
) -> None:
    """``state`` is ready, paused or logged_out. Raises AmiError when Asterisk refuses."""
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
