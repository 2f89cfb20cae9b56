"""Published results (the seed: evaluation results are made public): indicators per district
and per unit for a month. No personal data: counts and rates only."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select

from agent_ui.pages.map_layers import area_outlines
from agent_ui.web.deps import DbSession, TokenActor, grid_index
from agent_ui.web.templating import render
from hotline.cases import ledger
from hotline.cases.indicators import compute, load
from hotline.cases.service import CaseError
from hotline.mapdata import collection
from hotline.models import Area, Unit
from hotline.periods import month_bounds

router = APIRouter(tags=["evaluation"])
Month = Annotated[str | None, Query(pattern=r"^(19|20)\d{2}-(0[1-9]|1[0-2])$")]


def _evaluation(session: DbSession, request: Request, month: str | None) -> dict[str, Any]:
    zone = ZoneInfo(request.app.state.settings.timezone)
    label, start, end = month_bounds(month, zone)
    units, districts = compute(load(session, end), start, end)
    unit_names = dict(session.execute(select(Unit.code, Unit.name_zh)).all())
    area_names = dict(session.execute(select(Area.code, Area.name_zh)).all())
    return {
        "month": label,
        "districts": [
            {"code": k, "name": area_names.get(k, "市级平台"), **dataclasses.asdict(v)}
            for k, v in sorted(districts.items())
        ],
        "units": [
            {"code": k, "name": unit_names.get(k, k), **dataclasses.asdict(v)}
            for k, v in sorted(units.items())
        ],
    }


@router.get("/public/evaluation.json")
def evaluation_json(request: Request, session: DbSession, month: Month = None) -> dict[str, Any]:
    return _evaluation(session, request, month)


@router.get("/public/evaluation", response_class=HTMLResponse, include_in_schema=False)
def evaluation_page(request: Request, session: DbSession, month: Month = None) -> HTMLResponse:
    return render(
        request, "public/evaluation.html", _evaluation(session, request, month), session=session
    )


@router.get("/public/districts.geojson", include_in_schema=False)
def district_outlines(request: Request, session: DbSession) -> JSONResponse:
    """District outlines for the public map: administrative geography drawn from the grid
    (the union of each district's cells), nothing about any case."""
    features = area_outlines(request, grid_index(request, session), "district")
    names = dict(session.execute(select(Area.code, Area.name_zh)).all())
    return JSONResponse(
        collection(
            [
                {**f, "properties": {**f["properties"], "name": names.get(f["properties"]["code"])}}
                for f in features
            ]
        ),
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/api/v1/ledger.csv")
def ledger_csv_api(
    request: Request, session: DbSession, actor: TokenActor, month: Month = None
) -> Response:
    """Cases put on the ledger (挂账) in the month, with the stated reason, in the caller's
    scope: one row per case plus a summary per district, unit and class."""
    if actor.role == "unit":
        raise CaseError("case-forbidden", "the ledger is for the platforms", 403)
    zone = ZoneInfo(request.app.state.settings.timezone)
    label, start, end = month_bounds(month, zone)
    rows = ledger.ledger_rows(session, actor, start, end)
    return Response(
        ledger.ledger_csv(rows, label),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="ledger-{label}.csv"'},
    )
