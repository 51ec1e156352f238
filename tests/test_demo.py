"""`ews demo` end to end: its own Mosquitto and InfluxDB, the hub on the Kazanlak example, every
simulated device's readings in InfluxDB, and no service left running."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from hub.demo import run_demo

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[1]


def test_demo_stores_every_reading_and_stops_its_services(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(ROOT / "examples" / "kazanlak" / "site.yaml", tmp_path, rounds=3, keep=False) == 0
    out = capsys.readouterr().out
    assert "demo OK: every reading reached InfluxDB" in out
    assert "river" in out and "latest river levels" in out
    match = re.search(r"Mosquitto on 127\.0\.0\.1:(\d+), InfluxDB on http://127\.0\.0\.1:(\d+)", out)
    assert match is not None
    for port in match.groups():
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
