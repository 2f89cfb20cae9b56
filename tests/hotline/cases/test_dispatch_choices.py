"""The units a dispatch form offers are the units the dispatch itself accepts."""

from __future__ import annotations

from sqlalchemy import Engine, select

from hotline.cases.service import Actor, NewCase, create_case, dispatch_choices
from hotline.db import transaction
from hotline.models import Unit

DISTRICT = Actor("dc_dispatcher", "dispatcher", "110101")
CITY = Actor("city_dispatcher", "dispatcher", "110000")


def test_dispatch_choices(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        units = {
            code: district
            for code, district in session.execute(select(Unit.code, Unit.district_code))
        }
        city_units = {code for code, district in units.items() if district is None}
        dongcheng = {code for code, district in units.items() if district == "110101"}
        case, _ = create_case(
            session,
            DISTRICT,
            NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
            "c-1",
        )
        mine = dispatch_choices(session, DISTRICT, case)
        assert (mine.suggested, mine.suggested_allowed) == ("dongcheng.sanitation", True)
        assert set(mine.allowed) == dongcheng  # a district: its own units only
        city = dispatch_choices(session, CITY, case)
        assert set(city.allowed) == dongcheng | city_units
        loose, _ = create_case(
            session, CITY, NewCase(source="phone", kind="event", class_code="0102"), "c-2"
        )
        nowhere = dispatch_choices(session, CITY, loose)
        assert set(nowhere.allowed) == city_units  # no district: city units only
        assert nowhere.suggested is None or nowhere.suggested_allowed == (
            nowhere.suggested in city_units
        )
        unclassified, _ = create_case(
            session, DISTRICT, NewCase(source="phone", district_code="110101"), "c-3"
        )
        assert dispatch_choices(session, DISTRICT, unclassified).suggested is None
