"""Webhooks: the receiver is down for a while; once it is back every event arrives, once,
in order per case, signed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from sqlalchemy import Engine, func, select

from hotline.cases.outbox import OutboxDeliverer, sign
from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction
from hotline.models import OutboxEvent
from hotline.testing.pbx import free_port

AGENT = Actor("dc_dispatcher", "dispatcher", "110101")
SECRET = "webhook-secret"
START = dt.datetime(2026, 11, 30, 2, tzinfo=dt.UTC)


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.got: list[dict[str, object]] = []
        self.bad_signatures = 0

    @contextmanager
    def up(self) -> Iterator[None]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers["X-Hotline-Signature"] != sign(SECRET, body):
                    receiver.bad_signatures += 1
                receiver.got.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


def make_events(engine: Engine) -> list[str]:
    numbers = []
    with transaction(engine) as session:
        for n in range(3):
            case, _ = create_case(
                session,
                AGENT,
                NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
                f"k{n}",
                now=START,
            )
            transition(
                session,
                AGENT,
                case.number,
                "dispatch",
                1,
                {"unit_code": "dongcheng.sanitation"},
                now=START,
            )
            numbers.append(case.number)
    return numbers


def test_receiver_down_then_back(loaded_engine: Engine) -> None:
    numbers = make_events(loaded_engine)  # 3 cases x (create, dispatch) = 6 events
    receiver = Receiver()
    clock = [START]
    deliverer = OutboxDeliverer(
        loaded_engine,
        f"http://127.0.0.1:{receiver.port}/hook",
        SECRET,
        base_delay=10,
        clock=lambda: clock[0],
    )

    async def passes(count: int, step: dt.timedelta) -> int:
        sent = 0
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(count):
                sent += await deliverer.deliver_once(client)
                clock[0] += step
        return sent

    # Down: every attempt fails, nothing is lost, and later events of a case wait.
    assert asyncio.run(passes(3, dt.timedelta(seconds=1))) == 0
    with transaction(loaded_engine) as session:
        failed = session.scalars(select(OutboxEvent.send_fail_count).order_by(OutboxEvent.id)).all()
    assert failed == [1, 0, 1, 0, 1, 0]  # only each case's first event was tried (once:
    # the backoff is 10 s and 3 s passed)
    with receiver.up():
        assert asyncio.run(passes(5, dt.timedelta(seconds=30))) == 6
    assert receiver.bad_signatures == 0
    assert len(receiver.got) == 6 and len({e["id"] for e in receiver.got}) == 6  # once each
    for number in numbers:
        events = [e["event"] for e in receiver.got if e["case"] == number]
        assert events == ["create", "dispatch"]  # in order per case
    with transaction(loaded_engine) as session:
        left = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.send_state != "sent")
        )
        assert left == 0


def test_two_instances_deliver_each_event_once(loaded_engine: Engine) -> None:
    """Each instance runs a deliverer; only the holder of the outbox lease sends."""
    make_events(loaded_engine)
    receiver = Receiver()
    url = f"http://127.0.0.1:{receiver.port}/hook"

    async def main() -> None:
        runs = [
            asyncio.create_task(OutboxDeliverer(loaded_engine, url, SECRET).run(0.05, holder))
            for holder in ("instance-a", "instance-b")
        ]
        for _ in range(100):
            if len(receiver.got) >= 6:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # time for any second copy to arrive
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    with receiver.up():
        asyncio.run(main())
    assert len(receiver.got) == 6  # 3 cases x (created, dispatched), none twice
