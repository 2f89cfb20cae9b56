"""Wrap-up (after-call work): when an agent's call completes they are paused in the queue
with the reason ``after_call_work``; the pause ends by itself after the configured time, or
sooner when the agent goes ready by hand. With several Asterisk nodes the pause is on every
node: the agent is one person, whichever node the call was on."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import Engine

from agent_ui.live.events import EventHub
from agi.ami import AmiClient, AmiError
from hotline.agent_states import PhoneState, record_state, state_of
from hotline.calls.tracker import CallCompleted, CallNotice

log = logging.getLogger("hotline.wrapup")


class WrapUp:
    def __init__(
        self, ami: AmiClient | list[AmiClient], hub: EventHub, engine: Engine, seconds: float
    ) -> None:
        self._clients = ami if isinstance(ami, list) else [ami]
        self._hub, self._engine, self._seconds = hub, engine, seconds
        self._timers: set[asyncio.Task[None]] = set()

    async def _pause(self, notice: CallCompleted, paused: bool, reason: str) -> None:
        """On every node that is up; raises the first node's refusal after trying all."""
        refused: AmiError | None = None
        for client in self._clients:
            if len(self._clients) > 1 and not client.connected.is_set():
                continue
            try:
                await client.action(
                    "QueuePause",
                    Queue=notice.queue,
                    Interface=notice.interface,
                    Paused="true" if paused else "false",
                    Reason=reason,
                )
            except AmiError as exc:
                refused = refused or exc
        if refused is not None:
            raise refused

    async def __call__(self, notice: CallNotice) -> None:
        if not isinstance(notice, CallCompleted) or self._seconds <= 0:
            return
        started = await asyncio.to_thread(
            record_state, self._engine, notice.agent, "wrapup", "after_call_work"
        )
        self._hub.publish(notice.agent, "state", {"state": "wrapup", "reason": "after_call_work"})
        try:
            await self._pause(notice, True, "after_call_work")
        except AmiError as exc:
            log.warning("could not start wrap-up for %s: %s", notice.agent, exc)
            return
        timer = asyncio.create_task(self._end_later(notice, started))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    async def _end_later(self, notice: CallCompleted, started: PhoneState) -> None:
        await asyncio.sleep(self._seconds)
        state = await asyncio.to_thread(state_of, self._engine, notice.agent)
        if state.state != "wrapup" or abs(state.since - started.since) > 0.001:
            return  # the agent moved on by hand
        with contextlib.suppress(AmiError):
            await self._pause(notice, False, "wrapup done")
        await asyncio.to_thread(record_state, self._engine, notice.agent, "ready")
        self._hub.publish(notice.agent, "state", {"state": "ready", "reason": ""})

    async def stop(self) -> None:
        for timer in list(self._timers):
            timer.cancel()
        await asyncio.gather(*self._timers, return_exceptions=True)
