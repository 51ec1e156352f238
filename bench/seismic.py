"""Seismic benchmark: how many 100 Hz station-channels one core processes in real time through
the hub's streaming chain (1 s packets; band-pass, recursive STA/LTA, trigger hysteresis, peaks,
per-second summaries), side by side in the same run with ObsPy's `bandpass` + C
`recursive_sta_lta` over the same data as whole traces (batch, no per-packet work: the limit a
streaming detector is up against). Also the full path from wire packets (JSON decode, ring
buffer) and three-component stations. Figures are medians of `repeats`."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from bench import BenchResult, Row


@dataclass(frozen=True)
class SeismicSettings:
    """What to measure."""

    stations: int = 20
    seconds: int = 600
    sampling_rate_hz: float = 100.0
    repeats: int = 3


def _median_time(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(settings: SeismicSettings) -> BenchResult:
    """Measure and compare; see the module docstring."""
    from obspy.signal.filter import bandpass
    from obspy.signal.trigger import recursive_sta_lta

    from adapters.seismic.packets import decode_packet
    from adapters.seismic.ringbuffer import StationBuffer
    from firmware_sim.seismic import Earthquake, Scenario, Station, packets, synthesize
    from rules.seismic.config import DetectorConfig
    from rules.seismic.station import StationProcessor

    rate = settings.sampling_rate_hz
    step = int(rate)
    stations = [Station(f"s{i}", 42.6 + 0.01 * i, 25.4) for i in range(settings.stations)]
    scenario = Scenario(stations, settings.seconds, rate, earthquake=Earthquake(settings.seconds / 2, 42.5, 25.2, 10, 5))
    traces = synthesize(scenario)
    config = DetectorConfig()
    nsta, nlta = round(config.sta_s * rate), round(config.lta_s * rate)
    channel_seconds = settings.stations * settings.seconds

    def ours_z() -> None:
        for station, components in traces.items():
            processor = StationProcessor(station, config)
            z = components["z"]
            for first in range(0, len(z), step):
                processor.process(scenario.start_ns + first * 10_000_000, rate, {"z": z[first:first + step]})

    def ours_3c() -> None:
        for station, components in traces.items():
            processor = StationProcessor(station, config)
            for first in range(0, len(components["z"]), step):
                processor.process(scenario.start_ns + first * 10_000_000, rate,
                                  {name: values[first:first + step] for name, values in components.items()})

    def obspy_z() -> None:
        for components in traces.values():
            filtered = bandpass(components["z"], config.freqmin_hz, config.freqmax_hz, rate, corners=config.corners,
                                zerophase=False)
            recursive_sta_lta(filtered, nsta, nlta)

    def obspy_z_per_packet() -> None:
        # The same calls per 1 s packet, without carried state (wrong at every packet start):
        # the overhead a library call per packet costs.
        for components in traces.values():
            z = components["z"]
            for first in range(0, len(z), step):
                filtered = bandpass(z[first:first + step], config.freqmin_hz, config.freqmax_hz, rate,
                                    corners=config.corners, zerophase=False)
                recursive_sta_lta(filtered, nsta, min(nlta, step - 1))

    wire = packets(scenario, traces, "ews/bench")

    def ours_wire() -> None:
        buffers = {s.id: StationBuffer() for s in stations}
        processors = {s.id: StationProcessor(s.id, config) for s in stations}
        for packet in wire:
            for block in buffers[packet.station].add(decode_packet(packet.payload)):
                processors[packet.station].process(block.start_ns, block.sampling_rate_hz, block.channels,
                                                   block.continuous)

    t_ours = _median_time(ours_z, settings.repeats)
    t_obspy = _median_time(obspy_z, settings.repeats)
    t_obspy_packets = _median_time(obspy_z_per_packet, settings.repeats)
    t_3c = _median_time(ours_3c, settings.repeats)
    t_wire = _median_time(ours_wire, max(1, settings.repeats - 1))
    ours_rt = channel_seconds / t_ours
    obspy_rt = channel_seconds / t_obspy
    rows = [
        Row("seismic: Z channels at 100 Hz in real time per core (1 s packets vs ObsPy batch)", "channels",
            ours_rt, obspy_rt),
        Row("seismic: Z channels at 100 Hz in real time per core (vs ObsPy called per 1 s packet)", "channels",
            ours_rt, channel_seconds / t_obspy_packets),
        Row("seismic: 3-component stations at 100 Hz in real time per core", "stations", channel_seconds / t_3c),
        Row("seismic: 3-component stations from JSON packets (decode, ring buffer, DSP)", "stations",
            channel_seconds / t_wire),
    ]
    details = {
        "settings": settings.__dict__, "seconds_ours_z": t_ours, "seconds_obspy_z": t_obspy, "seconds_obspy_z_per_packet": t_obspy_packets,
        "seconds_ours_3c": t_3c, "seconds_wire_3c": t_wire, "channel_seconds": channel_seconds,
        "realtime_channels_ours": ours_rt, "realtime_channels_obspy_batch": obspy_rt, "ratio": ours_rt / obspy_rt,
        "numpy": np.__version__,
    }
    return BenchResult("seismic", rows, details)


if __name__ == "__main__":
    from bench import format_table

    result = run(SeismicSettings())
    print(format_table(result.rows))
