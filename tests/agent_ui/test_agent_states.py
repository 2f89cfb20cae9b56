"""Agents' phone states live in the database: every app instance reads the same."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from hotline.agent_states import LOGGED_OUT, load_states, record_state, state_of

T0 = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)


def test_state_is_recorded_then_replaced(engine: Engine) -> None:
    assert state_of(engine, "dc_agent").state == LOGGED_OUT
    first = record_state(engine, "dc_agent", "paused", "meal", at=T0)
    assert state_of(engine, "dc_agent") == first == ("paused", T0.timestamp(), "meal")
    later = T0 + dt.timedelta(minutes=30)
    record_state(engine, "dc_agent", "ready", at=later)
    assert state_of(engine, "dc_agent") == ("ready", later.timestamp(), "")


def test_load_states_returns_only_the_agents_asked_for(engine: Engine) -> None:
    record_state(engine, "a1", "ready", at=T0)
    record_state(engine, "a2", "wrapup", "after_call_work", at=T0)
    assert set(load_states(engine, ["a1", "nobody"])) == {"a1"}
    assert load_states(engine, []) == {}
    assert load_states(engine, ["a2"])["a2"].reason == "after_call_work"
