"""Kept figures on both databases, on a controlled clock: a past period's are computed once
and kept for good; a running period's are kept while fresh, served stale while one refresh
runs behind the page, and computed while the page waits when older still."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hotline.cases import case_reports, kept_figures
from hotline.cases.indicators import compute
from hotline.db import session_factory, transaction
from hotline.models import Area, Case, IndicatorSnapshot
from hotline.periods import current
from tests.hotline.cases.test_indicators import END, START, Script, at, month

DECEMBER_END = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def _no_computing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("computed again")

    monkeypatch.setattr(kept_figures, "compute", refuse)


def test_a_past_period_is_computed_once_and_kept(
    loaded_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(loaded_engine) as session:
        month(session)
    now = at(2, 12, month=12)
    with transaction(loaded_engine) as session:
        first = kept_figures.figures(session, "unit", START, END, None, now)
        assert first.final and first.cut == END
        assert first.value == compute(session, "unit", START, END)
    _no_computing(monkeypatch)
    with transaction(loaded_engine) as session:
        again = kept_figures.figures(session, "unit", START, END, None, now + dt.timedelta(days=40))
    assert again.value == first.value and again.final
    with transaction(loaded_engine) as session:
        assert session.scalar(select(func.count()).select_from(IndicatorSnapshot)) == 1
        kept_figures.forget(session)
    with transaction(loaded_engine) as session:
        assert session.scalar(select(func.count()).select_from(IndicatorSnapshot)) == 0


def test_a_past_period_is_recomputed_from_the_cases_as_they_are_now(
    loaded_engine: Engine,
) -> None:
    """A case corrected after its month ended does not move the kept figures; a recompute
    drops them and computes them from the cases as they are now. A running period's renew
    themselves: nothing to recompute."""
    with transaction(loaded_engine) as session:
        month(session)
    now = at(2, 12, month=12)
    with transaction(loaded_engine) as session:
        first = kept_figures.figures(session, "district", START, END, None, now)
    assert set(first.value) == {"110101"} and first.computed_at == now
    with transaction(loaded_engine) as session:  # filed in the wrong district: corrected
        case = session.scalar(select(Case).where(Case.created_at < END).order_by(Case.id))
        assert case is not None
        case.district_code = "110102"
    later = now + dt.timedelta(days=3)
    with transaction(loaded_engine) as session:
        kept = kept_figures.figures(session, "district", START, END, None, later)
    assert kept.value == first.value and kept.computed_at == now
    key = kept_figures.snapshot_key("district", START, END, None, False)
    kind = kept_figures.evaluation("district", None)
    with transaction(loaded_engine) as session:
        again = kept_figures.recompute(session, key, kind, START, END, later)
        assert again.value == compute(session, "district", START, END)
    assert set(again.value) == {"110101", "110102"} and again.final
    assert again.value["110102"].registered == 1 and again.computed_at == later
    with transaction(loaded_engine) as session:
        assert kept_figures.figures(session, "district", START, END, None, later).value == (
            again.value
        )
        assert session.scalar(select(func.count()).select_from(IndicatorSnapshot)) == 1
        with pytest.raises(kept_figures.StillRunning):
            kept_figures.recompute(session, key, kind, START, END, at(30, 12))


def test_each_scope_district_and_kind_is_kept_apart(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        month(session)
    now = at(2, 12, month=12)
    with transaction(loaded_engine) as session:
        for scope in ("city", "district", "unit", "class"):
            for district in (None, "110101", "110102"):
                got = kept_figures.figures(session, scope, START, END, district, now)
                assert got.value == compute(session, scope, START, END, district)
                due = kept_figures.figures(session, scope, START, END, district, now, due_only=True)
                assert due.value == compute(session, scope, START, END, district, due_only=True)


def test_a_running_period_is_renewed_when_no_longer_fresh(
    loaded_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    december = at(1, 0, month=12)
    with transaction(loaded_engine) as session:
        month(session)
    refreshes: list[tuple[object, Callable[[], None]]] = []

    def behind(key: object, job: Callable[[], None]) -> None:
        refreshes.append((key, job))

    def ask(session: Session, now: dt.datetime) -> kept_figures.Figures:
        return kept_figures.figures(
            session,
            "city",
            december,
            DECEMBER_END,
            None,
            now,
            fresh=dt.timedelta(minutes=5),
            stale=dt.timedelta(hours=2),
            behind=behind,
            refresh=session_factory(loaded_engine),
        )

    nine = at(2, 9, month=12)
    with transaction(loaded_engine) as session:
        first = ask(session, nine)
    assert not first.final and first.cut == nine
    # Work done after nine o'clock: a new case is registered in December.
    with transaction(loaded_engine) as session:
        script = Script(session)
        script.count = 100  # keys apart from the month's cases
        script.new(nine + dt.timedelta(minutes=1))
    # Fresh for five minutes: the same figures, to nine o'clock, nothing computed.
    with monkeypatch.context() as patched:
        _no_computing(patched)
        with transaction(loaded_engine) as session:
            kept = ask(session, nine + dt.timedelta(minutes=4))
    assert kept.value == first.value and kept.cut == nine and not refreshes
    # Ten minutes on: still served at once, and one refresh is asked for behind the page.
    with transaction(loaded_engine) as session:
        stale = ask(session, nine + dt.timedelta(minutes=10))
    assert stale.value == first.value and len(refreshes) == 1
    refreshes[0][1]()  # the refresh computes to the real now: the new case counts
    with transaction(loaded_engine) as session:
        row = session.get(IndicatorSnapshot, refreshes[0][0])
        assert row is not None
        assert row.figures["city"]["registered"] == first.value["city"].registered + 1
    # Hours later the kept figures are too old to be shown: computed while the page waits.
    later = nine + dt.timedelta(hours=3)
    with transaction(loaded_engine) as session:
        session.execute(
            IndicatorSnapshot.__table__.update().values(cut=nine)  # as if never refreshed
        )
    with transaction(loaded_engine) as session:
        waited = ask(session, later)
    assert waited.cut == later and waited.value["city"].registered == (
        first.value["city"].registered + 1
    )
    assert len(refreshes) == 1


def test_the_pages_default_figures_are_renewed_ahead_of_them(
    loaded_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The renewal job keeps this month's figures of every view a page opens on, and the
    month before's once, and the year's figures and case report once an hour: the first page
    of the morning computes nothing."""
    with transaction(loaded_engine) as session:
        month(session)
    zone = ZoneInfo("UTC")  # month bounds as the hand count's
    now = at(2, 12, month=12)
    with transaction(loaded_engine) as session:
        districts = session.scalars(select(Area.code).where(Area.level == "district")).all()
    views = kept_figures.default_views(list(districts))
    assert ("month", "district", "110101", False) in views and (
        "month",
        "unit",
        None,
        True,
    ) in views
    months = sum(1 for kind, *_ in views if kind == "month")
    years = len(views) - months
    reports = 1 + len(districts)  # this month's case report, the city's and each district's
    first = kept_figures.renew_running(loaded_engine, zone, now)
    assert first == 2 * months + years + 2 * reports  # the month's reports and the year's
    later = now + dt.timedelta(minutes=5)
    renewed = kept_figures.renew_running(loaded_engine, zone, later)
    assert renewed == months + reports  # November's are kept for good, the year's an hour
    _no_computing(monkeypatch)
    year = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), DECEMBER_END)
    december = (at(1, 0, month=12), DECEMBER_END)
    with transaction(loaded_engine) as session:
        for kind, scope, district, due_only in views:
            for start, end in ((START, END), december) if kind == "month" else (year,):
                got = kept_figures.figures(
                    session, scope, start, end, district, later + dt.timedelta(minutes=1),
                    due_only=due_only, fresh=kept_figures.YEAR_EVERY,
                )  # fmt: skip
                assert got.cut == (END if end == END else later if kind == "month" else now)
                # Derived from the city's figures by scope, the same as computed alone.
                alone = compute(session, scope, start, got.cut, district, due_only=due_only)
                assert got.value == alone, (kind, scope, district, due_only)
        december_period = current("month", zone, later)
        for district in (None, *districts):
            key, kind = kept_figures.case_report(december_period, district)
            report = kept_figures.kept(session, key, kind, *december, later)
            assert report.cut == later
            assert report.value == case_reports.report(session, december_period, later, district)
            key, kind = kept_figures.case_report(current("year", zone, later), district)
            assert kept_figures.kept(session, key, kind, *year, later).cut == now
    monkeypatch.undo()
    an_hour = now + kept_figures.YEAR_EVERY
    assert kept_figures.renew_running(loaded_engine, zone, an_hour) == len(views) + 2 * reports
