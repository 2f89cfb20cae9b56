"""What the public may see of a case (Open311 reads, public pages).

A case's own text is written by staff for staff: an agent types the caller's name, mobile
number and flat into the description. The public view therefore carries the class, an
area-level place (district and street, a point rounded to about 100 m), the state, the
dates and the unit, and free text only where it was written for the public: what a
citizen posted through a public channel (Open311, the web), or what a platform's staff
chose to publish. Mobile and ID-card numbers found in public text are masked either way.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy.orm import Session

from hotline.cases.service import Actor, CaseError, get_case, record_change, touch_case
from hotline.models import Case, utcnow
from hotline.roles import PLATFORM_STAFF
from hotline.text import clean_text

PUBLIC_SOURCES = frozenset({"open311", "web"})
PLACE_DECIMALS = 3  # 0.001° ≈ 111 m north-south: about one grid cell

# A mainland mobile number (11 digits from 13x-19x, maybe after +86), and an ID card number
# (17 digits and a digit or X), not inside a longer run of digits (a case number is 10
# digits, a grid code 15).
_MOBILE = re.compile(r"(?<!\d)((?:\+?86[- ]?)?1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID_CARD = re.compile(r"(?<![\dXx])(\d{6})\d{8}(\d{3}[\dXx])(?![\dXx])")


def mask_personal(text: str) -> str:
    """``text`` with mobile numbers as 138****1234 and ID card numbers as
    110101********123X."""
    text = _ID_CARD.sub(lambda m: f"{m.group(1)}{'*' * 8}{m.group(2)}", text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def public_text(source: str, description: str, published: str | None = None) -> str:
    """The free text the public may read: what staff published, else the description of a
    report filed through a public channel; masked. Nothing for other cases."""
    if published is not None:
        return mask_personal(published)
    return mask_personal(description) if source in PUBLIC_SOURCES else ""


def public_coordinate(value: float | None) -> float | None:
    """A coordinate at area level (about 100 m), or None."""
    return None if value is None else round(value, PLACE_DECIMALS)


PUBLIC_TEXT_MAX = 1000


def publish(
    session: Session,
    actor: Actor,
    number: str,
    version: int,
    text: str | None,
    *,
    now: dt.datetime | None = None,
) -> Case:
    """A platform's staff decide what the public reads of a case: ``text`` (masked on the
    way out like any public text), ``""`` for nothing at all, or None for the default
    (a citizen's own report is public, staff's words are not). In the case's history."""
    if actor.role not in PLATFORM_STAFF:
        raise CaseError("case-forbidden", "the platforms' staff decide what the public sees", 403)
    case = get_case(session, actor, number)
    cleaned = None if text is None else clean_text(text).strip()
    if cleaned is not None and len(cleaned) > PUBLIC_TEXT_MAX:
        raise CaseError("case-bad-data", f"public text: at most {PUBLIC_TEXT_MAX} characters", 422)
    now = now or utcnow()
    case.public_text = cleaned
    touch_case(session, case, version, now)
    record_change(
        session,
        case,
        actor.username,
        "publish",
        case.state,
        cleaned or "",
        {"default": cleaned is None},
        now,
    )
    return case
