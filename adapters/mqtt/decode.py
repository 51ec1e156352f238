"""Pure decoders for MQTT payloads: the normalised reading of DESIGN.md, vendor JSON with field
paths, SenML JSON (RFC 8428) and a bare number. Each returns raw values with their time, or
raises `DecodeError` with the reason the payload is set aside; range checks come after, in
`hub.sensors.check_values`."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from adapters.mqtt.config import FieldMapping, MqttSourceConfig, TimeMapping, compile_json_path
from hub.types import QUALITIES, RejectReason

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_PLAIN_NUMBER = re.compile(rb"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$|^\s*[-+]?(nan|inf|infinity)\s*$", re.I)
#: SenML (RFC 8428 §4.5.3): a resolved time below 2**28 s is relative to now.
_SENML_RELATIVE_LIMIT_S = 2**28


class DecodeError(ValueError):
    """A payload that cannot be decoded; `reason` is its bounded category."""

    def __init__(self, reason: RejectReason, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class RawSample:
    """Values decoded from a payload, not yet range-checked; `ts_ms` None means 'receive time'."""

    ts_ms: int | None
    values: Mapping[str, object]
    quality: str = "good"


def load_json(payload: bytes) -> object:
    """Parse JSON. NaN and Infinity are not JSON but some devices send them: they are read so that
    the value is refused as not finite, which says more than 'malformed'."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as error:
        raise DecodeError(RejectReason.MALFORMED, f"not JSON: {error}") from None


def parse_iso_ms(text: str) -> int:
    """ISO 8601 with a time zone → epoch milliseconds. A time without zone is refused: a device
    on local time would otherwise be two or three hours off without anyone noticing."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DecodeError(RejectReason.BAD_TIMESTAMP, f"timestamp {text[:40]!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise DecodeError(RejectReason.BAD_TIMESTAMP, f"timestamp {text[:40]!r} has no time zone")
    return (moment - _EPOCH) // _ONE_MS


def epoch_to_ms(value: object, unit_ms: float) -> int:
    """A number of seconds (unit_ms=1000) or milliseconds (unit_ms=1) since the epoch → ms."""
    if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
        raise DecodeError(RejectReason.BAD_TIMESTAMP, f"timestamp {value!r} is not a finite number")
    ts_ms = value * unit_ms  # type: ignore[operator]
    if not -1e15 < ts_ms < 1e15:
        raise DecodeError(RejectReason.BAD_TIMESTAMP, f"timestamp {value!r} is out of any sensible range")
    return int(round(ts_ms))


def decode_normalised(payload: bytes) -> RawSample:
    """DESIGN.md's normalised reading: `{"ts": ISO or epoch ms, "values": {...}, "quality": ...}`;
    `ts` and `quality` optional."""
    document = load_json(payload)
    if not isinstance(document, dict):
        raise DecodeError(RejectReason.WRONG_TYPE, f"payload is a JSON {type(document).__name__}, not an object")
    values = document.get("values")
    if not isinstance(values, dict):
        if values is None:
            raise DecodeError(RejectReason.MISSING_FIELD, "payload has no 'values' object")
        raise DecodeError(RejectReason.WRONG_TYPE, f"'values' is a JSON {type(values).__name__}, not an object")
    if not values:
        raise DecodeError(RejectReason.MISSING_FIELD, "'values' is empty")
    ts = document.get("ts")
    if ts is None:
        ts_ms = None
    elif type(ts) is str:
        ts_ms = parse_iso_ms(ts)
    else:
        ts_ms = epoch_to_ms(ts, 1)
    quality = document.get("quality", "good")
    if type(quality) is not str or quality not in QUALITIES:
        raise DecodeError(RejectReason.BAD_QUALITY, f"quality {quality!r} is not good, suspect or bad")
    return RawSample(ts_ms, values, quality)


def decode_detection(payload: bytes) -> tuple[RawSample, str | None]:
    """DESIGN.md's camera detection: `{"ts", "values": {...}, "objects": [...], "zone": ...}` →
    the values as a sample and the zone (None for the camera's whole view). `objects` (what was
    found where, for people and later use) must be a list when present but is not stored."""
    sample = decode_normalised(payload)
    document = load_json(payload)
    assert isinstance(document, dict)
    zone = document.get("zone")
    if zone is not None and (type(zone) is not str or not zone):
        raise DecodeError(RejectReason.WRONG_TYPE, f"'zone' is {zone!r}, not a zone name or null")
    objects = document.get("objects", [])
    if not isinstance(objects, list):
        raise DecodeError(RejectReason.WRONG_TYPE, f"'objects' is a JSON {type(objects).__name__}, not an array")
    return sample, zone


class NativeDecoder:
    """Decoder for one sensor's device-native payloads, with its field paths compiled once."""

    def __init__(self, source: MqttSourceConfig):
        self.source = source
        self._paths = {name: compile_json_path(m.path) for name, m in source.fields.items() if m.path}
        self._time_path = compile_json_path(source.time.path) if source.time else None
        self._by_senml_name = {m.name: (name, m) for name, m in source.fields.items() if m.name}

    def decode(self, payload: bytes, now_ms: int) -> list[RawSample]:
        """The samples in one payload (SenML packs may hold several times)."""
        if self.source.format == "json":
            return [self._decode_json(payload)]
        if self.source.format == "senml":
            return decode_senml(payload, self._by_senml_name, now_ms)
        return [self._decode_plain(payload)]

    def _decode_json(self, payload: bytes) -> RawSample:
        document = load_json(payload)
        values: dict[str, object] = {}
        missing = []
        for name, path in self._paths.items():
            try:
                raw = _follow(document, path)
            except LookupError:
                missing.append(self.source.fields[name].path)
                continue
            values[name] = _scaled(raw, self.source.fields[name])
        if missing and not values:
            raise DecodeError(RejectReason.MISSING_FIELD, f"payload has nothing at {', '.join(map(str, missing))}")
        ts_ms = None
        if self._time_path is not None:
            assert self.source.time is not None
            try:
                raw_time = _follow(document, self._time_path)
            except LookupError:
                raise DecodeError(RejectReason.BAD_TIMESTAMP, f"payload has no time at {self.source.time.path}") from None
            ts_ms = _convert_time(raw_time, self.source.time)
        return RawSample(ts_ms, values)

    def _decode_plain(self, payload: bytes) -> RawSample:
        if len(payload) > 64 or not _PLAIN_NUMBER.match(payload):
            raise DecodeError(RejectReason.MALFORMED, f"payload {payload[:40]!r} is not a bare number")
        ((name, mapping),) = self.source.fields.items()
        return RawSample(None, {name: _scaled(float(payload), mapping)})


