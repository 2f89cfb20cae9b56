"""Reference data an operator edits: read and check the files, then write them in one go."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from hotline.db import transaction
from hotline.refdata.apply import Counts, apply_reference_data
from hotline.refdata.files import DataError, DataErrors
from hotline.refdata.validate import FILES, ReferenceData, read_reference_data

__all__ = [
    "FILES",
    "Counts",
    "DataError",
    "DataErrors",
    "ReferenceData",
    "load_reference_data",
    "read_reference_data",
]


def load_reference_data(engine: Engine, directory: Path) -> dict[str, Counts]:
    """Validate every file in ``directory``, then apply them in one transaction.

    Raises :class:`DataErrors` before any write when a file is broken.
    """
    from hotline.cases.reference import forget_reference

    data = read_reference_data(directory)
    with transaction(engine) as session:
        summary = apply_reference_data(session, data)
    forget_reference()
    return summary
