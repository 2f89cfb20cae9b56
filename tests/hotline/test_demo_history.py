"""The demo's history: written through the case services (every step in each case's
history, states that follow from it), reproducible from its seed, its figures the same as
the indicators computed from it, and its mix file checked like the rest of the data."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from hotline.calls import reports
from hotline.cases.indicators import compute
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
from hotline.models import Call, Case, CaseHistory, User
from hotline.refdata.files import DataErrors
from tests.conftest import _clone

END = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
DAYS = 14


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
        # The reports count the same calls.
        figures = reports.compute(reports.load(session, start, END), dt.UTC)
        offered = sum(f.offered for f in figures["queue"].values())
        assert offered == len(calls)
        assert sum(f.answered for f in figures["queue"].values()) == outcomes["answered"]


def test_the_same_seed_writes_the_same_history(
    loaded_engine: Engine, backend: str, templates: Any, tmp_path: Path
) -> None:
    def fingerprint(engine: Engine) -> list[tuple[str, str, str | None, str | None]]:
        with transaction(engine) as session:
            return [(c.number, c.state, c.unit_code, c.grid_code) for c in iter_demo_cases(session)]

    generate_history(loaded_engine, seed=3, end=END, days=3, per_day=6)
    other_dir = tmp_path / "again"
    other_dir.mkdir()
    clone = _clone(backend, templates.get(backend, loaded=True), other_dir)
    again = make_engine(next(clone))
    try:
        generate_history(again, seed=3, end=END, days=3, per_day=6)
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
