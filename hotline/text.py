"""Text that enters the system, made safe to store and to publish.

XML 1.0 cannot hold most control characters (a ``\\x0b`` in one description made
``requests.xml`` unreadable for every client) and PostgreSQL's text type cannot hold NUL.
Both are dropped where text comes in, as is an unpaired surrogate (it cannot be encoded as
UTF-8 at all); tab, line feed and carriage return stay.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# Everything XML 1.0's Char production excludes, plus the noncharacters U+FFFE and U+FFFF.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(value: str) -> str:
    """``value`` without the characters XML or PostgreSQL cannot hold."""
    return _UNSAFE.sub("", value) if _UNSAFE.search(value) else value


CleanText = Annotated[str, AfterValidator(clean_text)]
"""A string field cleaned on validation (for request models)."""
