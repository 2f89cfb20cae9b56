"""The API's interactive documentation (Swagger UI) from the app's own files: government
networks often have no internet, so nothing is loaded from a CDN (swagger-ui-dist 5.35.0
from npm, in static/vendor with its licence)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
SWAGGER = "/static/vendor/swagger-ui-5.35.0"


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} API",
        swagger_js_url=f"{SWAGGER}-bundle.js",
        swagger_css_url=f"{SWAGGER}.css",
        swagger_favicon_url="data:,",
    )
