"""The demo's history: written through the case services (every step in each case's
history, states that follow from it), reproducible from its seed, its figures the same as
the indicators and reports computed from it (the callback requests too), and its mix file
checked like the rest of the data."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from hotline.calls import report_sql, reports
from hotline.cases import case_reports
from hotline.cases.indicators import SCOPES, compute, due_part, of_district
from hotline.cases.service import BEIJING
from hotline.db import make_engine, transaction
from hotline.demo_history import (
    HISTORY_MIX,
    KEY_PREFIX,
    demo_cases,
    generate_history,
    has_history,
    iter_demo_cases,
    load_mix,
)
from hotline.models import Call, CallEvent, Case, CaseHistory, User
from hotline.refdata.files import DataErrors
from tests.conftest import _clone

END = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
DAYS = 14
RE_DISPATCH = dt.timedelta(hours=4)  # the city dispatches a swept case again within this


def test_a_fortnight_through_the_services(loaded_engine: Engine) -> None:
    assert not has_history(loaded_engine)
    done = generate_history(loaded_engine, seed=7, end=END, days=DAYS, per_day=12)
    assert has_history(loaded_engine)
    assert done.cases > 100 and done.refused <= done.steps // 50
    with transaction(loaded_engine) as session:
        cases = list(iter_demo_cases(session))
        assert len(cases) == done.cases
        # The demo's key, or the IVR's for a callback request (it names the call).
        keys = [c.idempotency_key or "" for c in cases]
        assert all(k.startswith((KEY_PREFIX, "callback:")) for k in keys)
        states = Counter(c.state for c in cases)
        # The roads of a real fortnight: most closed, some still open, some on each side road.
        assert states["closed"] > done.cases / 2
        assert states["invalid"] + states["duplicate"] > 0
        assert {"dispatched", "in_progress", "handled"} & set(states)
        # Every step the services took is in its case's history, and nothing else is.
        written = Counter(
            dict(
                session.execute(
                    select(CaseHistory.action, func.count())
                    .join(Case, Case.id == CaseHistory.case_id)
                    .where(demo_cases())
                    .group_by(CaseHistory.action)
                ).all()
            )
        )
        for action, count in done.actions.items():
            if action == "decide_extension":
                assert written["approve_extension"] + written["refuse_extension"] == count
            else:
                assert written[action] == count, action
        assert written["overdue"] > 0  # the sweep ran on the simulated clock
        # A job that drags on is escalated by the sweep, and the city dispatches it again
        # within hours (before, such a case stayed in the city's 待派遣 for good).
        swept = session.execute(
            select(CaseHistory.case_id, CaseHistory.at).where(
                CaseHistory.actor == "system", CaseHistory.action == "escalate"
            )
        ).all()
        assert swept
        for case_id, at in swept:
            after = session.scalars(
                select(CaseHistory.action)
                .where(CaseHistory.case_id == case_id, CaseHistory.at > at)
                .order_by(CaseHistory.id)
            ).all()
            assert after[:1] == ["dispatch"] or at.replace(tzinfo=dt.UTC) > END - RE_DISPATCH, after
        # Everyone the history names is an account with a name to show on the pages.
        actors = set(
            session.scalars(
                select(CaseHistory.actor)
                .join(Case, Case.id == CaseHistory.case_id)
                .where(demo_cases())
            )
        ) - {"system", "ivr"}  # the pages name these two (系统, 语音导航)
        shown = dict(session.execute(select(User.username, User.display_name)).all())
        assert actors and all(shown.get(a) for a in actors), actors - set(shown)
        # The case's state is where its last step left it.
        last = dict(
            session.execute(
                select(Case.state, CaseHistory.to_state)
                .join(CaseHistory, CaseHistory.case_id == Case.id)
                .where(
                    CaseHistory.id
                    == select(func.max(CaseHistory.id))
                    .where(CaseHistory.case_id == Case.id)
                    .correlate(Case)
                    .scalar_subquery()
                )
            ).all()
        )
        assert all(state == to for state, to in last.items())
        # The evaluation's figures are the generated cases, counted (a callback request is
        # registered once the desk has called back, if it is a case at all).
        start = END - dt.timedelta(days=DAYS)
        city = compute(session, "city", start, END)
        registered = {
            h.case_id
            for h in session.scalars(
                select(CaseHistory).where(CaseHistory.to_state == "registered")
            )
            if h.action in ("create", "register")
        }
        assert sum(row.registered for row in city.values()) == len(registered)
        assert done.cases - done.callback_requests <= len(registered) < done.cases
        districts = compute(session, "district", start, END)
        # The kept figures' renewal reads a period once per scope and derives the rest: the
        # due jobs' figures, and each district's own (the same as computed on their own).
        for scope in SCOPES:
            full = compute(session, scope, start, END)
            assert due_part(full, scope) == compute(session, scope, start, END, due_only=True)
        for code in {c.district_code for c in cases if c.district_code} | {"110119"}:
            alone = compute(session, "district", start, END, code)
            assert of_district(districts, code) == alone
            due = compute(session, "district", start, END, code, due_only=True)
            assert due_part(of_district(districts, code), "district") == due
        by_district = Counter(c.district_code for c in cases if c.id in registered)
        assert {k: v.registered for k, v in districts.items() if v.registered} == dict(by_district)
        closed = sum(1 for c in cases if c.state == "closed")
        assert sum(row.closed for row in city.values()) == closed
        times = [c.created_at.replace(tzinfo=dt.UTC) for c in cases]
        assert start <= min(times) and max(times) <= END
        # The calls, as the IVR and the tracker write them: every one ended, with an outcome;
        # each phone case registered from an answered call of its caller.
        everything = session.scalars(select(Call).where(Call.uniqueid.like("demo-7-%"))).all()
        assert len(everything) == done.calls > 0
        assert all(c.ended_at is not None and c.outcome for c in everything)
        placed = {c.id: c for c in everything if c.route_target == "callback"}
        calls = [c for c in everything if c.id not in placed]  # the citizens' calls
        outcomes = Counter(c.outcome for c in calls)
        assert outcomes["answered"] > outcomes["abandoned_queue"] > 0
        assert outcomes["callback_requested"] > 0
        answered = {c.id: c for c in calls if c.outcome == "answered"}
        phone = [c for c in cases if c.source == "phone"]
        assert phone and all(c.call_id in answered for c in phone)
        assert all(answered[c.call_id].caller_number == c.citizen_phone for c in phone)
        # A callback request for every call that asked for one, and none other: made as the
        # IVR makes it, on that call, for its caller.
        asked = {c.id: c for c in calls if c.outcome == "callback_requested"}
        requests = [c for c in cases if c.source == "callback_request"]
        assert len(requests) == len(asked) == done.callback_requests
        assert sorted(c.call_id for c in requests) == sorted(asked)
        assert all(asked[c.call_id].caller_number == c.citizen_phone for c in requests)
        assert all(c.created_by == "ivr" and c.callback_consent for c in requests)
        # The caller left the queue by the key (no QueueCallerAbandon), before hanging up.
        kinds = Counter(
            session.scalars(select(CallEvent.kind).where(CallEvent.call_id.in_(list(asked))))
        )
        left = ("IvrStart", "IvrEnd", "QueueCallerJoin", "Hangup")
        assert kinds == dict.fromkeys(left, len(asked))
        _worked_as_the_desk_does(session, requests, asked, placed)
        # The reports count the same calls: a callback request is a call abandoned.
        figures = reports.compute(reports.load(session, start, END), dt.UTC)
        offered = sum(f.offered for f in figures["queue"].values())
        assert offered == len(calls)
        assert sum(f.answered for f in figures["queue"].values()) == outcomes["answered"]
        abandoned = outcomes["abandoned_queue"] + outcomes["callback_requested"]
        assert sum(f.abandoned for f in figures["queue"].values()) == abandoned
        in_sql = report_sql.figures(session, start, END, None, BEIJING)
        assert in_sql["queue"] == figures["queue"]
        # The case report receives each request as a case of its own source.
        by_source = case_reports.figures(session, "source", start, END)
        assert by_source["callback_request"].received == len(requests)
        assert by_source["phone"].received == len(phone)
        assert sum(f.received for f in by_source.values()) == done.cases


def _worked_as_the_desk_does(
    session: Any, requests: list[Case], asked: dict[int, Call], placed: dict[int, Call]
) -> None:
    """Platform staff call back (a call record, as from the case page) later the same day,
    or the next morning when asked after hours, then register the problem or close the
    request as not a case."""
    steps: dict[int, list[CaseHistory]] = {}
    for row in session.scalars(
        select(CaseHistory)
        .where(CaseHistory.case_id.in_([c.id for c in requests]))
        .order_by(CaseHistory.id)
    ):
        steps.setdefault(row.case_id, []).append(row)
    worked = Counter[str]()
    for case in requests:
        rows = steps[case.id]
        assert rows[0].action == "callback_request" and rows[0].actor == "ivr"
        if len(rows) == 1:  # asked in the last hours of the history: not called back yet
            assert case.state == "received"
            continue
        back = rows[1]
        assert back.action == "callback" and back.from_state == back.to_state == "received"
        call = placed[back.data["call"]]
        asked_at = _utc(asked[case.call_id].ended_at)
        called = _utc(call.created_at)
        assert call.caller_number == case.citizen_phone and call.agent == back.actor
        assert asked_at < called < asked_at + dt.timedelta(hours=24)
        assert 8 <= called.astimezone(BEIJING).hour < 20
        if len(rows) == 2:  # the callback ended at the end of the history
            continue
        decided = rows[2]
        assert _utc(call.ended_at) <= _utc(decided.at)
        assert decided.actor == back.actor and decided.action in ("register", "mark_invalid")
        assert decided.note.startswith("演示数据")  # the IVR's description does not say so
        worked[decided.action] += 1
        if decided.action == "register" and case.state not in ("registered", "invalid"):
            assert case.kind and case.class_code and case.district_code
    # Most asked about something they had reported or wanted to know; some brought a case.
    assert worked["register"] and worked["mark_invalid"], worked
    assert len(placed) == sum(worked.values())


def _utc(moment: dt.datetime | None) -> dt.datetime:
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def test_the_same_seed_writes_the_same_history(
    loaded_engine: Engine, backend: str, templates: Any, tmp_path: Path
) -> None:
    def fingerprint(engine: Engine) -> list[tuple[Any, ...]]:
        with transaction(engine) as session:
            cases = [
                (c.number, c.source, c.state, c.unit_code, c.grid_code, c.created_at)
                for c in iter_demo_cases(session)
            ]
            calls = session.execute(
                select(Call.uniqueid, Call.outcome, Call.created_at, Call.ended_at)
                .where(Call.uniqueid.like("demo-3-%"))
                .order_by(Call.id)
            ).all()
            steps = session.execute(
                select(Case.number, CaseHistory.action, CaseHistory.actor, CaseHistory.at)
                .join(Case, Case.id == CaseHistory.case_id)
                .order_by(CaseHistory.id)
            ).all()
            return [*cases, *map(tuple, calls), *map(tuple, steps)]

    # More callers leave a callback request than usual: a few days have some.
    mix = load_mix()
    mix = dataclasses.replace(mix, calls=dataclasses.replace(mix.calls, callback_share=1.0))
    first = generate_history(loaded_engine, mix, seed=3, end=END, days=3, per_day=6)
    assert first.callback_requests > 0
    other_dir = tmp_path / "again"
    other_dir.mkdir()
    clone = _clone(backend, templates.get(backend, loaded=True), other_dir)
    again = make_engine(next(clone))
    try:
        generate_history(again, mix, seed=3, end=END, days=3, per_day=6)
        assert fingerprint(again) == fingerprint(loaded_engine)
    finally:
        again.dispose()
        clone.close()


def test_the_mix_file_is_checked(tmp_path: Path) -> None:
    assert load_mix(HISTORY_MIX).per_day > 0
    bad = tmp_path / "history.toml"
    bad.write_text(
        HISTORY_MIX.read_text("utf-8")
        .replace("late = 0.12", "late = 1.5")
        .replace("phone = 55", "telephone = 55")
        .replace("callback_share = 0.4", "callback_share = 2")
        .replace("desk_hours = [8, 20]", "desk_hours = [20, 8]"),
        "utf-8",
    )
    with pytest.raises(DataErrors) as caught:
        load_mix(bad)
    text = str(caught.value)
    assert "history.toml" in text and "rates.late" in text and "sources.telephone" in text
    assert "calls.callback_share" in text and "calls.desk_hours" in text
