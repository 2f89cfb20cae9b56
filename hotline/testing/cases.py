"""Cases the tests start from, made through the services as a platform and a unit would."""

from __future__ import annotations

from sqlalchemy import Engine

from hotline.cases.calendar import load_calendar
from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction

DC_DISPATCHER = Actor("dc_dispatcher", "dispatcher", "110101")
DC_SANITATION = Actor("u", "unit", "110101", "dongcheng.sanitation")


def handled_case(engine: Engine, key: str, citizen: str, by: Actor = DC_DISPATCHER) -> str:
    """A Dongcheng rubbish case, registered by ``by``, the sanitation unit has reported
    handled (已反馈): the citizen ``citizen`` agreed to a callback. Its number."""
    new = NewCase(
        source="phone",
        kind="event",
        class_code="0102",
        district_code="110101",
        citizen_name="回访测试",
        citizen_phone=citizen,
        callback_consent=True,
    )
    with transaction(engine) as session:
        case, _ = create_case(session, by, new, key)
        calendar = load_calendar(session)
        for actor, action, data in (
            (DC_DISPATCHER, "dispatch", {"unit_code": "dongcheng.sanitation"}),
            (DC_SANITATION, "accept", {}),
            (DC_SANITATION, "report_handled", {"note": "已处理"}),
        ):
            case = transition(
                session, actor, case.number, action, case.version, data, calendar=calendar
            )
        return case.number
