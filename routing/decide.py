"""``decide``: where a call goes, with what priority, and why — a pure function.

The rules, in order (the seed: the district platform takes its district's calls, the city
platform those whose district cannot be told; emergencies go to the command center at once):

1. emergency → the emergency command center; if that failed → city queue, top priority;
2. a caller with an open case → the district owning the case, raised priority;
3. district known (from history, the DID, a key or speech) → that district's queue;
4. district unknown → the city queue;
5. a district in night mode → the city queue;
6. overflow → the city queue, when the district queue has no available agent (and the
   platform says to overflow then) or its expected wait is above the platform's threshold.
   With no live queue state (AMI down) the district queue is kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from routing.model import CallerHistory, Decision, IvrOutcome, QueueState, RoutingRules


def decide(
    ivr: IvrOutcome,
    history: CallerHistory,
    queues: Mapping[str, QueueState] | None,
    now: dt.time,
    rules: RoutingRules,
) -> Decision:
    city = rules.city
    if ivr.intent == "emergency":
        if ivr.emergency_failed:
            return Decision(
                "queue", city.queue, city.emergency_priority, "emergency-failed", ivr.district
            )
        return Decision("emergency", "", city.emergency_priority, "emergency", ivr.district)

    priority = 0
    reason = "district-known"
    district = ivr.district
    if history.open_case_district and history.open_case_district in rules.districts:
        district = history.open_case_district
        reason = "open-case"
    elif district is not None and district not in rules.districts:
        district = None

    if district is None:
        return Decision("queue", city.queue, priority, "district-unknown", None)

    platform = rules.districts[district]
    if reason == "open-case":
        priority = platform.repeat_priority
    if platform.in_night_mode(now):
        return Decision("queue", city.queue, priority, "night-mode", district)

    state = (queues or {}).get(platform.queue)
    if state is not None:
        if platform.overflow_no_agent and state.available == 0:
            return Decision("queue", city.queue, priority, "overflow-no-agent", district)
        threshold = platform.overflow_wait_seconds
        if threshold is not None and state.expected_wait() > threshold:
            return Decision("queue", city.queue, priority, "overflow-wait", district)
    return Decision("queue", platform.queue, priority, reason, district)
