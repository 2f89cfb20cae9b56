"""Pages' figures as kept (``hotline.cases.kept_figures``): a past period's computed once, a
running period's renewed behind the page when older than ``figures_refresh_seconds``. Pages
asking for the same figures at once wait for one computation (``SharedCache``)."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from fastapi import Request
from sqlalchemy.orm import Session

from agent_ui.web.shared_cache import SharedCache
from hotline.cases.kept_figures import Kept, Kind, kept
from hotline.db import session_factory
from hotline.periods import Period

T = TypeVar("T")


def kept_for_page(
    request: Request,
    session: Session,
    key: str,
    kind: Kind[T],
    period: Period,
    moment: dt.datetime,
) -> Kept[T]:
    fresh = dt.timedelta(seconds=request.app.state.settings.figures_refresh_seconds)
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
    return cache.get(("figures", key), min(1.0, fresh.total_seconds()), get)
