"""Streaming signal processing for strong-motion stations: a causal Butterworth band-pass and a
recursive STA/LTA whose state carries from one packet to the next, so that processing a trace in
packets of any size gives the characteristic function of the batch computation over the whole
trace (ObsPy's `bandpass(zerophase=False)` followed by `recursive_sta_lta`), and on/off trigger
hysteresis that gives ObsPy's `trigger_onset` picks. Each fast (vectorised) function has a plain
per-sample reference next to it that the tests hold it equal to, as ObsPy keeps
`classic_sta_lta` and `classic_sta_lta_py`.

References: Allen (1978), Automatic earthquake recognition and timing from single traces, BSSA
68(5); Withers et al. (1998), A comparison of select trigger algorithms for automated global
seismic phase and event detection, BSSA 88(1), p. 98 (the recursive STA/LTA); Trnkoczy (2012),
Understanding and parameter setting of STA/LTA trigger algorithm, NMSOP-2 IS 8.1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

try:  # SciPy's C kernel of `sosfilt`: the public function spends ~100 µs per call checking and
    # reshaping, more than filtering a 1 s packet takes. Held equal to `sosfilt` by the tests.
    from scipy.signal._sosfilt import _sosfilt as _sosfilt_kernel
except ImportError:  # pragma: no cover - another SciPy layout: the public function is as exact
    _sosfilt_kernel = None

#: The smallest positive float: the initial LTA of ObsPy's recursive STA/LTA (no division by 0).
_TINY = float(np.finfo(np.float64).tiny)


def bandpass_sos(freqmin_hz: float, freqmax_hz: float, sampling_rate_hz: float, corners: int = 4) -> np.ndarray:
    """Second-order sections of a Butterworth band-pass with `corners` poles per corner, designed
    as ObsPy's `obspy.signal.filter.bandpass` does (zpk → sos); above Nyquist the upper corner is
    dropped and the filter is a high-pass at `freqmin_hz`, again as ObsPy does it."""
    nyquist = 0.5 * sampling_rate_hz
    low = freqmin_hz / nyquist
    high = freqmax_hz / nyquist
    if low <= 0 or low >= 1:
        raise ValueError(f"band-pass lower corner {freqmin_hz:g} Hz must lie in (0, {nyquist:g}) Hz")
    if high >= 1.0:
        zeros, poles, gain = signal.iirfilter(corners, low, btype="highpass", ftype="butter", output="zpk")
    else:
        zeros, poles, gain = signal.iirfilter(corners, [low, high], btype="band", ftype="butter", output="zpk")
    return signal.zpk2sos(zeros, poles, gain)


def highpass_sos(freq_hz: float, sampling_rate_hz: float, corners: int = 2) -> np.ndarray:
    """Second-order sections of a Butterworth high-pass (offset and drift removal before peaks)."""
    zeros, poles, gain = signal.iirfilter(corners, freq_hz / (0.5 * sampling_rate_hz), btype="highpass",
                                          ftype="butter", output="zpk")
    return signal.zpk2sos(zeros, poles, gain)


def initial_filter_state(sos: np.ndarray, first_sample: float, steady: bool) -> np.ndarray:
    """The filter's state before the first sample: at rest (zeros, as a batch filter starts), or
    the steady state for a constant input equal to the first sample, so that an offset (gravity
    on a MEMS vertical, a DC bias) does not ring through the filter at start."""
    zi = signal.sosfilt_zi(sos)
    return zi * first_sample if steady else np.zeros_like(zi)


def sosfilt_stream(sos: np.ndarray, samples: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`scipy.signal.sosfilt(sos, samples, zi=zi)` for one 1-D float64 signal, with less
    overhead per call (what a stream of short packets needs): the filtered samples and the state
    after them. Exactly what `sosfilt` computes (same kernel), tested against `sosfilt_reference`."""
    if _sosfilt_kernel is None:
        return signal.sosfilt(sos, samples, zi=zi)
    out = np.array(samples, dtype=np.float64, order="C").reshape(1, -1)
    state = np.array(zi, dtype=np.float64, order="C").reshape(1, sos.shape[0], 2)
    _sosfilt_kernel(np.ascontiguousarray(sos, dtype=np.float64), out, state)
    return out[0], state[0]


