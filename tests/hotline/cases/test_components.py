"""A case about a component (部件): the component must exist in the case's district, and
its owner unit takes the case before the class rule (on registration and on dispatch)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from hotline.cases.service import Actor, CaseError, NewCase, create_case, transition
from hotline.db import transaction
from hotline.models import Component

DISPATCHER = Actor("dc_dispatcher", "dispatcher", "110101")
# A storm drain cover (0103): the class rule sends it to bj.drainage; this one (every tenth
# in the demo census) is owned by Dongcheng's municipal works.
OWNED_OTHERWISE = "1101010103000010"
RULE_OWNED = "1101010103000001"


def _new(component: str | None, dispatch_to: str | None = None) -> NewCase:
    return NewCase(
        source="phone",
        kind="component",
        class_code="0103",
        district_code="110101",
        component_id=component,
        dispatch_to=dispatch_to,
    )


def test_owner_unit_before_the_class_rule(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        owned, _ = create_case(session, DISPATCHER, _new(OWNED_OTHERWISE, "auto"), "c-1")
        city = Actor("city_dispatcher", "dispatcher", "110000")  # bj.drainage is the city's
        ruled, _ = create_case(session, city, _new(RULE_OWNED, "auto"), "c-2")
        plain, _ = create_case(session, city, _new(None, "auto"), "c-3")
        later, _ = create_case(session, DISPATCHER, _new(OWNED_OTHERWISE), "c-4")
        assert (owned.unit_code, owned.component_id) == ("dongcheng.municipal", OWNED_OTHERWISE)
        assert ruled.unit_code == plain.unit_code == "bj.drainage"
        number, version = later.number, later.version
    with transaction(loaded_engine) as session:
        done = transition(session, DISPATCHER, number, "dispatch", version, {"unit_code": "auto"})
        assert done.unit_code == "dongcheng.municipal"


@pytest.mark.parametrize(
    ("component", "district"),
    [("1101010103999999", "110101"), (OWNED_OTHERWISE, "110102")],  # unknown; elsewhere
)
def test_bad_component_refused(loaded_engine: Engine, component: str, district: str) -> None:
    city = Actor("city_dispatcher", "dispatcher", "110000")
    new = _new(component)
    new.district_code = district
    with transaction(loaded_engine) as session, pytest.raises(CaseError) as caught:
        create_case(session, city, new, None)
    assert (caught.value.error_id, caught.value.status, caught.value.field) == (
        "case-bad-component",
        422,
        "component_id",
    )


def test_a_component_places_the_case(loaded_engine: Engine) -> None:
    """Its id typed from the plate and nothing of the place: the case is where it is."""
    city_agent = Actor("city_agent", "agent", "110000")
    new = _new(RULE_OWNED)
    new.district_code = None
    with transaction(loaded_engine) as session:
        case, _ = create_case(session, city_agent, new, "placed")
        component = session.get(Component, RULE_OWNED)
        assert component is not None
        assert (case.district_code, case.grid_code, case.lon, case.lat) == (
            component.district_code,
            component.grid_code,
            component.lon,
            component.lat,
        )
