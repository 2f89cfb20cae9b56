"""docker/: what can be checked without a Docker engine. The compose file is read by
``docker compose config`` (or Debian's docker-compose); its app environment is valid for our
Settings; the configuration rendered with it points Asterisk at the app's container; and the
Asterisk image's recipe is the very script that built the chroot the other tests run on."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from dialplan.render import render, render_proxy
from hotline.settings import PROJECT_ROOT, Settings
from hotline.testing.pbx import Pbx

DOCKER = PROJECT_ROOT / "docker"
SECRETS = {
    "POSTGRES_PASSWORD": "pg-pw",
    "HOTLINE_AMI_SECRET": "ami-pw",
    "HOTLINE_SIP_SECRET": "sip",
    "HOTLINE_METRICS_TOKEN": "scrape",
}


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if os.environ.get("CI") == "true":
        pytest.fail(
            "docker compose or docker-compose is required in CI (apt-get install docker-compose)"
        )
    pytest.skip("neither docker compose nor docker-compose (with CI=true this fails instead)")


def compose_config(
    environment: dict[str, str], file: str = "compose.yaml"
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith("HOTLINE_")
    }
    return subprocess.run(
        [*compose_command(), "-p", "hotline", "-f", str(DOCKER / file), "config"],
        env=clean | environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    done = compose_config(SECRETS)
    assert done.returncode == 0, done.stderr
    return dict(yaml.safe_load(done.stdout))


def test_services_volumes_and_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "setup", "asterisk", "app"}
    for name in ("postgres", "asterisk", "app"):
        assert services[name]["healthcheck"]["test"], name
    assert services["app"]["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert services["asterisk"]["depends_on"]["setup"]["condition"] == (
        "service_completed_successfully"
    )
    assert {"pgdata", "recordings", "prompts", "asterisk-config", "media"} <= set(
        compose["volumes"]
    )
    for name in ("setup", "app"):  # the operator's data, edited on the host
        assert any(str(v).endswith(":/app/data:ro") for v in services[name]["volumes"]), name
    mounts = " ".join(str(v) for v in services["asterisk"]["volumes"])
    assert "recordings:/var/spool/asterisk/monitor" in mounts
    assert "prompts:/usr/share/asterisk/sounds/hotline" in mounts
    app_ports = [str(p) for p in services["app"]["ports"]]
    assert all(p.startswith("127.0.0.1:") for p in app_ports), "the web is not published openly"
    assert not any("5038" in str(p) for p in services["asterisk"].get("ports", ())), (
        "AMI stays inside"
    )


@pytest.mark.parametrize("secret", ["HOTLINE_AMI_SECRET", "HOTLINE_METRICS_TOKEN"])
def test_a_missing_secret_is_named(secret: str) -> None:
    done = compose_config({k: v for k, v in SECRETS.items() if k != secret})
    assert done.returncode != 0
    assert secret in done.stderr


def app_settings(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in [k for k in os.environ if k.startswith("HOTLINE_")]:
        monkeypatch.delenv(key)
    for key, value in compose["services"]["app"]["environment"].items():
        monkeypatch.setenv(key, str(value))
    return Settings()


def test_the_app_environment_is_valid_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app_settings(compose, monkeypatch)
    assert settings.database_url.startswith("postgresql+psycopg://hotline:pg-pw@postgres:5432/")
    assert (settings.ami[0].host, settings.ami[0].secret.get_secret_value()) == (
        "asterisk",
        "ami-pw",
    )
    assert compose["services"]["setup"]["environment"] == compose["services"]["app"]["environment"]
    assert settings.speech_model_path is None  # no model mounted: keys only
    assert settings.metrics_token.get_secret_value() == "scrape"  # /metrics, /status closed
    assert settings.forwarded_allow_ips == "172.16.0.0/12,192.168.0.0/16"


def test_rendered_config_points_asterisk_at_the_app_container(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, loaded_engine: Engine, tmp_path: Path
) -> None:
    settings = app_settings(compose, monkeypatch)
    render(settings, loaded_engine, tmp_path)
    assert "agi://app:4573/ivr" in (tmp_path / "extensions.conf").read_text()
    assert "bindaddr = 0.0.0.0" in (tmp_path / "manager.conf").read_text()
    rtp = (tmp_path / "rtp.conf").read_text()
    assert "rtpstart = 10000" in rtp and "rtpend = 10199" in rtp
    published = [p for p in compose["services"]["asterisk"]["ports"] if p.get("protocol") == "udp"]
    udp = {int(p["published"]) for p in published}
    assert set(range(10000, 10200)) | {5060} == udp  # exactly the RTP range and SIP
    assert "EXPOSE 5060/udp 10000-10199/udp" in (DOCKER / "asterisk" / "Dockerfile").read_text()


def test_the_image_recipe_built_the_test_chroot(pbx: Pbx) -> None:
    recipe = DOCKER / "asterisk" / "install.sh"
    dockerfile = (DOCKER / "asterisk" / "Dockerfile").read_text()
    assert "COPY install.sh /tmp/install.sh" in dockerfile
    assert "RUN sh /tmp/install.sh" in dockerfile
    assert "docker/asterisk/install.sh" in (PROJECT_ROOT / "scripts" / "asterisk.sh").read_text()
    marker = (pbx.root / ".hotline-asterisk-ok").read_text().strip()
    assert marker == hashlib.sha256(recipe.read_bytes()).hexdigest()
    assert pbx.root.joinpath("etc/asterisk.dist").is_dir()  # the recipe's own step ran


TWO_NODES = SECRETS | {
    "HOTLINE_SIP_ADDRESS": "192.0.2.10",
    "HOTLINE_SIP_TRUNKS": '["198.51.100.7"]',
}


def test_the_two_node_compose_file_renders_each_node_and_the_proxy(
    monkeypatch: pytest.MonkeyPatch, loaded_engine: Engine, tmp_path: Path
) -> None:
    """docker/compose.two-nodes.yaml: Kamailio and two Asterisk nodes on the host's network;
    the app's environment names both nodes, and what setup renders from it binds each node
    to its own SIP port behind the proxy, which sends the carrier's calls to both."""
    done = compose_config(TWO_NODES, "compose.two-nodes.yaml")
    assert done.returncode == 0, done.stderr
    compose = dict(yaml.safe_load(done.stdout))
    services = compose["services"]
    assert {"proxy", "asterisk-1", "asterisk-2", "app", "setup", "postgres"} == set(services)
    assert all(s.get("network_mode") == "host" for s in services.values())
    command = " ".join(services["setup"]["command"])
    assert "--node asterisk-1" in command and "--node asterisk-2" in command
    assert "render-proxy" in command
    settings = app_settings(compose, monkeypatch)
    assert [n.sip for n in settings.ami] == ["192.0.2.10:5080", "192.0.2.10:5081"]
    for node, port in (("asterisk-1", 5080), ("asterisk-2", 5081)):
        render(settings, loaded_engine, tmp_path / node, node=node)
        pjsip = (tmp_path / node / "pjsip.conf").read_text()
        assert f"bind = 192.0.2.10:{port}" in pjsip and "contact = sip:192.0.2.10:5060" in pjsip
        assert f"systemname = {node}" in (tmp_path / node / "asterisk.conf").read_text()
    render_proxy(settings, loaded_engine, tmp_path / "kamailio")
    listed = (tmp_path / "kamailio" / "dispatcher.list").read_text()
    assert "1 sip:192.0.2.10:5080" in listed and "1 sip:192.0.2.10:5081" in listed
    cfg = (tmp_path / "kamailio" / "kamailio.cfg").read_text()
    assert "listen=udp:192.0.2.10:5060" in cfg and "$sht(trunks=>198.51.100.7) = 1;" in cfg
    dockerfile = (DOCKER / "kamailio" / "Dockerfile").read_text()
    assert "RUN sh /tmp/install.sh" in dockerfile
    assert "docker/kamailio/install.sh" in (PROJECT_ROOT / "scripts" / "kamailio.sh").read_text()
