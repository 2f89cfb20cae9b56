"""``hotline serve`` (``hotline.service.run``, in this process) against a scripted AMI peer
that sends a malformed QueueStatus reply: live queue state comes back once the replies are
good again, a task that dies is restarted, and the way down still closes AMI and writes the
call records the tracker had queued."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select

from agi import queues
from hotline.calls.records import CallRecords
from hotline.db import transaction
from hotline.models import Call, CallEvent, Lease
from hotline.service import run
from hotline.settings import AmiNode, AudioSocketBind, FastAgiBind, Settings, WebBind
from hotline.testing.ami_peer import ScriptedAmi, params, queue_status

QUEUE = "hotline-110101"
UNIQUEID, LINKEDID = "fault-1.2", "fault-1.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def event(name: str, **headers: str) -> bytes:
    lines = [f"Event: {name}", f"Uniqueid: {UNIQUEID}", f"Linkedid: {LINKEDID}"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    """Until ``check()`` (sync or async) is true; the timeout is only for a hung test."""
    async with asyncio.timeout(timeout):
        while True:
            done = check()
            if asyncio.iscoroutine(done):
                done = await done
            if done:
                return
            await asyncio.sleep(0.05)


def test_a_malformed_reply_and_a_dead_task_leave_serve_working_and_shutdown_whole(
    loaded_db_url: str,
    loaded_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fold = queues.queue_states
    broken = {"left": 0}

    def buggy_once(*args: Any) -> Any:  # a bug in the poller's own code, once
        if broken["left"]:
            broken["left"] -= 1
            raise RuntimeError("a bug in the fold")
        return fold(*args)

    monkeypatch.setattr(queues, "queue_states", buggy_once)

    async def main() -> None:
        peer = ScriptedAmi(queue_status(params(QUEUE, calls="abc")))
        port = await peer.start()
        web = free_port()
        settings = Settings(
            database_url=loaded_db_url,
            web=WebBind(port=web),
            fastagi=FastAgiBind(port=free_port()),
            audiosocket=AudioSocketBind(port=free_port()),
            ami=[AmiNode(port=port, secret=SecretStr("s"))],
            wrapup_seconds=0,
        )
        serving = asyncio.create_task(run(settings))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web}") as client:

            async def metric(name: str) -> float | None:
                try:
                    text = (await client.get("/metrics")).text
                except httpx.TransportError:
                    return None
                found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
                return float(found.group(1)) if found else None

            waiting = f'hotline_queue_callers_waiting{{queue="{QUEUE}"}}'
            await wait_until(lambda: peer.asked["QueueStatus"] >= 2, "malformed replies read")
            assert serving.done() is False and await metric(waiting) is None
            broken["left"] = 1  # the poller dies of it: the supervisor starts it again
            await wait_until(lambda: broken["left"] == 0, "the poller's death")
            peer.reply = queue_status(params(QUEUE, calls="3"))
            await wait_until(lambda: metric(waiting), "live queue state again")
            assert await metric(waiting) == 3.0

            records = CallRecords(loaded_engine)
            await records.start_call(UNIQUEID, LINKEDID, "13800000777", "12319", 90)
            records.close()
            await wait_until(lambda: _holds_tracker_lease(loaded_engine), "the tracker lease")
            await peer.push(
                event("QueueCallerJoin", Queue=QUEUE, Position="1", Count="1")
                + event("Hangup", Channel="Local/12319@hotline-0001;2", Cause="16")
            )
            received = 'hotline_ami_events_received_total{node="asterisk-1"}'
            await wait_until(
                lambda: _at_least(metric(received), 2), "the events reached the AMI client"
            )
        os.kill(os.getpid(), signal.SIGTERM)  # as systemd stops it
        async with asyncio.timeout(60):
            await serving  # returns: nothing on the way down raised
        await peer.stop()
        assert peer.ended == peer.sessions  # AMI closed

    with caplog.at_level(logging.INFO, "hotline"):
        asyncio.run(main())
    with transaction(loaded_engine) as session:
        call = session.scalars(select(Call).where(Call.uniqueid == UNIQUEID)).one()
        kinds = session.scalars(
            select(CallEvent.kind).where(CallEvent.call_id == call.id).order_by(CallEvent.id)
        ).all()
        assert session.get(Lease, "call-tracker") is None  # given up on the way down
    assert (call.queue, call.outcome) == (QUEUE, "abandoned_queue")
    assert call.ended_at is not None and kinds[-2:] == ["QueueCallerJoin", "Hangup"]
    lines = [r.getMessage() for r in caplog.records]
    assert sum("malformed QueueStatus" in line for line in lines) == 1, lines  # not per poll
    died = [line for line in lines if line.startswith("task 'queue poll asterisk-1' died")]
    assert died == [
        "task 'queue poll asterisk-1' died: RuntimeError: a bug in the fold; restarting in 1 s"
    ]
    assert not any("shutdown:" in line for line in lines), lines


def _holds_tracker_lease(engine: Engine) -> bool:
    with transaction(engine) as session:
        return session.get(Lease, "call-tracker") is not None


async def _at_least(value: Any, minimum: float) -> bool:
    found = await value
    return found is not None and found >= minimum
