"""One HTTP server per hub: with an `http:` section, the console, the Twilio webhooks and the CAP
feed are served together on its address (the webhooks' own listen settings are not used), and
`/health` reports the real broker and InfluxDB of a running hub."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hub.app import HubThread
from hub.config import parse_config
from hub.localservices import LocalInfluxd, LocalMosquitto
from tests.conftest import site_yaml, wait_until

pytestmark = pytest.mark.integration

TOKEN_ENV = "EWS_TEST_CONSOLE_TWILIO_TOKEN"
SENSORS = "  - {id: tundzha-1, kind: river, area: centre, location: {lat: 42.615, lon: 25.39}}\n"
EXTRA = f"""
rules:
  - {{id: tundzha-level, kind: threshold, hazard: flood, audience: public, select: {{sensors: [tundzha-1]}},
     field: level_cm, levels: {{yellow: 200, orange: 260, red: 320}}, clear: 180}}
notify:
  sms: {{provider: {{kind: outbox}}}}
  webhooks: {{listen_port: 1, public_url: "http://hub.example", auth_token_env: {TOKEN_ENV}}}
  cap: {{sender: ews@example.org}}
http: {{listen_port: 0}}
"""


def test_console_webhooks_and_cap_share_the_one_server(mosquitto: LocalMosquitto, influxd: LocalInfluxd,
                                                      unique_name: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "secret-token")
    config = parse_config(site_yaml(unique_name, mosquitto.port, influxd.url, SENSORS, EXTRA))
    hub = HubThread(config, tmp_path / "hub")
    parts = hub.start()
    try:
        assert parts.notify is not None and parts.notify.http is None  # no second server
        wait_until(lambda: parts.http.port is not None, what="HTTP server listening")
        with httpx.Client(base_url=f"http://127.0.0.1:{parts.http.port}", timeout=10) as client:
            assert client.post("/twilio/status", data={"MessageSid": "SM1", "MessageStatus": "delivered"}) \
                .status_code == 403  # unsigned: refused by the webhooks, not by the console's login
            assert client.get("/cap/feed.atom").status_code == 200
            assert client.get("/api/alarms").status_code == 401
            wait_until(lambda: client.get("/health").status_code == 200, what="healthy")
            checks = client.get("/health").json()["checks"]
            assert checks["broker"]["ok"] and checks["influxdb"]["ok"] and checks["workers"]["ok"]
            assert f":{mosquitto.port} connected" in checks["broker"]["detail"]
    finally:
        hub.stop()
