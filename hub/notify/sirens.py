"""Sirens and warning lights: a red public alarm switches on the sirens of its area through the
Modbus write API (adapters.modbus: write, then read back and compare); when the alarm clears, or
falls below red, they are switched off (with the all-clear pattern first, where the controller
has one). A write that is not confirmed is tried again after a `Backoff` delay while it may
still help (`ModbusWriteError.transient`); every outcome is kept in `history` and logged once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from adapters.modbus.config import ModbusWriteTarget
from adapters.modbus.poller import ModbusWriteError, WriteResult
from hub.alarms import AlarmEvent
from hub.configbase import StrictModel
from hub.retry import Backoff, BackoffConfig

logger = logging.getLogger(__name__)

Writer = Callable[[ModbusWriteTarget, float], Awaitable[WriteResult]]
ON_EVENTS = frozenset(("raised", "reraised", "escalated"))


class SirenConfig(StrictModel):
    """One siren or warning light: the area it covers and the coil that switches it."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Siren id, for logs.")
    area: str = Field(description="Id of the area whose red public alarms switch it on.")
    switch: ModbusWriteTarget = Field(description="The coil that switches it on (1) and off (0).")
    pattern: ModbusWriteTarget | None = Field(
        None, description="Holding register selecting the signal, when the controller has one."
    )
    alarm_pattern: int = Field(1, ge=0, description="Pattern value of the alarm signal (e.g. 1 = wail).")
    all_clear_pattern: int | None = Field(2, ge=0, description="Pattern value of the all-clear tone; none = skip.")
    hazards: list[str] = Field(default_factory=list, description="Hazards that switch it; empty = all.")


class SirensConfig(StrictModel):
    """The sirens of the site."""

    sirens: list[SirenConfig] = Field(default_factory=list, description="Sirens and warning lights.")
    max_attempts: int = Field(5, ge=1, description="Attempts per switching before it is given up and logged.")
    retry: BackoffConfig = Field(
        default_factory=lambda: BackoffConfig(initial_s=1.0, max_s=10.0), description="Delay between attempts."
    )


@dataclass(frozen=True, slots=True)
class SirenAction:
    """One switching of one siren and how it ended."""

    siren: str
    alarm_id: int
    action: Literal["on", "off"]
    confirmed: bool
    detail: str


def siren_action(event: AlarmEvent, siren: SirenConfig) -> Literal["on", "off"] | None:
    """What this event asks of this siren, pure: on for a red public alarm in its area, off when
    that alarm clears or falls below red, nothing otherwise."""
    alarm = event.alarm
    if alarm.audience != "public" or alarm.area != siren.area:
        return None
    if siren.hazards and alarm.hazard not in siren.hazards:
        return None
    if event.kind in ON_EVENTS and alarm.level == "red" and not alarm.inhibited:
        return "on"
    if event.kind == "cleared" and alarm.level == "red":
        return "off"
    if event.kind == "deescalated" and event.previous_level == "red":
        return "off"
    return None


class SirenNotifier:
    """The siren notifier: an async callable taking an `AlarmEvent`."""

    def __init__(self, config: SirensConfig, write: Writer):
        self._config = config
        self._write = write
        self.history: list[SirenAction] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, event: AlarmEvent) -> None:
        for siren in self._config.sirens:
            action = siren_action(event, siren)
            if action is not None:
                # Not awaited here: a siren that takes its retries must not hold up other notifiers.
                task = asyncio.create_task(self._switch(siren, event.alarm.id, action))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait until every switching under way has ended (stop, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _switch(self, siren: SirenConfig, alarm_id: int, action: Literal["on", "off"]) -> None:
        steps: list[tuple[ModbusWriteTarget, float]] = []
        if action == "on":
            if siren.pattern is not None:
                steps.append((siren.pattern, float(siren.alarm_pattern)))
            steps.append((siren.switch, 1.0))
        else:
            if siren.pattern is not None and siren.all_clear_pattern is not None:
                steps.append((siren.pattern, float(siren.all_clear_pattern)))
            steps.append((siren.switch, 0.0))
        backoff = Backoff(self._config.retry)
        detail = ""
        for target, value in steps:
            for attempt in range(1, self._config.max_attempts + 1):
                try:
                    result = await self._write(target, value)
                except ModbusWriteError as error:
                    detail = str(error)
                    if not error.transient or attempt == self._config.max_attempts:
                        logger.error("siren %s: could not switch %s for alarm %d: %s", siren.id, action, alarm_id,
                                     error)
                        self.history.append(SirenAction(siren.id, alarm_id, action, False, detail))
                        return
                    await asyncio.sleep(backoff.next_delay_s())
                else:
                    detail = f"read back {result.read_back:g}"
                    backoff.reset()
                    break
        logger.info("siren %s switched %s for alarm %d (%s)", siren.id, action, alarm_id, detail)
        self.history.append(SirenAction(siren.id, alarm_id, action, True, detail))
