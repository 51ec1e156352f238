"""Helpers for the Modbus tests: a sink that records what the poller hands the pipeline, sensor
specs and sources built in a line, and async waiting without fixed sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from adapters.modbus.config import ModbusSourceConfig
from hub.sensors import KIND_FIELDS, SensorSpec
from hub.types import Reading, Rejection

T = TypeVar("T")


class RecordingSink:
    """A ReadingSink that keeps everything, with an event per new reading."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.rejections: list[Rejection] = []

    def accept(self, reading: Reading) -> None:
        self.readings.append(reading)

    def reject(self, rejection: Rejection) -> None:
        self.rejections.append(rejection)

    def of(self, sensor: str) -> list[Reading]:
        return [reading for reading in self.readings if reading.sensor == sensor]


def river_spec(sensor_id: str = "gauge", interval_s: float = 60.0, **extra_ranges: tuple[float, float]) -> SensorSpec:
    return SensorSpec(sensor_id, "river", "centre", "test", {**KIND_FIELDS["river"], **extra_ranges},
                      {"river": "tundzha"}, interval_s)


def source(port: int, registers: list[dict[str, Any]], **settings: Any) -> ModbusSourceConfig:
    return ModbusSourceConfig.model_validate(
        {"host": "127.0.0.1", "port": port, "timeout_s": 0.5, "retries": 0,
         "backoff": {"initial_s": 0.05, "max_s": 0.2}, "registers": registers, **settings}
    )


def run(coroutine_function: Callable[[], Awaitable[T]], timeout_s: float = 60.0) -> T:
    """Run an async test body in a fresh event loop, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine_function(), timeout_s)

    return asyncio.run(bounded())


async def eventually(condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    """Poll `condition` on the event loop until true; fails with `what` on timeout."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)
