"""The map's base layers and the point lookup, as GeoJSON from the project's own data: area
outlines (districts, streets, communities: unions of their grid cells), the grid cells in a
box, and which cell, community, street and district a point lies in (or the nearest cell).

Staff who place things on the map read them: the desk's agents and platform staff, and the
field inspectors. The public page has its own district outlines (public.py)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from shapely.geometry import mapping
from sqlalchemy import select

from agent_ui.web.auth import Current, SignedIn
from agent_ui.web.deps import DbSession, grid_index, grid_index_of
from agent_ui.web.i18n import translator
from agent_ui.web.names import names_for
from hotline.cases.lifecycle import FINAL_STATES
from hotline.db import session_factory
from hotline.geo import PointError, check_point, finite_or_none
from hotline.grid import METRES_PER_DEGREE, GridIndex, distance_m
from hotline.mapdata import Level, collection, feature, outlines
from hotline.models import Case, Component
from hotline.roles import DESK

router = APIRouter(prefix="/map", include_in_schema=False)
MAP_READERS = frozenset({*DESK, "inspector"})
MAX_CELLS = 3000  # cells per answer: the page asks for cells only when zoomed in
CACHE = {"Cache-Control": "private, max-age=300"}
Degrees = Annotated[float, Query(allow_inf_nan=False)]


def _reader(current: SignedIn) -> None:
    if current.user.role not in MAP_READERS:
        raise HTTPException(403, "the map is for platform staff and field inspectors")


def parse_bbox(bbox: str) -> tuple[float, float, float, float]:
    """``west,south,east,north`` in degrees, or a 422."""
    try:
        west, south, east, north = (float(v) for v in bbox.split(","))
        check_point(west, south)
        check_point(east, north)
    except (ValueError, PointError) as exc:
        raise HTTPException(422, "bbox: west,south,east,north in degrees") from exc
    if west > east or south > north:
        raise HTTPException(422, "bbox: west,south,east,north in degrees")
    return west, south, east, north


def _in_city(request: Request, lon: float, lat: float) -> None:
    try:
        check_point(lon, lat, request.app.state.settings.bounds)
    except PointError as exc:
        raise HTTPException(422, str(exc)) from exc


def area_outlines(request: Request, grid: GridIndex, level: Level) -> list[dict[str, Any]]:
    """Outlines of ``level``, computed once per grid index (a data load builds a new one)."""
    return outlines_of(request.app.state, grid, level)


def outlines_of(state: Any, grid: GridIndex, level: Level) -> list[dict[str, Any]]:
    """:func:`area_outlines` for an app's ``state``."""
    cached: tuple[GridIndex, dict[str, list[dict[str, Any]]]] | None = getattr(
        state, "map_outlines", None
    )
    if cached is None or cached[0] is not grid:
        cached = (grid, {})
        state.map_outlines = cached
    if level not in cached[1]:
        cached[1][level] = outlines(grid.cells(), level)
    return cached[1][level]


@router.get("/areas.geojson")
def areas(
    request: Request,
    current: Current,
    session: DbSession,
    level: Annotated[Level, Query()] = "street",
) -> JSONResponse:
    """District, street or community outlines with their names in the page's language."""
    _reader(current)
    names = names_for(request, session)
    features = [
        {**f, "properties": {**f["properties"], "name": names.area(f["properties"]["code"])}}
        for f in area_outlines(request, grid_index(request, session), level)
    ]
    return JSONResponse(collection(features), headers=CACHE)


@router.get("/cells.geojson")
def cells(
    request: Request,
    current: Current,
    session: DbSession,
    bbox: Annotated[str, Query(max_length=100)],
) -> JSONResponse:
    """The grid cells meeting ``bbox`` (west,south,east,north); none and ``too_many`` when
    more than the page should draw."""
    _reader(current)
    west, south, east, north = parse_bbox(bbox)
    found = grid_index(request, session).within(west, south, east, north)
    if len(found) > MAX_CELLS:
        return JSONResponse(collection([], too_many=True))
    return JSONResponse(collection([feature(code, shape) for code, shape in found]))


@router.get("/locate")
def locate(
    request: Request,
    current: Current,
    session: DbSession,
    lon: Degrees,
    lat: Degrees,
) -> dict[str, Any]:
    """The cell, community, street and district of a point; outside the grid, the nearest
    cell with its distance and the point of it nearest to the given one."""
    _reader(current)
    _in_city(request, lon, lat)
    grid = grid_index(request, session)
    return place_of(request, session, grid, lon, lat)


