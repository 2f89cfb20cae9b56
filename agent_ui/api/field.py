"""Field reports (城管通): an inspector's photo, GPS point, class and description become a
registered case in the grid cell of the point; units and platforms add photos to cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Header, Request, Response, UploadFile
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from agent_ui.api.cases import CaseOut, case_out
from agent_ui.web.deps import DbSession, TokenActor, grid_index
from hotline.cases.media import attach_photo
from hotline.cases.service import Actor, CaseError, NewCase, create_case, get_case
from hotline.geo import PointError, check_point
from hotline.models import Attachment, Case, utcnow

router = APIRouter(prefix="/api/v1", tags=["field"])


async def _read(request: Request, photo: UploadFile) -> bytes:
    limit: int = request.app.state.settings.max_upload_bytes
    data = await photo.read(limit + 1)
    if len(data) > limit:
        raise CaseError("photo-too-large", f"photos are at most {limit} bytes", 413)
    return data


@router.post("/field-reports", status_code=201, response_model=CaseOut)
async def field_report(
    request: Request,
    session: DbSession,
    actor: TokenActor,
    response: Response,
    photo: Annotated[UploadFile, File()],
    lat: Annotated[float, Form(allow_inf_nan=False)],
    lon: Annotated[float, Form(allow_inf_nan=False)],
    kind: Annotated[Literal["component", "event"], Form()],
    class_code: Annotated[str, Form(pattern=r"^\d{4,5}$")],
    description: Annotated[str, Form(max_length=4000)] = "",
    urgency: Annotated[Literal["normal", "urgent"], Form()] = "normal",
    component_id: Annotated[str | None, Form(pattern=r"^\d{16}$")] = None,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> CaseOut:
    report = FieldReport(lat, lon, kind, class_code, description, urgency, component_id)
    key = f"rest:{actor.username}:{idempotency_key}" if idempotency_key else None
    case, created = await register_report(request, session, actor, photo, report, key)
    if not created:
        response.status_code = 200
    return case_out(case, actor.role)


@dataclass(frozen=True)
class FieldReport:
    lat: float
    lon: float
    kind: str
    class_code: str
    description: str
    urgency: str
    component_id: str | None = None  # the component (部件) reported, if any


async def register_report(
    request: Request,
    session: Session,
    actor: Actor,
    photo: UploadFile,
    report: FieldReport,
    idempotency_key: str | None,
) -> tuple[Case, bool]:
    """The report as a registered case in the grid cell of its point, with its photo; a
    repeat of the same idempotency key gives the first case back. API and mobile form."""
    data = await _read(request, photo)

    bounds = request.app.state.settings.bounds

    def register() -> tuple[Case, bool]:  # database and disk work, off the event loop
        try:
            check_point(report.lon, report.lat, bounds)
        except PointError as exc:
            raise CaseError("case-bad-point", str(exc), 422) from exc
        cell = grid_index(request, session).locate(report.lon, report.lat)
        if cell is None:
            raise CaseError("case-outside-grid", "the point lies outside every grid cell", 422)
        case, created = create_case(
            session,
            actor,
            NewCase(
                source="field",
                kind=report.kind,
                class_code=report.class_code,
                district_code=cell[:6],
                grid_code=cell,
                lon=report.lon,
                lat=report.lat,
                description=report.description,
                urgency=report.urgency,
                component_id=report.component_id,
            ),
            idempotency_key,
            bounds=bounds,
        )
        if created:
            attach_photo(
                session,
                request.app.state.settings.media_dir,
                case,
                data,
                "report",
                actor.username,
                request.app.state.settings.max_upload_bytes,
                utcnow(),
            )
        return case, created

    return await run_in_threadpool(register)


@router.post("/cases/{number}/photos", status_code=201)
async def add_photo(
    number: str,
    request: Request,
    session: DbSession,
    actor: TokenActor,
    photo: Annotated[UploadFile, File()],
    purpose: Annotated[Literal["report", "feedback", "verification"], Form()] = "feedback",
) -> dict[str, object]:
    """A photo on a case in your scope: a unit's feedback, a platform's verification."""
    data = await _read(request, photo)

    def attach() -> Attachment:
        case = get_case(session, actor, number)
        return attach_photo(
            session,
            request.app.state.settings.media_dir,
            case,
            data,
            purpose,
            actor.username,
            request.app.state.settings.max_upload_bytes,
            utcnow(),
        )

    attachment = await run_in_threadpool(attach)
    return {
        "id": attachment.id,
        "sha256": attachment.sha256,
        "size": attachment.size,
        "content_type": attachment.content_type,
    }
