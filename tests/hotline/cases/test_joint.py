"""Joint jobs: the city platform adds assisting units; the lead keeps the case, assisting
units see only their part and report it done; everything is in the history."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from hotline.cases.calendar import load_calendar
from hotline.cases.joint import assign_joint, assist_done, assisting_jobs
from hotline.cases.service import Actor, CaseError, NewCase, create_case, get_case, transition
from hotline.db import transaction
from hotline.models import CaseHistory, Notification, OutboxEvent

AGENT = Actor("dc_dispatcher", "dispatcher", "110101")
DC_SUPER = Actor("dc_super", "supervisor", "110101")
CITY = Actor("city_super", "supervisor", "110000")
LEAD = Actor("lead", "unit", "110101", "dongcheng.sanitation")
WATER = Actor("water", "unit", "110000", "bj.water_supply")


def dispatched(engine: Engine) -> str:
    with transaction(engine) as session:
        case, _ = create_case(
            session,
            AGENT,
            NewCase(source="phone", kind="event", class_code="0102", district_code="110101"),
            "joint",
        )
        transition(
            session,
            AGENT,
            case.number,
            "dispatch",
            1,
            {"unit_code": "auto"},
            calendar=load_calendar(session),
        )
        return case.number


def test_a_joint_job(loaded_engine: Engine) -> None:
    number = dispatched(loaded_engine)
    with transaction(loaded_engine) as session:
        with pytest.raises(CaseError) as refused:
            assign_joint(session, DC_SUPER, number, 2, ["bj.water_supply"])
        assert refused.value.status == 403  # a district platform cannot
        with pytest.raises(CaseError) as unknown:
            assign_joint(session, CITY, number, 2, ["no.such.unit"])
        assert unknown.value.status == 422
        with pytest.raises(CaseError) as stale:
            assign_joint(session, CITY, number, 1, ["bj.water_supply"])
        assert stale.value.error_id == "case-conflict"
    with transaction(loaded_engine) as session:
        case = assign_joint(session, CITY, number, 2, ["bj.water_supply", "dongcheng.sanitation"])
        assert case.unit_code == "dongcheng.sanitation" and case.version == 3  # the lead stays
    with transaction(loaded_engine) as session:
        (job,) = assisting_jobs(session, "bj.water_supply")
        assert (job.number, job.lead_unit, job.done) == (number, "dongcheng.sanitation", False)
        assert assisting_jobs(session, "dongcheng.sanitation") == []  # the lead is not its helper
        with pytest.raises(CaseError):
            get_case(session, WATER, number)  # no way into the lead's actions
        notified = session.scalars(
            select(Notification.unit_code).where(Notification.kind == "joint")
        ).all()
        assert notified == ["bj.water_supply"]
    with transaction(loaded_engine) as session:
        assist_done(session, WATER, number, "已关闭上游阀门")
    with transaction(loaded_engine) as session:
        with pytest.raises(CaseError) as twice:
            assist_done(session, WATER, number, "again")
        assert twice.value.status == 409
        with pytest.raises(CaseError) as stranger:
            assist_done(session, Actor("p", "unit", "110000", "bj.parks"), number, "")
        assert stranger.value.status == 404
        history = session.execute(
            select(CaseHistory.action, CaseHistory.data).order_by(CaseHistory.id)
        ).all()
        assert [a for a, _ in history][-2:] == ["joint_job", "assist_done"]
        assert history[-2][1] == {"lead": "dongcheng.sanitation", "assisting": ["bj.water_supply"]}
        kinds = session.scalars(select(OutboxEvent.kind).order_by(OutboxEvent.id)).all()
        assert kinds[-2:] == ["joint_job", "assist_done"]  # the external system hears it
    with transaction(loaded_engine) as session:
        transition(session, LEAD, number, "accept", 3)  # the lead goes on as before
