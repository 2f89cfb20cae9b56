"""Prometheus metrics at ``/metrics``: what an operator watches on a shift.

Read at scrape time from what the instance already holds (FastAGI sessions, the AMI
connections and their queue snapshots, the live-event hub) and two small database counts
(the open-case backlog by state, overdue jobs by district). A registry per app, so several
apps in one process (tests) do not collide. With ``metrics_token`` set, a scraper must send
it as a Bearer token.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from hotline.cases.lifecycle import FINAL_STATES
from hotline.db import transaction
from hotline.models import Case

router = APIRouter(include_in_schema=False)


class HotlineCollector(Collector):
    def __init__(self, state: Any) -> None:
        self._state = state  # the app's state: filled in after the app is made (service.run)

    def collect(self) -> Iterator[Metric]:
        state = self._state
        agi = getattr(state, "agi", None)
        in_ivr = GaugeMetricFamily("hotline_calls_in_ivr", "Calls in the FastAGI IVR now.")
        in_ivr.add_metric([], agi.active_calls if agi is not None else 0)
        yield in_ivr
        refused = CounterMetricFamily(
            "hotline_agi_refused", "FastAGI sessions refused (over the call limit)."
        )
        refused.add_metric([], agi.rejected if agi is not None else 0)
        yield refused

        connected = GaugeMetricFamily(
            "hotline_ami_connected", "1 while the AMI connection to a node is up.", labels=["node"]
        )
        received = CounterMetricFamily(
            "hotline_ami_events_received", "AMI events a node sent.", labels=["node"]
        )
        for client in getattr(state, "ami_clients", ()):
            connected.add_metric([client.name], 1 if client.connected.is_set() else 0)
            received.add_metric([client.name], client.events_received)
        yield connected
        yield received

        yield from _queue_metrics(state.queues() or {})

        hub = state.hub
        dropped = CounterMetricFamily(
            "hotline_live_pages_dropped", "Browser pages dropped for not keeping up."
        )
        dropped.add_metric([], hub.dropped)
        yield dropped

        yield from _case_metrics(state.engine)


def _queue_metrics(queues: dict[str, Any]) -> Iterator[Metric]:
    waiting = GaugeMetricFamily(
        "hotline_queue_callers_waiting", "Callers waiting in the queue.", labels=["queue"]
    )
    longest = GaugeMetricFamily(
        "hotline_queue_longest_wait_seconds", "Longest current wait.", labels=["queue"]
    )
    available = GaugeMetricFamily(
        "hotline_queue_agents_available", "Members free to take a call.", labels=["queue"]
    )
    for name, queue in sorted(queues.items()):
        waiting.add_metric([name], queue.waiting)
        longest.add_metric([name], queue.longest_wait)
        available.add_metric([name], queue.available)
    yield from (waiting, longest, available)


def _case_metrics(engine: Engine) -> Iterator[Metric]:
    backlog = GaugeMetricFamily(
        "hotline_cases_open", "Cases not yet closed, by state.", labels=["state"]
    )
    overdue = GaugeMetricFamily(
        "hotline_jobs_overdue", "Open cases past their deadline, by district.", labels=["district"]
    )
    with transaction(engine) as session:
        open_cases = Case.state.not_in(FINAL_STATES)
        for state, count in session.execute(
            select(Case.state, func.count()).where(open_cases).group_by(Case.state)
        ):
            backlog.add_metric([state], count)
        for district, count in session.execute(
            select(Case.district_code, func.count())
            .where(open_cases, Case.overdue_at.is_not(None))
            .group_by(Case.district_code)
        ):
            overdue.add_metric([district or "city"], count)
    yield from (backlog, overdue)


def registry_for(state: Any) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HotlineCollector(state))
    return registry


def scraper(request: Request, authorization: str) -> bool:
    """True if no ``metrics_token`` is set (the demo) or the request carries it."""
    expected = request.app.state.settings.metrics_token.get_secret_value()
    given, wanted = authorization.encode(), f"Bearer {expected}".encode()  # any characters
    return not expected or hmac.compare_digest(given, wanted)


@router.get("/metrics")
def metrics(request: Request, authorization: Annotated[str, Header()] = "") -> Response:
    if not scraper(request, authorization):
        raise HTTPException(401, "metrics need the configured Bearer token")
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
