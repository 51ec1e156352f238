"""MQTT ingest without a network: topic routing, validation and the reason every set-aside input
is counted under; a hypothesis-driven mix of good and bad messages where every good reading comes
through unchanged and every bad one is rejected under the reason it was built to have."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.mqtt.ingest import MqttIngest
from hub.config import mqtt_sources, parse_config, sensor_specs
from hub.types import Reading, RejectReason, Rejection

NOW_MS = 1_795_611_600_000
SITE = """
site: {id: kz, name: Kazanlak}
areas: [{id: centre, name: Център, type: neighbourhood}, {id: shipka, name: Шипка, type: village}]
sensors:
  - {id: tundzha-1, kind: river, area: centre, location: {lat: 42.6, lon: 25.4}, tags: {river: tundzha}}
  - {id: rain-shipka, kind: rain, area: shipka, location: {lat: 42.7, lon: 25.3}}
  - id: eninska-radar
    kind: river
    area: centre
    location: {lat: 42.63, lon: 25.41}
    source: {mqtt: {topic: vendor/hydro/eninska, format: json, fields: {level_cm: {path: d.level_m, scale: 100}}}}
  - id: rain-buzludzha
    kind: rain
    area: shipka
    location: {lat: 42.73, lon: 25.39}
    source: {mqtt: {topic: lora/+/rg, format: senml, fields: {mm: {name: "urn:rg:mm"}}}}
  - id: dam-koprinka
    kind: dam
    area: centre
    location: {lat: 42.6, lon: 25.3}
    source: {mqtt: {topic: scada/koprinka/level, format: plain, fields: {level_cm: {scale: 100}}}}
