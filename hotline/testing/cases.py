"""Cases the tests start from, made through the services as a platform and a unit would."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from hotline.cases.calendar import load_calendar
from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction

DC_DISPATCHER = Actor("dc_dispatcher", "dispatcher", "110101")
DC_SANITATION = Actor("u", "unit", "110101", "dongcheng.sanitation")
DC_SUPERVISOR = Actor("dc_super", "supervisor", "110101")
CITY_ZONE = dt.timezone(dt.timedelta(hours=8))  # the demo city's (Beijing has no DST)


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


def ledger_month(engine: Engine, put_on: int, resumed: int) -> tuple[str, list[str]]:
    """Last month (the city's): ``put_on`` Dongcheng cases put on the ledger an hour apart,
    the first ``resumed`` of them taken off again. The month ("2026-11") and the numbers,
    oldest first."""
    this_month = dt.datetime.now(CITY_ZONE).replace(day=1, hour=0, minute=0, second=0)
    first = (this_month - dt.timedelta(days=1)).replace(day=1, microsecond=0)
    numbers = []
    with transaction(engine) as session:
        for i in range(put_on):
            moment = (first + dt.timedelta(hours=i + 1)).astimezone(dt.UTC)
            new = NewCase(source="phone", kind="event", class_code="0102", district_code="110101")
            case, _ = create_case(session, DC_DISPATCHER, new, f"ledger-{i}", now=moment)
            steps = [
                (DC_DISPATCHER, "dispatch", {"unit_code": "dongcheng.sanitation"}),
                (DC_SANITATION, "accept", {}),
                (DC_SUPERVISOR, "to_ledger", {"note": f"需统一改造（{i + 1}）"}),
            ]
            if i < resumed:
                steps.append((DC_SUPERVISOR, "resume", {"note": "具备处置条件"}))
            for actor, action, data in steps:
                case = transition(
                    session, actor, case.number, action, case.version, data, now=moment
                )
            numbers.append(case.number)
    return f"{first:%Y-%m}", numbers
