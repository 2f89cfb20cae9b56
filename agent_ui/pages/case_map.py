"""The case list on a map: ``/cases/map.geojson`` takes the list's own query string (view,
filters, search) and answers the same cases an actor's list holds, as points with their
state and whether they are overdue, or, with ``by=cell`` or when there are more than
:data:`MAX_POINTS`, as counts per grid cell (the supervisors' density map) so a big city's
open cases are one feature per cell, never 100,000 markers.

An answer serves everyone who asks the same of the same cases for :data:`MAP_TTL` seconds
(counting a million cases per street takes a fifth of a second; twenty supervisors opening
the map at once wait for one count, not twenty)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import func, select

from agent_ui.pages.map_layers import area_outlines, parse_bbox
from agent_ui.web.auth import Current
from agent_ui.web.deps import DbSession, grid_index
from agent_ui.web.i18n import language, translator
from agent_ui.web.names import names_for
from agent_ui.web.shared_cache import SharedCache
from agent_ui.web.templating import city_zone, render
from hotline.cases.lifecycle import ACTIVE_JOBS, FINAL_STATES
from hotline.cases.queries import FilterError, conditions, default_view, parse_query
from hotline.cases.service import CaseError
from hotline.geo import finite_or_none
from hotline.mapdata import PREFIX, Level, collection, feature
from hotline.models import CASE_STATES, Case, CatalogueClass, utcnow
from hotline.roles import PLATFORM_STAFF

router = APIRouter(include_in_schema=False)
MAP_ROLES = PLATFORM_STAFF | {"agent"}  # who has a case list
MAX_POINTS = 2000
By = Literal["points", "cell", "community", "street"]
MAP_TTL = 15.0  # seconds an answer serves: the map is at most this far behind the list


@router.get("/cases/map.geojson")
def cases_map(
    request: Request,
    current: Current,
    session: DbSession,
    by: Annotated[By, Query()] = "points",
    bbox: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The list's cases as points, or counted per street, community or cell (``by``); the
    points and the cells only in ``bbox`` (west,south,east,north) when given. The page asks
    per street when zoomed out, per cell when zoomed in: what it draws stays small."""
    if current.user.role not in MAP_ROLES:
        raise HTTPException(403, "the case map is for platform staff and agents")
    actor = current.actor
    now = utcnow()
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in ("by", "bbox")]
    due_soon = dt.timedelta(hours=request.app.state.settings.due_soon_hours)
    try:
        query = parse_query(items, city_zone(request), view=default_view(actor))
        where = conditions(session, actor, query.filter, now, due_soon)
    except FilterError as exc:
        raise HTTPException(422, str(exc)) from exc
    except CaseError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    # The cases an actor's list holds depend on the role and scope, and for their own
    # cases (an agent's, the "mine" view) on the person.
    own = actor.role not in PLATFORM_STAFF or query.filter.view == "mine"
    key = (
        (actor.role, actor.scope_code, actor.unit_code, actor.username if own else ""),
        by,
        bbox,
        tuple(sorted(items)),
        language(request),
    )
    cache: SharedCache = request.app.state.map_cache
    body = cache.get(
        key,
        MAP_TTL,
        lambda: bytes(JSONResponse(_features(request, session, where, by, bbox, now)).body),
    )
    return Response(body, media_type="application/json")


