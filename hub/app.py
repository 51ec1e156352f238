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

from adapters.modbus.poller import ModbusPoller
from adapters.mqtt.ingest import MqttIngest
from hub.alarm_outputs import AlarmDispatcher
from hub.alarm_stage import AlarmStage
from hub.alarms import AlarmManager, AlarmStore
from hub.broker import BrokerLink
from hub.config import SiteConfig, modbus_sources, mqtt_sources, sensor_specs
from hub.console.wiring import Console
from hub.deadletter import DeadLetterStore
from hub.influx import InfluxClient, InfluxError, InfluxWriter
from hub.logutil import AvailabilityLog, LogOncePer
from hub.metrics import SelfMetrics
from hub.notify.cap import AreaShape
from hub.notify.citizens import AreaNames
from hub.notify.service import NotifyService, Router
from hub.notify.webhooks import HttpServer
from hub.pipeline import InfluxOutput, Pipeline
from hub.seismic_wiring import SeismicParts, build_seismic
from hub.spool import Spool
from hub.types import RejectReason, Rejection
from rules.engine import RuleEngine

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
    modbus: ModbusPoller | None = None
    alarms: AlarmStage | None = None
    availability: AvailabilityLog | None = None
    notify: NotifyService | None = None
    seismic: SeismicParts | None = None
    console: Console | None = None
    http: HttpServer | None = None


