"""Pages' figures as kept (``hotline.cases.kept_figures``): a past period's computed once, a
running period's renewed every ``figures_refresh_seconds`` (a year's every hour). Pages
asking for the same figures at once wait for one computation (``SharedCache``).

Live counts (the workspace's tabs, a unit's open jobs, the city's overview) are kept while
no case changes (``while_unchanged``).

A past period's figures do not follow a case corrected afterwards: a supervisor may
recompute the figures a page shows (``recompute_for_page``; the page's "重新计算" button,
``recompute_offer``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from agent_ui.web.auth import SignedIn, check_csrf
from agent_ui.web.shared_cache import SharedCache
from hotline.cases.kept_figures import Kept, Kind, fresh_for, kept, recompute
from hotline.cases.queries import change_mark
from hotline.cases.service import CaseError
from hotline.db import session_factory
from hotline.models import utcnow
from hotline.periods import Period
from hotline.roles import RECOMPUTE

T = TypeVar("T")
# One kept figure a page reads: its key, its kind, its period.
View = tuple[str, Kind[Any], Period]
DONE = "recomputed"  # the page's notice after a recompute (?done=recomputed)
log = logging.getLogger("hotline.figures")


def kept_for_page(
    request: Request,
    session: Session,
    key: str,
    kind: Kind[T],
    period: Period,
    moment: dt.datetime,
) -> Kept[T]:
    every = dt.timedelta(seconds=request.app.state.settings.figures_refresh_seconds)
    # The renewal job renews them every ``every`` (``keep_renewing``): a page computes them
    # itself only when the renewal is a whole interval late, not in the seconds before each
    # pass reaches them (at a million cases that was a second computation of each).
    fresh = fresh_for(period, every) + every
    engine = request.app.state.engine

    def get() -> Kept[T]:
        return kept(
            session,
            key,
            kind,
            period.start,
            period.end,
            moment,
            fresh=fresh,
            behind=request.app.state.refresher,
            refresh=session_factory(engine),
        )

    cache: SharedCache = request.app.state.shared_cache
    return cache.get(("figures", key), _ttl(request), get)


UNCHANGED_TTL = 30  # seconds a live count is kept at most (some move with the clock)


def while_unchanged(
    request: Request, session: Session, key: tuple[Hashable, ...], compute: Callable[[], T]
) -> T:
    """``compute()``'s answer for ``key``, kept while no case changes (the newest history
    id, :func:`hotline.cases.queries.change_mark`) and at most :data:`UNCHANGED_TTL`
    seconds: the counts read by everyone of a scope, computed once for all of them. A
    count that depends on the clock (overdue, due soon) is at most that much behind it."""
    cache: SharedCache = request.app.state.shared_cache
    tick = int(utcnow().timestamp()) // UNCHANGED_TTL
    mark = getattr(request.state, "change_mark", None)
    if mark is None:  # read once a request, whatever it keeps
        mark = request.state.change_mark = change_mark(session)
    return cache.get((*key, mark, tick), UNCHANGED_TTL, compute)


def require_recompute_role(current: SignedIn) -> None:
    """Only a supervisor (值班长) recomputes: else a 403 that says why, in the reader's language."""
    if current.user.role not in RECOMPUTE:
        raise CaseError(
            "figures-recompute-forbidden",
            "recomputing kept figures is for the platforms' supervisors (值班长)",
            403,
        )


def recompute_offer(
    request: Request,
    current: SignedIn,
    found: Kept[Any],
    action: str,
    fields: dict[str, str],
) -> dict[str, Any] | None:
    """What a page shows beside a past period's kept figures: when they were computed and,
    to a supervisor, the form that recomputes them (``action`` with ``fields``). None for a
    running period: its figures renew themselves."""
    if not found.final:
        return None
    return {
        "computed_at": found.computed_at,
        "allowed": current.user.role in RECOMPUTE,
        "action": action,
        "fields": fields,
        "done": request.query_params.get("done") == DONE,
    }


def recompute_for_page(
    request: Request,
    session: Session,
    current: SignedIn,
    csrf_token: str,
    views: Sequence[View],
    moment: dt.datetime,
    back: tuple[str, dict[str, str]],
) -> RedirectResponse:
    """Drop and compute again every kept figure of a page (``views``), each committed in
    its own transaction, then send the reader back to the page (``back``: its path and
    query) with the notice. Each figure is recomputed under its ``SharedCache`` lock: a
    second recompute of it meanwhile in this process waits and takes the first's result,
    and readers wait for the new figures instead of reading the old. Written to the log
    ``hotline.figures`` (who, which key, when): there is no audit table for figures."""
    require_recompute_role(current)
    check_csrf(current, csrf_token)
    if any(period.end > moment for _, _, period in views):
        raise CaseError("figures-running", "a running period's figures renew themselves", 409)
    cache: SharedCache = request.app.state.shared_cache
    for key, kind, period in views:

        def again(key: str = key, kind: Kind[Any] = kind, period: Period = period) -> Kept[Any]:
            found = recompute(session, key, kind, period.start, period.end, moment)
            session.commit()
            log.info(
                "%s recomputed the kept figures %s at %s",
                current.user.username,
                key,
                utcnow().isoformat(),
            )
            return found

        cache.renew(("figures", key), _ttl(request), again)
    path, query = back
    return RedirectResponse(f"{path}?{urlencode({**query, 'done': DONE})}", status_code=303)


def _ttl(request: Request) -> float:
    return min(1.0, float(request.app.state.settings.figures_refresh_seconds))
