"""Case numbers a citizen can key on a phone: ``YYMMDD`` + a daily sequence of at least four
digits (``2611280001``). The counter row is updated in the caller's transaction, so two
concurrent registrations never get the same number (on PostgreSQL the UPDATE locks the row;
SQLite serialises writers)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.models import CaseCounter


def next_case_number(session: Session, today: dt.date) -> str:
    day = today.strftime("%y%m%d")
    for _ in range(3):
        last = session.execute(
            update(CaseCounter)
            .where(CaseCounter.day == day)
            .values(last=CaseCounter.last + 1)
            .returning(CaseCounter.last)
        ).scalar_one_or_none()
        if last is not None:
            return f"{day}{last:04d}"
        try:
            with session.begin_nested():
                session.execute(insert(CaseCounter).values(day=day, last=1))
            return f"{day}0001"
        except IntegrityError:
            continue  # another transaction created today's row first: take the next number
    raise RuntimeError(f"could not allocate a case number for {day}")


def numbers_issued(session: Session, today: dt.date) -> int:
    value = session.scalar(
        select(CaseCounter.last).where(CaseCounter.day == today.strftime("%y%m%d"))
    )
    return value or 0
