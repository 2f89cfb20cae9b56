"""Published results (the seed: evaluation results are made public): the indicators of any
period per district, street, unit or class, beside the period before. No personal data:
counts and rates only."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select

from agent_ui.pages import evaluation
from agent_ui.pages.evaluation import Month, PeriodText, Scope
from agent_ui.pages.map_layers import area_outlines
from agent_ui.web.deps import DbSession, TokenActor, grid_index
from agent_ui.web.i18n import translator
from hotline.cases import ledger
from hotline.cases.service import CaseError
from hotline.mapdata import collection
from hotline.models import Area
from hotline.periods import month_bounds

router = APIRouter(tags=["evaluation"])


class PublicQuery:
    """The public pages' query: a period (``month``: its older name) and a scope."""

    def __init__(
        self, period: PeriodText = None, month: Month = None, scope: Scope = "district"
    ) -> None:
        self.period, self.month, self.scope = period, month, scope

    def figures(self, request: Request, session: DbSession) -> dict[str, Any]:
        chosen = evaluation.period_of(request, self.period, self.month)
        return evaluation.build(request, session, chosen, self.scope, None)


Published = Annotated[PublicQuery, Depends()]


@router.get("/public/evaluation.json")
def evaluation_json(request: Request, session: DbSession, query: Published) -> dict[str, Any]:
    """The whole city's figures: the public sees every district."""
    return query.figures(request, session)


@router.get("/public/evaluation", response_class=HTMLResponse, include_in_schema=False)
def evaluation_page(request: Request, session: DbSession, query: Published) -> HTMLResponse:
    data = query.figures(request, session)
    if query.scope == "district":
        data["public_map"] = _district_tips(request, data["rows"])
    return evaluation.page(request, session, data, "/public/evaluation")


def _district_tips(request: Request, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the public map shows of each district: its registered cases (the shade) and its
    figures in words."""
    t = translator(request)
    return {
        str(r["code"]): {
            "registered": r["registered"],
            "tip": t.fmt(
                "ev_map_tip",
                name=r["name"],
                registered=r["registered"],
                rate="—" if r["on_time_rate"] is None else f"{r['on_time_rate'] * 100:.1f}%",
            ),
        }
        for r in rows
    }


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
    rows = ledger.every(session, actor, start, end)
    return Response(
        ledger.ledger_csv(rows, label),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="ledger-{label}.csv"'},
    )
