"""Signal generators for simulated devices and the scenario runner: a value as a function of
simulated time in seconds (constant, ramp, step, daily wave, flood hydrograph, Gaussian noise,
and a counter that integrates a rate, as a tipping-bucket gauge counts tips), described by small
pydantic models so that profiles and scenarios validate them at load. Time comes from a clock that
can be set by hand (tests) or run faster than the wall clock (drills in minutes instead of hours)."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator


class Clock(Protocol):
    """Simulated time."""

    def now_s(self) -> float:
        """Seconds of simulated time since the simulation started."""


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start_s: float = 0.0):
        self._now_s = start_s

    def now_s(self) -> float:
        """The time last set."""
        return self._now_s

    def set(self, now_s: float) -> None:
        """Jump to `now_s`."""
        self._now_s = now_s

    def advance(self, seconds: float) -> None:
        """Move forward by `seconds`."""
        self._now_s += seconds


class AcceleratedClock:
    """Simulated time that runs `factor` times as fast as `monotonic` from the moment it is made."""

    def __init__(self, factor: float = 1.0, start_s: float = 0.0, monotonic: Callable[[], float] = time.monotonic):
        if factor <= 0:
            raise ValueError("time acceleration must be positive")
        self._factor = factor
        self._start_s = start_s
        self._monotonic = monotonic
        self._origin = monotonic()

    def now_s(self) -> float:
        """Simulated seconds since the start."""
        return self._start_s + (self._monotonic() - self._origin) * self._factor


class _SignalModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Constant(_SignalModel):
    """The same value all the time."""

    kind: Literal["constant"] = "constant"
    value: float = Field(0.0, description="The value.")

    def at(self, t_s: float) -> float:
        """Value at simulated time t_s."""
        return self.value


class Ramp(_SignalModel):
    """A straight line from `start` at `start_s`, held within [minimum, maximum]."""

    kind: Literal["ramp"] = "ramp"
    start: float = Field(description="Value at start_s (and before).")
    rate_per_s: float = Field(description="Change per simulated second.")
    start_s: float = Field(0.0, ge=0, description="When the ramp begins.")
    minimum: float = Field(-math.inf, description="Lowest value reached.")
    maximum: float = Field(math.inf, description="Highest value reached.")

    def at(self, t_s: float) -> float:
        """Value at simulated time t_s."""
        value = self.start + self.rate_per_s * max(0.0, t_s - self.start_s)
        return min(self.maximum, max(self.minimum, value))


class Step(_SignalModel):
    """`before` until `at_s`, `after` from then on (a gate opening, a sensor swapped)."""

    kind: Literal["step"] = "step"
    before: float = Field(description="Value before the step.")
    after: float = Field(description="Value from the step on.")
    at_s: float = Field(ge=0, description="Time of the step.")

    def at(self, t_s: float) -> float:
        """Value at simulated time t_s."""
        return self.after if t_s >= self.at_s else self.before


class Sine(_SignalModel):
    """A periodic wave around `mean` (daily cycles of temperature, evaporation, demand)."""

    kind: Literal["sine"] = "sine"
    mean: float = Field(description="Middle value.")
    amplitude: float = Field(description="Swing above and below the middle.")
    period_s: float = Field(86400.0, gt=0, description="Length of one cycle.")
    phase_s: float = Field(0.0, description="Shift of the wave in time.")

    def at(self, t_s: float) -> float:
        """Value at simulated time t_s."""
        return self.mean + self.amplitude * math.sin(2 * math.pi * (t_s + self.phase_s) / self.period_s)


class Hydrograph(_SignalModel):
    """A flood wave on a base flow or level: the gamma-function unit hydrograph of the NRCS National
    Engineering Handbook, Part 630, ch. 16: value = base + (peak − base)·(x·e^(1−x))^shape with
    x = (t − start_s)/time_to_peak_s. It rises to `peak` at start_s + time_to_peak_s and recedes
    more slowly; a larger `shape` gives a narrower wave."""

    kind: Literal["hydrograph"] = "hydrograph"
    base: float = Field(description="Value before the flood (base level or flow).")
    peak: float = Field(description="Value at the crest.")
    start_s: float = Field(0.0, ge=0, description="When the water starts to rise.")
    time_to_peak_s: float = Field(3600.0, gt=0, description="From the start of the rise to the crest.")
    shape: float = Field(3.7, gt=0, description="Gamma shape factor (3.7 is the NRCS standard hydrograph).")

    def at(self, t_s: float) -> float:
        """Value at simulated time t_s."""
        if t_s <= self.start_s:
            return self.base
        x = (t_s - self.start_s) / self.time_to_peak_s
        return self.base + (self.peak - self.base) * (x * math.exp(1.0 - x)) ** self.shape


class Noise(_SignalModel):
    """Gaussian noise with mean 0, the same value for the same time and seed (repeatable runs)."""

    kind: Literal["noise"] = "noise"
    sigma: float = Field(ge=0, description="Standard deviation.")
    seed: int = Field(0, description="Seed: two noises with the same seed are equal.")
    resolution_s: float = Field(0.001, gt=0, description="Times closer than this get the same noise.")

    def at(self, t_s: float) -> float:
        """Value at simulated time t_s."""
        if self.sigma == 0:
            return 0.0
        tick = math.floor(t_s / self.resolution_s)
        return random.Random(f"{self.seed}:{tick}").gauss(0.0, self.sigma)


Signal = Annotated[Constant | Ramp | Step | Sine | Hydrograph | Noise, Field(discriminator="kind")]


class Counter(_SignalModel):
    """An accumulated amount in whole counts: per_count × floor(∫ rate dt / per_count), as a
    tipping-bucket rain gauge adds 0.2 mm per tip of a rain rate in mm/h. Integrated with the
    trapezoidal rule in steps of `step_s`."""

    kind: Literal["counter"] = "counter"
    rate_per_h: Signal = Field(description="The rate, in units per hour (e.g. mm/h).")
    per_count: float = Field(gt=0, description="Units per count (e.g. 0.2 mm per tip).")
    start: float = Field(0.0, ge=0, description="Amount at time 0.")
    step_s: float = Field(10.0, gt=0, description="Integration step in simulated seconds.")
    # How far the integral has got, (time, amount), so that a long run does not integrate from
    # 0 on every read. State, not part of the counter's value.
    _progress: list[float] = PrivateAttr(default_factory=lambda: [0.0, 0.0])

    def at(self, t_s: float) -> float:
        """Amount at simulated time t_s."""
        state = self._progress
        done_s, total = state
        if t_s < done_s:
            done_s, total = 0.0, 0.0
        rate = self.rate_per_h.at
        while done_s + self.step_s <= t_s:
            total += (rate(done_s) + rate(done_s + self.step_s)) / 2 * self.step_s / 3600.0
            done_s += self.step_s
        state[0], state[1] = done_s, total
        partial = (rate(done_s) + rate(t_s)) / 2 * (t_s - done_s) / 3600.0 if t_s > done_s else 0.0
        counts = math.floor((total + partial) / self.per_count + 1e-9)
        return self.start + counts * self.per_count


AnySignal = Annotated[Constant | Ramp | Step | Sine | Hydrograph | Noise | Counter, Field(discriminator="kind")]


class SignalSpec(_SignalModel):
    """A signal plus optional noise: the value of a simulated quantity over time."""

    signal: AnySignal = Field(default_factory=Constant, description="The underlying signal.")
    noise: Noise | None = Field(None, description="Noise added to it.")

    @model_validator(mode="after")
    def _no_noise_on_counters(self) -> SignalSpec:
        if isinstance(self.signal, Counter) and self.noise is not None:
            raise ValueError("a counter takes no noise (counts do not jitter); add noise to its rate instead")
        return self

    def at(self, t_s: float) -> float:
        """Value at simulated time t_s."""
        value = self.signal.at(t_s)
        if self.noise is not None:
            value += self.noise.at(t_s)
        return value
