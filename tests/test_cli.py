"""The ``hotline`` command as an operator runs it (a real subprocess)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from hotline.db import transaction
from hotline.testing.pbx import free_port
from hotline.testing.snapshot import snapshot

HOTLINE = [sys.executable, "-m", "hotline"]


def run(args: list[str], db_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    environment |= {"HOTLINE_DATABASE_URL": db_url, **env}
    return subprocess.run(
        [*HOTLINE, *args], capture_output=True, text=True, env=environment, timeout=120, check=False
    )


def test_data_load_broken_file(engine: Engine, db_url: str, reference_copy: Path) -> None:
    assert run(["data", "load", str(reference_copy)], db_url).returncode == 0
    before = snapshot(engine)
    areas = reference_copy / "areas.csv"
    areas.write_text(
        areas.read_text("utf-8").replace(
            "110119,district,110000,延庆区", "110119,district,110000,"
        ),
        "utf-8",
    )
    result = run(["data", "load", str(reference_copy)], db_url)
    assert result.returncode == 1
    line = next(
        n
        for n, text in enumerate(areas.read_text("utf-8").splitlines(), 1)
        if text.startswith("110119,")
    )
    assert f"error: areas.csv:{line}: name_zh: String should have at least 1 character" in (
        result.stderr
    )
    assert "nothing was changed" in result.stderr
    assert snapshot(engine) == before


def test_data_load_twice(engine: Engine, db_url: str) -> None:
    first = run(["data", "load"], db_url)
    assert first.returncode == 0, first.stderr
    assert "grid_cells: 11701 added" in first.stdout
    second = run(["data", "load"], db_url)
    assert " 0 added, 0 updated, 0 removed" in second.stdout
    assert "added, 0" in second.stdout and " 1 added" not in second.stdout


def test_user_add_and_grid_locate(loaded_db_url: str) -> None:
    result = run(
        ["user", "add", "boss", "--role", "admin", "--scope", "110000"],
        loaded_db_url,
        HOTLINE_NEW_PASSWORD="a-long-password",
    )
    assert result.returncode == 0, result.stderr
    again = run(
        ["user", "add", "boss", "--role", "admin", "--scope", "110000"],
        loaded_db_url,
        HOTLINE_NEW_PASSWORD="a-long-password",
    )
    assert again.returncode == 1 and "username: boss exists" in again.stderr
    located = run(["grid", "locate", "116.406", "39.9175"], loaded_db_url)
    assert located.stdout.strip() == "110101001001001"
    outside = run(["grid", "locate", "100", "30"], loaded_db_url)
    assert outside.returncode == 1


def test_missing_config_file(tmp_path: Path) -> None:
    result = run(["--config", str(tmp_path / "none.toml"), "data", "check"], "sqlite://")
    assert result.returncode == 2
    assert "config file not found" in result.stderr
    after = run(["serve", "--config", str(tmp_path / "none.toml")], "sqlite://")
    assert after.returncode == 2 and "config file not found" in after.stderr


def test_token_add(loaded_db_url: str) -> None:
    made = run(["token", "add", "dc-sanitation", "--unit", "dongcheng.sanitation"], loaded_db_url)
    assert made.returncode == 0 and made.stdout.startswith("htl_")
    bad = run(["token", "add", "x", "--scope", "110101001"], loaded_db_url)
    assert bad.returncode == 1 and "scope:" in bad.stderr


def test_sip_password_for_a_softphone(tmp_path: Path) -> None:
    from dialplan.render import sip_password

    url = f"sqlite:///{tmp_path / 'none.db'}"
    shown = run(["dialplan", "sip-password", "agent1001"], url, HOTLINE_SIP_SECRET="s3cret")
    assert shown.returncode == 0 and shown.stdout.strip() == sip_password("s3cret", "agent1001")
    missing = run(["dialplan", "sip-password", "agent1001"], url)
    assert missing.returncode == 1 and "sip_secret is not set" in missing.stderr


def test_speech_check(
    loaded_engine: Engine, loaded_db_url: str, vosk_model: Path, tmp_path: Path
) -> None:
    from hotline.models import GazetteerEntry
    from hotline.testing.speech import say

    with transaction(loaded_engine) as session:
        session.add(GazetteerEntry(kind="landmark", name_zh="노원구", area_code="110101"))
    wav = say("노원구", tmp_path / "nowon.wav")
    done = run(["speech", "check", str(vosk_model), "--wav", str(wav)], loaded_db_url)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "heard '노원구' -> 110101" in done.stdout and "real-time factor" in done.stdout
    missing = run(["speech", "check", str(tmp_path / "nothing")], loaded_db_url)
    assert missing.returncode == 1 and "cannot load a Vosk model" in missing.stderr


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What the command said to the person: no traceback, and one ``error:`` line."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr and 'File "' not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_a_database_never_migrated_is_one_line(empty_db_url: str) -> None:
    shown = make_url(empty_db_url).render_as_string(hide_password=True)
    result = run(["grid", "locate", "116.406", "39.9175"], empty_db_url)
    assert error_lines(result) == [
        f"error: the database at {shown} is not set up: run `hotline db upgrade`"
    ], result.stderr
    assert result.stderr.count("\n") == 1  # nothing else at all


def test_an_unreachable_database_is_one_line() -> None:
    url = f"postgresql+psycopg://hotline:s3cret@127.0.0.1:{free_port()}/hotline"
    result = run(["grid", "locate", "116.406", "39.9175"], url)
    (line,) = error_lines(result)
    assert line.startswith(
        f"error: cannot reach the database at {url.replace('s3cret', '***')}: "
    ), line
    assert "s3cret" not in result.stderr


def test_a_bad_setting_is_one_line() -> None:
    result = run(["grid", "locate", "116.406", "39.9175"], "sqlite://", HOTLINE_WEB__PORT="abc")
    (line,) = error_lines(result)
    assert line.startswith("error: the configuration is not valid: web.port: "), line


def test_serve_with_its_port_taken_is_one_line(sqlite_loaded_db_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(
            ["serve"],
            sqlite_loaded_db_url,
            HOTLINE_FASTAGI__PORT=str(port),
            HOTLINE_WEB__PORT=str(free_port()),
        )
    (line,) = error_lines(result)
    assert "address already in use" in line and str(port) in line, line


def test_ivr_budgets(tmp_path: Path) -> None:
    import wave

    from ivr.entry import load_ivr

    sounds = tmp_path / "sounds"
    (sounds / "zh").mkdir(parents=True)
    for key in load_ivr().prompts:
        with wave.open(str(sounds / "zh" / f"{key}.wav"), "wb") as audio:
            audio.setparams((1, 2, 8000, 0, "NONE", "not compressed"))
            audio.writeframes(b"\0\0" * int(8000 * (4.0 if key == "greeting" else 0.5)))
    url = f"sqlite:///{tmp_path / 'none.db'}"
    shown = run(["ivr", "budgets", "--sounds", str(sounds)], url)
    assert shown.returncode == 0, shown.stderr
    assert "unknown caller, no key" in shown.stdout and "OVER BUDGET" not in shown.stdout
    checked = run(["data", "check", "--sounds", str(sounds)], url)
    assert checked.returncode == 0 and "ivr: " in checked.stdout and checked.stderr == ""
    with wave.open(str(sounds / "zh" / "greeting.wav"), "wb") as audio:  # 9 s: too long
        audio.setparams((1, 2, 8000, 0, "NONE", "not compressed"))
        audio.writeframes(b"\0\0" * 8000 * 9)
    over = run(["ivr", "budgets", "--sounds", str(sounds)], url)
    assert over.returncode == 1 and "OVER BUDGET" in over.stdout
    warned = run(["data", "check", "--sounds", str(sounds)], url)
    assert warned.returncode == 0
    assert "warning: ivr budgets: unknown caller, no key: worst case 11.3 s" in warned.stderr
    (sounds / "zh" / "greeting.wav").unlink()
    missing = run(["ivr", "budgets", "--sounds", str(sounds)], url)
    assert missing.returncode == 1 and "greeting" in missing.stderr


def test_demo_history_once_per_seed(sqlite_loaded_db_url: str) -> None:
    first = run(["demo", "history", "--days", "2", "--per-day", "4"], sqlite_loaded_db_url)
    assert first.returncode == 0, first.stderr
    assert "cases" in first.stdout and "calls" in first.stdout
    again = run(["demo", "history", "--days", "2", "--per-day", "4"], sqlite_loaded_db_url)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines()[-1] == (
        "error: the history of seed 1 is in the database already"
    )
    # --cases copies it in bulk to a city's volume (tests/hotline/test_demo_bulk.py), once.
    bulk = run(["demo", "history", "--cases", "60", "--calls-per-case", "3"], sqlite_loaded_db_url)
    assert bulk.returncode == 0, bulk.stderr
    assert "copies:" in bulk.stdout
    twice = run(["demo", "history", "--cases", "120"], sqlite_loaded_db_url)
    assert twice.returncode == 1
    assert twice.stderr.strip().splitlines()[-1] == (
        "error: the history of seed 1 has been copied already"
    )


def test_calls_close_node(db_url: str, engine: Engine) -> None:
    """A node gone for good: its open records closed by hand; refused while its AMI port
    answers (the app closes a live node's records from its own channels)."""
    from hotline.models import Call, CallEvent

    with transaction(engine) as session:
        session.add(Call(uniqueid="lost-1", linkedid="lost-1", node="node-z", queue="q"))
        session.add(Call(uniqueid="kept-1", linkedid="kept-1", node="node-y"))
    with socket.socket() as listening:  # node-y's AMI port answers
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        nodes = (
            f'[{{"name": "node-y", "port": {port}, "secret": "x"}},'
            f' {{"name": "node-z", "port": {free_port()}, "secret": "x"}}]'
        )
        refused = run(["calls", "close-node", "node-y"], db_url, HOTLINE_AMI=nodes)
        assert refused.returncode == 1
        assert f"node node-y answers on 127.0.0.1:{port}" in refused.stderr
    bad = run(["calls", "close-node", "node-z", "--at", "yesterday"], db_url, HOTLINE_AMI=nodes)
    assert bad.returncode == 2 and "not an ISO 8601 time" in bad.stderr
    done = run(
        ["calls", "close-node", "node-z", "--at", "2026-12-03T03:00+08:00"],
        db_url,
        HOTLINE_AMI=nodes,
    )
    assert done.returncode == 0, done.stderr
    assert "closed 1 call records of node node-z" in done.stdout
    with transaction(engine) as session:
        calls = {c.uniqueid: c for c in session.scalars(select(Call))}
        assert calls["lost-1"].outcome == "node_lost" and calls["lost-1"].ended_at is not None
        assert calls["kept-1"].ended_at is None
        detail = session.scalars(select(CallEvent.detail).where(CallEvent.kind == "NodeLost")).one()
        assert detail["by"] == "operator" and detail["lost_at"] == "2026-12-02T19:00:00+00:00"
