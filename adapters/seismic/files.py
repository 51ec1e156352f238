"""Waveform files (miniSEED, SAC and whatever else ObsPy reads) as the packets a station would
have sent, so that replaying a recording goes through the same ring buffers and detectors as the
live stream. Traces are matched to stations by the station code (a station's `station_code`, its
SeedLink code, or its sensor id), components by the last letter of the channel code (Z; N or 1; E or 2); samples
are divided by the station's `counts_per_m_s2` when it has a SeedLink stream (raw counts),
and taken as m/s² otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from adapters.seismic.config import SeismicSourceConfig
from adapters.seismic.packets import WavePacket

_COMPONENTS = {"Z": "z", "N": "n", "1": "n", "E": "e", "2": "e"}


class WaveformFileError(ValueError):
    """A file that cannot be read as waveforms of the configured stations."""


def _station_of(code: str, sources: Mapping[str, SeismicSourceConfig]) -> str | None:
    for sensor, source in sources.items():
        if source.seedlink is not None and source.seedlink.station == code:
            return sensor
    for sensor, source in sources.items():
        if source.station_code == code or sensor.lower() == code.lower():
            return sensor
    return None


def read_packets(path: Path, fmt: str | None, sources: Mapping[str, SeismicSourceConfig],
                 sensor: str | None = None, packet_s: float = 1.0) -> list[tuple[str, WavePacket]]:
    """Every trace of the file cut into packets of `packet_s` seconds, as (sensor, packet) in the
    order of their first sample's time (stations interleaved as live data would arrive)."""
    from obspy import read  # imported here: ObsPy is heavy and only replay and SeedLink need it

    try:
        stream = read(str(path), format=fmt.upper() if fmt else None)
    except Exception as error:  # noqa: BLE001 - ObsPy raises many types for unreadable files
        raise WaveformFileError(f"{path}: cannot read waveforms: {error}") from None
    per_station: dict[str, dict[str, list]] = {}
    for trace in stream:
        target = sensor or _station_of(trace.stats.station, sources)
        if target is None:
            raise WaveformFileError(
                f"{path}: trace {trace.id} matches no waveform station (station codes or sensor ids: "
                f"{', '.join(sorted(sources))}); name the sensor with --sensor")
        component = _COMPONENTS.get(trace.stats.channel[-1:].upper()) if trace.stats.channel else "z"
        if component is None:
            raise WaveformFileError(f"{path}: trace {trace.id}: component {trace.stats.channel[-1:]!r} is not Z/N/E/1/2")
        per_station.setdefault(target, {}).setdefault(component, []).append(trace)
    packets: list[tuple[str, WavePacket]] = []
    for target, components in per_station.items():
        if "z" not in components:
            raise WaveformFileError(f"{path}: station {target} has no vertical (Z) trace")
        source = sources[target]
        gain = source.seedlink.counts_per_m_s2 if source.seedlink is not None else 1.0
        for z_trace in components["z"]:
            rate = float(z_trace.stats.sampling_rate)
            start_ns = z_trace.stats.starttime.ns
            period_ns = 1e9 / rate
            channels = {"z": np.asarray(z_trace.data, dtype=np.float64)}
            for name in ("n", "e"):
                for other in components.get(name, []):
                    offset = (other.stats.starttime.ns - start_ns) / period_ns
                    if other.stats.sampling_rate == rate and abs(offset) < 0.5:
                        channels[name] = np.asarray(other.data, dtype=np.float64)
            length = min(len(values) for values in channels.values())
            if set(channels) != {"z"} and set(channels) != {"z", "n", "e"}:
                channels = {"z": channels["z"]}
                length = len(channels["z"])
            step = max(1, int(round(packet_s * rate)))
            for first in range(0, length, step):
                piece = {name: values[first:min(first + step, length)] / gain for name, values in channels.items()}
                packets.append((target, WavePacket(start_ns + round(first * period_ns), rate, piece)))
    packets.sort(key=lambda item: (item[1].end_ns, item[0]))
    return packets