def place_of(
    request: Request, session: DbSession, grid: GridIndex, lon: float, lat: float
) -> dict[str, Any]:
    names = names_for(request, session)
    cell = grid.locate(lon, lat)
    if cell is None:
        near = grid.nearest(lon, lat)
        if near is None:
            return {"cell": None, "nearest": None}
        code, metres, near_lon, near_lat = near
        shape = grid.shape(code)
        return {
            "cell": None,
            "nearest": {
                "cell": code,
                "distance_m": round(metres),
                "lon": round(near_lon, 6),
                "lat": round(near_lat, 6),
                "community_name": names.area(code[:12]),
                "street_name": names.area(code[:9]),
                "geometry": mapping(shape) if shape is not None else None,
            },
        }
    shape = grid.shape(cell)
    return {
        "cell": cell,
        "geometry": mapping(shape) if shape is not None else None,
        "district": cell[:6],
        "street": cell[:9],
        "community": cell[:12],
        "district_name": names.area(cell[:6]),
        "street_name": names.area(cell[:9]),
        "community_name": names.area(cell[:12]),
    }


def warm(state: Any) -> None:
    """Build the point index and the outlines before the first map asks: on a city's grid
    of 50,000 cells that takes seconds (docs/benchmarks.md). Run off the event loop."""
    with session_factory(state.engine)() as session:
        grid = grid_index_of(state, session)
    for level in ("street", "community", "district"):
        outlines_of(state, grid, level)


NEARBY_METRES = 300.0
NEARBY_MAX = 20


@router.get("/nearby")
def nearby(
    request: Request,
    current: Current,
    session: DbSession,
    lon: Degrees,
    lat: Degrees,
    kind: Annotated[Literal["component", "event"], Query()],
    class_code: Annotated[str, Query(pattern=r"^\d{4,5}$")],
) -> list[dict[str, Any]]:
    """Open cases of the same class within :data:`NEARBY_METRES` of a point, in the desk's
    district (the city desk: anywhere), nearest first: a likely duplicate shows before the
    agent saves. Only what a duplicate check needs: no citizen, no description."""
    if current.user.role not in DESK:
        raise HTTPException(403, "nearby cases are for the desk")
    _in_city(request, lon, lat)
    actor = current.actor
    dlat = NEARBY_METRES / METRES_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(lat)), 0.1)
    query = select(Case.number, Case.state, Case.lon, Case.lat, Case.address, Case.grid_code).where(
        Case.kind == kind,
        Case.class_code == class_code,
        Case.state.not_in(sorted(FINAL_STATES)),
        Case.lon.between(lon - dlon, lon + dlon),
        Case.lat.between(lat - dlat, lat + dlat),
    )
    if not actor.is_city:
        query = query.where(Case.district_code == actor.scope_code)
    t = translator(request)
    found = []
    for number, state, x, y, address, cell in session.execute(query.limit(200)):
        x, y = finite_or_none(x), finite_or_none(y)
        if x is None or y is None:
            continue
        metres = distance_m(lon, lat, x, y)
        if metres <= NEARBY_METRES:
            found.append(
                {
                    "number": number,
                    "state": t.get(f"state_{state}", state),
                    "address": address,
                    "grid": cell,
                    "lon": x,
                    "lat": y,
                    "distance_m": round(metres),
                }
            )
    found.sort(key=lambda c: (c["distance_m"], c["number"]))
    return found[:NEARBY_MAX]


MAX_COMPONENTS = 2000


@router.get("/components.geojson")
def components(
    request: Request,
    current: Current,
    session: DbSession,
    bbox: Annotated[str, Query(max_length=100)],
) -> JSONResponse:
    """The components (部件) in ``bbox`` with their class, owner and status; none and
    ``too_many`` past :data:`MAX_COMPONENTS` (the pages ask only when zoomed in)."""
    _reader(current)
    west, south, east, north = parse_bbox(bbox)
    rows = session.execute(
        select(
            Component.id,
            Component.class_code,
            Component.lon,
            Component.lat,
            Component.owner_unit,
            Component.status,
        )
        .where(
            Component.active.is_(True),
            Component.lon.between(west, east),
            Component.lat.between(south, north),
        )
        .order_by(Component.id)
        .limit(MAX_COMPONENTS + 1)
    ).all()
    if len(rows) > MAX_COMPONENTS:
        return JSONResponse(collection([], too_many=True))
    names = names_for(request, session)
    t = translator(request)
    return JSONResponse(
        collection(
            [
                {
                    "type": "Feature",
                    "properties": {
                        "id": id_,
                        "class_code": klass,
                        "class_name": names.klass("component", klass),
                        "major_name": names.major("component", klass),
                        "owner": names.unit(owner),
                        "status": t.get(f"component_{status}", status),
                    },
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                }
                for id_, klass, lon, lat, owner, status in rows
            ]
        )
    )