def sosfilt_reference(sos: np.ndarray, samples: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plain per-sample cascade of transposed direct-form II biquads (what `scipy.signal.sosfilt`
    computes): the reference the vectorised filter is tested against."""
    out = np.array(samples, dtype=np.float64)
    state = np.array(zi, dtype=np.float64)
    for section in range(sos.shape[0]):
        b0, b1, b2, _, a1, a2 = sos[section]
        z0, z1 = state[section]
        for i in range(len(out)):
            x = out[i]
            y = b0 * x + z0
            z0 = b1 * x - a1 * y + z1
            z1 = b2 * x - a2 * y
            out[i] = y
        state[section] = (z0, z1)
    return out, state


@dataclass(slots=True)
class StaLtaState:
    """State of a streaming recursive STA/LTA: the two averages after the last sample and how many
    samples have been seen (the first `nlta` give 0, as in ObsPy, while the LTA fills)."""

    sta: float = 0.0
    lta: float = _TINY
    samples_seen: int = 0


def recursive_sta_lta_stream(samples: np.ndarray, nsta: int, nlta: int, state: StaLtaState) -> np.ndarray:
    """The recursive STA/LTA characteristic function of the next `samples`, updating `state` in
    place. Over any split of a trace into consecutive packets, the concatenated output equals
    ObsPy's `recursive_sta_lta(trace, nsta, nlta)` (Withers et al. 1998): STA_i = c_s x_i² +
    (1 − c_s) STA_{i−1} with c_s = 1/nsta, the same for the LTA with 1/nlta, the very first sample
    of the stream skipped and the first nlta outputs set to 0. Each average is a first-order IIR
    filter, so `scipy.signal.lfilter` evaluates it in C with the state carried as its `zi`."""
    squared = np.square(np.asarray(samples, dtype=np.float64))
    count = len(squared)
    cft = np.zeros(count)
    if count == 0:
        return cft
    start = 0
    if state.samples_seen == 0:
        start = 1  # ObsPy's loop starts at the second sample; the first gives 0.
    if count > start:
        c_sta = 1.0 / nsta
        c_lta = 1.0 / nlta
        body = squared[start:]
        sta, zf_sta = signal.lfilter([c_sta], [1.0, -(1.0 - c_sta)], body, zi=[(1.0 - c_sta) * state.sta])
        lta, zf_lta = signal.lfilter([c_lta], [1.0, -(1.0 - c_lta)], body, zi=[(1.0 - c_lta) * state.lta])
        cft[start:] = sta / lta
        state.sta = float(sta[-1])
        state.lta = float(lta[-1])
    first = state.samples_seen
    if first < nlta:
        cft[: min(count, nlta - first)] = 0.0
    state.samples_seen += count
    return cft


def recursive_sta_lta_reference(samples: np.ndarray, nsta: int, nlta: int) -> np.ndarray:
    """Plain loop of the recursive STA/LTA over a whole trace (ObsPy's `recursive_sta_lta_py`)."""
    squared = np.square(np.asarray(samples, dtype=np.float64))
    c_sta, c_lta = 1.0 / nsta, 1.0 / nlta
    sta, lta = 0.0, _TINY
    cft = np.zeros(len(squared))
    for i in range(1, len(squared)):
        sta = c_sta * squared[i] + (1.0 - c_sta) * sta
        lta = c_lta * squared[i] + (1.0 - c_lta) * lta
        cft[i] = sta / lta
    cft[:nlta] = 0.0
    return cft


@dataclass(frozen=True, slots=True)
class TriggerSpan:
    """One trigger: the sample indices (counted from the stream's start) of its first sample at
    or above the on threshold and of its last sample at or above the off threshold."""

    on_index: int
    off_index: int
    peak_cft: float


@dataclass(slots=True)
class TriggerState:
    """State of the streaming trigger: whether it is on, since which sample, its peak so far, and
    the index of the next sample."""

    active: bool = False
    on_index: int = 0
    peak_cft: float = 0.0
    next_index: int = 0


def trigger_stream(cft: np.ndarray, on: float, off: float, state: TriggerState) -> tuple[list[int], list[TriggerSpan]]:
    """On/off hysteresis over the next `cft` samples (Allen 1978; ObsPy's `trigger_onset`): a
    trigger turns on at the first sample ≥ `on` and ends with the last sample ≥ `off` before one
    below it. Returns the indices of the triggers that turned on in these samples and the spans
    that ended in them; `state` is updated in place. Over any split into packets the spans equal
    `trigger_onset(whole_cft, on, off)` for every trigger that has ended."""
    if off > on:
        raise ValueError(f"off threshold {off:g} must not exceed on threshold {on:g}")
    onsets: list[int] = []
    ended: list[TriggerSpan] = []
    base = state.next_index
    position = 0
    count = len(cft)
    while position < count:
        rest = cft[position:]
        if not state.active:
            above = np.flatnonzero(rest >= on)
            if len(above) == 0:
                break
            position += int(above[0])
            state.active = True
            state.on_index = base + position
            state.peak_cft = 0.0
            onsets.append(state.on_index)
            continue
        below = np.flatnonzero(rest < off)
        stop = int(below[0]) if len(below) else len(rest)
        if stop:
            state.peak_cft = max(state.peak_cft, float(rest[:stop].max()))
        if not len(below):
            break
        position += stop
        ended.append(TriggerSpan(state.on_index, base + position - 1, state.peak_cft))
        state.active = False
    state.next_index = base + count
    return onsets, ended


def trigger_reference(cft: np.ndarray, on: float, off: float) -> list[tuple[int, int]]:
    """Plain per-sample hysteresis over a whole characteristic function: (on, off) index pairs of
    the triggers that ended, the reference of `trigger_stream`."""
    spans = []
    active = False
    start = 0
    for i, value in enumerate(cft):
        if not active and value >= on:
            active, start = True, i
        elif active and value < off:
            spans.append((start, i - 1))
            active = False
    return spans
