"""The production deployment files cannot be run here (no Docker engine); these tests keep them
valid and consistent with the code: the compose file parses and mounts files that exist, the hub's
compose config validates and points at the compose services, and the broker configs we ship are
sized so that a subscriber falling behind loses nothing."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from hub.config import load_config
from hub.localservices import MOSQUITTO_QUEUE_LIMITS

ROOT = Path(__file__).parents[1]


def test_compose_file_parses_and_its_bind_mounts_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"mosquitto", "influxdb", "grafana", "hub"} <= set(compose["services"])
    assert compose["services"]["influxdb"]["image"].startswith("influxdb:1.8")
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"


def test_compose_site_config_points_at_the_compose_services() -> None:
    config = load_config(ROOT / "deploy" / "site.compose.yaml")
    assert config.mqtt.host == "mosquitto"
    assert config.influx.url == "http://influxdb:8086"
    assert config.mqtt.password_env and config.influx.password_env
    example = load_config(ROOT / "examples" / "kazanlak" / "site.yaml")
    assert [s.id for s in config.sensors] == [s.id for s in example.sensors]


def _settings(text: str) -> dict[str, str]:
    pairs = (line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {key: value.strip() for key, *rest in pairs for value in (rest or [""])}


def test_shipped_broker_configs_do_not_drop_messages_of_a_slow_subscriber() -> None:
    # Mosquitto's default keeps 1,000 messages per client; past that it drops them silently.
    for text in ((ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text(), MOSQUITTO_QUEUE_LIMITS):
        settings = _settings(text)
        assert int(settings["max_queued_messages"]) >= 1_000_000
        assert int(settings["max_queued_bytes"]) >= 1 << 30
    production = _settings((ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text())
    assert production["persistence"] == "true"
    assert production["allow_anonymous"] == "false"
    assert re.fullmatch(r"\d+[dhwmy]", production["persistent_client_expiration"])
