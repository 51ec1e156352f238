"""Camera detections (`<root>/detection/<kind>/<camera>`) become readings of the sensors fed by
that camera (tag `camera`), per zone when the sensor has a `zone` tag; camera health arrives as
normalised readings of the camera itself (kind `camera`)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.mqtt.ingest import MqttIngest
from hub.config import mqtt_sources, parse_config, sensor_specs
from hub.configbase import ConfigError
from hub.pipeline import InfluxOutput
from hub.types import Reading, RejectReason
from tests.adapters.mqtt.test_ingest import ListSink

NOW_MS = 1_795_611_600_000
SITE = """
site: {id: kz, name: Kazanlak}
areas: [{id: centre, name: Център, type: neighbourhood}, {id: forest, name: Гора, type: zone}]
sensors:
  - {id: bridge-level, kind: camera_water, area: centre, location: {lat: 42.6, lon: 25.4},
     tags: {river: tundzha, camera: cam-bridge}}
  - {id: slope-fire, kind: fire, area: forest, location: {lat: 42.7, lon: 25.3}, tags: {camera: cam-slope}}
  - {id: slope-east-fire, kind: fire, area: forest, location: {lat: 42.7, lon: 25.3},
     tags: {camera: cam-slope, zone: east}}
cameras:
  - id: cam-bridge
    area: centre
    location: {lat: 42.6, lon: 25.4}
    detectors: [water_level]
    zones: [{name: gauge, polygon: [[0.4, 0.1], [0.5, 0.1], [0.5, 0.9], [0.4, 0.9]]}]
    water_level: {zone: gauge, marks: [{x: 0.45, y: 0.1, level_cm: 300}, {x: 0.45, y: 0.9, level_cm: 0}]}
  - id: cam-slope
    area: forest
    location: {lat: 42.7, lon: 25.3}
    detectors: [fire_smoke]
    zones: [{name: east, polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}, {name: west, polygon: [[0, 0], [0.5, 0], [0.5, 1]]}]