def build_hub(config: SiteConfig, data_folder: Path, *, event_time: bool = False) -> HubParts:
    """Create (not start) the components of a hub for `config`, with its files in `data_folder`.
    `event_time`: the rules' clock is the newest reading's time, not the wall clock (for feeding
    recorded readings through a running hub)."""
    data_folder.mkdir(parents=True, exist_ok=True)
    dead_letters = DeadLetterStore(data_folder / "deadletter.sqlite", config.hub.dead_letter_max)
    spool = Spool(data_folder / "spool.sqlite")
    client = InfluxClient(config.influx)

    def refused(line: str, reason: str) -> None:
        pipeline.reject(Rejection(RejectReason.INFLUX_REJECTED, reason, "influx:write", line.encode(), _now_ms()))

    writer = InfluxWriter(config.influx, client, spool, refused)
    specs = sensor_specs(config)
    outputs = [InfluxOutput(specs, writer.add)]
    alarms = None
    notify = None
    if config.rules or config.seismic.confirmation is not None:
        store = AlarmStore(data_folder / "alarms.sqlite")
        dispatcher = AlarmDispatcher(
            config.site.id, config.topic_root, frozenset(specs), writer.add,
            lambda topic, payload, qos, retain: link.publish(topic, payload, qos, retain),
        )
        engine = RuleEngine(config.rules, specs, timezone=config.site.timezone)
        alarms = AlarmStage(engine, AlarmManager(store, config.alarms), dispatcher, store)
        if config.notify.sms is not None or config.notify.cap is not None or config.notify.sirens is not None:
            names = {a.id: AreaNames(a.name, a.name_en or a.name) for a in config.areas}
            notify = NotifyService(
                config.notify, site_id=config.site.id, timezone=config.site.timezone, topic_root=config.topic_root,
                areas=names, data_folder=data_folder, add_line=writer.add,
                publish=lambda topic, payload: link.publish(topic, payload, 1, False),
                shapes={a.id: AreaShape(names[a.id], tuple(a.polygon) if a.polygon else None,
                                        (a.centre.lat, a.centre.lon) if a.centre else None) for a in config.areas},
                modbus_write=lambda target, value: modbus.write(target, value),  # the poller is made below
                serve_http=config.http is None,  # with `http:`, one server for the console and the webhooks
            )
            for notifier in notify.notifiers():
                dispatcher.add_notifier(notifier)
            # Only events after the outbox's cursor can still need a fan-out; older ones are not read.
            notify.resume(store.iter_events(after_seq=notify.outbox.cursor() or 0), alarms.manager.open_alarms())
        if event_time:
            alarms.use_event_time()
        alarms.restore()
        outputs.append(alarms.output)
    console = Console(config, data_folder) if config.http is not None else None
    if console is not None:
        outputs.append(console.latest)
    pipeline = Pipeline(outputs, dead_letters, LogOncePer(config.hub.log_interval_s))
    ingest = MqttIngest(
        config.topic_root,
        specs,
        mqtt_sources(config),
        pipeline,
        max_future_s=config.hub.max_future_s,
        max_payload_bytes=config.hub.max_payload_bytes,
    )
    seismic = build_seismic(config, pipeline, alarms.offer_conditions if alarms is not None else None,
                            alarms.manager.open_alarms() if alarms is not None else ())
    on_message: Callable[[str, bytes], None] = ingest.handle
    if seismic is not None:
        # Waveform packets go to the seismic ingest, everything else to the readings' ingest.
        wave_prefix, wave_handle = seismic.ingest.prefix, seismic.ingest.handle

        def route(topic: str, payload: bytes) -> None:
            (wave_handle if topic.startswith(wave_prefix) else ingest.handle)(topic, payload)

        on_message = route

    link = BrokerLink(
        config.mqtt, config.client_id, f"{config.topic_root}/status/hub",
        ingest.subscriptions() + (seismic.ingest.subscriptions() if seismic is not None else []), on_message,
    )
    availability = AvailabilityLog()
    sources = modbus_sources(config)
    # Sirens are written through the poller, so it is there for them even without Modbus sensors.
    modbus = ModbusPoller(specs, sources, pipeline, on_availability=availability) \
        if sources or (config.notify.sirens and config.notify.sirens.sirens) else None
    metrics = SelfMetrics(
        config.site.id,
        pipeline,
        writer,
        lambda: {
            "mqtt_messages": link.messages_received,
            "handler_errors": link.handler_errors,
            **({"seismic_packets": seismic.ingest.packets_in, "seismic_dropped": seismic.ingest.packets_dropped,
                **{f"seismic_{name}": count for name, count in seismic.ingest.counts().items()}}
               if seismic is not None else {}),
            "sensor_outages": availability.outages,
            **({f"modbus_{name}": count for name, count in modbus.counts.items()} if modbus else {}),
        },
    )
    if config.influx.create_database:
        try:
            client.create_database()
        except InfluxError as error:
            # Not fatal: the writer spools until the database is there (2.x/3 have no CREATE DATABASE).
            logger.warning("could not create database %r: %s", config.influx.database, error)
    parts = HubParts(
        pipeline, writer, link, ingest, dead_letters, metrics, modbus=modbus, alarms=alarms, availability=availability,
        notify=notify, seismic=seismic, console=console,
    )
    if console is not None and config.http is not None:
        routes = dict(notify.routes if notify is not None else {})
        routes["/"] = console.attach(parts)  # last: the prefixes above come first
        parts.http = HttpServer(Router(routes), config.http.listen_host, config.http.listen_port)
    return parts


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
    *,
    event_time: bool = False,
) -> HubParts:
    """Run the hub until `stop` is set; returns the parts (stopped) for inspection."""
    parts = build_hub(config, data_folder, event_time=event_time)
    parts.writer.start()
    if parts.seismic is not None:
        parts.seismic.start()
    parts.link.start()
    if parts.modbus is not None:
        await parts.modbus.start()
    metrics = asyncio.create_task(_metrics_task(parts, config.hub.metrics_interval_s))
    alarm_stop = asyncio.Event()
    alarm_task = asyncio.create_task(parts.alarms.run(alarm_stop)) if parts.alarms is not None else None
    notify_stop = asyncio.Event()
    notify_task = asyncio.create_task(parts.notify.run(notify_stop)) if parts.notify is not None else None
    http_stop = asyncio.Event()
    http_task = asyncio.create_task(parts.http.run(http_stop)) if parts.http is not None else None
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
        if parts.modbus is not None:
            await parts.modbus.stop()
        await loop.run_in_executor(None, parts.link.stop)
        if parts.seismic is not None:
            await loop.run_in_executor(None, parts.seismic.stop)
        if http_task is not None:
            # Before the alarms: no acknowledgement reaches a stopped stage. Live streams end first,
            # or the server would wait for them.
            if parts.console is not None:
                parts.console.feed.close()
            http_stop.set()
            await http_task
        if alarm_task is not None:
            # After the inputs: evaluate what already arrived, store its events, save the rule
            # state. Their MQTT state is published again at the next start.
            alarm_stop.set()
            await alarm_task
        if notify_task is not None:
            # After the alarms: their last events are queued; requests in flight finish, the rest
            # of the outbox waits for the next start.
            notify_stop.set()
            await notify_task
        for line in parts.metrics.lines(_now_ms()):
            parts.writer.add(line)
        await loop.run_in_executor(None, parts.writer.stop)
        parts.writer.spool.close()
        parts.dead_letters.close()
        if parts.notify is not None:
            parts.notify.close()
        if parts.console is not None:
            parts.console.close()
        logger.info("hub stopped; %d batches left in the spool for the next start", parts.writer.spool.batches)
    return parts


class HubThread:
    """A hub running in a background thread with its own event loop (tests, benchmarks, demo)."""

    def __init__(self, config: SiteConfig, data_folder: Path, *, event_time: bool = False):
        self._config = config
        self._event_time = event_time
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
            await run_hub_async(self._config, self._data_folder, self._stop, self._on_started,
                                event_time=self._event_time)

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
