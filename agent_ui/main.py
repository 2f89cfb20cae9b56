"""The web application: one FastAPI app including one router per resource."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, func, select, text
from starlette.concurrency import run_in_threadpool

from agent_ui.api import cases as api_cases
from agent_ui.api import field as api_field
from agent_ui.api import metrics, open311
from agent_ui.live.events import EventHub
from agent_ui.pages import (
    admin,
    api_docs,
    case_map,
    case_page,
    case_reports,
    city,
    evaluation,
    ledger_pages,
    map_layers,
    public,
    supervisor,
    workspace,
)
from agent_ui.pages import desk as desktop
from agent_ui.pages import field as field_form
from agent_ui.pages import inbox as platform_work
from agent_ui.pages import unit as unit_portal
from agent_ui.web import auth, errors
from agent_ui.web.i18n import RememberLanguage
from agent_ui.web.shared_cache import Refresher, SharedCache
from agent_ui.web.templating import render
from agi.ami import AmiClient
from hotline import __version__
from hotline.db import session_factory
from hotline.models import Area, CatalogueClass, GridCell, Unit, User
from hotline.settings import Settings
from routing.model import QueueState


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await run_in_threadpool(app.state.refresher.close)  # no refresh outlives the app


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    hub: EventHub | None = None,
    ami: AmiClient | None = None,
    queues: Callable[[], Mapping[str, QueueState] | None] = lambda: None,
) -> FastAPI:
    """The web app. ``hub`` carries live events to pages; ``ami`` places agents in queues
    (None without Asterisk: the state buttons then answer 503)."""
    # /docs is served from the app's own files (pages.api_docs); ReDoc would need a CDN.
    app = FastAPI(
        title="City-management hotline",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.hub = hub or EventHub()
    app.state.ami = ami
    app.state.ami_clients = [ami] if ami is not None else []  # every node (service.run)
    app.state.agi = None  # the FastAGI server, when this process runs one
    app.state.queues = queues
    app.state.metrics = metrics.registry_for(app.state)
    app.state.shared_cache = SharedCache()
    app.state.map_cache = SharedCache(max_entries=512)  # agent_ui.pages.case_map
    app.state.refresher = Refresher()
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )
    app.include_router(desktop.router)
    app.include_router(supervisor.router)
    app.include_router(case_reports.router)
    app.include_router(admin.router)
    app.include_router(api_cases.router)
    app.include_router(open311.router)
    app.include_router(public.router)
    app.include_router(evaluation.router)
    app.include_router(ledger_pages.router)
    app.include_router(city.router)
    app.include_router(api_docs.router)
    app.include_router(api_field.router)
    app.include_router(auth.router)
    app.include_router(unit_portal.router)
    app.include_router(metrics.router)
    app.include_router(platform_work.router)
    app.include_router(field_form.router)
    app.include_router(workspace.router)
    app.include_router(case_page.router)
    app.include_router(map_layers.router)
    app.include_router(case_map.router)
    app.state.login_limiter = auth.LoginLimiter()

    app.add_middleware(RememberLanguage)
    errors.install(app)

    sessions = session_factory(engine)
    app.state.settings = settings
    app.state.engine = engine

    @app.get("/healthz", tags=["status"])
    def healthz() -> dict[str, Any]:
        """Liveness and readiness: the database answers and reference data is loaded."""
        with sessions() as session:
            session.execute(text("SELECT 1"))
            cells = session.scalar(select(func.count()).select_from(GridCell)) or 0
        return {"status": "ok", "version": __version__, "grid_cells": cells}

    @app.get("/status", response_class=HTMLResponse, include_in_schema=False)
    def status_page(request: Request, authorization: Annotated[str, Header()] = "") -> HTMLResponse:
        """With ``metrics_token`` set: for a scraper with the token or a signed-in user."""
        with sessions() as session:
            if not metrics.scraper(request, authorization):
                auth.signed_in(request, session)  # else off to the sign-in page
            counts = {
                name: session.scalar(select(func.count()).select_from(model)) or 0
                for name, model in (
                    ("areas", Area),
                    ("grid_cells", GridCell),
                    ("classes", CatalogueClass),
                    ("units", Unit),
                    ("users", User),
                )
            }
        return render(
            request,
            "status.html",
            {"counts": counts, "hotline_number": settings.hotline_number, "version": __version__},
        )

    return app