def _features(
    request: Request,
    session: DbSession,
    where: list[Any],
    by: By,
    bbox: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    if bbox is not None and by in ("points", "cell"):
        west, south, east, north = parse_bbox(bbox)
        where = [*where, Case.lon.between(west, east), Case.lat.between(south, north)]
    if by == "points":
        rows = session.execute(
            select(
                Case.number, Case.state, Case.kind, Case.class_code, Case.lon, Case.lat, Case.due_at
            )
            .where(*where, Case.lon.is_not(None), Case.lat.is_not(None))
            .order_by(Case.id.desc())
            .limit(MAX_POINTS + 1)
        ).all()
        if len(rows) <= MAX_POINTS:
            return collection(_points(request, session, rows, now))
        by = "cell" if bbox is not None else "street"
    if by == "cell":
        return collection(_cells(request, session, where), by="cell")
    return collection(_areas(request, session, where, by), by=by)


def _points(request: Request, session: DbSession, rows: Any, now: dt.datetime) -> list[Any]:
    t = translator(request)
    names = names_for(request, session)
    found = []
    for number, state, kind, class_code, lon, lat, due_at in rows:
        x, y = finite_or_none(lon), finite_or_none(lat)
        if x is None or y is None:
            continue
        due = due_at if due_at is None or due_at.tzinfo else due_at.replace(tzinfo=dt.UTC)
        found.append(
            {
                "type": "Feature",
                "properties": {
                    "number": number,
                    "state": state,
                    "state_name": t.get(f"state_{state}", state),
                    "class_name": names.klass(kind, class_code),
                    "overdue": state in ACTIVE_JOBS and due is not None and due < now,
                },
                "geometry": {"type": "Point", "coordinates": [x, y]},
            }
        )
    return found


def cell_counts(session: DbSession, where: list[Any], width: int = 15) -> list[tuple[str, int]]:
    """Cases per grid cell (or per community, street: the first ``width`` digits of the
    cell's code), most first; cases without a cell are left out."""
    key = Case.grid_code if width == 15 else func.substr(Case.grid_code, 1, width)
    rows = session.execute(
        select(key, func.count()).where(*where, Case.grid_code.is_not(None)).group_by(key)
    ).all()
    return sorted(((str(code), int(n)) for code, n in rows), key=lambda r: (-r[1], r[0]))


def _cells(request: Request, session: DbSession, where: list[Any]) -> list[Any]:
    """Counts per grid cell, each drawn as its cell."""
    grid = grid_index(request, session)
    found = []
    for code, count in cell_counts(session, where):
        shape = grid.shape(code) if code else None
        if code and shape is not None:
            found.append(feature(code, shape, count=count))
    return found


def _areas(request: Request, session: DbSession, where: list[Any], level: Level) -> list[Any]:
    """Counts per street or community, each drawn as its outline."""
    outlines = {
        f["properties"]["code"]: f
        for f in area_outlines(request, grid_index(request, session), level)
    }
    names = names_for(request, session)
    found = []
    for code, count in cell_counts(session, where, PREFIX[level]):
        if code in outlines:
            f = outlines[code]
            found.append(
                {**f, "properties": {**f["properties"], "name": names.area(code), "count": count}}
            )
    return found


OPEN_STATES = tuple(s for s in CASE_STATES if s not in FINAL_STATES)
HOT_SPOTS = 10


@router.get("/supervisor/map", response_class=HTMLResponse)
def supervisor_map(request: Request, current: Current, session: DbSession) -> Response:
    """Open cases per grid cell for a class and a period of registration: the density map
    and the ten hottest cells, named by street and community."""
    if current.user.role != "supervisor":
        raise HTTPException(403, "for supervisors")
    actor = current.actor
    chosen = {k: request.query_params.get(k, "").strip() for k in ("class", "from", "to")}
    items = [("view", "all"), *(("state", s) for s in OPEN_STATES)]
    items += [(k, v) for k, v in chosen.items() if v]
    error = None
    hot: list[tuple[str, int]] = []
    try:
        query = parse_query(items, city_zone(request))
        hot = cell_counts(session, conditions(session, actor, query.filter, utcnow()))[:HOT_SPOTS]
    except FilterError as exc:
        error = exc
    majors = session.execute(
        select(CatalogueClass.kind, CatalogueClass.code)
        .where(CatalogueClass.minor.is_(None), CatalogueClass.active.is_(True))
        .order_by(CatalogueClass.kind, CatalogueClass.code)
    ).all()
    return render(
        request,
        "supervisor/map.html",
        {
            "chosen": chosen,
            "majors": majors,
            "hot": hot,
            "error": error,
            "data_url": "/cases/map.geojson?" + urlencode(items),
        },
        session=session,
        current=current,
        status=422 if error else 200,
    )
