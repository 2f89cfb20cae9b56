"""Errors as the reader expects them: a page in the reader's language for a person, JSON
with a stable ``error_id`` for a program (the REST API, the pages' own scripts), the
specification's shape for Open311.

A person never sees a raw JSON body or an English message on a Chinese page: a case
service's refusal shows the catalogue's text for its ``error_id`` (``error_case-conflict``)
or the one for its status. A request the validator refuses never echoes its input back (a
``NaN`` or a lone surrogate in it made the default handler fail with a 500).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent_ui.web.deps import DatabaseBusy
from agent_ui.web.i18n import language, translator
from agent_ui.web.templating import render
from hotline.cases.service import CaseError

log = logging.getLogger("hotline.web")
MACHINE_PATHS = ("/api/", "/open311/", "/metrics", "/healthz", "/openapi.json", "/docs")


def wants_page(request: Request) -> bool:
    """A person's browser asking for a page (not a program, not the pages' own fetch)."""
    path = request.url.path
    if path.startswith(MACHINE_PATHS) or path.endswith((".json", ".csv", ".xml", ".xlsx")):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(
    request: Request,
    status: int,
    *,
    error_id: str = "",
    detail: str = "",
    fields: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    t = translator(request)
    message = t.get(f"error_{error_id}") or t.get(f"error_{status}") or t.error_500
    response = render(
        request,
        "errors/error.html",
        {
            "status": status,
            "message": message,
            # The program's own words are English: shown to an English reader only.
            "detail": detail if language(request) == "en" else "",
            "fields": fields or [],
        },
        status=status,
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def refusal_text(request: Request, exc: CaseError) -> str:
    """What a person reads when the case service refuses: the catalogue's words for the
    error id, else for its status (the service's own message is for programs)."""
    t = translator(request)
    return t.get(f"error_{exc.error_id}") or t.get(f"error_{exc.status}") or t.error_500


def _field_label(request: Request, location: tuple[Any, ...]) -> str:
    name = str(location[-1]) if location else ""
    return translator(request).get(f"field_{name}", name)


def install(app: FastAPI) -> None:
    """The app's error handlers."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code < 400 or not wants_page(request):
            return await http_exception_handler(request, exc)
        return error_page(
            request,
            exc.status_code,
            detail=str(exc.detail),
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(CaseError)
    def case_error(request: Request, exc: CaseError) -> Response:
        if wants_page(request):
            return error_page(request, exc.status, error_id=exc.error_id, detail=str(exc))
        return JSONResponse({"error_id": exc.error_id, "detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [(tuple(e.get("loc", ())), str(e.get("msg", ""))) for e in exc.errors()]
        if request.url.path.startswith("/open311/"):
            from agent_ui.api.open311 import spec_error  # the spec's error shape

            text = "; ".join(f"{loc[-1] if loc else ''}: {msg}" for loc, msg in problems)
            return spec_error(request, 400, text)
        if wants_page(request):
            return error_page(
                request,
                422,
                fields=[(_field_label(request, loc), msg) for loc, msg in problems],
                detail="; ".join(msg for _, msg in problems),
            )
        # The default handler echoes the input back, which fails on NaN or a lone surrogate.
        return JSONResponse(
            {
                "error_id": "request-invalid",
                "detail": [{"loc": list(loc), "msg": msg} for loc, msg in problems],
            },
            status_code=422,
        )

    @app.exception_handler(DatabaseBusy)
    @app.exception_handler(PoolTimeout)
    def busy(request: Request, exc: Exception) -> Response:
        headers = {"Retry-After": "2"}
        if wants_page(request):
            return error_page(request, 503, error_id="busy", headers=headers)
        return JSONResponse(
            {"error_id": "busy", "detail": "the database is busy: try again in a moment"},
            status_code=503,
            headers=headers,
        )

    @app.exception_handler(Exception)
    def failed(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        if wants_page(request):
            return error_page(request, 500)
        return JSONResponse(
            {"error_id": "internal", "detail": "the server failed; it has been logged"},
            status_code=500,
        )
