from __future__ import annotations

import pytest
from sqlalchemy import Engine

from hotline.db import transaction
from hotline.gazetteer import pinyin_of, search


def test_pinyin() -> None:
    assert pinyin_of("东华门") == ("donghuamen", "dhm")
    assert pinyin_of("王府井A座") == ("wangfujingzuo", "wfjz")  # non-Han characters dropped


def test_pinyin_readings_from_the_data() -> None:
    readings = {"朝阳门": ("chao", "yang", "men"), "朝阳": ("zhao", "yang")}
    assert pinyin_of("朝阳门街道")[0] == "zhaoyangmenjiedao"  # pypinyin alone reads it wrong
    assert pinyin_of("朝阳门街道", readings) == ("chaoyangmenjiedao", "cymjd")  # longest wins
    assert pinyin_of("朝阳", readings)[0] == "zhaoyang"


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("东华门", "东华门街道"),  # Chinese name (substring)
        ("王府井", "王府井大街"),  # alias of a road, exact alias ranks first
        ("dhm", "东华门街道"),  # pinyin initials
        ("jingshan", "景山街道"),  # full pinyin
        ("紫禁城", "故宫博物院"),  # alias of a landmark
        ("东城", "东城区"),
        ("chaoyangmen", "朝阳门街道"),  # readings from pinyin.csv
        ("shichahai", "什刹海"),
        ("dsl", "大栅栏街道"),
    ],
)
def test_search(loaded_engine: Engine, query: str, first: str) -> None:
    with transaction(loaded_engine) as session:
        places = search(session, query)
    assert places, query
    assert places[0].name_zh == first


def test_search_nothing(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        assert search(session, "   ") == []
        assert search(session, "不存在的地方") == []


@pytest.mark.parametrize("wildcard", ["%", "_", "%%", "\\"])
def test_wildcards_are_characters(loaded_engine: Engine, wildcard: str) -> None:
    """`/desk/places?q=%` matched every place: the caller's % and _ are text to find."""
    with transaction(loaded_engine) as session:
        assert search(session, wildcard) == []
