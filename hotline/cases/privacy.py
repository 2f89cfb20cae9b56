"""What a reader may learn of the citizen behind a case: least privilege, as a pure function.

* Platform staff (dispatchers, shift leaders) see the citizen's name and phone: they call
  back and verify.
* An agent or an inspector sees them on the cases they registered themselves only.
* A responsible unit sees the name masked and never the phone (it reports to the platform;
  the platform talks to the citizen).
* Anyone else sees both masked.

Who may hear the calls of a case follows the phone: a recording carries the citizen's
voice and number.
"""

from __future__ import annotations

from dataclasses import dataclass

from hotline.roles import PLATFORM_STAFF


@dataclass(frozen=True)
class Citizen:
    name: str
    phone: str
    full: bool  # shown as given (False: masked or left out)


def mask_phone(phone: str) -> str:
    """The phone with digits hidden: a mobile number keeps its first three and last four
    (``138****5678``), a landline its last four (``****3456``), a short number at most its
    last two."""
    digits = "".join(c for c in phone if c.isdigit())
    n = len(digits)
    if n >= 11:
        return digits[:3] + "*" * (n - 7) + digits[-4:]
    if n >= 7:
        return "*" * (n - 4) + digits[-4:]
    keep = min(2, n // 2)
    return "*" * (n - keep) + digits[n - keep :]


def mask_name(name: str) -> str:
    """The family name only (its first character), the rest as ``*``: ``王*``."""
    name = name.strip()
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


def citizen_view(role: str, username: str, created_by: str, name: str, phone: str) -> Citizen:
    """The citizen's name and phone as ``username`` (of ``role``) may see them on a case
    registered by ``created_by``."""
    if role in PLATFORM_STAFF or (role in ("agent", "inspector") and created_by == username):
        return Citizen(name, phone, True)
    if role == "unit":
        return Citizen(mask_name(name), "", False)
    return Citizen(mask_name(name), mask_phone(phone), False)
