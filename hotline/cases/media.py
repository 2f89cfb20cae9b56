"""Photos attached to cases: checked (type by magic bytes, size), stored by SHA-256 so the
same photo sent twice is kept once, recorded in ``attachments`` and the case's history."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from sqlalchemy.orm import Session

from hotline.cases.service import CaseError
from hotline.models import Attachment, Case, CaseHistory

MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"RIFF": "image/webp"}


def content_type_of(data: bytes) -> str | None:
    for magic, kind in MAGIC.items():
        if data.startswith(magic) and (kind != "image/webp" or data[8:12] == b"WEBP"):
            return kind
    return None


def attach_photo(
    session: Session,
    media_dir: Path,
    case: Case,
    data: bytes,
    purpose: str,
    actor: str,
    max_bytes: int,
    now: dt.datetime,
) -> Attachment:
    if not data:
        raise CaseError("photo-empty", "the photo is empty", 422)
    if len(data) > max_bytes:
        raise CaseError("photo-too-large", f"photos are at most {max_bytes} bytes", 413)
    kind = content_type_of(data)
    if kind is None:
        raise CaseError("photo-bad-type", "a photo must be JPEG, PNG or WebP", 415)
    digest = hashlib.sha256(data).hexdigest()
    path = media_dir / digest[:2] / digest
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)  # never a half-written photo under its final name
    attachment = Attachment(
        case_id=case.id,
        purpose=purpose,
        content_type=kind,
        size=len(data),
        sha256=digest,
        uploaded_by=actor,
        created_at=now,
    )
    session.add(attachment)
    session.flush()
    session.add(
        CaseHistory(
            case_id=case.id,
            at=now,
            actor=actor,
            action="attach",
            from_state=case.state,
            to_state=case.state,
            note="",
            data={"attachment": attachment.id, "purpose": purpose, "sha256": digest},
        )
    )
    return attachment
