"""Numbers, dates and times as the prompt files a person's sentence is made of.

Pure functions: a value in, the prompt keys (``data/ivr/prompts.csv``) to play out. The
words are prompts like any other, in the flow's language and replaceable by recordings:
``12月3日14点30分`` is ``month_12 day_3 hour_14 minute_30``; a time on the hour leaves the
minutes out (``14点``), as a person says it. Asterisk's own SAY DIGITS / SAY DATETIME are not
used: they speak English unless Chinese sound packs are installed, and follow the PBX clock.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

DIGITS = "0123456789"


def datetime_words(when: dt.datetime, zone: ZoneInfo) -> list[str]:
    """The prompt keys that say ``when`` in the city's time zone: month, day, hour and,
    unless on the hour, minute. ``when`` must be aware (the records keep UTC)."""
    if when.tzinfo is None:
        raise ValueError("an aware datetime is needed to say it in the city's time")
    local = when.astimezone(zone)
    words = [f"month_{local.month}", f"day_{local.day}", f"hour_{local.hour}"]
    if local.minute:
        words.append(f"minute_{local.minute}")
    return words


def digit_words(digits: str) -> list[str]:
    """One prompt per digit (a callback number the caller may write down); other
    characters are skipped."""
    return [f"digit_{d}" for d in digits if d in DIGITS]


def word_keys() -> list[str]:
    """Every prompt key these functions can return: the prompts file must have them all."""
    keys = [f"digit_{d}" for d in DIGITS]
    keys += [f"month_{n}" for n in range(1, 13)]
    keys += [f"day_{n}" for n in range(1, 32)]
    keys += [f"hour_{n}" for n in range(24)]
    keys += [f"minute_{n}" for n in range(1, 60)]
    return keys
