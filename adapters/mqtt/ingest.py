"""MQTT ingestion: which topics to subscribe to, and the handling of each message, normalised
(`<root>/reading/<kind>/<sensor>`) or device-native (a sensor's `source.mqtt` topic filter), into
`Reading`s or `Rejection`s for the pipeline. No network here: the broker link calls `handle`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import orjson
from paho.mqtt.client import topic_matches_sub

from adapters.mqtt.config import MqttSourceConfig
from adapters.mqtt.decode import DecodeError, NativeDecoder, RawSample, decode_detection, decode_normalised
from hub.pipeline import ReadingSink
from hub.sensors import EARLIEST_TS_MS, SensorSpec, TimestampError, check_timestamp, check_values, make_reading
from hub.types import Reading, RejectReason, Rejection

#: Topic → matching (sensor, decoder) pairs, cached for wildcard filters; cleared past this size
#: because topics come from the outside world.
_MATCH_CACHE_LIMIT = 10000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class MqttIngest:
    """Turns MQTT messages into readings for one site."""

    def __init__(
        self,
        topic_root: str,
        sensors: Mapping[str, SensorSpec],
        sources: Mapping[str, MqttSourceConfig],
        sink: ReadingSink,
        *,
        max_future_s: float = 300.0,
        max_payload_bytes: int = 65536,
        clock_ms: Callable[[], int] = _now_ms,
    ):
        self._reading_prefix = f"{topic_root}/reading/"
        self._sensors = sensors
        self._sink = sink
        self._max_future_ms = int(max_future_s * 1000)
        self._max_payload_bytes = max_payload_bytes
        self._clock_ms = clock_ms
        self._exact: dict[str, list[tuple[SensorSpec, NativeDecoder]]] = {}
        self._wildcard: list[tuple[str, SensorSpec, NativeDecoder]] = []
        for sensor_id, source in sources.items():
            pair = (sensors[sensor_id], NativeDecoder(source))
            if "+" in source.topic or "#" in source.topic:
                self._wildcard.append((source.topic, *pair))
            else:
                self._exact.setdefault(source.topic, []).append(pair)
        self._cache: dict[str, list[tuple[SensorSpec, NativeDecoder]]] = {}
        self._last_receive_stamp: dict[str, int] = {}
        self._normalised_topics = {f"{self._reading_prefix}{spec.kind}/{spec.id}": spec for spec in sensors.values()}
        # Camera detections feed the sensors that name their camera (tag `camera`) and, for a
        # per-zone sensor, the zone (tag `zone`); a sensor without `zone` takes the whole view's.
        self._detection_prefix = f"{topic_root}/detection/"
        self._detection_targets: dict[tuple[str, str, str | None], list[SensorSpec]] = {}
        for spec in sensors.values():
            camera = spec.tags.get("camera")
            if camera is not None and spec.kind != "camera":
                self._detection_targets.setdefault((spec.kind, camera, spec.tags.get("zone")), []).append(spec)

    def subscriptions(self) -> list[str]:
        """Topic filters to subscribe to: the normalised readings and every native source."""
        filters = [f"{self._reading_prefix}+/+"]
        if self._detection_targets:
            filters.append(f"{self._detection_prefix}+/+")
        filters += sorted(set(self._exact) | {topic for topic, _, _ in self._wildcard})
        return filters

    def handle(self, topic: str, payload: bytes) -> None:
        """Decode, validate and hand on one message; every problem becomes a `Rejection`.

        The common case, a normalised reading `{"ts": <epoch ms>, "values": {<one field>: <number>}}`
        well within range, takes a fast path that gives exactly what the general path gives (a
        property test holds them equal); anything else takes the general path."""
        now_ms = self._clock_ms()
        spec = self._normalised_topics.get(topic)
        if spec is not None and len(payload) <= self._max_payload_bytes:
            try:
                document = orjson.loads(payload)
            except orjson.JSONDecodeError:
                document = None
            if type(document) is dict and len(document) == 2:
                values = document.get("values")
                ts_ms = document.get("ts")
                if type(values) is dict and len(values) == 1 and type(ts_ms) is int \
                        and EARLIEST_TS_MS <= ts_ms <= now_ms + self._max_future_ms:
                    ((name, raw),) = values.items()
                    bounds = spec.ranges.get(name)
                    # NaN fails both comparisons and so takes the general path, which names it.
                    if bounds is not None and (type(raw) is float or type(raw) is int) \
                            and bounds[0] <= raw <= bounds[1]:
                        self._sink.accept(Reading(spec.id, spec.kind, spec.area, ts_ms, {name: float(raw)}))
                        return
        self.handle_general(topic, payload, now_ms)

    def handle_general(self, topic: str, payload: bytes, now_ms: int) -> None:
        """The reference path for every message (the fast path in `handle` is tested against it)."""
        if len(payload) > self._max_payload_bytes:
            self._reject(RejectReason.TOO_LARGE, f"payload of {len(payload)} bytes", topic, payload, now_ms)
            return
        if topic.startswith(self._reading_prefix):
            self._handle_normalised(topic, payload, now_ms)
            return
        if topic.startswith(self._detection_prefix):
            self._handle_detection(topic, payload, now_ms)
            return
        targets = self._native_targets(topic)
        if not targets:
            self._reject(RejectReason.UNKNOWN_SENSOR, "no sensor is configured for this topic", topic, payload, now_ms)
            return
        for spec, decoder in targets:
            try:
                samples = decoder.decode(payload, now_ms)
            except DecodeError as error:
                self._reject(error.reason, error.detail, topic, payload, now_ms, spec.id)
                continue
            for sample in samples:
                self._emit(spec, sample, topic, payload, now_ms)

    def _handle_normalised(self, topic: str, payload: bytes, now_ms: int) -> None:
        parts = topic[len(self._reading_prefix):].split("/")
        if len(parts) != 2:
            self._reject(RejectReason.UNKNOWN_SENSOR, "topic is not <root>/reading/<kind>/<sensor>", topic, payload, now_ms)
            return
        kind, sensor_id = parts
        spec = self._sensors.get(sensor_id)
        if spec is None:
            self._reject(RejectReason.UNKNOWN_SENSOR, f"sensor {sensor_id!r} is not in the config", topic, payload, now_ms)
            return
        if spec.kind != kind:
            self._reject(
                RejectReason.KIND_MISMATCH, f"sensor {sensor_id!r} is a {spec.kind} sensor, topic says {kind!r}",
                topic, payload, now_ms, sensor_id,
            )
            return
        try:
            sample = decode_normalised(payload)
        except DecodeError as error:
            self._reject(error.reason, error.detail, topic, payload, now_ms, sensor_id)
            return
        self._emit(spec, sample, topic, payload, now_ms)

    def _handle_detection(self, topic: str, payload: bytes, now_ms: int) -> None:
        parts = topic[len(self._detection_prefix):].split("/")
        if len(parts) != 2:
            self._reject(RejectReason.UNKNOWN_SENSOR, "topic is not <root>/detection/<kind>/<camera>", topic, payload, now_ms)
            return
        kind, camera = parts
        try:
            sample, zone = decode_detection(payload)
        except DecodeError as error:
            self._reject(error.reason, error.detail, topic, payload, now_ms)
            return
        targets = self._detection_targets.get((kind, camera, zone))
        if not targets:
            where = f"zone {zone!r} of camera {camera!r}" if zone is not None else f"camera {camera!r}"
            self._reject(RejectReason.UNKNOWN_SENSOR, f"no {kind} sensor is fed by {where}", topic, payload, now_ms)
            return
        for spec in targets:
            self._emit(spec, sample, topic, payload, now_ms)

    def _emit(self, spec: SensorSpec, sample: RawSample, topic: str, payload: bytes, now_ms: int) -> None:
        if sample.ts_ms is None:
            # Receive time, made unique per sensor: two messages in one millisecond would
            # otherwise be one point in InfluxDB, the second overwriting the first.
            ts_ms = max(now_ms, self._last_receive_stamp.get(spec.id, 0) + 1)
            self._last_receive_stamp[spec.id] = ts_ms
        else:
            ts_ms = sample.ts_ms
        try:
            check_timestamp(ts_ms, now_ms, self._max_future_ms)
        except TimestampError as error:
            self._reject(error.reason, str(error), topic, payload, now_ms, spec.id)
            return
        accepted, problems = check_values(spec, sample.values)
        for problem in problems:
            self._reject(problem.reason, problem.detail, topic, payload, now_ms, spec.id, (problem.field,))
        if accepted:
            self._sink.accept(make_reading(spec, ts_ms, accepted, sample.quality))

    def _native_targets(self, topic: str) -> list[tuple[SensorSpec, NativeDecoder]]:
        exact = self._exact.get(topic)
        if not self._wildcard:
            return exact or []
        cached = self._cache.get(topic)
        if cached is None:
            cached = list(exact or [])
            cached += [(spec, decoder) for pattern, spec, decoder in self._wildcard if topic_matches_sub(pattern, topic)]
            if len(self._cache) >= _MATCH_CACHE_LIMIT:
                self._cache.clear()
            self._cache[topic] = cached
        return cached

    def _reject(
        self,
        reason: RejectReason,
        detail: str,
        topic: str,
        payload: bytes,
        now_ms: int,
        sensor: str | None = None,
        fields: tuple[str, ...] = (),
    ) -> None:
        self._sink.reject(Rejection(reason, detail, topic, payload, now_ms, sensor, fields))
