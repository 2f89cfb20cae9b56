"""The case page (/cases/{number}): everything about one case for those who may see it, its
timeline, its calls with their recordings, and every action the reader may take, each its
own form carrying the version it was read at.

A form posts to ``/cases/{number}/actions/{action}``; the page turns the form's strings into
the types the action declares (yes/no, numbers) and calls the same service the REST API
calls. A refusal shows the page again with the error beside the form (or its field) and
what was typed kept, in a 4xx; a stale version shows the case as it now is, and what was
typed. Success redirects back with a confirmation (POST-redirect-GET).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from shapely.geometry import mapping
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import FormData

from agent_ui.live.phone import live_client, place_callback
from agent_ui.pages.case_view import case_context, needs
from agent_ui.web.auth import Current, SignedIn, check_csrf
from agent_ui.web.deps import DbSession, grid_index
from agent_ui.web.i18n import translator
from agent_ui.web.names import names_for
from agent_ui.web.templating import render
from agi.ami import AmiError
from hotline.cases.calendar import load_calendar
from hotline.cases.case_calls import callback_failed, linked_call, recording_file, start_callback
from hotline.cases.joint import assign_joint
from hotline.cases.lifecycle import TRANSITIONS
from hotline.cases.publication import publish
from hotline.cases.service import CaseError, decide_extension, get_case, transition
from hotline.geo import finite_or_none
from hotline.models import Attachment, utcnow


class _CaseNumber(Convertor[str]):
    """Case numbers only (YYMMDD and a sequence), so other pages under /cases (the list's
    exports, say) never land here."""

    regex = r"\d{10,16}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("case_number", _CaseNumber())
router = APIRouter(prefix="/cases", tags=["case page"], include_in_schema=False)
ACTIONS = frozenset({*TRANSITIONS, "extension", "joint_job", "publish"})
TEXT_MAX = 4000
# The form fields a page may send, with their size limits (the rest is ignored).
FIELDS = {
    "note": TEXT_MAX,
    "klass": 40,
    "unit_code": 64,
    "solved": 8,
    "satisfaction": 8,
    "district_code": 16,
    "duplicate_of": 32,
    "decision": 16,
    "public_mode": 16,
    "public_text": 1000,
}
# Where a refusal belongs on the action's form, by error id (else the form as a whole).
ERROR_FIELDS = {
    "case-bad-unit": "unit_code",
    "case-no-unit": "unit_code",
    "case-bad-duplicate": "duplicate_of",
    "case-bad-district": "district_code",
    "case-bad-units": "units",
    "case-bad-class": "klass",
}


class FormProblem(Exception):
    """A form value that is not of the declared type: the field and the text's key."""

    def __init__(self, field: str, key: str) -> None:
        super().__init__(field)
        self.field, self.key = field, key


def action_data(action: str, form: dict[str, Any]) -> dict[str, Any]:
    """The form's strings as the action's data, in the types it declares
    (hotline/cases/action_data.py); what to check beyond the type is the domain's."""
    data: dict[str, Any] = {}
    if form.get("note"):
        data["note"] = form["note"]
    if action == "register":
        kind, _, code = str(form.get("klass", "")).partition(":")
        if not kind or not code:
            raise FormProblem("klass", "case_pick_class")
        data |= {"kind": kind, "class_code": code}
    elif action == "dispatch":
        data["unit_code"] = form.get("unit_code") or None
    elif action == "verify":
        solved = {"yes": True, "no": False}.get(str(form.get("solved", "")))
        if solved is None:
            raise FormProblem("solved", "case_pick_yes_no")
        satisfaction = str(form.get("satisfaction", "")).strip()
        if not satisfaction.isdigit():
            raise FormProblem("satisfaction", "case_pick_number")
        data |= {"solved": solved, "satisfaction": int(satisfaction)}
    elif action == "hand_down" and form.get("district_code"):
        data["district_code"] = form["district_code"]
    elif action == "mark_duplicate":
        data["duplicate_of"] = str(form.get("duplicate_of", "")).strip()
    return data


