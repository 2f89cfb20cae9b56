from __future__ import annotations

from pathlib import Path

import pytest

from hotline.settings import ConfigFileError, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    # load_settings(FILE) sets HOTLINE_CONFIG: set here first, so that it is undone after
    # the test (the sample config's placeholder token must not reach other tests).
    monkeypatch.setenv("HOTLINE_CONFIG", "")
    for key in list(os.environ):
        if key.startswith("HOTLINE_"):
            monkeypatch.delenv(key)


def test_defaults_run_the_embedded_demo() -> None:
    settings = load_settings()
    assert settings.database_url.startswith("sqlite:///")
    assert (settings.web.port, settings.fastagi.port) == (8000, 4573)
    assert settings.hotline_number == "12319"


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text(
        'database_url = "postgresql+psycopg://h@db/hotline"\n'
        'emergency_dial = "PJSIP/110@ecc"\n'
        "[web]\nport = 9000\n"
        '[[ami]]\nname = "a"\nhost = "10.0.0.1"\nsecret = "s1"\n'
        '[[ami]]\nname = "b"\nhost = "10.0.0.2"\nsecret = "s2"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HOTLINE_WEB__PORT", "9100")
    settings = load_settings(config)
    assert settings.database_url == "postgresql+psycopg://h@db/hotline"
    assert settings.web.port == 9100  # the environment wins over the file
    assert [n.host for n in settings.ami] == ["10.0.0.1", "10.0.0.2"]
    assert settings.ami[1].secret.get_secret_value() == "s2"
    assert "s2" not in repr(settings)  # secrets never printed


def test_hotline_config_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text('hotline_number = "96310"\n', encoding="utf-8")
    monkeypatch.setenv("HOTLINE_CONFIG", str(config))
    assert load_settings().hotline_number == "96310"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_bad_value(tmp_path: Path) -> None:
    from pydantic import ValidationError

    config = tmp_path / "c.toml"
    config.write_text('hotline_number = "12-319"\n', encoding="utf-8")
    with pytest.raises(ValidationError, match="hotline_number"):
        load_settings(config)


def test_sample_config_is_valid_once_its_token_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """The production template asks for a metrics token of the operator's own: as copied,
    it refuses to load, naming the key; with one set, it is valid."""
    from pydantic import ValidationError

    sample = Path(__file__).parents[2] / "config" / "hotline.sample.toml"
    monkeypatch.delenv("HOTLINE_METRICS_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="metrics_token"):
        load_settings(sample)
    monkeypatch.setenv("HOTLINE_METRICS_TOKEN", "a-long-random-token")
    settings = load_settings(sample)
    assert settings.ami[0].secret.get_secret_value() == ""
    assert settings.metrics_token.get_secret_value() == "a-long-random-token"


def test_a_host_alone_keeps_the_default_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """The container images set only the hosts (HOTLINE_WEB__HOST=0.0.0.0)."""
    monkeypatch.setenv("HOTLINE_WEB__HOST", "0.0.0.0")
    monkeypatch.setenv("HOTLINE_FASTAGI__HOST", "0.0.0.0")
    settings = Settings()
    assert (settings.web.host, settings.web.port) == ("0.0.0.0", 8000)
    assert (settings.fastagi.host, settings.fastagi.port) == ("0.0.0.0", 4573)


def test_rtp_range_must_be_a_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_RTP_START", "20000")
    monkeypatch.setenv("HOTLINE_RTP_END", "10000")
    with pytest.raises(ValueError, match="rtp_end must be above rtp_start"):
        Settings()


@pytest.mark.parametrize(
    "value",
    ["[117.6, 39.4, 115.4, 41.1]", "[115.4, 39.4, 117.6, 91]", '[115.4, 39.4, 117.6, "inf"]'],
)
def test_city_bounds_must_be_a_box(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HOTLINE_CITY_BOUNDS", value)
    with pytest.raises(ValueError, match="city_bounds"):
        Settings()


def test_city_bounds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_CITY_BOUNDS", "[121.0, 30.7, 122.0, 31.9]")
    assert Settings().bounds.contains(121.47, 31.23)


@pytest.mark.parametrize(
    "value", ["PJSIP/carrier", "PJSIP/{number}@a,30", "PJSIP/{number}&{number}", "PJSIP/{num}"]
)
def test_callback_dial_names_the_number_once(value: str) -> None:
    with pytest.raises(ValueError, match="callback_dial"):
        Settings(callback_dial=value)


def test_recordings_and_callback_defaults() -> None:
    settings = Settings()
    assert str(settings.recordings_dir) == "/var/spool/asterisk/monitor"  # Asterisk's own
    assert settings.callback_dial == "PJSIP/{number}@carrier"
