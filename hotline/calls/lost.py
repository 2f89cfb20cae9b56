"""Closing the call records of an Asterisk node that is gone for good.

A node that dies takes its calls with it, but their records stay open: reconciliation
(``CallTracker.reconcile``) judges a record by its own node's channels and waits for that
node to answer. A node that never comes back would keep them open for ever. After
``node_lost_seconds`` without the node (or by hand, ``hotline calls close-node``) they are
closed here: outcome ``node_lost``, ended when the node was last reached (or the call's
own last event, if that is later), and a ``NodeLost`` step in the call's timeline that
says which node, since when, who closed it and the outcome it had before.

Plain SQLAlchemy Core on a connection, so the call tracker runs it on its records' thread
(in order with the events it stores) and the command line in a transaction of its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from hotline.models import Call, CallEvent, utcnow

OUTCOME = "node_lost"
EVENT = "NodeLost"


@dataclass(frozen=True)
class LostCall:
    """A call record closed because its node was lost: whose agent was on it, if any."""

    id: int
    uniqueid: str
    agent: str | None
    ended_at: dt.datetime


def close_node_calls(
    connection: Connection, node: str, lost_at: dt.datetime, by: str
) -> list[LostCall]:
    """Close every open call record of ``node`` (``calls.node``) as lost at ``lost_at``;
    ``by`` names who decided (the app's grace, or an operator). Returns the calls closed."""
    still_open = select(Call.id).where(Call.node == node, Call.ended_at.is_(None))
    last_event = (  # of the open calls only: this runs on the records' thread
        select(CallEvent.call_id, func.max(CallEvent.at).label("last"))
        .where(CallEvent.call_id.in_(still_open))
        .group_by(CallEvent.call_id)
        .subquery()
    )
    rows = connection.execute(
        select(Call.id, Call.uniqueid, Call.agent, Call.outcome, Call.created_at, last_event.c.last)
        .outerjoin(last_event, last_event.c.call_id == Call.id)
        .where(Call.node == node, Call.ended_at.is_(None))
        .order_by(Call.id)
    ).all()
    lost_at = _aware(lost_at).astimezone(dt.UTC)
    closed = []
    now = utcnow()
    for row in rows:
        known = [_aware(m) for m in (row.created_at, row.last) if m is not None]
        ended = max([lost_at, *known])
        connection.execute(
            update(Call)
            .where(Call.id == row.id, Call.ended_at.is_(None))
            .values(ended_at=ended, outcome=OUTCOME)
        )
        detail = {
            "node": node,
            "lost_at": lost_at.isoformat(),
            "by": by,
            "outcome": row.outcome,
        }
        connection.execute(
            insert(CallEvent).values(call_id=row.id, at=now, kind=EVENT, detail=detail)
        )
        closed.append(LostCall(row.id, row.uniqueid, row.agent, ended))
    return closed


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
