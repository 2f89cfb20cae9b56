from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from hotline.cases.callback import request_callback
from hotline.cases.numbers import next_case_number
from hotline.db import transaction
from hotline.models import CaseHistory

DAY = dt.date(2026, 11, 28)


def test_numbers_run_per_day(engine: Engine) -> None:
    with transaction(engine) as session:
        first = [next_case_number(session, DAY) for _ in range(3)]
        other = next_case_number(session, DAY + dt.timedelta(days=1))
    assert first == ["2611280001", "2611280002", "2611280003"]
    assert other == "2611290001"


def test_concurrent_numbers_are_unique(engine: Engine) -> None:
    numbers: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(10):
            with transaction(engine) as session:
                number = next_case_number(session, DAY)
            with lock:
                numbers.append(number)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(numbers) == 40 and len(set(numbers)) == 40


def test_rolled_back_numbers(engine: Engine) -> None:
    """On PostgreSQL a number is taken outside the registration's transaction (so the
    counter is never locked for a whole registration): a rollback leaves a gap. On SQLite
    it is taken inside, and a rollback gives it back."""
    with pytest.raises(RuntimeError), transaction(engine) as session:
        assert next_case_number(session, DAY) == "2611280001"
        raise RuntimeError("the registration fails after taking its number")
    with transaction(engine) as session:
        after = next_case_number(session, DAY)
    assert after == ("2611280002" if engine.dialect.name == "postgresql" else "2611280001")


def test_callback_request_once_per_call(engine: Engine) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    with transaction(engine) as session:
        case = request_callback(
            session,
            call_id=None,
            caller="13800000000",
            queue="hotline-city",
            uniqueid="u-1",
            zone=zone,
        )
        again = request_callback(
            session,
            call_id=None,
            caller="13800000000",
            queue="hotline-city",
            uniqueid="u-1",
            zone=zone,
        )
        assert again.id == case.id
        assert (case.source, case.state, case.kind) == ("callback_request", "received", None)
        assert (case.district_code, case.platform_level) == (None, "city")  # the city's queue
        history = session.scalars(select(CaseHistory).where(CaseHistory.case_id == case.id)).all()
        assert [(h.action, h.to_state) for h in history] == [("callback_request", "received")]
