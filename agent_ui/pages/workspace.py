"""The platforms' workspace (工作台): the case list with its views and their counts, the
filters, the search, the sort, keyset pages, and the filtered list as Excel or CSV.

Thin: which cases, in what order, for whom, is :mod:`hotline.cases.queries` (the REST API's
``GET /api/v1/cases`` calls the same); this module reads the query string, renders, and
writes the files. Platform staff and agents have a list (an agent's is what they
registered); units and inspectors have their own pages and get 403 here.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from agent_ui.pages.workspace_export import export_rows, write_csv, write_xlsx
from agent_ui.web.auth import Current, SignedIn
from agent_ui.web.deps import DbSession
from agent_ui.web.errors import error_page
from agent_ui.web.i18n import language, translator
from agent_ui.web.kept import while_unchanged
from agent_ui.web.names import TTL as NAMES_TTL
from agent_ui.web.names import Names, names_for
from agent_ui.web.shared_cache import SharedCache
from agent_ui.web.templating import city_zone, local_time, render
from hotline.cases.queries import (
    SORTS,
    CasePage,
    Count,
    FilterError,
    ListQuery,
    default_view,
    iter_cases,
    list_cases,
    parse_query,
    view_counts,
    views_for,
)
from hotline.cases.reference import offered_in
from hotline.cases.service import Actor, CaseError
from hotline.models import CASE_SOURCES, CASE_STATES, Area, Case, CatalogueClass, Unit, utcnow
from hotline.roles import PLATFORM_STAFF

router = APIRouter(tags=["workspace"], include_in_schema=False)
LIST_ROLES = PLATFORM_STAFF | {"agent"}
EXPORT_MAX_ROWS = 20_000  # a month of a large city; more is a report, not a list
MIME = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def _lister(current: SignedIn) -> Actor:
    if current.user.role not in LIST_ROLES:
        raise HTTPException(403, "the case list is for platform staff and agents")
    return current.actor


@router.get("/cases", response_class=HTMLResponse)
def case_list(request: Request, current: Current, session: DbSession) -> Response:
    actor = _lister(current)
    now = utcnow()
    try:
        query = _query(request, actor)
        page = list_cases(
            session,
            actor,
            query.filter,
            query.sort,
            after=query.after,
            limit=query.limit,
            now=now,
            due_soon=_due_soon(request),
        )
    except FilterError as exc:
        return _render(request, current, session, actor, None, now, exc)
    return _render(request, current, session, actor, _Shown(query, page), now)


@router.get("/cases.xlsx")
def export_xlsx(request: Request, current: Current, session: DbSession) -> Response:
    return _export(request, current, session, "xlsx")


@router.get("/cases.csv")
def export_csv(request: Request, current: Current, session: DbSession) -> Response:
    return _export(request, current, session, "csv")


def _export(request: Request, current: SignedIn, session: Session, fmt: str) -> Response:
    """The filtered list (every page of it, up to the cap) as a file. Refusals are pages, as
    on the list: a person follows these links."""
    if current.user.role not in LIST_ROLES:
        return error_page(request, 403)
    actor = current.actor
    now = utcnow()
    try:
        query = _query(request, actor)
        cases = iter_cases(
            session, actor, query.filter, query.sort, now=now, due_soon=_due_soon(request)
        )
        first = list(itertools.islice(cases, 1))  # a refused filter raises here, not mid-file
    except FilterError as exc:
        return _render(request, current, session, actor, None, now, exc)
    except CaseError as exc:
        return error_page(request, exc.status, error_id=exc.error_id, detail=str(exc))
    t = translator(request)
    wanted = itertools.islice(itertools.chain(first, cases), EXPORT_MAX_ROWS + 1)
    counted = _Counted(wanted, EXPORT_MAX_ROWS)
    zone = city_zone(request)
    rows = export_rows(counted, names_for(request, session), t, zone, now)
    note = t.fmt("ws_export_truncated", max=EXPORT_MAX_ROWS)
    writer = write_xlsx if fmt == "xlsx" else write_csv
    path = writer(rows, t, lambda: note if counted.cut else None)
    stamp = local_time(now, zone, "%Y%m%d-%H%M")
    return FileResponse(
        path,
        media_type=MIME[fmt],
        filename=f"cases-{query.filter.view}-{stamp}.{fmt}",
        background=BackgroundTask(os.unlink, path),
    )


class _Counted:
    """The cases to write, stopping at ``cap`` and remembering whether there were more."""

    def __init__(self, cases: Iterable[Case], cap: int) -> None:
        self._cases, self._cap, self.cut = cases, cap, False

    def __iter__(self) -> Iterator[Case]:
        for n, case in enumerate(self._cases):
            if n == self._cap:
                self.cut = True
                return
            yield case


def _query(request: Request, actor: Actor) -> ListQuery:
    return parse_query(
        request.query_params.multi_items(), city_zone(request), view=default_view(actor)
    )


def _due_soon(request: Request) -> dt.timedelta:
    return dt.timedelta(hours=request.app.state.settings.due_soon_hours)


@dataclass(frozen=True)
class _Shown:
    query: ListQuery
    page: CasePage


def _render(
    request: Request,
    current: SignedIn,
    session: Session,
    actor: Actor,
    shown: _Shown | None,
    now: dt.datetime,
    error: FilterError | None = None,
) -> Response:
    """The page; after a refused filter, the form as it was sent with the field marked."""
    t = translator(request)
    names = names_for(request, session)
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang",)]
    form = dict(params)
    view = shown.query.filter.view if shown else form.get("view") or default_view(actor)
    if view not in views_for(actor):
        view = default_view(actor)
    sort = shown.page.sort if shown else form.get("sort", "")
    kept = [(k, v) for k, v in params if k != "after"]
    context: dict[str, Any] = {
        "views": views_for(actor),
        "counts": _counts(request, session, actor, now),
        "view": view,
        "sort": sort,
        "sorts": SORTS,
        "form": form,
        "form_states": [v for k, v in params if k == "state"],
        "rows": shown.page.rows if shown else [],
        "next_url": _url(kept, after=shown.page.next_cursor)
        if shown and shown.page.next_cursor
        else "",
        "first_url": _url(kept) if form.get("after") else "",
        "view_urls": {v: _url([("view", v)]) for v in views_for(actor)},
        "sort_urls": {s: _url(kept, sort=s) for s in SORTS},
        "export_query": urlencode(kept),
        "everywhere_url": _everywhere(actor, form, view, shown),
        "filtered": any(k not in ("view", "sort", "after", "limit", "q") for k, _ in params),
        "choices": _choices(request, session, actor, names),
        "phone_search": actor.role in PLATFORM_STAFF,
        "error": _error(t, error),
        "export_max": EXPORT_MAX_ROWS,
        "now": now,
    }
    return render(
        request,
        "cases/list.html",
        context,
        session=session,
        current=current,
        status=422 if error else 200,
    )


def _counts(request: Request, session: Session, actor: Actor, now: dt.datetime) -> dict[str, Count]:
    """The tabs' counts, kept while no case changes. Everyone of a platform's scope counts
    the same cases, so a count serves them all; 我登记的 is each person's own. At a million
    cases the ten capped counts cost more than the rest of the page (each reads up to
    10,000 index entries)."""
    due_soon = _due_soon(request)
    views = views_for(actor)
    shared = [v for v in views if v != "mine"]
    counts: dict[str, Count] = {}
    if shared:
        counts |= while_unchanged(
            request,
            session,
            ("ws-counts", actor.is_city, actor.scope_code, due_soon),
            lambda: view_counts(session, actor, now=now, due_soon=due_soon, only=shared),
        )
    if "mine" in views:
        counts |= while_unchanged(
            request,
            session,
            ("ws-mine", actor.username),
            lambda: view_counts(session, actor, only=["mine"]),
        )
    return {view: counts[view] for view in views}


def _url(params: list[tuple[str, str]], **changes: str | None) -> str:
    kept = [(k, v) for k, v in params if k not in changes and v != ""]
    kept += [(k, v) for k, v in changes.items() if v]
    return "/cases?" + urlencode(kept) if kept else "/cases"


def _everywhere(actor: Actor, form: dict[str, str], view: str, shown: _Shown | None) -> str:
    """A search that found nothing in a narrow view: the same search over every case."""
    wide = default_view(actor)
    if not form.get("q") or view == wide or shown is None or shown.page.rows:
        return ""
    return _url([("view", wide), ("q", form["q"])])


def _error(t: Any, error: FilterError | None) -> dict[str, str] | None:
    if error is None:
        return None
    return {
        "field": error.field,
        "label": t.get(f"ws_field_{error.field}", error.field),
        "problem": t.get(f"ws_problem_{error.problem}", t["error_422"]),
    }


@dataclass(frozen=True)
class _Choices:
    stamp: tuple[object, ...]  # which options these are: the key of their cached page pieces
    districts: list[tuple[str, str]]
    streets: list[tuple[str, str, str]]  # code, name, district
    units: list[tuple[str, str]]
    classes: list[tuple[str, list[tuple[str, str, bool]]]]  # kind, [(value, label, major)]
    states: tuple[str, ...]
    sources: tuple[str, ...]


def _choices(request: Request, session: Session, actor: Actor, names: Names) -> _Choices:
    """The filter form's options, by name, within the actor's scope: reference data, read
    once a minute per process for everyone of the same scope, as the names are."""
    city = actor.is_city or actor.role not in PLATFORM_STAFF
    everything = actor.is_city or actor.role == "unit"  # _offered_classes
    key = ("ws-choices", city, everything, actor.scope_code, language(request))
    cache: SharedCache = request.app.state.shared_cache
    return cache.get(key, NAMES_TTL, lambda: _read_choices(session, actor, names, key))


def _read_choices(
    session: Session, actor: Actor, names: Names, key: tuple[object, ...]
) -> _Choices:
    city = actor.is_city or actor.role not in PLATFORM_STAFF
    districts = sorted(names.districts().items()) if city else [(actor.scope_code, "")]
    districts = [(code, names.area(code)) for code, _ in districts]
    in_scope = {code for code, _ in districts}
    streets = [
        (code, names.area(code), parent or "")
        for code, parent in session.execute(
            select(Area.code, Area.parent_code)
            .where(Area.level == "street", Area.active.is_(True))
            .order_by(Area.code)
        )
        if parent in in_scope
    ]
    units = [
        (code, names.unit(code))
        for code, district in session.execute(
            select(Unit.code, Unit.district_code)
            .where(Unit.active.is_(True))
            .order_by(Unit.level, Unit.code)
        )
        if city or district in (None, actor.scope_code)
    ]
    classes: dict[str, list[tuple[str, str, bool]]] = {}
    for kind, code, minor in session.execute(
        select(CatalogueClass.kind, CatalogueClass.code, CatalogueClass.minor)
        .where(CatalogueClass.active.is_(True), *_offered_classes(actor))
        .order_by(CatalogueClass.kind, CatalogueClass.code)
    ):
        label = f"{code} {names.klass(kind, code)}"
        classes.setdefault(kind, []).append((f"{kind}:{code}", label, minor is None))
    stamp = (*key, time.monotonic())  # a new read, new pieces
    return _Choices(
        stamp, districts, streets, units, sorted(classes.items()), CASE_STATES, CASE_SOURCES
    )


def _offered_classes(actor: Actor) -> list[ColumnElement[bool]]:
    """A district's people filter by the city's classes and their district's own types; the
    city and the units (a city unit works in every district) by every class."""
    if actor.is_city or actor.role == "unit":
        return []
    return [offered_in(actor.scope_code)]