def _follow(document: object, path: tuple[str | int, ...]) -> object:
    node = document
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise LookupError(part)
        elif not isinstance(node, dict) or part not in node:
            raise LookupError(part)
        node = node[part]  # type: ignore[index]
    return node


def _scaled(raw: object, mapping: FieldMapping) -> object:
    """Scale numbers; anything else passes unchanged so that the range check names its type."""
    if type(raw) in (int, float):
        if mapping.scale == 1.0 and mapping.offset == 0.0:
            return raw
        try:
            return float(raw) * mapping.scale + mapping.offset  # type: ignore[arg-type]
        except OverflowError:
            return math.inf
    return raw


def _convert_time(raw: object, mapping: TimeMapping) -> int:
    if mapping.format == "iso":
        if type(raw) is not str:
            raise DecodeError(RejectReason.BAD_TIMESTAMP, f"time {raw!r} is not an ISO 8601 string")
        return parse_iso_ms(raw)
    return epoch_to_ms(raw, 1000 if mapping.format == "epoch_s" else 1)


def decode_senml(
    payload: bytes, wanted: Mapping[str, tuple[str, FieldMapping]], now_ms: int
) -> list[RawSample]:
    """A SenML JSON pack (RFC 8428) → samples grouped by resolved time. Base name, base time and
    base value carry over to the records after them; records not mapped in config are ignored
    (devices add battery and diagnostics records)."""
    pack = load_json(payload)
    if not isinstance(pack, list) or not pack:
        raise DecodeError(RejectReason.MALFORMED, "a SenML pack must be a non-empty JSON array of records")
    base_name, base_time, base_value = "", 0.0, 0.0
    by_time: dict[int, dict[str, object]] = {}
    for number, record in enumerate(pack):
        if not isinstance(record, dict):
            raise DecodeError(RejectReason.MALFORMED, f"SenML record {number} is not an object")
        try:
            if "bn" in record:
                base_name = _senml_str(record["bn"])
            if "bt" in record:
                base_time = _senml_number(record["bt"])
            if "bv" in record:
                base_value = _senml_number(record["bv"])
            name = base_name + _senml_str(record.get("n", ""))
        except TypeError as error:
            raise DecodeError(RejectReason.MALFORMED, f"SenML record {number}: {error}") from None
        if name not in wanted:
            continue
        field_name, mapping = wanted[name]
        if "v" in record:
            raw = record["v"]
            if type(raw) in (int, float):
                raw = base_value + raw
        elif "vb" in record or "vs" in record or "vd" in record:
            raw = record.get("vb", record.get("vs", record.get("vd")))
        elif "bv" in record:
            raw = base_value
        else:
            raise DecodeError(RejectReason.MISSING_FIELD, f"SenML record {name!r} has no value")
        try:
            offset_s = _senml_number(record.get("t", 0.0))
        except TypeError as error:
            raise DecodeError(RejectReason.BAD_TIMESTAMP, f"SenML record {name!r}: {error}") from None
        time_s = base_time + offset_s
        if abs(time_s) < _SENML_RELATIVE_LIMIT_S:
            ts_ms = now_ms + int(round(time_s * 1000))
        else:
            ts_ms = epoch_to_ms(time_s, 1000)
        by_time.setdefault(ts_ms, {})[field_name] = _scaled(raw, mapping)
    if not by_time:
        raise DecodeError(RejectReason.MISSING_FIELD, "SenML pack has none of the configured records")
    return [RawSample(ts_ms, values) for ts_ms, values in sorted(by_time.items())]


def _senml_str(value: object) -> str:
    if type(value) is not str:
        raise TypeError(f"name {value!r} is not a string")
    return value


def _senml_number(value: object) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
        raise TypeError(f"{value!r} is not a finite number")
    return float(value)  # type: ignore[arg-type]


__all__ = ["DecodeError", "NativeDecoder", "RawSample", "decode_normalised", "decode_senml"]
