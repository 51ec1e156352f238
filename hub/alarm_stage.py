"""The alarm stage of the pipeline, on the hub's event loop: readings of the sensors any rule
reads are handed over from whichever thread received them, evaluated by the rule engine, turned
into alarm events by the alarm manager (stored first), and dispatched to InfluxDB, MQTT and the
notifiers. A tick drives time-based rules (a silent sensor) and the manager's timeouts; the rule
engine's state is saved every few seconds and at stop, and restored at start, so a pending
duration or a rain window survives a restart."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from hub.alarm_outputs import AlarmDispatcher
from hub.alarms import AlarmEvent, AlarmManager, AlarmStore
from hub.types import Condition, Reading

logger = logging.getLogger(__name__)

SNAPSHOT_NAME = "rule-engine"


class RuleEngineLike(Protocol):
    """What the stage needs of the rule engine (`rules.engine.RuleEngine`)."""

    def selected_sensors(self) -> frozenset[str]: ...
    def on_reading(self, reading: Reading) -> list[Condition]: ...
    def tick(self, now_ms: int) -> list[Condition]: ...
    def snapshot(self) -> dict[str, Any]: ...
    def restore(self, snapshot: dict[str, Any]) -> None: ...
    def discarded_conditions(self) -> list[Condition]: ...


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class AlarmStage:
    """Runs rules and alarms for the readings handed to `output`."""

    def __init__(
        self,
        engine: RuleEngineLike,
        manager: AlarmManager,
        dispatcher: AlarmDispatcher,
        store: AlarmStore,
        *,
        tick_interval_s: float = 1.0,
        snapshot_interval_s: float = 5.0,
        clock_ms: Callable[[], int] = _wall_ms,
    ):
        self.engine = engine
        self.manager = manager
        self.dispatcher = dispatcher
        self._store = store
        self._selected = engine.selected_sensors()
        self._tick_interval_s = tick_interval_s
        self._snapshot_interval_s = snapshot_interval_s
        self._clock_ms = clock_ms
        self._queue: deque[tuple[Reading | tuple[Condition, ...], int]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._wake_pending = False
        self.readings_evaluated = 0
        self._newest_reading_ms = 0
        self.events_out = 0
        #: Nanoseconds from a reading entering the stage to the events it caused being dispatched.
        self.latencies_ns: deque[int] = deque(maxlen=100_000)

    @property
    def store(self) -> AlarmStore:
        """The alarms' database (thread-safe reads for the console)."""
        return self._store

    def output(self, reading: Reading) -> None:
        """Pipeline output: take a reading from any thread (cheap; the work is on the loop)."""
        if reading.sensor not in self._selected:
            return
        self._queue.append((reading, time.perf_counter_ns()))
        if not self._wake_pending and self._loop is not None:
            # One wake-up per burst, not per reading: call_soon_threadsafe costs a system call.
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._wake.set)

    def offer_conditions(self, conditions: list[Condition]) -> None:
        """Take conditions concluded outside the rule engine (the seismic network confirmation,
        which works on waveforms) from any thread; they reach the alarm manager on the loop, in
        order with the readings."""
        if not conditions:
            return
        self._queue.append((tuple(conditions), time.perf_counter_ns()))
        if not self._wake_pending and self._loop is not None:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._wake.set)

    def use_event_time(self) -> None:
        """Let the newest reading's time be the clock instead of the wall clock: for feeding
        recorded readings through a running hub (a backfill, the replay-equals-live test), where
        the wall clock would declare every sensor silent."""
        self._clock_ms = lambda: self._newest_reading_ms

    def restore(self) -> None:
        """Load the engine's last saved state, if any."""
        snapshot = self._store.load_rule_state(SNAPSHOT_NAME)
        if snapshot is not None:
            self.engine.restore(snapshot)
            logger.info("rule state restored from the last snapshot")
            discarded = self.engine.discarded_conditions()
            if discarded:
                # Clearing them would send an all-clear only because a threshold was edited;
                # they stay open for staff to close, and the new rule version takes over.
                logger.warning(
                    "rules changed since the last run; %d open alarm(s) of the old versions stay open for staff: %s",
                    len(discarded), ", ".join(f"{c.rule}/{c.subject}" for c in discarded),
                )

    def save(self) -> None:
        """Save the engine's state now."""
        self._store.save_rule_state(SNAPSHOT_NAME, self._clock_ms(), self.engine.snapshot())

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate until `stop` is set; then drain what is queued and save the state."""
        self._loop = asyncio.get_running_loop()
        # The retained alarm topics may be out of date after a stop or a broker restart.
        for alarm in self.manager.open_alarms():
            self.dispatcher.publish_state(alarm)
        next_tick = time.monotonic()
        next_snapshot = time.monotonic() + self._snapshot_interval_s
        while True:
            timeout = max(0.0, min(next_tick, next_snapshot) - time.monotonic())
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            self._wake.clear()
            self._wake_pending = False
            await self.drain()
            now = time.monotonic()
            if now >= next_tick:
                clock_ms = self._clock_ms()
                if clock_ms > 0:  # on event time, no clock before the first reading
                    await self.tick(clock_ms)
                next_tick = now + self._tick_interval_s
            if now >= next_snapshot:
                self.save()
                next_snapshot = now + self._snapshot_interval_s
            if stop.is_set():
                await self.drain()
                self.save()
                return

    async def drain(self) -> None:
        """Evaluate every queued reading, in arrival order."""
        while self._queue:
            reading, entered_ns = self._queue.popleft()
            if isinstance(reading, tuple):
                self._newest_reading_ms = max(self._newest_reading_ms, *(c.ts_ms for c in reading))
                events = self._apply(list(reading), self._clock_ms())
                if events:
                    await self._dispatch(events)
                    self.latencies_ns.append(time.perf_counter_ns() - entered_ns)
                continue
            self.readings_evaluated += 1
            self._newest_reading_ms = max(self._newest_reading_ms, reading.ts_ms)
            # What falls due by the reading's time comes first, exactly as `ews replay` does it.
            received_ms = self._clock_ms()
            events = self._apply(self.engine.tick(reading.ts_ms), received_ms)
            events += self.manager.tick(reading.ts_ms)
            events += self._apply(self.engine.on_reading(reading), received_ms)
            if events:
                await self._dispatch(events)
                self.latencies_ns.append(time.perf_counter_ns() - entered_ns)

    async def tick(self, now_ms: int) -> None:
        """Time-driven rules and alarm timeouts."""
        events = self._apply(self.engine.tick(now_ms), now_ms)
        events += self.manager.tick(now_ms)
        if events:
            await self._dispatch(events)

    async def acknowledge(self, alarm_id: int, by: str, comment: str) -> list[AlarmEvent]:
        """A person acknowledges an alarm (the console calls this on the loop)."""
        events = self.manager.acknowledge(alarm_id, by, comment, self._clock_ms())
        await self._dispatch(events)
        return events

    def _apply(self, conditions: list[Condition], received_ms: int) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        for condition in conditions:
            events += self.manager.apply(condition, received_ms)
        return events

    async def _dispatch(self, events: list[AlarmEvent]) -> None:
        self.events_out += len(events)
        await self.dispatcher.dispatch(events)
