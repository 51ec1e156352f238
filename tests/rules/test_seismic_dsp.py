"""The streaming band-pass, recursive STA/LTA and trigger equal ObsPy's batch computation on the
whole trace for any packet sizes; the fast functions equal their plain references; a station's
summaries and triggers do not depend on how its stream was cut; intensities follow Wald et al."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from obspy.signal.filter import bandpass
from obspy.signal.trigger import recursive_sta_lta, trigger_onset
from scipy import signal

from rules.seismic import dsp
from rules.seismic.config import DetectorConfig
from rules.seismic.intensity import instrumental_intensity, intensity_from_pga, intensity_from_pgv, roman
from rules.seismic.station import StationProcessor


def _trace(seed: int, count: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    trace = rng.normal(size=count)
    start = count // 2
    trace[start:start + count // 8] += 15 * rng.normal(size=len(trace[start:start + count // 8]))
    return trace


def _split(count: int, cuts: list[int]) -> list[slice]:
    points = sorted({c % count for c in cuts} | {0, count})
    return [slice(a, b) for a, b in zip(points, points[1:], strict=False)]


@settings(max_examples=40)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(0, 10_000), max_size=40),
       nsta=st.integers(2, 60), nlta_extra=st.integers(1, 600))
def test_streaming_bandpass_and_sta_lta_equal_obspy_on_the_whole_trace(seed, cuts, nsta, nlta_extra) -> None:
    trace = _trace(seed, 3000)
    nlta = nsta + nlta_extra
    batch = recursive_sta_lta(bandpass(trace, 1.0, 20.0, 100.0, corners=4, zerophase=False), nsta, nlta)
    sos = dsp.bandpass_sos(1.0, 20.0, 100.0, 4)
    zi = dsp.initial_filter_state(sos, trace[0], steady=False)
    state = dsp.StaLtaState()
    pieces = []
    for part in _split(len(trace), cuts):
        filtered, zi = signal.sosfilt(sos, trace[part], zi=zi)
        pieces.append(dsp.recursive_sta_lta_stream(filtered, nsta, nlta, state))
    np.testing.assert_allclose(np.concatenate(pieces), batch, rtol=1e-9, atol=1e-12)


def test_fast_filters_equal_their_plain_references() -> None:
    trace = _trace(3, 2000)
    sos = dsp.bandpass_sos(0.5, 15.0, 100.0, 4)
    zi = dsp.initial_filter_state(sos, trace[0], steady=True)
    fast, fast_state = signal.sosfilt(sos, trace, zi=zi)
    slow, slow_state = dsp.sosfilt_reference(sos, trace, zi)
    np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast_state, slow_state, rtol=1e-10, atol=1e-12)
    state = zi
    pieces = []
    for part in _split(len(trace), [17, 400, 401, 1500]):
        piece, state = dsp.sosfilt_stream(sos, trace[part], state)
        pieces.append(piece)
    np.testing.assert_array_equal(np.concatenate(pieces), fast)
    np.testing.assert_array_equal(state, fast_state)
    stream = dsp.recursive_sta_lta_stream(fast, 50, 500, dsp.StaLtaState())
    np.testing.assert_allclose(stream, dsp.recursive_sta_lta_reference(fast, 50, 500), rtol=1e-10)


def test_steady_start_removes_an_offset_without_ringing() -> None:
    sos = dsp.bandpass_sos(1.0, 20.0, 100.0, 4)
    gravity = np.full(500, 9.80665)
    at_rest, _ = signal.sosfilt(sos, gravity, zi=dsp.initial_filter_state(sos, gravity[0], steady=False))
    steady, _ = signal.sosfilt(sos, gravity, zi=dsp.initial_filter_state(sos, gravity[0], steady=True))
    assert np.max(np.abs(at_rest)) > 1.0
    assert np.max(np.abs(steady)) < 1e-9


@settings(max_examples=60)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(0, 10_000), max_size=30),
       on=st.floats(1.5, 6.0), off_fraction=st.floats(0.2, 1.0))
def test_streaming_trigger_equals_obspy_trigger_onset(seed, cuts, on, off_fraction) -> None:
    trace = _trace(seed, 3000)
    cft = recursive_sta_lta(trace, 20, 300)
    off = on * off_fraction
    state = dsp.TriggerState()
    onsets, spans = [], []
    for part in _split(len(cft), cuts):
        new_onsets, ended = dsp.trigger_stream(cft[part], on, off, state)
        onsets += new_onsets
        spans += ended
    expected = [tuple(pair) for pair in trigger_onset(cft, on, off)]
    got = [(span.on_index, span.off_index) for span in spans]
    if state.active:  # ObsPy closes a trigger still on at the end of the trace; streaming waits
        got.append((state.on_index, len(cft) - 1))
    assert got == expected
    assert got[: len(dsp.trigger_reference(cft, on, off))] == dsp.trigger_reference(cft, on, off)
    assert onsets == [start for start, _ in got]
    for span in spans:
        assert span.peak_cft == pytest.approx(float(cft[span.on_index:span.off_index + 1].max()))


def _run_station(channels: dict[str, np.ndarray], sizes: list[int], start_ns: int) -> tuple[list, list]:
    processor = StationProcessor("s1", DetectorConfig(trigger_on=3.0, lta_s=5.0))
    summaries, events = [], []
    position = 0
    index = 0
    count = len(channels["z"])
    while position < count:
        size = sizes[index % len(sizes)]
        index += 1
        block = {name: values[position:position + size] for name, values in channels.items()}
        s, e = processor.process(start_ns + round(position * 1e9 / 100.0), 100.0, block)
        summaries += s
        events += e
        position += size
    s, e = processor.flush()
    return summaries + s, events + e


@settings(max_examples=15)
@given(sizes=st.lists(st.integers(1, 400), min_size=1, max_size=10), offset_ms=st.integers(0, 999))
def test_station_results_do_not_depend_on_packet_sizes(sizes, offset_ms) -> None:
    rng = np.random.default_rng(7)
    count = 3000
    channels = {name: rng.normal(scale=0.01, size=count) for name in ("z", "n", "e")}
    channels["z"] += 9.80665
    for values in channels.values():
        values[1500:1700] += rng.normal(scale=0.5, size=200)
    start_ns = 1_780_000_000_000_000_000 + offset_ms * 1_000_000
    reference = _run_station(channels, [count], start_ns)
    summaries, events = _run_station(channels, sizes, start_ns)
    assert [(s.ts_ms, set(s.values)) for s in summaries] == [(s.ts_ms, set(s.values)) for s in reference[0]]
    for got, want in zip(summaries, reference[0], strict=True):
        for key in want.values:
            assert got.values[key] == pytest.approx(want.values[key], rel=1e-9, abs=1e-12)
    assert [(e.kind, e.ts_ns, e.on_ns) for e in events] == [(e.kind, e.ts_ns, e.on_ns) for e in reference[1]]
    assert any(e.kind == "on" for e in events)
    assert [s.ts_ms for s in summaries] == sorted({s.ts_ms for s in summaries})
    assert all(s.ts_ms % 1000 == 0 for s in summaries)


def test_a_gap_restarts_the_station_and_warms_up_again() -> None:
    processor = StationProcessor("s1", DetectorConfig(lta_s=2.0))
    rng = np.random.default_rng(1)
    start = 1_780_000_000_000_000_000
    processor.process(start, 100.0, {"z": rng.normal(size=500)})
    # Right after the restart a burst must not trigger: the LTA has not filled yet.
    burst = np.concatenate([rng.normal(size=100), 50 * rng.normal(size=50)])
    _, events = processor.process(start + 10 * 10**9, 100.0, {"z": burst}, continuous=False)
    assert processor.restarts == 1
    assert not [e for e in events if e.kind == "on"]


def test_intensity_follows_wald_et_al_1999() -> None:
    # I = 3.66 log10(PGA cm/s²) − 1.66 at and above V; 2.20 log10(PGA) + 1.00 below.
    assert intensity_from_pga(92.0 / 980.665) == pytest.approx(3.66 * np.log10(92.0) - 1.66, abs=1e-9)
    assert intensity_from_pga(10.0 / 980.665) == pytest.approx(2.20 + 1.00, abs=1e-9)
    assert intensity_from_pgv(20.0) == pytest.approx(3.47 * np.log10(20.0) + 2.35, abs=1e-9)
    assert intensity_from_pga(0.0) == 1.0 and intensity_from_pga(10.0) == 10.0
    assert roman(5.4) == "V" and roman(0.2) == "I"
    # Above VII the velocity decides; below V the acceleration alone.
    assert instrumental_intensity(0.5, 60.0) == pytest.approx(intensity_from_pgv(60.0))
    assert instrumental_intensity(0.01, 100.0) == pytest.approx(intensity_from_pga(0.01))


@given(a=st.floats(0.0, 3.0), b=st.floats(0.0, 3.0), v=st.floats(0.0, 300.0))
def test_intensity_grows_with_shaking_and_stays_in_range(a, b, v) -> None:
    low, high = sorted((a, b))
    assert intensity_from_pga(low) <= intensity_from_pga(high)
    crossing = 10 ** (2.66 / 1.46) / 980.665  # where the two PGA lines of Wald et al. meet
    assert intensity_from_pga(crossing * 0.999) <= intensity_from_pga(crossing * 1.001)
    assert 1.0 <= instrumental_intensity(a, v) <= 10.0
