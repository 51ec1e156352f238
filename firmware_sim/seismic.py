"""Synthetic strong-motion stations: three-component accelerograms for N stations with
background noise, P and S arrivals from an earthquake (travel times from the epicentre and depth,
peak acceleration scaling with magnitude and distance), and transients that are not earthquakes
(a passing truck, a slammed door) at single stations. Published as DESIGN.md's waveform packets
over MQTT, in real time or accelerated, and written to miniSEED. Knows the hub only by its wire
format.

Physics kept simple and cited: straight rays in a uniform crust (vp 6.0 km/s, vs 3.5 km/s, about
the upper crust of the Balkanides); S-wave peak acceleration from Campbell (1981), Near-source
attenuation of peak horizontal acceleration, BSSA 71(6): ln PGA[g] = −4.141 + 0.868 M −
1.09 ln(R + 0.0606 e^{0.7 M}); P-wave peaks a fraction of the S peak (vertical ≈ 0.3, horizontal
≈ 0.1); phase envelopes with a sharp onset and a decay growing with magnitude and distance."""

from __future__ import annotations

import argparse
import math
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import orjson

from firmware_sim.signals import AcceleratedClock, Clock

G_M_S2 = 9.80665
VP_KM_S = 6.0
VS_KM_S = 3.5
EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class Station:
    """A simulated accelerometer: its sensor id, location and noise level."""

    id: str
    lat: float
    lon: float
    code: str = ""
    noise_g: float = 0.0005
    components: tuple[str, ...] = ("z", "n", "e")


@dataclass(frozen=True)
class Earthquake:
    """A source: origin time (s after the start of the simulation), hypocentre, magnitude."""

    origin_s: float
    lat: float
    lon: float
    depth_km: float
    magnitude: float


@dataclass(frozen=True)
class Transient:
    """Something shaking one station that is not an earthquake: `truck` (emergent, ~10 s of
    2–15 Hz traffic rumble) or `door` (an impulsive slam decaying in a fraction of a second)."""

    station: str
    kind: str
    start_s: float
    peak_g: float


@dataclass
class Scenario:
    """What to simulate: stations, duration and rate, and the events."""

    stations: Sequence[Station]
    duration_s: float
    sampling_rate_hz: float = 100.0
    start_ns: int = 1_780_000_000_000_000_000
    earthquake: Earthquake | None = None
    transients: Sequence[Transient] = field(default_factory=tuple)
    gravity_on_z: bool = True
    seed: int = 1


def epicentral_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def hypocentral_km(quake: Earthquake, station: Station) -> float:
    """Straight-line distance from the hypocentre to the station, in km."""
    return math.hypot(epicentral_km(quake.lat, quake.lon, station.lat, station.lon), quake.depth_km)


def arrivals_s(quake: Earthquake, station: Station) -> tuple[float, float]:
    """True P and S arrival times at the station, in s after the start of the simulation."""
    distance = hypocentral_km(quake, station)
    return quake.origin_s + distance / VP_KM_S, quake.origin_s + distance / VS_KM_S


def campbell_pga_g(magnitude: float, distance_km: float) -> float:
    """Median peak horizontal acceleration in g, Campbell (1981)."""
    return math.exp(-4.141 + 0.868 * magnitude - 1.09 * math.log(distance_km + 0.0606 * math.exp(0.7 * magnitude)))


def _burst(rng: np.random.Generator, count: int, rate: float, band: tuple[float, float]) -> np.ndarray:
    from scipy import signal  # here: `ews` builds its parser with this module imported

    sos = signal.butter(4, [band[0], min(band[1], 0.45 * rate)], btype="band", fs=rate, output="sos")
    return signal.sosfilt(sos, rng.normal(size=count))


def _phase(rng: np.random.Generator, times: np.ndarray, onset_s: float, rise_s: float, decay_s: float,
           peak_m_s2: float, rate: float, band: tuple[float, float]) -> np.ndarray:
    local = times - onset_s
    envelope = np.where(local < 0, 0.0, np.minimum(1.0, local / rise_s) * np.exp(-np.maximum(0.0, local - rise_s) / decay_s))
    wave = _burst(rng, len(times), rate, band) * envelope
    peak = np.max(np.abs(wave)) if len(wave) else 0.0
    return wave * (peak_m_s2 / peak) if peak > 0 else wave