"""


def make(sink: ListSink) -> MqttIngest:
    config = parse_config(SITE)
    return MqttIngest(config.topic_root, sensor_specs(config), mqtt_sources(config), sink, clock_ms=lambda: NOW_MS)


def _payload(values: dict, zone: str | None = None, ts: object = NOW_MS - 1000, **extra: object) -> bytes:
    return orjson.dumps({"ts": ts, "values": values, "objects": [], "zone": zone, **extra})


def test_detections_are_subscribed_when_a_sensor_is_fed_by_a_camera() -> None:
    assert "ews/kz/detection/+/+" in make(ListSink()).subscriptions()


def test_a_water_detection_becomes_a_reading_of_the_camera_water_sensor() -> None:
    sink = ListSink()
    make(sink).handle("ews/kz/detection/camera_water/cam-bridge",
                      _payload({"level_cm": 231.5, "confidence": 0.93}, objects=[{"type": "waterline", "y": 0.4}]))
    assert sink.rejections == []
    assert sink.readings == [Reading("bridge-level", "camera_water", "centre", NOW_MS - 1000,
                                     {"level_cm": 231.5, "confidence": 0.93})]


def test_fire_detections_go_to_the_whole_view_sensor_or_the_zone_sensor() -> None:
    sink = ListSink()
    ingest = make(sink)
    ingest.handle("ews/kz/detection/fire/cam-slope", _payload({"fire_score": 0.8, "smoke_score": 0.4}))
    ingest.handle("ews/kz/detection/fire/cam-slope", _payload({"fire_score": 0.9, "smoke_score": 0.5}, "east"))
    ingest.handle("ews/kz/detection/fire/cam-slope", _payload({"fire_score": 0.1, "smoke_score": 0.0}, "west"))
    assert [(r.sensor, r.values["fire_score"]) for r in sink.readings] == [("slope-fire", 0.8), ("slope-east-fire", 0.9)]
    (rejection,) = sink.rejections
    assert rejection.reason is RejectReason.UNKNOWN_SENSOR and "zone 'west'" in rejection.detail


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("ews/kz/detection/fire/cam-other", _payload({"fire_score": 0.5}), RejectReason.UNKNOWN_SENSOR),
    ("ews/kz/detection/camera_water/cam-slope", _payload({"level_cm": 10.0}), RejectReason.UNKNOWN_SENSOR),
    ("ews/kz/detection/fire/cam-slope/extra", _payload({"fire_score": 0.5}), RejectReason.UNKNOWN_SENSOR),
    ("ews/kz/detection/fire/cam-slope", _payload({"fire_score": 1.5}), RejectReason.OUT_OF_RANGE),
    ("ews/kz/detection/fire/cam-slope", _payload({"level_cm": 1.5}), RejectReason.UNKNOWN_FIELD),
    ("ews/kz/detection/fire/cam-slope", _payload({"fire_score": 0.5}, zone=3), RejectReason.WRONG_TYPE),  # type: ignore[arg-type]
    ("ews/kz/detection/fire/cam-slope", _payload({"fire_score": 0.5}, objects={}), RejectReason.WRONG_TYPE),
    ("ews/kz/detection/fire/cam-slope", _payload({"fire_score": 0.5}, ts="yesterday"), RejectReason.BAD_TIMESTAMP),
    ("ews/kz/detection/fire/cam-slope", b"flames!", RejectReason.MALFORMED),
    ("ews/kz/detection/fire/cam-slope", _payload({}), RejectReason.MISSING_FIELD),
])
def test_bad_detections_are_set_aside_with_their_reason(topic: str, payload: bytes, reason: RejectReason) -> None:
    sink = ListSink()
    make(sink).handle(topic, payload)
    assert sink.readings == []
    assert [r.reason for r in sink.rejections] == [reason]


@given(st.floats(0, 1), st.floats(0, 1), st.sampled_from([None, "east"]), st.integers(0, 10**6))
def test_any_valid_fire_detection_arrives_unchanged(fire: float, smoke: float, zone: str | None, age_ms: int) -> None:
    sink = ListSink()
    make(sink).handle("ews/kz/detection/fire/cam-slope", _payload({"fire_score": fire, "smoke_score": smoke}, zone,
                                                                  ts=NOW_MS - age_ms))
    (reading,) = sink.readings
    assert reading.sensor == ("slope-east-fire" if zone else "slope-fire")
    assert reading.values == {"fire_score": fire, "smoke_score": smoke} and reading.ts_ms == NOW_MS - age_ms


def test_camera_health_is_a_reading_of_the_camera_tagged_with_it() -> None:
    sink = ListSink()
    config = parse_config(SITE)
    make(sink).handle("ews/kz/reading/camera/cam-slope", orjson.dumps({"ts": NOW_MS, "values": {
        "fps": 1.0, "dropped_frames": 0, "skipped_frames": 24, "last_frame_age_s": 0.4, "inference_ms": 12.5}}))
    (reading,) = sink.readings
    assert (reading.sensor, reading.kind, reading.area) == ("cam-slope", "camera", "forest")
    lines: list[str] = []
    InfluxOutput(sensor_specs(config), lines.append)(reading)
    assert lines[0].startswith("camera,area=forest,camera=cam-slope,sensor=cam-slope,site=kz ")
    assert "inference_ms=12.5" in lines[0]


@pytest.mark.parametrize(("change", "message"), [
    (("camera: cam-bridge}", "camera: cam-nowhere}"), "unknown camera 'cam-nowhere'"),
    (("zone: east}", "zone: north}"), "camera 'cam-slope' has no zone 'north'"),
    (("- id: cam-bridge", "- id: bridge-level"), "'bridge-level' is also a sensor id"),
    (("water_level: {zone: gauge,", "water_level: {zone: gauges,"), "water_level.zone 'gauges' is not one"),
])
def test_camera_references_are_checked_at_load(change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(SITE.replace(*change))
    assert message in str(error.value) or any(message in str(issue) for issue in error.value.issues)
