"""The wiring point: builds the hub's components from their sub-configs and connects them. The
broker link hands messages to the MQTT ingest, which hands readings to the pipeline, which feeds
the InfluxDB writer; the self-metrics task writes the `hub` measurement. `run_hub` runs until its
stop event is set, then stops the inputs first and flushes the outputs, so nothing in flight is
lost."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapters.mqtt.ingest import MqttIngest
from hub.broker import BrokerLink
from hub.config import SiteConfig, mqtt_sources, sensor_specs
from hub.deadletter import DeadLetterStore
from hub.influx import InfluxClient, InfluxError, InfluxWriter
from hub.logutil import LogOncePer
from hub.metrics import SelfMetrics
from hub.pipeline import InfluxOutput, Pipeline
from hub.spool import Spool
from hub.types import RejectReason, Rejection

logger = logging.getLogger(__name__)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class HubParts:
    """The running components, for the metrics task, tests and benchmarks to look at."""

    pipeline: Pipeline
    writer: InfluxWriter
    link: BrokerLink
    ingest: MqttIngest
    dead_letters: DeadLetterStore
    metrics: SelfMetrics


def build_hub(config: SiteConfig, data_folder: Path) -> HubParts:
    """Create (not start) the components of a hub for `config`, with its files in `data_folder`."""
    data_folder.mkdir(parents=True, exist_ok=True)
    dead_letters = DeadLetterStore(data_folder / "deadletter.sqlite", config.hub.dead_letter_max)
    spool = Spool(data_folder / "spool.sqlite")
    client = InfluxClient(config.influx)

    def refused(line: str, reason: str) -> None:
        pipeline.reject(Rejection(RejectReason.INFLUX_REJECTED, reason, "influx:write", line.encode(), _now_ms()))

    writer = InfluxWriter(config.influx, client, spool, refused)
    specs = sensor_specs(config)
    pipeline = Pipeline([InfluxOutput(specs, writer.add)], dead_letters, LogOncePer(config.hub.log_interval_s))
    ingest = MqttIngest(
        config.topic_root,
        specs,
        mqtt_sources(config),
        pipeline,
        max_future_s=config.hub.max_future_s,
        max_payload_bytes=config.hub.max_payload_bytes,
    )
    link = BrokerLink(
        config.mqtt, config.client_id, f"{config.topic_root}/status/hub", ingest.subscriptions(), ingest.handle
    )
    metrics = SelfMetrics(
        config.site.id,
        pipeline,
        writer,
        lambda: {"mqtt_messages": link.messages_received, "handler_errors": link.handler_errors},
    )
    if config.influx.create_database:
        try:
            client.create_database()
        except InfluxError as error:
            # Not fatal: the writer spools until the database is there (2.x/3 have no CREATE DATABASE).
            logger.warning("could not create database %r: %s", config.influx.database, error)
    return HubParts(pipeline, writer, link, ingest, dead_letters, metrics)


async def _metrics_task(parts: HubParts, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        for line in parts.metrics.lines(_now_ms()):
            parts.writer.add(line)


async def run_hub_async(
    config: SiteConfig,
    data_folder: Path,
    stop: asyncio.Event,
    on_started: Callable[[HubParts], None] | None = None,
) -> HubParts:
    """Run the hub until `stop` is set; returns the parts (stopped) for inspection."""
    parts = build_hub(config, data_folder)
    parts.writer.start()
    parts.link.start()
    metrics = asyncio.create_task(_metrics_task(parts, config.hub.metrics_interval_s))
    logger.info(
        "hub for %s running: %d sensors, broker %s:%d, InfluxDB %s/%s",
        config.site.name, len(config.sensors), config.mqtt.host, config.mqtt.port,
        config.influx.url, config.influx.database,
    )
    if on_started is not None:
        on_started(parts)
    try:
        await stop.wait()
    finally:
        metrics.cancel()
        loop = asyncio.get_running_loop()
        # Inputs first, so that nothing arrives after the final flush; then the writer drains.
        await loop.run_in_executor(None, parts.link.stop)
        for line in parts.metrics.lines(_now_ms()):
            parts.writer.add(line)
        await loop.run_in_executor(None, parts.writer.stop)
        parts.writer.spool.close()
        parts.dead_letters.close()
        logger.info("hub stopped; %d batches left in the spool for the next start", parts.writer.spool.batches)
    return parts


class HubThread:
    """A hub running in a background thread with its own event loop (tests, benchmarks, demo)."""

    def __init__(self, config: SiteConfig, data_folder: Path):
        self._config = config
        self._data_folder = data_folder
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self.parts: HubParts | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="hub", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await run_hub_async(self._config, self._data_folder, self._stop, self._on_started)

        try:
            asyncio.run(main())
        except BaseException as error:  # noqa: BLE001 - reported to the thread that waits on start()
            self._error = error
            self._started.set()

    def _on_started(self, parts: HubParts) -> None:
        self.parts = parts
        self._started.set()

    def start(self, timeout_s: float = 30.0) -> HubParts:
        """Start and wait until subscribed at the broker."""
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise TimeoutError("hub did not start")
        if self._error is not None:
            raise self._error
        assert self.parts is not None
        if not self.parts.link.wait_connected(timeout_s):
            raise TimeoutError("hub did not connect to the broker")
        return self.parts

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop the hub and wait until it has flushed."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        if self._error is not None:
            raise self._error
