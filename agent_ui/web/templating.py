"""The Jinja2 templates of the web pages and what every page is rendered with: the texts in
the reader's language, names for codes, times in the city's time zone, the role's
navigation, the CSRF token for its forms."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.orm import Session

from agent_ui.web.i18n import language, translator
from agent_ui.web.names import Names, names_for
from agent_ui.web.shared_cache import SharedCache

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
# The templates ship inside the package and change with it: no file check on every page
# (Jinja's default stats every template a page uses, each time it renders).
TEMPLATES.env.auto_reload = False

# Each role's pages (the catalogue key of the label, the path), in the order of its work.
NAVIGATION: dict[str, tuple[tuple[str, str], ...]] = {
    "agent": (("nav_desk", "/"), ("nav_mine", "/cases?view=mine"), ("nav_field", "/field")),
    "dispatcher": (
        ("nav_workspace", "/cases"),
        ("nav_desk", "/"),
        ("nav_inbox", "/supervisor/inbox"),
        ("nav_ledger", "/supervisor/ledger"),
        ("nav_evaluation", "/supervisor/evaluation"),
        ("nav_case_reports", "/reports/cases"),
        ("nav_city", "/supervisor/city"),
    ),
    "supervisor": (
        ("nav_workspace", "/cases"),
        ("nav_desk", "/"),
        ("nav_wallboard", "/supervisor"),
        ("nav_reports", "/reports"),
        ("nav_map", "/supervisor/map"),
        ("nav_inbox", "/supervisor/inbox"),
        ("nav_ledger", "/supervisor/ledger"),
        ("nav_evaluation", "/supervisor/evaluation"),
        ("nav_city", "/supervisor/city"),
    ),
    "unit": (("nav_jobs", "/unit"),),
    "inspector": (("nav_field", "/field"),),
    "admin": (("nav_users", "/admin"),),
}


def _navigation(user: Any) -> tuple[tuple[str, str], ...]:
    """The links of the user's role; the city overview for the city platform's staff only."""
    if user is None:
        return ()
    scope = user.scope_code or ""
    city = len(scope) == 6 and scope.endswith("0000")
    return tuple(
        (key, href) for key, href in NAVIGATION.get(user.role, ()) if key != "nav_city" or city
    )


def _here(nav: tuple[tuple[str, str], ...], path: str) -> str:
    """The link of ``nav`` a page belongs to: the longest whose path is the page's or an
    ancestor of it (``/`` only itself). The wallboard (``/supervisor``) is not underlined on
    the ledger (``/supervisor/ledger``), which has its own link."""
    found, length = "", -1
    for _, href in nav:
        link = href.split("?")[0]
        if (path == link or (link != "/" and path.startswith(link + "/"))) and len(link) > length:
            found, length = href, len(link)
    return found


def city_zone(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.settings.timezone)


def local_time(moment: dt.datetime | None, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored moment (UTC; SQLite gives it back naive) as the city's wall-clock time."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(zone).strftime(fmt)


def iso(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


def switch_language_url(request: Request) -> str:
    """This page in the other language, its query string kept."""
    query = {k: v for k, v in request.query_params.multi_items() if k != "lang"}
    other = "zh" if language(request) == "en" else "en"
    return f"{request.url.path}?{urlencode([*query.items(), ('lang', other)])}"


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    session: Session | None = None,
    current: Any = None,
    status: int = 200,
) -> HTMLResponse:
    """``name`` rendered for ``current`` (a signed-in user, or None) with what every page
    needs; ``session`` lets the page look names up (else codes show)."""
    zone = city_zone(request)
    user = getattr(current, "user", None)
    nav = _navigation(user)
    base: dict[str, Any] = {
        "t": translator(request),
        "lang": language(request),
        "zone": zone,
        "zone_label": request.app.state.settings.timezone,
        "user": user,
        "csrf": current.session.csrf_token if current is not None else "",
        "nav": nav,
        "nav_here": _here(nav, request.url.path),
        "switch_url": switch_language_url(request),
        "now": dt.datetime.now(dt.UTC),
    }
    if session is not None:
        base["names"] = names_for(request, session)
    return TEMPLATES.TemplateResponse(
        request, name, {**base, **(context or {})}, status_code=status
    )


FRAGMENTS = SharedCache(max_entries=512)
FRAGMENT_TTL = 3600.0  # the key names the options' version: a new read, new pieces


def fragment(*key: Any, caller: Callable[[], str]) -> Markup:
    """Pieces of a page many loads render alike, rendered once: a city dispatcher's filter
    form holds hundreds of options (streets, units, classes), which were most of the
    workspace list's rendering time. ``{% call fragment(key...) %}…{% endcall %}`` renders
    the block once per key; the key names everything the block shows (the language, the
    options' version, the value selected)."""
    return FRAGMENTS.get(key, FRAGMENT_TTL, lambda: Markup(caller()))


ROWS = SharedCache(max_entries=5000)  # a few pages of every view of every platform


def cached_case(
    what: str, names: Names, case: Any, zone: ZoneInfo, *, caller: Callable[[], str]
) -> Markup:
    """A case's piece of a list (``what``: the workspace's row, the unit's card), rendered
    once while nothing it shows changes: the key holds every field those pieces show, the
    names' version and language, and the zone. The rows were a third of the workspace
    list's rendering (50 µs each); a dispatcher's views and a unit's job list show the same
    open cases load after load."""
    key = (
        what,
        names.version,
        str(zone),
        case.id,
        case.number,
        case.kind,
        case.class_code,
        case.district_code,
        case.address,
        case.state,
        case.urgency,
        case.unit_code,
        case.created_at,
        case.due_at,
        case.overdue_at,
        case.urge_count,
    )
    return ROWS.get(key, FRAGMENT_TTL, lambda: Markup(caller()))


TEMPLATES.env.filters["iso"] = iso
TEMPLATES.env.globals["local_time"] = local_time
TEMPLATES.env.globals["fragment"] = fragment
TEMPLATES.env.globals["cached_case"] = cached_case
