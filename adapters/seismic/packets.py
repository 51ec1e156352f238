"""Decoding of seismic waveform packets (DESIGN.md): `{"t0": "<ISO time of the first sample>",
"sr": 100.0, "unit": "m/s2", "z": [...], "n": [...], "e": [...]}`, `n`/`e` optional. Pure
functions from bytes to a `WavePacket` or a `DecodeError` naming the reason."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import orjson

from hub.types import RejectReason

#: Units a packet may carry and their factor to m/s².
UNITS_TO_M_S2: dict[str, float] = {"m/s2": 1.0, "m/s^2": 1.0, "g": 9.80665, "mg": 9.80665e-3, "cm/s2": 0.01, "gal": 0.01}
MAX_SAMPLING_RATE_HZ = 2000.0
MAX_SAMPLES = 20000


@dataclass(frozen=True, slots=True)
class WavePacket:
    """Samples of one station: time of the first sample (ns since the epoch), the rate, and the
    components (`z`, and `n`, `e` when sent) in m/s², all of one length."""

    t0_ns: int
    sampling_rate_hz: float
    channels: dict[str, np.ndarray]

    @property
    def samples(self) -> int:
        """Samples per component."""
        return len(self.channels["z"])

    @property
    def end_ns(self) -> int:
        """Time just after the last sample."""
        return self.t0_ns + round(self.samples * 1e9 / self.sampling_rate_hz)


class PacketError(ValueError):
    """A packet that cannot be used; `reason` is the pipeline's reject reason."""

    def __init__(self, reason: RejectReason, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_time_ns(text: object) -> int:
    """ISO 8601 with a zone (`2026-11-25T13:00:00.120Z`) or epoch milliseconds → ns since the epoch."""
    if isinstance(text, bool):
        raise PacketError(RejectReason.BAD_TIMESTAMP, "t0 is a boolean")
    if isinstance(text, int):
        return text * 1_000_000
    if not isinstance(text, str):
        raise PacketError(RejectReason.BAD_TIMESTAMP, f"t0 is {type(text).__name__}, not an ISO time")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PacketError(RejectReason.BAD_TIMESTAMP, f"t0 {text[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise PacketError(RejectReason.BAD_TIMESTAMP, "t0 has no time zone")
    # Whole seconds plus microseconds keep the exact time (a float timestamp loses it below ms).
    return int(moment.replace(microsecond=0).timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def decode_packet(payload: bytes) -> WavePacket:
    """A waveform packet from its JSON payload; raises `PacketError` on anything unusable."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise PacketError(RejectReason.MALFORMED, f"not JSON: {error}") from None
    if type(document) is not dict:
        raise PacketError(RejectReason.MALFORMED, "a waveform packet is a JSON object")
    for name in ("t0", "sr", "z"):
        if name not in document:
            raise PacketError(RejectReason.MISSING_FIELD, f"packet has no {name!r}")
    unknown = set(document) - {"t0", "sr", "unit", "z", "n", "e"}
    if unknown:
        raise PacketError(RejectReason.UNKNOWN_FIELD, f"packet has unknown fields {sorted(unknown)}")
    t0_ns = parse_time_ns(document["t0"])
    rate = document["sr"]
    if type(rate) not in (int, float) or not math.isfinite(rate) or not 0 < rate <= MAX_SAMPLING_RATE_HZ:
        raise PacketError(RejectReason.OUT_OF_RANGE, f"sr must be a rate in (0, {MAX_SAMPLING_RATE_HZ:g}] Hz")
    unit = document.get("unit", "m/s2")
    factor = UNITS_TO_M_S2.get(unit) if isinstance(unit, str) else None
    if factor is None:
        raise PacketError(RejectReason.WRONG_TYPE, f"unit {unit!r} is not one of {', '.join(UNITS_TO_M_S2)}")
    channels: dict[str, np.ndarray] = {}
    for name in ("z", "n", "e"):
        if name not in document:
            continue
        values = document[name]
        if type(values) is not list or not values:
            raise PacketError(RejectReason.WRONG_TYPE, f"{name} must be a non-empty list of numbers")
        if len(values) > MAX_SAMPLES:
            raise PacketError(RejectReason.TOO_LARGE, f"{name} holds {len(values)} samples (at most {MAX_SAMPLES})")
        if any(type(v) not in (int, float) for v in values):
            raise PacketError(RejectReason.WRONG_TYPE, f"{name} holds something other than numbers")
        array = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise PacketError(RejectReason.NOT_FINITE, f"{name} holds a value that is not finite")
        channels[name] = array * factor if factor != 1.0 else array
    lengths = {len(values) for values in channels.values()}
    if len(lengths) != 1:
        raise PacketError(RejectReason.MALFORMED, "components have different numbers of samples")
    return WavePacket(t0_ns, float(rate), channels)


def encode_packet(t0_iso: str, sampling_rate_hz: float, channels: dict[str, list[float]], unit: str = "m/s2") -> bytes:
    """The wire payload of a packet (for tools and tests; simulators write their own)."""
    return orjson.dumps({"t0": t0_iso, "sr": sampling_rate_hz, "unit": unit, **channels})
