"""A broken flow file is rejected whole, naming file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hotline.refdata import DataErrors
from ivr.actions import OUTCOMES
from ivr.flow import load_flow

DATA = Path(__file__).parents[2] / "data" / "ivr"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(DATA, tmp_path / "ivr")
    return tmp_path / "ivr"


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if line == text)


@pytest.mark.parametrize(
    ("old", "new", "node", "field", "message"),
    [
        ('default = "locate"', 'default = "nowhere"', "greeting", "default", "unknown node"),
        ("timeout_ms = 1500", "timeout_ms = 9000", "greeting", "timeout_ms", "at most 5000"),
        ('action = "did_district"', 'action = "guess"', "by_did", "action", "unknown action"),
        (
            'outcomes = { found = "report", none = "by_did" }',
            'outcomes = { found = "report" }',
            "locate",
            "outcomes",
            "no node for 'none'",
        ),
        (
            'prompt = "district_menu"',
            'prompt = "nope"',
            "district_menu",
            "prompt",
            "no prompt 'nope'",
        ),
        ('intent = "status"', 'intent = "chat"', "status_to_agent", "intent", "one of"),
        ("max_digits = 2", "max_digits = 40", "district_menu", "max_digits", "1 to 20"),
        ('type = "play"', 'type = "dance"', "status_not_found", "type", "one of"),
        ('var = "district_key"', 'vars = "district_key"', "district_menu", "vars", "not a field"),
    ],
)
def test_broken_flow(copy: Path, old: str, new: str, node: str, field: str, message: str) -> None:
    path = copy / "flow.toml"
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")
    with pytest.raises(DataErrors) as caught:
        load_flow(path, copy / "prompts.csv", OUTCOMES)
    errors = [e for e in caught.value.errors if e.field == field and message in e.message]
    assert errors, [str(e) for e in caught.value.errors]
    assert errors[0].file == "flow.toml"
    assert errors[0].line == line_of(path, f"[nodes.{node}]")


def test_bad_toml(copy: Path) -> None:
    path = copy / "flow.toml"
    path.write_text("start = \n", "utf-8")
    with pytest.raises(DataErrors) as caught:
        load_flow(path, copy / "prompts.csv", OUTCOMES)
    assert caught.value.errors[0].line == 1


def test_bad_prompt_row(copy: Path) -> None:
    path = copy / "prompts.csv"
    text = path.read_text("utf-8").replace("greeting,城管热线", "Greeting!,城管热线")
    path.write_text(text, "utf-8")
    with pytest.raises(DataErrors) as caught:
        load_flow(copy / "flow.toml", path, OUTCOMES)
    assert any(e.file == "prompts.csv" and e.field == "key" for e in caught.value.errors)


def test_the_words_of_numbers_are_required(copy: Path) -> None:
    prompts = copy / "prompts.csv"
    lines = prompts.read_text("utf-8").splitlines()
    prompts.write_text("\n".join(x for x in lines if not x.startswith("hour_1")) + "\n", "utf-8")
    with pytest.raises(DataErrors) as caught:
        load_flow(copy / "flow.toml", prompts, OUTCOMES)
    message = str(caught.value)
    assert "prompts.csv" in message and "hour_1" in message and "key" in message


def test_the_language_is_checked(copy: Path) -> None:
    flow = copy / "flow.toml"
    flow.write_text(flow.read_text("utf-8").replace('language = "zh"', 'language = "fr"'))
    with pytest.raises(DataErrors) as caught:
        load_flow(flow, copy / "prompts.csv", OUTCOMES)
    assert "flow.toml" in str(caught.value) and "language" in str(caught.value)
