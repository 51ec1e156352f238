"""One waveform station's streaming processor: contiguous blocks of samples in, per-second
summaries (peak ground acceleration in g, peak velocity in cm/s where the sampling allows, the
STA/LTA peak, the instrumental intensity) and trigger on/off events out. All state (filter
sections, STA/LTA averages, trigger hysteresis, the second being summarised) carries from one
block to the next, so results do not depend on how the stream was cut into packets. A block
that does not continue the previous one (a gap, a new sampling rate) restarts the station: the
filters start again and the STA/LTA warms up again for `lta_s` before it can trigger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from rules.seismic import dsp
from rules.seismic.config import DetectorConfig
from rules.seismic.intensity import STANDARD_GRAVITY_M_S2, instrumental_intensity

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class TriggerEvent:
    """A station's trigger turned on (`kind="on"`, at its onset) or ended (`kind="off"`, at its
    last sample at or above the off threshold, with its onset and peak ratio)."""

    sensor: str
    kind: str
    ts_ns: int
    on_ns: int
    peak_stalta: float = 0.0

    @property
    def duration_s(self) -> float:
        """Seconds from onset to this event."""
        return (self.ts_ns - self.on_ns) / 1e9


@dataclass(frozen=True, slots=True)
class SecondSummary:
    """Peaks of one station over one whole UTC second [ts_ms, ts_ms + 1000)."""

    sensor: str
    ts_ms: int
    values: Mapping[str, float]


@dataclass(slots=True)
class _Stream:
    anchor_ns: int
    sampling_rate_hz: float
    channels: tuple[str, ...]
    trigger_sos: np.ndarray
    trigger_zi: np.ndarray
    peak_sos: np.ndarray
    peak_zi: dict[str, np.ndarray]
    velocity_zi: dict[str, np.ndarray] | None
    velocity_hp_zi: dict[str, np.ndarray] | None
    stalta: dsp.StaLtaState
    trigger: dsp.TriggerState
    nsta: int
    nlta: int
    samples: int = 0
    second: int | None = None
    second_peaks: dict[str, float] = field(default_factory=dict)


class StationProcessor:
    """Streaming detector and peak meter of one station (see the module docstring)."""

    def __init__(self, sensor: str, config: DetectorConfig):
        self.sensor = sensor
        self.config = config
        self._stream: _Stream | None = None
        self.restarts = 0

    @property
    def triggered(self) -> bool:
        """True while the station's trigger is on."""
        return self._stream is not None and self._stream.trigger.active

    def process(self, start_ns: int, sampling_rate_hz: float, channels: Mapping[str, np.ndarray],
                continuous: bool = True) -> tuple[list[SecondSummary], list[TriggerEvent]]:
        """Process the next block: `channels` maps `z` (and optionally `n`, `e`) to acceleration
        in m/s², all of one length, the first sample at `start_ns` (ns since the epoch). With
        `continuous=False`, or a rate or channel set unlike the stream's, the station restarts
        (a pending second is summarised and a trigger in progress ends first)."""
        summaries: list[SecondSummary] = []
        events: list[TriggerEvent] = []
        z = np.asarray(channels["z"], dtype=np.float64)
        if len(z) == 0:
            return summaries, events
        stream = self._stream
        names = tuple(sorted(channels))
        if stream is None or not continuous or stream.sampling_rate_hz != sampling_rate_hz \
                or stream.channels != names:
            if stream is not None:
                self._close(stream, summaries, events)
                self.restarts += 1
            stream = self._stream = self._start(start_ns, sampling_rate_hz, channels)
        data = {name: np.asarray(values, dtype=np.float64) for name, values in channels.items()}
        first_index = stream.samples
        count = len(z)
        period_ns = _NS / sampling_rate_hz

        filtered, stream.trigger_zi = dsp.sosfilt_stream(stream.trigger_sos, data["z"], stream.trigger_zi)
        cft = dsp.recursive_sta_lta_stream(filtered, stream.nsta, stream.nlta, stream.stalta)
        onsets, spans = dsp.trigger_stream(cft, self.config.trigger_on, self.config.trigger_off, stream.trigger)

        horizontals = [name for name in ("n", "e") if name in data] or ["z"]
        acceleration = np.zeros(count)
        velocity = np.zeros(count) if stream.velocity_zi is not None else None
        for name in horizontals:
            high, stream.peak_zi[name] = dsp.sosfilt_stream(stream.peak_sos, data[name], stream.peak_zi[name])
            np.maximum(acceleration, np.abs(high), out=acceleration)
            if velocity is not None and stream.velocity_zi is not None and stream.velocity_hp_zi is not None:
                dt = 1.0 / sampling_rate_hz
                raw_velocity, stream.velocity_zi[name] = signal.lfilter(
                    [dt / 2, dt / 2], [1.0, -1.0], high, zi=stream.velocity_zi[name])
                detrended, stream.velocity_hp_zi[name] = dsp.sosfilt_stream(
                    stream.peak_sos, raw_velocity, stream.velocity_hp_zi[name])
                np.maximum(velocity, np.abs(detrended), out=velocity)

        times_ns = stream.anchor_ns + np.round(np.arange(first_index, first_index + count) * period_ns).astype(np.int64)
        seconds = times_ns // _NS
        boundaries = np.flatnonzero(np.diff(seconds)) + 1
        starts = np.concatenate(([0], boundaries))
        pga_per = np.maximum.reduceat(acceleration, starts) / STANDARD_GRAVITY_M_S2
        cft_per = np.maximum.reduceat(cft, starts)
        pgv_per = np.maximum.reduceat(velocity, starts) * 100.0 if velocity is not None else None
        for number, start in enumerate(starts):
            second = int(seconds[start])
            peaks = {"pga_g": float(pga_per[number]), "stalta": float(cft_per[number])}
            if pgv_per is not None:
                peaks["pgv_cm_s"] = float(pgv_per[number])
            if stream.second is not None and stream.second != second:
                summaries.append(self._summary(stream))
                stream.second_peaks = {}
            if stream.second == second:
                peaks = {key: max(value, stream.second_peaks.get(key, 0.0)) for key, value in peaks.items()}
            stream.second = second
            stream.second_peaks = peaks

        def at(index: int) -> int:
            return int(stream.anchor_ns + round(index * period_ns))

        # Events in sample order: an onset and an end in one block come out as they happened.
        ordered = [(index, 0, None) for index in onsets] + [(span.off_index, 1, span) for span in spans]
        for index, _, span in sorted(ordered, key=lambda item: (item[0], item[1])):
            if span is None:
                events.append(TriggerEvent(self.sensor, "on", at(index), at(index)))
            else:
                events.append(TriggerEvent(self.sensor, "off", at(span.off_index), at(span.on_index), span.peak_cft))
        stream.samples += count
        return summaries, events

    def flush(self) -> tuple[list[SecondSummary], list[TriggerEvent]]:
        """End of data (a replayed file): summarise the pending second and end a trigger in
        progress at the last sample."""
        summaries: list[SecondSummary] = []
        events: list[TriggerEvent] = []
        if self._stream is not None:
            self._close(self._stream, summaries, events)
            self._stream = None
        return summaries, events

    def _close(self, stream: _Stream, summaries: list[SecondSummary], events: list[TriggerEvent]) -> None:
        if stream.second is not None:
            summaries.append(self._summary(stream))
        if stream.trigger.active:
            period_ns = _NS / stream.sampling_rate_hz
            last = stream.anchor_ns + round((stream.samples - 1) * period_ns)
            on = stream.anchor_ns + round(stream.trigger.on_index * period_ns)
            events.append(TriggerEvent(self.sensor, "off", int(last), int(on), stream.trigger.peak_cft))

    def _summary(self, stream: _Stream) -> SecondSummary:
        peaks = dict(stream.second_peaks)
        peaks["intensity"] = instrumental_intensity(peaks["pga_g"], peaks.get("pgv_cm_s"))
        assert stream.second is not None
        return SecondSummary(self.sensor, stream.second * 1000, peaks)

    def _start(self, start_ns: int, sampling_rate_hz: float, channels: Mapping[str, np.ndarray]) -> _Stream:
        config = self.config
        steady = config.steady_start
        trigger_sos = dsp.bandpass_sos(config.freqmin_hz, config.freqmax_hz, sampling_rate_hz, config.corners)
        peak_sos = dsp.highpass_sos(config.peak_highpass_hz, sampling_rate_hz)
        horizontals = [name for name in ("n", "e") if name in channels] or ["z"]
        with_velocity = sampling_rate_hz >= config.pgv_min_rate_hz
        first = {name: float(np.asarray(values)[0]) for name, values in channels.items()}
        return _Stream(
            anchor_ns=start_ns,
            sampling_rate_hz=sampling_rate_hz,
            channels=tuple(sorted(channels)),
            trigger_sos=trigger_sos,
            trigger_zi=dsp.initial_filter_state(trigger_sos, first["z"], steady),
            peak_sos=peak_sos,
            peak_zi={name: dsp.initial_filter_state(peak_sos, first[name], True) for name in horizontals},
            velocity_zi={name: np.zeros(1) for name in horizontals} if with_velocity else None,
            velocity_hp_zi={name: np.zeros((peak_sos.shape[0], 2)) for name in horizontals} if with_velocity else None,
            stalta=dsp.StaLtaState(),
            trigger=dsp.TriggerState(),
            nsta=max(1, round(config.sta_s * sampling_rate_hz)),
            nlta=max(2, round(config.lta_s * sampling_rate_hz)),
        )
