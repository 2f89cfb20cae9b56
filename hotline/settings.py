"""Settings: one TOML file plus ``HOTLINE_*`` environment overrides.

The file comes from ``--config FILE`` or ``HOTLINE_CONFIG``; without either, the defaults
below run the embedded demo (SQLite under ``var/``). Environment variables override the file,
nested fields with ``__`` (``HOTLINE_WEB__PORT=8080``); lists such as ``ami`` take JSON.
Secrets (AMI secrets, the session key) belong in the file an operator keeps outside the
repository or in the environment, never in code.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hotline.geo import Bounds

CONFIG_ENV = "HOTLINE_CONFIG"
# What config/hotline.sample.toml holds where a secret of the operator's must go: refused,
# so that a copied sample cannot start with a token everyone knows.
SAMPLE_PLACEHOLDER = "change-me"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Bind(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)


# With a default per server, setting only the host (HOTLINE_WEB__HOST=0.0.0.0, as the
# container images do) keeps the port instead of failing on a missing one.
class WebBind(Bind):
    port: int = Field(default=8000, ge=1, le=65535)


class FastAgiBind(Bind):
    port: int = Field(default=4573, ge=1, le=65535)


class AudioSocketBind(Bind):
    port: int = Field(default=4574, ge=1, le=65535)


class AmiNode(BaseModel):
    """One Asterisk node reached over AMI."""

    name: str = "asterisk-1"
    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = "hotline"
    secret: SecretStr = SecretStr("")
    sip: str = Field(
        default="",
        description="The node's SIP address (host:port) as the SIP proxy reaches it: a "
        "destination of Kamailio's dispatcher (`hotline dialplan render-proxy`); "
        "`hotline dialplan render --node NAME` binds the node's SIP there.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HOTLINE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'hotline.db'}",
        description="SQLAlchemy URL; SQLite is the embedded default, PostgreSQL for production.",
    )
    data_dir: Path = Field(
        default=PROJECT_ROOT / "data" / "reference",
        description="Reference data an operator edits (areas, grid, catalogue, units, ...).",
    )
    web: WebBind = WebBind()
    fastagi: FastAgiBind = FastAgiBind()
    ami: list[AmiNode] = Field(default_factory=lambda: [AmiNode()])
    hotline_number: str = "12319"
    emergency_dial: str = Field(
        default="Local/110@emergency-center",
        description="Dial string of the emergency command center (Asterisk Dial() syntax).",
    )
    emergency_ring_seconds: int = Field(
        default=15,
        ge=5,
        le=60,
        description="How long the emergency command center rings before the caller goes to "
        "the city queue at top priority (the budget: the queue within 20 s of the key).",
    )
    ivr_dir: Path = Field(
        default=PROJECT_ROOT / "data" / "ivr",
        description="The IVR flow (flow.toml) and its prompts (prompts.csv).",
    )
    timezone: str = Field(default="Asia/Shanghai", description="The city's time zone.")
    city_bounds: tuple[float, float, float, float] = Field(
        default=(115.4, 39.4, 117.6, 41.1),
        description="West, south, east, north (WGS 84 degrees): a point outside is refused "
        "wherever it enters (Open311, REST, field form, desk). Default: Beijing.",
    )
    map_tile_url: str = Field(
        default="",
        max_length=500,
        description="The city's own raster tile service under the maps, as an XYZ template "
        "with {z}, {x} and {y} (a WMTS service in its REST form: {z}/{y}/{x} for "
        "TileMatrix/TileRow/TileCol). Empty (the default): the maps draw only the project's own "
        "layers (outlines, grid cells, cases) and need no network beyond the app.",
    )
    map_tile_attribution: str = Field(
        default="", max_length=200, description="Credit shown under the tiles, if any."
    )
    queue_max_wait_seconds: int = Field(default=600, ge=10, le=7200)
    fastagi_url_host: str = Field(
        default="",
        description="Host in the dialplan's agi:// URL as Asterisk reaches the app (a container "
        "name, say); empty = fastagi.host.",
    )
    sip_bind: str = "127.0.0.1:5060"
    rtp_start: int = Field(default=10000, ge=1024, le=65534, description="First RTP port.")
    rtp_end: int = Field(default=20000, ge=1025, le=65535, description="Last RTP port.")
    sip_secret: SecretStr = Field(
        default=SecretStr(""), description="Derives the agent phones' SIP passwords."
    )
    ami_bind: str = "127.0.0.1"
    ami_permit: list[str] = Field(default_factory=lambda: ["127.0.0.1/255.255.255.255"])
    asterisk_module_dir: str = "/usr/lib/x86_64-linux-gnu/asterisk/modules"
    webhook_url: str = Field(
        default="", description="External dispatch system's webhook; empty = no delivery."
    )
    webhook_secret: SecretStr = Field(default=SecretStr(""), description="HMAC key of webhooks.")
    escalation_grace_hours: float = Field(
        default=4.0, ge=0, description="Hours a job may stay overdue before escalation."
    )
    scheduler_interval_seconds: float = Field(default=60.0, gt=0)
    figures_refresh_seconds: float = Field(
        default=300.0,
        ge=0,
        le=3600,
        description=(
            "The evaluation's figures of a running period are renewed this often, a year's "
            "once an hour (the page says to when they run); a page renews them itself when "
            "the renewal is an interval late. A past period's are kept for good."
        ),
    )
    due_soon_hours: float = Field(
        default=4.0,
        gt=0,
        le=168,
        description="The case list's 即将超期 (due soon): open jobs due within these hours.",
    )
    media_dir: Path = Field(
        default=PROJECT_ROOT / "var" / "media", description="Photos attached to cases."
    )
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    recordings_dir: Path = Field(
        default=Path("/var/spool/asterisk/monitor"),
        description="Where the app reads call recordings: Asterisk's monitor folder "
        "(call-<call id>.wav), mounted read-only where the app runs elsewhere.",
    )
    callback_dial: str = Field(
        default="PJSIP/{number}@carrier",
        description="Dial() string reaching a citizen for a callback (回访) through the "
        "carrier trunk; {number} is the citizen's number.",
    )
    wrapup_seconds: float = Field(
        default=30.0, ge=0, le=600, description="After-call work pause; 0 = none."
    )
    sip_proxy: str = Field(
        default="",
        description="host:port of the SIP proxy (Kamailio) in front of several Asterisk "
        "nodes: calls arrive from it and agents' phones, registered with it, are reached "
        "through it (agent_interface PJSIP/{endpoint}@proxy). Empty: one Asterisk, phones "
        "register to it.",
    )
    sip_trunks: list[str] = Field(
        default_factory=list,
        description="Addresses of the carriers' SIP trunks the proxy takes calls from.",
    )
    agent_state_interface: str = Field(
        default="",
        description="The queue members' state interface, {username} filled: with several "
        "nodes, Custom:agent-{username}, a device state the app keeps the same on every node "
        "(busy on one node: not rung on the other). Empty: the phone's own state.",
    )
    node_lost_seconds: float = Field(
        default=120.0,
        ge=0,
        le=86400,
        description="With several nodes: how long a node may stay unreachable over AMI "
        "before the call records still open on it are closed as lost (outcome node_lost, "
        "ended when the node was last reached); 0 = never by itself (`hotline calls "
        "close-node NODE` does it by hand).",
    )
    agent_interface: str = Field(
        default="PJSIP/{endpoint}",
        description="Queue member interface of an agent: {endpoint} and {username} are filled.",
    )
    speech_model_path: Path | None = Field(
        default=None,
        description="Vosk model folder (vosk-model-small-cn-0.22); none = keys only.",
    )
    audiosocket: AudioSocketBind = AudioSocketBind()
    speech_listen_seconds: float = Field(default=3.0, ge=1.0, le=20.0)
    speech_end_silence_ms: int = Field(
        default=600, ge=150, le=2000, description="Quiet after speech that ends the caller's turn."
    )
    speech_accept_confidence: float = Field(default=0.85, ge=0.0, le=1.0)
    speech_confirm_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    forwarded_allow_ips: str = Field(
        default="",
        description="Addresses (or networks, 10.0.0.0/8) of the TLS proxies whose "
        "X-Forwarded-Proto/-For are believed, comma-separated; empty (the default) believes "
        "none. Behind a believed proxy cookies are marked Secure, and sign-ins are limited "
        "by the client's address it forwards.",
    )
    web_process: bool = Field(
        default=True,
        description="hotline serve runs the web pages in a child process of their own, so "
        "that a heavy page never delays a caller's IVR step (docs/production.md); false "
        "runs both in one process and one event loop.",
    )
    web_workers: int = Field(
        default=0,
        ge=0,
        le=32,
        description="With web_process: how many processes serve the pages, all on the one "
        "web port; 0 = one per CPU core, at most 4 (docs/production.md).",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="hotline serve's event loop: uvloop (less CPU per call, see "
        "docs/benchmarks.md) or Python's own asyncio loop.",
    )
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token /metrics and /status ask for (/status also opens to a "
        "signed-in user); empty = open to anyone who reaches the port, as in the demo.",
    )

    @field_validator("hotline_number")
    @classmethod
    def _digits_only(cls, value: str) -> str:
        if not value.isdigit():
            raise ValueError("hotline_number must be digits only")
        return value

    @field_validator("callback_dial")
    @classmethod
    def _names_the_number(cls, value: str) -> str:
        once = value.count("{number}") == value.count("{") == value.count("}") == 1
        if not once or any(c in value for c in ",;\n"):  # one Dial() argument, one line
            raise ValueError(
                "callback_dial: one Dial() target with {number} once, e.g. PJSIP/{number}@carrier"
            )
        return value

    @field_validator("speech_model_path", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value  # HOTLINE_SPEECH_MODEL_PATH= means no model

    @field_validator("map_tile_url")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        if value and (
            not value.startswith(("https://", "http://", "/"))
            or not all(part in value for part in ("{z}", "{x}", "{y}"))
        ):
            raise ValueError("map_tile_url: an http(s) or /path template with {z}, {x} and {y}")
        return value

    @field_validator("city_bounds")
    @classmethod
    def _a_box(cls, value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        west, south, east, north = value
        if not all(math.isfinite(v) for v in value):
            raise ValueError("city_bounds must be finite numbers")
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise ValueError("city_bounds: west, south, east, north; west < east, south < north")
        return value

    @property
    def bounds(self) -> Bounds:
        return Bounds(*self.city_bounds)

    @field_validator("metrics_token")
    @classmethod
    def _not_the_placeholder(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() == SAMPLE_PLACEHOLDER:
            raise ValueError(
                "replace the sample config's placeholder with a secret of your own "
                "(openssl rand -hex 24), or set HOTLINE_METRICS_TOKEN"
            )
        return value

    @model_validator(mode="after")
    def _rtp_range(self) -> Settings:
        if self.rtp_end <= self.rtp_start:
            raise ValueError("rtp_end must be above rtp_start")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


class ConfigFileError(Exception):
    """The config file named by the operator is missing or unreadable."""


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Read settings from ``config_file`` (or ``HOTLINE_CONFIG``) and the environment."""
    if config_file is not None:
        os.environ[CONFIG_ENV] = str(config_file)
    path = os.environ.get(CONFIG_ENV)
    if path and not Path(path).is_file():
        raise ConfigFileError(f"{path}: config file not found")
    return Settings(**overrides)
