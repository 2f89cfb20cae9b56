"""Delivering the outbox to the external dispatch system's webhook.

Every case change wrote an outbox row in its own transaction, so nothing is lost while the
receiver is down. Rows go out in id order; when one fails, the later rows of the same case
wait behind it (order per case holds), with exponential backoff. The body is JSON, signed
with HMAC-SHA256 over the exact bytes: ``X-Hotline-Signature: sha256=<hex>``; the row id is
``X-Hotline-Event-Id`` so a receiver can drop a repeat after a lost acknowledgement.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine, select, update

from hotline.faults import FaultLog
from hotline.lease import every_while_holding
from hotline.models import OutboxEvent, utcnow

log = logging.getLogger("hotline.outbox")
LEASE = "webhook-outbox"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Pending:
    id: int
    case_id: int
    body: bytes
    fail_count: int
    next_attempt_at: dt.datetime | None


class OutboxDeliverer:
    def __init__(
        self,
        engine: Engine,
        url: str,
        secret: str,
        *,
        batch: int = 200,
        timeout: float = 10.0,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._engine, self._url, self._secret = engine, url, secret
        self._batch, self._timeout = batch, timeout
        self._base, self._max = base_delay, max_delay
        self._clock = clock
        self._faults = FaultLog(log, level=logging.ERROR)

    async def deliver_once(self, client: httpx.AsyncClient) -> int:
        """One pass over the pending rows; the number delivered."""
        pending = await asyncio.to_thread(self._pending)
        blocked: set[int] = set()
        sent = 0
        now = self._clock()
        for row in pending:
            if row.case_id in blocked:
                continue
            due = row.next_attempt_at
            if due is not None and _aware(due) > now:
                blocked.add(row.case_id)  # an earlier event of this case is still waiting
                continue
            error = await self._post(client, row)
            if error is None:
                await asyncio.to_thread(self._mark_sent, row.id)
                sent += 1
            else:
                blocked.add(row.case_id)
                delay = min(self._max, self._base * 2**row.fail_count)
                await asyncio.to_thread(
                    self._mark_failed, row.id, error, now + dt.timedelta(seconds=delay)
                )
        return sent

    async def run(self, interval: float = 2.0, holder: str | None = None) -> None:
        """Deliver every ``interval`` seconds. With ``holder`` (several app instances) only
        the instance holding the outbox lease delivers, so rows go out once and in order."""
        ttl = dt.timedelta(seconds=max(60.0, interval * 3, self._timeout * self._batch / 10))
        async with httpx.AsyncClient(timeout=self._timeout) as client:

            async def deliver() -> None:
                await self.deliver_once(client)

            await every_while_holding(
                self._engine, LEASE, holder, interval, ttl, deliver, self._faults
            )

    async def _post(self, client: httpx.AsyncClient, row: Pending) -> str | None:
        headers = {
            "Content-Type": "application/json",
            "X-Hotline-Event-Id": str(row.id),
            "X-Hotline-Signature": sign(self._secret, row.body),
        }
        try:
            response = await client.post(self._url, content=row.body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def _pending(self) -> list[Pending]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(
                    OutboxEvent.id,
                    OutboxEvent.case_id,
                    OutboxEvent.kind,
                    OutboxEvent.payload,
                    OutboxEvent.send_fail_count,
                    OutboxEvent.next_attempt_at,
                )
                .where(OutboxEvent.send_state == "unprocessed")
                .order_by(OutboxEvent.id)
                .limit(self._batch)
            ).all()
        return [
            Pending(
                r.id,
                r.case_id,
                json.dumps(
                    {"id": r.id, "event": r.kind, **r.payload}, ensure_ascii=False, sort_keys=True
                ).encode(),
                r.send_fail_count,
                r.next_attempt_at,
            )
            for r in rows
        ]

    def _mark_sent(self, row_id: int) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id == row_id)
                .values(send_state="sent", sent_at=self._clock())
            )

    def _mark_failed(self, row_id: int, error: str, retry_at: dt.datetime) -> None:
        log.warning("webhook delivery of event %s failed: %s", row_id, error)
        with self._engine.begin() as connection:
            connection.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id == row_id)
                .values(
                    send_fail_count=OutboxEvent.send_fail_count + 1,
                    last_error=error[:500],
                    next_attempt_at=retry_at,
                )
            )


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
