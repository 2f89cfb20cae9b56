"""Numbers and dates as the words a person says them with, in the city's time zone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.actions import OUTCOMES
from ivr.flow import load_flow
from ivr.say import datetime_words, digit_words, word_keys

BEIJING = ZoneInfo("Asia/Shanghai")
DATA = Path(__file__).parents[2] / "data" / "ivr"


def test_a_deadline_in_the_citys_time() -> None:
    # 06:30 UTC is 14:30 in Beijing: "12月3日14点30分", not the PBX clock's 06:30.
    due = dt.datetime(2026, 12, 3, 6, 30, tzinfo=dt.UTC)
    assert datetime_words(due, BEIJING) == ["month_12", "day_3", "hour_14", "minute_30"]


def test_on_the_hour_the_minutes_are_left_out() -> None:
    due = dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC)  # 00:00 on 1 January in Beijing
    assert datetime_words(due, BEIJING) == ["month_1", "day_1", "hour_0"]


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        datetime_words(dt.datetime(2026, 12, 3, 6, 30), BEIJING)


def test_digits() -> None:
    assert digit_words("26-1") == ["digit_2", "digit_6", "digit_1"]


def test_every_word_is_a_prompt_with_its_text() -> None:
    flow = load_flow(DATA / "flow.toml", DATA / "prompts.csv", OUTCOMES)
    for key in word_keys():
        assert flow.prompts[key].zh_cn and flow.prompts[key].en, key
    assert flow.prompts["month_12"].zh_cn == "12月"
    assert flow.prompts["minute_5"].zh_cn == "零5分"
    assert flow.language == "zh"
