"""The calls of a case: dial numbers, recordings found from the call's row only."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.cases.case_calls import dial_number, recording_file
from hotline.models import Call


@pytest.mark.parametrize(
    ("phone", "dialled"),
    [
        ("13812345678", "13812345678"),
        (" 010-6512 3456 ", "01065123456"),
        ("+8613812345678", "008613812345678"),
        ("12", None),
        ("138abc", None),
        ("", None),
    ],
)
def test_dial_number(phone: str, dialled: str | None) -> None:
    assert dial_number(phone) == dialled


def test_recording_file(tmp_path: Path) -> None:
    call = Call(id=7, uniqueid="1700000000.5")
    assert recording_file(tmp_path, call) is None
    (tmp_path / "call-u1700000000.5.wav").write_bytes(b"RIFF")
    assert recording_file(tmp_path, call) == (tmp_path / "call-u1700000000.5.wav").resolve()
    (tmp_path / "call-7.wav").write_bytes(b"RIFF")  # the IVR named it: that one first
    assert recording_file(tmp_path, call) == (tmp_path / "call-7.wav").resolve()
    outside = tmp_path.parent / "call-u..wav"
    outside.write_bytes(b"RIFF")
    for uniqueid in ("../x", "..", "a/b", "x" * 65):
        assert recording_file(tmp_path, Call(id=8, uniqueid=uniqueid)) is None
