"""The one place where retry delays are computed: capped exponential backoff with full jitter
(AWS Architecture Blog, "Exponential Backoff and Jitter", 2015). Every retrying component, the
InfluxDB writer and the broker link among them, takes a `Backoff` instead of its own loop."""

from __future__ import annotations

import random

from pydantic import Field

from hub.configbase import StrictModel


class BackoffConfig(StrictModel):
    """How long to wait between attempts."""

    initial_s: float = Field(0.5, gt=0, description="Delay cap for the first retry, in seconds.")
    max_s: float = Field(30.0, gt=0, description="Largest delay between two attempts, in seconds.")
    multiplier: float = Field(2.0, ge=1.0, description="Growth of the delay cap per failed attempt.")


class Backoff:
    """Delays for successive failed attempts: attempt n waits a uniform random time in
    [cap/2, cap], cap = min(max_s, initial_s * multiplier**n). Half of the cap is kept fixed so
    that a retry never fires immediately, the other half spreads many clients apart."""

    def __init__(self, config: BackoffConfig, rng: random.Random | None = None):
        self._config = config
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """Failed attempts since the last success."""
        return self._attempt

    def next_delay_s(self) -> float:
        """The delay before the next attempt, in seconds; counts one more failure."""
        # The exponent is capped so that a long outage cannot overflow the float.
        growth = self._config.multiplier ** min(self._attempt, 64)
        cap = min(self._config.max_s, self._config.initial_s * growth)
        self._attempt += 1
        return cap / 2 + self._rng.uniform(0, cap / 2)

    def reset(self) -> None:
        """Forget past failures after a success."""
        self._attempt = 0