def _read_form(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {
        key: str(form.get(key, ""))[:limit] for key, limit in FIELDS.items() if key in form
    }
    values["units"] = [str(u)[:64] for u in form.getlist("units")][:20]
    return values


def _apply(
    session: Session,
    current: SignedIn,
    number: str,
    action: str,
    version: int,
    form: dict[str, Any],
) -> None:
    actor = current.actor
    if action == "extension":
        decision = form.get("decision")
        if decision not in ("approve", "refuse"):
            raise FormProblem("decision", "case_pick_decision")
        decide_extension(
            session, actor, number, version, decision == "approve", load_calendar(session)
        )
    elif action == "joint_job":
        assign_joint(session, actor, number, version, form["units"], form.get("note", ""))
    elif action == "publish":
        mode = form.get("public_mode")
        if mode not in ("default", "text", "none"):
            raise FormProblem("public_mode", "case_pick_public_mode")
        text = {"default": None, "none": ""}.get(mode, form.get("public_text", ""))
        publish(session, actor, number, version, text)
    else:
        data = action_data(action, form)
        transition(session, actor, number, action, version, data, calendar=load_calendar(session))


def _point(lon: float | None, lat: float | None) -> tuple[float, float] | None:
    x, y = finite_or_none(lon), finite_or_none(lat)
    return (x, y) if x is not None and y is not None else None


def _page(
    request: Request,
    current: SignedIn,
    session: Session,
    number: str,
    *,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    case = get_case(session, current.actor, number)
    names = names_for(request, session)
    context = case_context(
        session,
        current.actor,
        case,
        names,
        translator(request),
        request.app.state.settings.recordings_dir,
    )
    shape = grid_index(request, session).shape(case.grid_code) if case.grid_code else None
    return render(
        request,
        "cases/case.html",
        {
            **context,
            "names": names,
            "errors": {},
            "kept": {},
            "cell_geometry": mapping(shape) if shape is not None else None,
            "map_point": _point(case.lon, case.lat),
            **extra,
        },
        session=session,
        current=current,
        status=status,
    )


def _refused(
    request: Request,
    current: SignedIn,
    session: Session,
    number: str,
    action: str,
    form: dict[str, Any],
    exc: CaseError | FormProblem,
) -> HTMLResponse:
    """The page again, the error beside the action's form (its field where known), what
    was typed kept; a stale version: the case as it now is, and a notice at the top."""
    t = translator(request)
    session.expire_all()  # what the refused change left in memory: read again
    if isinstance(exc, FormProblem):
        where, message, status = exc.field, t[exc.key], 422
    else:
        message = t.get(f"error_{exc.error_id}") or t.get(f"error_{exc.status}") or t.error_500
        where, status = exc.field or ERROR_FIELDS.get(exc.error_id, ""), exc.status
        if exc.error_id == "case-missing-data":
            where = next((n for n in needs(action) if not form.get(n)), "")
    where = {"kind": "klass", "class_code": "klass"}.get(where, where)
    if where not in (*FIELDS, "units"):
        where = "_form"  # the form as a whole
    conflict = isinstance(exc, CaseError) and exc.error_id == "case-conflict"
    errors = {where: message}
    return _page(
        request,
        current,
        session,
        number,
        status=status,
        errors={action: errors},
        kept={action: form},
        conflict=conflict,
    )


@router.get("/{number:case_number}", response_class=HTMLResponse)
def case_page(
    number: str, request: Request, current: Current, session: DbSession, done: str = ""
) -> Response:
    """The case, for the roles that may see it (others: 404, no hint it exists)."""
    shown = done if done in ACTIONS or done == "callback" else ""
    return _page(request, current, session, number, done=shown)


@router.post("/{number:case_number}/actions/{action}", response_class=HTMLResponse)
async def act(
    number: str, action: str, request: Request, current: Current, session: DbSession
) -> Response:
    form = await request.form()
    check_csrf(current, str(form.get("csrf_token", "")))
    if action not in ACTIONS:
        raise HTTPException(404, "no such action")
    values = _read_form(form)
    version_text = str(form.get("version", ""))
    version = int(version_text) if version_text.isdigit() else 0

    def apply() -> Response:
        try:
            with session.begin_nested():
                _apply(session, current, number, action, version, values)
        except FormProblem as problem:
            return _refused(request, current, session, number, action, values, problem)
        except CaseError as exc:
            if exc.status == 404:
                raise
            return _refused(request, current, session, number, action, values, exc)
        return RedirectResponse(f"/cases/{number}?done={action}", status_code=303)

    return await run_in_threadpool(apply)


@router.post("/{number:case_number}/callback", response_class=HTMLResponse)
async def callback(number: str, request: Request, current: Current, session: DbSession) -> Response:
    """Ring the staff member's phone, then the citizen's (回访); the call is recorded and
    linked to the case."""
    form = await request.form()
    check_csrf(current, str(form.get("csrf_token", "")))
    ami = live_client(request.app.state)

    def refuse(error_id: str, status: int) -> Response:
        return _refused(
            request,
            current,
            session,
            number,
            "callback",
            {},
            CaseError(error_id, error_id, status),
        )

    if ami is None:
        return await run_in_threadpool(refuse, "telephony-down", 503)
    if not current.user.sip_endpoint:
        return await run_in_threadpool(refuse, "no-staff-phone", 409)

    def start() -> Any:
        try:
            with session.begin_nested():
                placed = start_callback(session, current.actor, number)
        except CaseError as exc:
            if exc.status == 404:
                raise
            return _refused(request, current, session, number, "callback", {}, exc)
        session.commit()  # the call's row exists before Asterisk's first event about it
        return placed

    placed = await run_in_threadpool(start)
    if isinstance(placed, Response):
        return placed
    try:
        await place_callback(ami, request.app.state.settings, current.user, placed, number)
    except AmiError:

        def failed() -> Response:
            callback_failed(session, placed.call.id, now=utcnow())
            session.commit()
            return refuse("telephony-refused", 502)

        return await run_in_threadpool(failed)
    return RedirectResponse(f"/cases/{number}?done=callback#verify", status_code=303)


@router.get("/{number:case_number}/calls/{call_id}/recording")
def recording(
    number: str, call_id: int, request: Request, current: Current, session: DbSession
) -> Response:
    """A call's recording, for those who may hear the case's calls: the file is found from
    the call's row, never from the request; byte ranges (206) for the player's seeking."""
    case = get_case(session, current.actor, number)
    call = linked_call(session, current.actor, case, call_id)
    path = recording_file(request.app.state.settings.recordings_dir, call) if call else None
    if path is None:
        raise HTTPException(404, "no such recording")
    return FileResponse(
        path,
        media_type="audio/wav",
        filename=f"call-{call_id}.wav",
        content_disposition_type="inline",
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/{number:case_number}/photos/{photo_id}")
def photo(
    number: str, photo_id: int, request: Request, current: Current, session: DbSession
) -> Response:
    """A photo of the case (before or after), for those who may see the case."""
    case = get_case(session, current.actor, number)
    attachment = session.get(Attachment, photo_id)
    if attachment is None or attachment.case_id != case.id:
        raise HTTPException(404, "no such photo")
    media = request.app.state.settings.media_dir.resolve()
    path = (media / attachment.sha256[:2] / attachment.sha256).resolve()
    if not path.is_relative_to(media) or not path.is_file():
        raise HTTPException(404, "no such photo")
    return FileResponse(
        path,
        media_type=attachment.content_type,
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
