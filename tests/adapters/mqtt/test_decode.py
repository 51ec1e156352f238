"""Pure decoders: the normalised reading, vendor JSON with paths and scaling, SenML (RFC 8428)
and bare numbers; property tests that any bytes either decode or raise DecodeError."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.mqtt.config import MqttSourceConfig, compile_json_path
from adapters.mqtt.decode import DecodeError, NativeDecoder, decode_normalised, parse_iso_ms
from hub.types import RejectReason

NOW_MS = 1_795_000_000_000


def native(**source: object) -> NativeDecoder:
    return NativeDecoder(MqttSourceConfig.model_validate(source))


def test_normalised_with_iso_time_and_quality() -> None:
    sample = decode_normalised(b'{"ts": "2026-11-25T13:00:00.250Z", "values": {"level_cm": 231.5}, "quality": "suspect"}')
    assert sample.ts_ms == 1_795_611_600_250
    assert sample.values == {"level_cm": 231.5}
    assert sample.quality == "suspect"


def test_normalised_with_epoch_ms_and_no_quality() -> None:
    sample = decode_normalised(b'{"ts": 1795611600250, "values": {"level_cm": 2}}')
    assert (sample.ts_ms, sample.quality) == (1_795_611_600_250, "good")


def test_normalised_without_time_means_receive_time() -> None:
    assert decode_normalised(b'{"values": {"mm": 0.2}}').ts_ms is None


def test_iso_with_offset_is_converted_to_utc() -> None:
    assert parse_iso_ms("2026-11-25T15:00:00+02:00") == parse_iso_ms("2026-11-25T13:00:00Z")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", RejectReason.MALFORMED),
        (b"", RejectReason.MALFORMED),
        (b"[1, 2]", RejectReason.WRONG_TYPE),
        (b'{"ts": 1}', RejectReason.MISSING_FIELD),
        (b'{"values": {}}', RejectReason.MISSING_FIELD),
        (b'{"values": [1]}', RejectReason.WRONG_TYPE),
        (b'{"values": {"level_cm": 1}, "ts": "yesterday"}', RejectReason.BAD_TIMESTAMP),
        (b'{"values": {"level_cm": 1}, "ts": "2026-11-25T13:00:00"}', RejectReason.BAD_TIMESTAMP),
        (b'{"values": {"level_cm": 1}, "ts": true}', RejectReason.BAD_TIMESTAMP),
        (b'{"values": {"level_cm": 1}, "ts": 1e300}', RejectReason.BAD_TIMESTAMP),
        (b'{"values": {"level_cm": 1}, "quality": "great"}', RejectReason.BAD_QUALITY),
        (b"\xff\xfe{", RejectReason.MALFORMED),
    ],
)
def test_normalised_refusals(payload: bytes, reason: RejectReason) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_normalised(payload)
    assert caught.value.reason == reason


def test_nan_from_a_sloppy_device_is_read_so_it_can_be_refused_as_not_finite() -> None:
    sample = decode_normalised(b'{"values": {"level_cm": NaN}}')
    assert math.isnan(sample.values["level_cm"])


def test_vendor_json_with_paths_scale_offset_and_epoch_seconds() -> None:
    decoder = native(
        topic="vendor/g", format="json",
        fields={"level_cm": {"path": "data.ch[1].v", "scale": 100, "offset": -20}, "temperature_c": {"path": "t"}},
        time={"path": "data.at", "format": "epoch_s"},
    )
    payload = json.dumps({"data": {"ch": [{"v": 0}, {"v": 2.5}], "at": 1795611600.5}, "t": 7}).encode()
    (sample,) = decoder.decode(payload, NOW_MS)
    assert sample.values == {"level_cm": 230.0, "temperature_c": 7}
    assert sample.ts_ms == 1_795_611_600_500


def test_vendor_json_missing_one_field_keeps_the_other() -> None:
    decoder = native(topic="v", format="json", fields={"level_cm": {"path": "a"}, "temperature_c": {"path": "b"}})
    (sample,) = decoder.decode(b'{"a": 5}', NOW_MS)
    assert sample.values == {"level_cm": 5}
    with pytest.raises(DecodeError) as caught:
        decoder.decode(b'{"c": 5}', NOW_MS)
    assert caught.value.reason == RejectReason.MISSING_FIELD


def test_vendor_json_string_value_passes_through_for_the_type_check() -> None:
    decoder = native(topic="v", format="json", fields={"level_cm": {"path": "a", "scale": 100}})
    (sample,) = decoder.decode(b'{"a": "1.2"}', NOW_MS)
    assert sample.values == {"level_cm": "1.2"}


def test_senml_pack_with_base_name_time_and_unmapped_records() -> None:
    decoder = native(
        topic="lora/+/up", format="senml",
        fields={"mm": {"name": "urn:dev:rg7:rain"}, "total_mm": {"name": "urn:dev:rg7:total", "scale": 0.2}},
    )
    pack = [
        {"bn": "urn:dev:rg7:", "bt": 1795611600, "n": "rain", "v": 0.4},
        {"n": "total", "v": 1200},
        {"n": "battery", "v": 3.6},
        {"n": "rain", "t": 60, "v": 0.2},
    ]
    samples = decoder.decode(json.dumps(pack).encode(), NOW_MS)
    assert [(s.ts_ms, dict(s.values)) for s in samples] == [
        (1_795_611_600_000, {"mm": 0.4, "total_mm": 240.0}),
        (1_795_611_660_000, {"mm": 0.2}),
    ]


def test_senml_relative_time_is_relative_to_now() -> None:
    decoder = native(topic="s", format="senml", fields={"mm": {"name": "rain"}})
    (sample,) = decoder.decode(b'[{"n": "rain", "v": 1.0, "t": -60}]', NOW_MS)
    assert sample.ts_ms == NOW_MS - 60_000


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"n": "rain", "v": 1}', RejectReason.MALFORMED),
        (b"[]", RejectReason.MALFORMED),
        (b"[1]", RejectReason.MALFORMED),
        (b'[{"n": 5, "v": 1}]', RejectReason.MALFORMED),
        (b'[{"n": "other", "v": 1}]', RejectReason.MISSING_FIELD),
        (b'[{"n": "rain"}]', RejectReason.MISSING_FIELD),
        (b'[{"n": "rain", "v": 1, "t": "noon"}]', RejectReason.BAD_TIMESTAMP),
    ],
)
def test_senml_refusals(payload: bytes, reason: RejectReason) -> None:
    decoder = native(topic="s", format="senml", fields={"mm": {"name": "rain"}})
    with pytest.raises(DecodeError) as caught:
        decoder.decode(payload, NOW_MS)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("payload", "value"), [(b"231.5", 231.5), (b" -3 \n", -3.0), (b"1e2", 100.0), (b".5", 0.5)])
def test_plain_numbers(payload: bytes, value: float) -> None:
    decoder = native(topic="p", format="plain", fields={"level_cm": {"scale": 1}})
    assert decoder.decode(payload, NOW_MS)[0].values == {"level_cm": value}


@pytest.mark.parametrize("payload", [b"", b"abc", b"1_000", b"12 cm", b"0x10", b"1.2.3", b"9" * 100])
def test_plain_garbage_is_malformed(payload: bytes) -> None:
    decoder = native(topic="p", format="plain", fields={"level_cm": {}})
    with pytest.raises(DecodeError) as caught:
        decoder.decode(payload, NOW_MS)
    assert caught.value.reason == RejectReason.MALFORMED


@pytest.mark.parametrize(
    ("path", "parts"),
    [("a", ("a",)), ("a.b", ("a", "b")), ("a[0]", ("a", 0)), ("a[2].b[10]", ("a", 2, "b", 10)), ("x_1.y-2", ("x_1", "y-2"))],
)
def test_json_path_compiles(path: str, parts: tuple) -> None:
    assert compile_json_path(path) == parts


@pytest.mark.parametrize("path", ["", ".", "a.", "a..b", "a[", "a[x]", "[0]]", "a]"])
def test_bad_json_path_is_refused(path: str) -> None:
    with pytest.raises(ValueError):
        compile_json_path(path)


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_decode_error(payload: bytes) -> None:
    for decoder in (
        native(topic="j", format="json", fields={"level_cm": {"path": "a.b[0]"}}, time={"path": "t"}),
        native(topic="s", format="senml", fields={"mm": {"name": "rain"}}),
        native(topic="p", format="plain", fields={"mm": {}}),
    ):
        try:
            decoder.decode(payload, NOW_MS)
        except DecodeError:
            pass
    try:
        decode_normalised(payload)
    except DecodeError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["ts", "values", "quality", "x"]), json_values, max_size=4))
def test_any_json_object_decodes_or_raises_decode_error(document: dict) -> None:
    payload = json.dumps(document).encode()
    try:
        sample = decode_normalised(payload)
    except DecodeError:
        return
    assert isinstance(sample.values, dict) and sample.values
    assert sample.quality in ("good", "suspect", "bad")


@given(st.lists(st.dictionaries(st.sampled_from(["bn", "bt", "bv", "n", "v", "vs", "vb", "t"]), json_values, max_size=5),
                max_size=5))
def test_any_senml_like_pack_decodes_or_raises_decode_error(pack: list) -> None:
    decoder = native(topic="s", format="senml", fields={"mm": {"name": "rain"}})
    try:
        samples = decoder.decode(json.dumps(pack).encode(), NOW_MS)
    except DecodeError:
        return
    assert all(set(s.values) == {"mm"} and isinstance(s.ts_ms, int) for s in samples)
