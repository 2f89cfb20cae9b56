"""What the public may see of a case (Open311 reads, public pages).

A case's own text is written by staff for staff: an agent types the caller's name, mobile
number and flat into the description. The public view therefore carries the class, an
area-level place (district and street, a point rounded to about 100 m), the state, the
dates and the unit, and free text only where it was written for the public: what a
citizen posted through a public channel (Open311, the web), or what a platform's staff
chose to publish. Mobile and ID-card numbers found in public text are masked either way.
"""

from __future__ import annotations

import re

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