"""


@dataclass
class ListSink:
    readings: list[Reading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def accept(self, reading: Reading) -> None:
        self.readings.append(reading)

    def reject(self, rejection: Rejection) -> None:
        self.rejections.append(rejection)


def make_ingest(sink: ListSink) -> MqttIngest:
    config = parse_config(SITE)
    return MqttIngest(config.topic_root, sensor_specs(config), mqtt_sources(config), sink,
                      max_future_s=300, max_payload_bytes=2048, clock_ms=lambda: NOW_MS)


def test_subscriptions_cover_normalised_and_native_topics() -> None:
    ingest = make_ingest(ListSink())
    assert ingest.subscriptions() == [
        "ews/kz/reading/+/+", "lora/+/rg", "scada/koprinka/level", "vendor/hydro/eninska",
    ]


def test_each_format_becomes_a_reading_with_kind_area_and_time() -> None:
    sink = ListSink()
    ingest = make_ingest(sink)
    ingest.handle("ews/kz/reading/river/tundzha-1", b'{"ts": 1795611540000, "values": {"level_cm": 231.5}}')
    ingest.handle("vendor/hydro/eninska", b'{"d": {"level_m": 1.25}}')
    ingest.handle("lora/gw-7/rg", b'[{"n": "urn:rg:mm", "v": 0.6, "t": 1795611500}]')
    ingest.handle("scada/koprinka/level", b"39.5")
    assert not sink.rejections
    assert sink.readings == [
        Reading("tundzha-1", "river", "centre", 1_795_611_540_000, {"level_cm": 231.5}),
        Reading("eninska-radar", "river", "centre", NOW_MS, {"level_cm": 125.0}),
        Reading("rain-buzludzha", "rain", "shipka", 1_795_611_500_000, {"mm": 0.6}),
        Reading("dam-koprinka", "dam", "centre", NOW_MS, {"level_cm": 3950.0}),
    ]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("ews/kz/reading/river/nobody", b'{"values": {"level_cm": 1}}', RejectReason.UNKNOWN_SENSOR),
        ("ews/kz/reading/river", b'{"values": {"level_cm": 1}}', RejectReason.UNKNOWN_SENSOR),
        ("ews/kz/reading/rain/tundzha-1", b'{"values": {"level_cm": 1}}', RejectReason.KIND_MISMATCH),
        ("vendor/other", b"1", RejectReason.UNKNOWN_SENSOR),
        ("ews/kz/reading/river/tundzha-1", b"{", RejectReason.MALFORMED),
        ("ews/kz/reading/river/tundzha-1", b'{"values": {"level_cm": "high"}}', RejectReason.WRONG_TYPE),
        ("ews/kz/reading/river/tundzha-1", b'{"values": {"level_cm": true}}', RejectReason.WRONG_TYPE),
        ("ews/kz/reading/river/tundzha-1", b'{"values": {"level_cm": NaN}}', RejectReason.NOT_FINITE),
        ("ews/kz/reading/river/tundzha-1", b'{"values": {"level_cm": Infinity}}', RejectReason.NOT_FINITE),
        ("ews/kz/reading/river/tundzha-1", b'{"values": {"level_cm": 99999}}', RejectReason.OUT_OF_RANGE),
        ("ews/kz/reading/river/tundzha-1", b'{"values": {"level_cm": 123456789012345678901234567890}}',
         RejectReason.OUT_OF_RANGE),
        ("ews/kz/reading/river/tundzha-1", b'{"values": {"mm": 1}}', RejectReason.UNKNOWN_FIELD),
        ("ews/kz/reading/river/tundzha-1", b'{"values": {"level_cm": 1}, "ts": 1795611600}', RejectReason.BAD_TIMESTAMP),
        ("ews/kz/reading/river/tundzha-1", b'{"values": {"level_cm": 1}, "ts": 1795621600000}',
         RejectReason.FUTURE_TIMESTAMP),
        ("ews/kz/reading/river/tundzha-1", b'{"values": {"level_cm": 1}, "pad": "' + b"x" * 3000 + b'"}',
         RejectReason.TOO_LARGE),
        ("vendor/hydro/eninska", b'{"d": {"level_m": 100}}', RejectReason.OUT_OF_RANGE),
        ("scada/koprinka/level", b"nan", RejectReason.NOT_FINITE),
        ("scada/koprinka/level", b"full", RejectReason.MALFORMED),
    ],
)
def test_bad_input_is_rejected_under_its_reason_with_the_raw_payload(topic: str, payload: bytes,
                                                                    reason: RejectReason) -> None:
    sink = ListSink()
    make_ingest(sink).handle(topic, payload)
    assert sink.readings == []
    assert [r.reason for r in sink.rejections] == [reason]
    assert sink.rejections[0].payload == payload and sink.rejections[0].topic == topic


def test_readings_without_device_time_never_share_a_timestamp() -> None:
    sink = ListSink()
    ingest = make_ingest(sink)
    for _ in range(3):
        ingest.handle("scada/koprinka/level", b"39.5")
    assert [r.ts_ms for r in sink.readings] == [NOW_MS, NOW_MS + 1, NOW_MS + 2]


def test_one_bad_field_does_not_lose_the_good_one() -> None:
    sink = ListSink()
    config = parse_config(SITE.replace("tags: {river: tundzha}}", "tags: {river: tundzha}, fields: {temperature_c: {min: -5, max: 40}}}"))
    ingest = MqttIngest(config.topic_root, sensor_specs(config), {}, sink, clock_ms=lambda: NOW_MS)
    ingest.handle("ews/kz/reading/river/tundzha-1", b'{"values": {"level_cm": 200, "temperature_c": 99}}')
    assert [r.values for r in sink.readings] == [{"level_cm": 200.0}]
    assert [(r.reason, r.fields) for r in sink.rejections] == [(RejectReason.OUT_OF_RANGE, ("temperature_c",))]


# -- a generated mix of good and bad messages ---------------------------------------------------

good_level = st.floats(min_value=-200, max_value=3000, allow_nan=False).map(lambda v: round(v, 2))


@st.composite
def message(draw: st.DrawFn, now_ms: int = NOW_MS,
            root: str = "ews/kz") -> tuple[str, bytes, Reading | None, RejectReason | None]:
    """A message and what must become of it: a reading, or a rejection under one reason."""
    past_ts = st.integers(min_value=now_ms - 86_400_000, max_value=now_ms)
    choice = draw(st.sampled_from(["good", "good_native", "unknown", "malformed", "wrong_type", "nan", "range",
                                   "future", "quality"]))
    ts = draw(past_ts)
    level = draw(good_level)
    topic = f"{root}/reading/river/tundzha-1"
    if choice == "good":
        quality = draw(st.sampled_from(["good", "suspect", "bad"]))
        body = {"ts": ts, "values": {"level_cm": level}, "quality": quality}
        return topic, json.dumps(body).encode(), Reading("tundzha-1", "river", "centre", ts, {"level_cm": level}, quality), None
    if choice == "good_native":
        metres = level / 100
        return ("vendor/hydro/eninska", json.dumps({"d": {"level_m": metres}}).encode(),
                Reading("eninska-radar", "river", "centre", now_ms, {"level_cm": metres * 100}), None)
    if choice == "unknown":
        name = draw(st.text(alphabet="abcxyz-", min_size=1, max_size=8).filter(lambda n: n != "tundzha-1"))
        return f"{root}/reading/river/{name}", b'{"values": {"level_cm": 1}}', None, RejectReason.UNKNOWN_SENSOR
    if choice == "malformed":
        junk = draw(st.binary(max_size=40).filter(lambda b: not b.strip().startswith((b"{", b"[")) and b.strip()
                                                  not in (b"", b"null", b"true", b"false") and not _is_json_scalar(b)))
        return topic, junk, None, RejectReason.MALFORMED
    if choice == "wrong_type":
        value = draw(st.sampled_from(['"1"', "true", "null", "[1]", '{"v": 1}']))
        return topic, f'{{"values": {{"level_cm": {value}}}}}'.encode(), None, RejectReason.WRONG_TYPE
    if choice == "nan":
        return topic, draw(st.sampled_from([b'{"values": {"level_cm": NaN}}', b'{"values": {"level_cm": -Infinity}}'])), \
            None, RejectReason.NOT_FINITE
    if choice == "range":
        bad = draw(st.one_of(st.floats(min_value=3000.01, max_value=1e9), st.floats(max_value=-200.01, min_value=-1e9)))
        return topic, json.dumps({"values": {"level_cm": bad}}).encode(), None, RejectReason.OUT_OF_RANGE
    if choice == "future":
        # Far beyond the 300 s allowed, so that the margin holds however late the test runs.
        ahead = draw(st.integers(min_value=3_600_000, max_value=10**9))
        return topic, json.dumps({"ts": now_ms + ahead, "values": {"level_cm": 1}}).encode(), None, \
            RejectReason.FUTURE_TIMESTAMP
    return topic, b'{"values": {"level_cm": 1}, "quality": "excellent"}', None, RejectReason.BAD_QUALITY


def _is_json_scalar(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


@given(st.lists(message(), max_size=60))
def test_mixed_stream_every_good_reading_lands_and_every_bad_one_is_counted(stream: list) -> None:
    sink = ListSink()
    ingest = make_ingest(sink)
    for topic, payload, _, _ in stream:
        ingest.handle(topic, payload)
    expected = []
    receive_stamped = 0
    for topic, _, reading, _ in stream:
        if reading is None:
            continue
        if topic == "vendor/hydro/eninska":
            # No device time: the receive time, kept unique per sensor (one millisecond apart).
            reading = dataclasses.replace(reading, ts_ms=NOW_MS + receive_stamped)
            receive_stamped += 1
        expected.append(reading)
    assert sink.readings == expected
    assert [r.reason for r in sink.rejections] == [reason for _, _, _, reason in stream if reason is not None]


fast_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(), st.none(), st.text(max_size=3),
)
fast_times = st.one_of(
    st.integers(min_value=NOW_MS - 10**12, max_value=NOW_MS + 10**7), st.floats(allow_nan=True), st.text(max_size=5),
)


@given(
    st.dictionaries(st.sampled_from(["level_cm", "mm", "temperature_c", "x"]), fast_values, max_size=2),
    fast_times,
    st.sampled_from(["ts", "values", "quality", "extra"]),
    st.booleans(),
    st.sampled_from(["ews/kz/reading/river/tundzha-1", "ews/kz/reading/rain/rain-shipka"]),
)
def test_fast_path_gives_exactly_what_the_general_path_gives(values: dict, ts: object, third: str, with_third: bool,
                                                             topic: str) -> None:
    document: dict = {"ts": ts, "values": values}
    if with_third:
        document[third] = "good"
    try:
        payload = json.dumps(document).encode()
    except (TypeError, ValueError):
        return
    fast, general = ListSink(), ListSink()
    make_ingest(fast).handle(topic, payload)
    make_ingest(general).handle_general(topic, payload, NOW_MS)
    assert fast.readings == general.readings
    assert [(r.reason, r.detail, r.fields) for r in fast.rejections] == \
        [(r.reason, r.detail, r.fields) for r in general.rejections]
