"""Wiring of the seismic parts (kept out of `hub.app` so that file stays a short list of parts):
the waveform ingest (`adapters.seismic`) hands contiguous blocks to the rules' seismic network
(`rules.seismic`); its per-second summaries go into the pipeline like any reading (InfluxDB
measurement `seismic`, the rule engine) and its confirmation conditions to the alarm stage. Also
`ews replay` of miniSEED/SAC files through the same parts, printing triggers and alarm events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.seismic.ingest import SeismicIngest
from adapters.seismic.ringbuffer import Block, StationBuffer
from hub.alarms import Alarm, AlarmManager, AlarmStore
from hub.config import SiteConfig, seismic_sources, sensor_specs
from hub.pipeline import ReadingSink
from hub.types import Condition
from rules.engine import RuleEngine
from rules.seismic.network import NetworkOutput, SeismicNetwork
from rules.seismic.station import TriggerEvent


@dataclass
class SeismicParts:
    """The running seismic input: the ingest (ring buffers, worker thread), the network of
    detectors, and SeedLink clients when configured."""

    ingest: SeismicIngest
    network: SeismicNetwork
    seedlinks: list[Any] = field(default_factory=list)
    triggers: list[TriggerEvent] = field(default_factory=list)

    def start(self) -> None:
        """Start the worker thread and the SeedLink clients."""
        self.ingest.start()
        for client in self.seedlinks:
            client.start()

    def stop(self) -> None:
        """Stop the SeedLink clients, then process what is queued."""
        for client in self.seedlinks:
            client.stop()
        self.ingest.stop()


def build_seismic(config: SiteConfig, sink: ReadingSink,
                  offer_conditions: Callable[[list[Condition]], None] | None,
                  open_alarms: Iterable[Alarm] = ()) -> SeismicParts | None:
    """The seismic parts for `config`, or None without waveform stations. `open_alarms`: the
    alarms still open from the last run; the confirmation takes up its own (see its `resume`)."""
    sources = seismic_sources(config)
    if not sources:
        return None
    network = SeismicNetwork(config.seismic, sensor_specs(config), sources)
    if network.confirmation is not None:
        network.confirmation.resume(
            (alarm.rule, alarm.subject, alarm.level) for alarm in open_alarms if alarm.state != "cleared")
    recent: list[TriggerEvent] = []

    def on_block(sensor: str, block: Block) -> None:
        out = network.on_block(sensor, block.start_ns, block.sampling_rate_hz, block.channels, block.continuous)
        for reading in out.readings:
            sink.accept(reading)
        if out.triggers:
            recent.extend(out.triggers)
            del recent[:-1000]
        if out.conditions and offer_conditions is not None:
            offer_conditions(out.conditions)

    ingest = SeismicIngest(config.topic_root, sensor_specs(config), sources, sink, on_block,
                           max_payload_bytes=max(config.hub.max_payload_bytes, 262144))
    parts = SeismicParts(ingest, network, triggers=recent)
    seedlink_sources = {sensor: source for sensor, source in sources.items() if source.transport == "seedlink"}
    if seedlink_sources:
        from adapters.seismic.seedlink import SeedLinkSource

        parts.seedlinks = [SeedLinkSource(sensor, source.seedlink, ingest.submit)  # type: ignore[arg-type]
                           for sensor, source in seedlink_sources.items()]
    return parts


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def trigger_line(trigger: TriggerEvent) -> dict[str, Any]:
    """The JSON line `ews replay` prints for a station trigger turning on or off."""
    line: dict[str, Any] = {"time": _iso(trigger.ts_ns), "event": f"trigger_{trigger.kind}", "sensor": trigger.sensor,
                            "onset": _iso(trigger.on_ns)}
    if trigger.kind == "off":
        line["duration_s"] = round(trigger.duration_s, 3)
        line["peak_stalta"] = round(trigger.peak_stalta, 3)
    return line


def replay_waveforms(config: SiteConfig, path: Path, fmt: str | None, sensor: str | None) -> Iterator[dict[str, Any]]:
    """Replay a miniSEED/SAC file: packets through the ring buffers and the seismic network,
    summaries through the configured rules, conditions through an in-memory alarm manager.
    Yields JSON-ready lines: trigger on/off events and alarm events, in processing order."""
    from adapters.seismic.files import read_packets
    from hub.replay import event_line

    sources = seismic_sources(config)
    if sensor is not None and sensor not in sources:
        raise ValueError(f"sensor {sensor!r} is not a waveform station (source.seismic) in the config")
    specs = sensor_specs(config)
    network = SeismicNetwork(config.seismic, specs, sources)
    engine = RuleEngine(config.rules, specs, timezone=config.site.timezone)
    manager = AlarmManager(AlarmStore(":memory:"), config.alarms)
    buffers: Mapping[str, StationBuffer] = {
        s: StationBuffer(src.buffer_s, src.max_wait_s, src.max_fill_s) for s, src in sources.items()
    }

    def lines(out: NetworkOutput) -> Iterator[dict[str, Any]]:
        for trigger in out.triggers:
            yield trigger_line(trigger)
        for reading in out.readings:
            for condition in engine.tick(reading.ts_ms):
                yield from (event_line(e) for e in manager.apply(condition))
            yield from (event_line(e) for e in manager.tick(reading.ts_ms))
            for condition in engine.on_reading(reading):
                yield from (event_line(e) for e in manager.apply(condition))
        for condition in out.conditions:
            yield from (event_line(e) for e in manager.apply(condition))

    for station, packet in read_packets(path, fmt, sources, sensor):
        for block in buffers[station].add(packet):
            yield from lines(network.on_block(station, block.start_ns, block.sampling_rate_hz, block.channels,
                                              block.continuous))
    for station, buffer in buffers.items():
        for block in buffer.flush():
            yield from lines(network.on_block(station, block.start_ns, block.sampling_rate_hz, block.channels,
                                              block.continuous))
    yield from lines(network.flush())
