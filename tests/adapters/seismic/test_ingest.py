"""The waveform ingest without a broker: packets handed in as the broker link would hand them are
checked (topic, size, format, clock), queued and processed on the worker thread into blocks;
problems become rejections with their reason; a full queue refuses packets without blocking. And
the site config refuses inconsistent seismic settings with their paths."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from adapters.seismic.config import SeismicSourceConfig
from adapters.seismic.ingest import SeismicIngest
from adapters.seismic.packets import encode_packet
from adapters.seismic.ringbuffer import Block
from firmware_sim.seismic import iso_ns
from hub.configbase import ConfigError
from hub.config import parse_config
from hub.sensors import KIND_FIELDS, SensorSpec
from hub.types import RejectReason

NOW_MS = 1_780_000_100_000
SPEC = SensorSpec("seis-a", "seismic", "centre", "t", KIND_FIELDS["seismic"], {}, 1.0)


class Sink:
    def __init__(self) -> None:
        self.readings: list = []
        self.rejections: list = []

    def accept(self, reading) -> None:
        self.readings.append(reading)

    def reject(self, rejection) -> None:
        self.rejections.append(rejection)


def make(queue_packets: int = 100, on_block=None):
    sink = Sink()
    blocks: list[tuple[str, Block]] = []
    ingest = SeismicIngest("ews/t", {"seis-a": SPEC}, {"seis-a": SeismicSourceConfig()}, sink,
                           on_block or (lambda sensor, block: blocks.append((sensor, block))),
                           queue_packets=queue_packets, clock_ms=lambda: NOW_MS)
    return ingest, sink, blocks


def payload(t0_ms: int, count: int = 100) -> bytes:
    return encode_packet(iso_ns(t0_ms * 1_000_000), 100.0, {"z": np.arange(count, dtype=float).tolist()})


def test_packets_become_blocks_on_the_worker_and_problems_become_rejections() -> None:
    ingest, sink, blocks = make()
    assert ingest.subscriptions() == ["ews/t/wave/seismic/+"]
    ingest.start()
    try:
        for second in range(3):
            ingest.handle("ews/t/wave/seismic/seis-a", payload(NOW_MS - 10_000 + second * 1000))
        ingest.handle("ews/t/wave/seismic/unknown", payload(NOW_MS - 5000))
        ingest.handle("ews/t/wave/seismic/seis-a", b"not json")
        ingest.handle("ews/t/wave/seismic/seis-a", payload(NOW_MS + 60_000))  # station clock ahead
        ingest.handle("ews/t/wave/seismic/seis-a", payload(10_000))  # clock never set (1970)
        assert ingest.wait_processed(3, 10.0)
    finally:
        ingest.stop()
    assert [b.samples for _, b in blocks] == [100, 100, 100]
    assert [r.reason for r in sink.rejections] == [RejectReason.UNKNOWN_SENSOR, RejectReason.MALFORMED,
                                                    RejectReason.FUTURE_TIMESTAMP, RejectReason.BAD_TIMESTAMP]
    assert all(r.sensor == "seis-a" for r in sink.rejections[1:])


def test_a_full_queue_refuses_packets_without_blocking_the_link() -> None:
    release = threading.Event()
    ingest, _, _ = make(queue_packets=2, on_block=lambda sensor, block: release.wait(10))
    ingest.start()
    try:
        for second in range(6):
            ingest.handle("ews/t/wave/seismic/seis-a", payload(NOW_MS - 10_000 + second * 1000))
        assert ingest.packets_dropped >= 3
    finally:
        release.set()
        ingest.stop()
    assert ingest.packets_processed + ingest.packets_dropped == 6


BASE = """
site: {id: t, name: T}
areas: [{id: centre, name: Център, type: town}]
sensors:
""" + "\n".join(f"""  - {{id: s{i}, kind: seismic, area: centre, location: {{lat: 42.6, lon: 25.4}}, interval_s: 1,
      source: {{seismic: {{transport: mqtt}}}}}}""" for i in range(3))


@pytest.mark.parametrize(("extra", "path"), [
    ("seismic: {confirmation: {area: nowhere}}", "seismic.confirmation.area"),
    ("seismic: {confirmation: {area: centre, min_stations: 4}}", "seismic.confirmation.min_stations"),
    ("seismic: {stations: {s9: {trigger_on: 5}}}", "seismic.stations.s9"),
    ("seismic: {stations: {s1: {trigger_off: 9}}}", "seismic"),
    ("seismic: {detector: {freqmin_hz: 30, freqmax_hz: 20}}", "seismic.detector"),
])
def test_inconsistent_seismic_settings_are_refused_with_their_path(extra: str, path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + "\n" + extra)
    assert any(issue.path == path for issue in caught.value.issues), caught.value.issues


def test_a_seedlink_station_needs_its_stream() -> None:
    text = BASE.replace("{transport: mqtt}", "{transport: seedlink}", 1)
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert "seedlink" in str(caught.value)