def synthesize(scenario: Scenario) -> dict[str, dict[str, np.ndarray]]:
    """Acceleration in m/s² per station and component (`z` includes gravity when asked)."""
    rng = np.random.default_rng(scenario.seed)
    rate = scenario.sampling_rate_hz
    count = int(round(scenario.duration_s * rate))
    times = np.arange(count) / rate
    out: dict[str, dict[str, np.ndarray]] = {}
    for station in scenario.stations:
        traces = {name: rng.normal(scale=station.noise_g * G_M_S2, size=count) for name in station.components}
        quake = scenario.earthquake
        if quake is not None:
            distance = hypocentral_km(quake, station)
            p_s, s_s = arrivals_s(quake, station)
            pga = campbell_pga_g(quake.magnitude, distance) * G_M_S2
            decay = 0.5 + 0.4 * 10 ** (0.5 * (quake.magnitude - 5.0)) + 0.03 * distance
            for name in traces:
                p_share = 0.3 if name == "z" else 0.1
                s_share = 0.5 if name == "z" else 1.0
                traces[name] += _phase(rng, times, p_s, 0.05, 0.6 * decay, p_share * pga, rate, (2.0, 15.0))
                traces[name] += _phase(rng, times, s_s, 0.3, decay, s_share * pga, rate, (0.8, 10.0))
        for transient in scenario.transients:
            if transient.station != station.id:
                continue
            peak = transient.peak_g * G_M_S2
            for name in traces:
                if transient.kind == "truck":
                    envelope = np.exp(-0.5 * ((times - transient.start_s - 6.0) / 2.5) ** 2)
                    wave = _burst(rng, count, rate, (2.0, 15.0)) * envelope
                elif transient.kind == "door":
                    local = times - transient.start_s
                    wave = np.where(local < 0, 0.0, np.exp(-np.maximum(local, 0) / 0.08)) * _burst(rng, count, rate, (5.0, 40.0))
                else:
                    raise ValueError(f"unknown transient kind {transient.kind!r} (truck, door)")
                top = np.max(np.abs(wave))
                traces[name] += wave * (peak / top if top > 0 else 0.0) * (1.0 if name == "z" else 0.7)
        if scenario.gravity_on_z and "z" in traces:
            traces["z"] += G_M_S2
        out[station.id] = traces
    return out


