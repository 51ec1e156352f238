"""Signal generators: each shape does what its name promises, noise repeats for the same time
and seed, a counter matches the integral of its rate, and clocks run as told."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from firmware_sim.signals import (
    AcceleratedClock,
    Constant,
    Counter,
    Hydrograph,
    ManualClock,
    Noise,
    Ramp,
    Sine,
    SignalSpec,
    Step,
)


def test_constant_ramp_step_and_sine() -> None:
    assert Constant(value=4.2).at(1e6) == 4.2
    ramp = Ramp(start=10, rate_per_s=0.5, start_s=100, maximum=40)
    assert [ramp.at(t) for t in (0, 100, 120, 1000)] == [10, 10, 20, 40]
    step = Step(before=1, after=5, at_s=30)
    assert (step.at(29.999), step.at(30)) == (1, 5)
    sine = Sine(mean=8, amplitude=6, period_s=100)
    assert sine.at(25) == pytest.approx(14) and sine.at(75) == pytest.approx(2) and sine.at(100) == pytest.approx(8)


@given(base=st.floats(0, 500), rise=st.floats(1, 1000), shape=st.floats(0.5, 10), start=st.floats(0, 1000))
def test_a_hydrograph_rises_to_its_peak_on_time_and_recedes_towards_base(
    base: float, rise: float, shape: float, start: float
) -> None:
    wave = Hydrograph(base=base, peak=base + 300, start_s=start, time_to_peak_s=rise, shape=shape)
    assert wave.at(start) == base and wave.at(start - 1) == base
    assert wave.at(start + rise) == pytest.approx(base + 300)
    rising = [wave.at(start + rise * f) for f in (0.1, 0.4, 0.7, 0.99)]
    falling = [wave.at(start + rise * f) for f in (1.01, 2, 4, 8)]
    assert rising == sorted(rising) and falling == sorted(falling, reverse=True)
    assert wave.at(start + 30 * rise) - base < 1.0


def test_noise_repeats_for_the_same_time_and_seed_and_has_its_spread() -> None:
    noise = Noise(sigma=2.0, seed=7)
    assert noise.at(12.345) == Noise(sigma=2.0, seed=7).at(12.345)
    assert noise.at(12.345) != Noise(sigma=2.0, seed=8).at(12.345)
    samples = [noise.at(t * 0.01) for t in range(4000)]
    assert statistics.mean(samples) == pytest.approx(0, abs=0.15)
    assert statistics.stdev(samples) == pytest.approx(2.0, rel=0.08)


@given(rate=st.floats(0, 100), per_count=st.sampled_from([0.1, 0.2, 0.5, 1.0]), t=st.floats(0, 20000))
def test_a_counter_of_a_constant_rate_counts_whole_steps_of_its_integral(
    rate: float, per_count: float, t: float
) -> None:
    counter = Counter(rate_per_h=Constant(value=rate), per_count=per_count, start=100.0)
    expected = 100.0 + math.floor(rate * t / 3600 / per_count + 1e-9) * per_count
    assert counter.at(t) == pytest.approx(expected)


def test_a_counter_never_goes_back_and_integrates_a_storm() -> None:
    storm = Counter(rate_per_h=Hydrograph(base=0, peak=24, start_s=0, time_to_peak_s=1800, shape=3), per_count=0.2)
    amounts = [storm.at(t) for t in range(0, 4 * 3600, 60)]
    assert amounts == sorted(amounts)
    # ∫ (x e^(1−x))^3 dx over [0, ∞) = e^3 · Γ(4)/3^4 = 1.4875 → 24 mm/h × 0.5 h × 1.4875 ≈ 17.8 mm.
    assert storm.at(10 * 3600) == pytest.approx(17.8, abs=0.3)
    assert storm.at(60) <= storm.at(7200)  # reading an earlier time again starts over, consistently
    assert storm.at(7200) == amounts[120]


def test_signal_specs_validate_at_load() -> None:
    spec = SignalSpec.model_validate({"signal": {"kind": "ramp", "start": 1, "rate_per_s": 2}, "noise": {"sigma": 0}})
    assert spec.at(3) == 7
    with pytest.raises(ValidationError, match="ramp"):
        SignalSpec.model_validate({"signal": {"kind": "ramp", "start": 1}})
    with pytest.raises(ValidationError):
        SignalSpec.model_validate({"signal": {"kind": "sawtooth"}})
    with pytest.raises(ValidationError, match="a counter takes no noise"):
        SignalSpec.model_validate({"signal": {"kind": "counter", "rate_per_h": {"kind": "constant", "value": 1},
                                              "per_count": 0.2}, "noise": {"sigma": 1}})


def test_clocks() -> None:
    manual = ManualClock(5)
    manual.advance(2.5)
    assert manual.now_s() == 7.5
    manual.set(100)
    assert manual.now_s() == 100
    wall = [1000.0]
    fast = AcceleratedClock(factor=60, start_s=10, monotonic=lambda: wall[0])
    wall[0] += 2
    assert fast.now_s() == 130
    with pytest.raises(ValueError):
        AcceleratedClock(factor=0)