def iso_ns(ts_ns: int) -> str:
    """ns since the epoch → ISO 8601 UTC with microseconds."""
    seconds, rest = divmod(ts_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest // 1000)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Packet:
    """One waveform packet: when its last sample exists (s after the start), topic, payload."""

    due_s: float
    station: str
    topic: str
    payload: bytes


def packets(scenario: Scenario, traces: dict[str, dict[str, np.ndarray]], topic_root: str,
            packet_s: float = 1.0, decimals: int = 6) -> list[Packet]:
    """The traces as DESIGN.md's waveform packets, every station's in time order, all stations
    interleaved by when a station would have sent them (its last sample's time)."""
    rate = scenario.sampling_rate_hz
    step = max(1, int(round(packet_s * rate)))
    out = []
    for station, components in traces.items():
        length = len(next(iter(components.values())))
        for first in range(0, length, step):
            stop = min(first + step, length)
            t0_ns = scenario.start_ns + round(first * 1e9 / rate)
            body = {"t0": iso_ns(t0_ns), "sr": rate, "unit": "m/s2"}
            for name, values in components.items():
                body[name] = np.round(values[first:stop], decimals).tolist()
            out.append(Packet(stop / rate, station, f"{topic_root}/wave/seismic/{station}", orjson.dumps(body)))
    out.sort(key=lambda p: (p.due_s, p.station))
    return out


def write_mseed(path: str, scenario: Scenario, traces: dict[str, dict[str, np.ndarray]], network: str = "XX") -> None:
    """The traces as a miniSEED file (channels HNZ/HNN/HNE, float64, in m/s²), station codes from
    each station's `code` (or its id upper-cased, cut to 5 characters)."""
    from obspy import Stream, Trace, UTCDateTime

    codes = {s.id: (s.code or s.id.upper().replace("-", "")[:5]) for s in scenario.stations}
    stream = Stream()
    for station, components in traces.items():
        for name, values in components.items():
            stats = {"network": network, "station": codes[station], "location": "", "channel": f"HN{name.upper()}",
                     "sampling_rate": scenario.sampling_rate_hz, "starttime": UTCDateTime(ns=scenario.start_ns)}
            stream.append(Trace(np.asarray(values, dtype=np.float64), header=stats))
    stream.write(path, format="MSEED", encoding="FLOAT64")


def publish_paced(publish: Callable[[str, bytes], None], items: Iterable[Packet], clock: Clock,
                  wait: Callable[[float], None]) -> int:
    """Publish each packet once simulated time (`clock`) has reached its due time; `wait(s)` waits
    wall-clock seconds (an Event's wait, so a stop interrupts it). Returns the count."""
    sent = 0
    for item in items:
        while (ahead := item.due_s - clock.now_s()) > 0:
            wait(min(ahead, 0.5))
        publish(item.topic, item.payload)
        sent += 1
    return sent


def kazanlak_stations() -> list[Station]:
    """Four stations around Kazanlak (the sensors of examples/kazanlak/site.yaml)."""
    return [
        Station("seismic-kazanlak-wave", 42.6180, 25.3970, "KZL01"),
        Station("seismic-shipka", 42.7167, 25.3333, "KZL02"),
        Station("seismic-koprinka", 42.6030, 25.3120, "KZL03"),
        Station("seismic-enina", 42.6560, 25.4150, "KZL04"),
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options (shared by `python -m firmware_sim.seismic` and `ews sim seismic`)."""
    parser.add_argument("--magnitude", type=float, default=5.0, help="moment magnitude (default 5.0)")
    parser.add_argument("--epicentre", type=float, nargs=2, default=(42.45, 25.10), metavar=("LAT", "LON"),
                        help="epicentre (default 42.45 25.10, towards Chirpan)")
    parser.add_argument("--depth-km", type=float, default=10.0, help="hypocentre depth in km (default 10)")
    parser.add_argument("--duration-s", type=float, default=90.0, help="seconds simulated (default 90)")
    parser.add_argument("--origin-s", type=float, default=40.0, help="origin time after the start, s (default 40)")
    parser.add_argument("--truck", metavar="STATION", help="a truck passes this station 20 s in")
    parser.add_argument("--door", metavar="STATION", help="a door slams next to this station 25 s in")
    parser.add_argument("--mseed", help="write a miniSEED file instead of publishing")
    parser.add_argument("--host", default="127.0.0.1", help="MQTT broker host")
    parser.add_argument("--port", type=int, default=1883, help="MQTT broker port")
    parser.add_argument("--topic-root", default="ews/kazanlak", help="topic root (default ews/kazanlak)")
    parser.add_argument("--speed", type=float, default=1.0, help="time acceleration (1 = real time)")


def run(args: argparse.Namespace) -> int:
    """Simulate the Kazanlak stations as `args` say: publish over MQTT or write miniSEED."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    transients = []
    if args.truck:
        transients.append(Transient(args.truck, "truck", 20.0, 0.03))
    if args.door:
        transients.append(Transient(args.door, "door", 25.0, 0.2))
    now_ns = int(datetime.now(tz=UTC).timestamp()) * 1_000_000_000
    scenario = Scenario(kazanlak_stations(), args.duration_s, start_ns=now_ns, transients=transients,
                        earthquake=Earthquake(args.origin_s, *args.epicentre, args.depth_km, args.magnitude))
    traces = synthesize(scenario)
    if args.mseed:
        write_mseed(args.mseed, scenario, traces)
        print(f"wrote {args.mseed}", file=sys.stderr)
        return 0
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(args.host, args.port)
    client.loop_start()
    stop = threading.Event()
    count = publish_paced(lambda topic, payload: client.publish(topic, payload, qos=1),
                          packets(scenario, traces, args.topic_root), AcceleratedClock(args.speed), stop.wait)
    client.disconnect()
    client.loop_stop()
    print(f"{count} packets published", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m firmware_sim.seismic`: an earthquake (and optionally transients) near Kazanlak,
    published to a broker (accelerated by --speed) or written to miniSEED."""
    parser = argparse.ArgumentParser(prog="python -m firmware_sim.seismic", description=main.__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
