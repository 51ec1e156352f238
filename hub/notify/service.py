"""The notifications part of the hub, built from the `notify:` config section: the subscriber
registry and the outbox (one SQLite file, `notify.sqlite`, in the hub's data folder), the
provider and the sender, the citizen and staff notifiers that plug into the alarm dispatcher,
the Twilio webhooks on the hub's HTTP server, and the per-event counts written to InfluxDB as
the `sms` measurement (tags site, area, rule; fields queued, sent, delivered, failed)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from hub.alarm_outputs import Notifier
from hub.alarms import Alarm
from hub.configbase import read_secret
from hub.lineprotocol import encode_fields, series_prefix
from hub.notify.cap import AreaShape, CapPublisher
from hub.notify.citizens import AreaNames, CitizenNotifier
from hub.notify.config import NotifyConfig, SmsConfig, TwilioProviderConfig
from hub.notify.messages import MessageStyle
from hub.notify.outbox import EventCounts, Outbox
from hub.notify.providers import Provider, build_provider
from hub.notify.sender import Sender
from hub.notify.sirens import SirenNotifier, Writer
from hub.notify.staff import StaffNotifier
from hub.notify.subscribers import SubscriberStore
from hub.notify.webhooks import STATUS_PATH, HttpServer, TwilioWebhooks

logger = logging.getLogger(__name__)

DATABASE_NAME = "notify.sqlite"


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def counts_line(counts: EventCounts, site: str) -> str:
    """One point of the `sms` measurement for one alarm event in one area, stamped with the
    event's time (so that later counts of the same event overwrite the earlier point)."""
    prefix = series_prefix("sms", {"site": site, "area": counts.area, "rule": counts.rule})
    fields = encode_fields({"queued": float(counts.queued), "sent": float(counts.sent),
                            "delivered": float(counts.delivered), "failed": float(counts.failed)})
    return f"{prefix} {fields} {counts.ts_ms}"


class NotifyService:
    """Everything that tells people about alarms. `run` drives the sender, the counts, the
    staff escalation clock and the HTTP server until stopped. Each channel is there only when
    its config section is."""

    def __init__(self, config: NotifyConfig, *, site_id: str, timezone: str, topic_root: str,
                 areas: Mapping[str, AreaNames], data_folder: Path, add_line: Callable[[str], None],
                 publish: Callable[[str, bytes], None], provider: Provider | None = None,
                 clock_ms: Callable[[], int] = _wall_ms, shapes: Mapping[str, AreaShape] | None = None,
                 modbus_write: Writer | None = None, serve_http: bool = True):
        self.config = config
        self._site_id = site_id
        self._add_line = add_line
        sms = config.sms or SmsConfig()
        self._sms = sms
        path = data_folder / DATABASE_NAME
        self.subscribers = SubscriberStore(path, sms.default_region)
        self.outbox = Outbox(path)
        self.sender: Sender | None = None
        self.citizens: CitizenNotifier | None = None
        self.staff: StaffNotifier | None = None
        self.webhooks: TwilioWebhooks | None = None
        self.cap: CapPublisher | None = None
        self.sirens: SirenNotifier | None = None
        self.http: HttpServer | None = None
        self.provider: Provider | None = None
        routes: dict[str, Callable[..., Awaitable[None]]] = {}
        if config.sms is not None:
            provider_config = sms.provider
            if isinstance(provider_config, TwilioProviderConfig) and config.webhooks is not None \
                    and provider_config.status_callback_url is None:
                provider_config = provider_config.model_copy(
                    update={"status_callback_url": config.webhooks.public_url.rstrip("/") + STATUS_PATH})
            self.provider = provider or build_provider(provider_config, data_folder)
            self.sender = Sender(self.outbox, self.provider, sms, self.subscribers, clock_ms)
            style = MessageStyle(timezone, sms.max_segments, sms.transliterate, sms.signature_bg, sms.signature_en)
            self.citizens = CitizenNotifier(self.outbox, self.subscribers, areas, style, self.sender.wake, clock_ms)
            if config.staff is not None and config.staff.on_call:
                self.staff = StaffNotifier(config.staff, self.outbox, areas, style, publish, topic_root,
                                           self.sender.wake, clock_ms, sms.default_region)
            if config.webhooks is not None:
                token = read_secret(config.webhooks.auth_token_env, "notify.webhooks.auth_token_env")
                assert token is not None
                self.webhooks = TwilioWebhooks(self.outbox, self.subscribers, config.webhooks.public_url, token,
                                               clock_ms=clock_ms)
                routes["/twilio/"] = self.webhooks
        if config.cap is not None:
            folder = Path(config.cap.folder)
            self.cap = CapPublisher(config.cap, site_id, timezone,
                                    shapes or {key: AreaShape(names) for key, names in areas.items()}, path,
                                    folder if folder.is_absolute() else data_folder / folder)
            routes["/cap/"] = self.cap.app
        if config.sirens is not None and config.sirens.sirens:
            if modbus_write is None:
                raise ValueError("sirens need the Modbus write API")
            self.sirens = SirenNotifier(config.sirens, modbus_write)
        #: Path prefix → ASGI app, for the hub's shared HTTP server when `serve_http` is False.
        self.routes = routes
        if serve_http and config.webhooks is not None and routes:
            self.http = HttpServer(Router(routes), config.webhooks.listen_host, config.webhooks.listen_port)

    def notifiers(self) -> list[Notifier]:
        """The notifiers to plug into the alarm dispatcher."""
        notifiers: list[Notifier] = []
        for notifier in (self.citizens, self.staff, self.cap, self.sirens):
            if notifier is not None:
                notifiers.append(notifier)
        return notifiers

    def resume(self, stored_events: Iterable[Mapping], open_alarms: list[Alarm]) -> None:
        """At start: fan out stored events that never were, take over staff escalations."""
        if self.citizens is not None:
            added = self.citizens.catch_up(stored_events, self._sms.catch_up_max_age_s)
            if added:
                logger.warning("%d message(s) of alarm events stored before the last stop queued now", added)
        if self.staff is not None:
            self.staff.resume(open_alarms)

    def write_counts(self) -> int:
        """Write the counts of events that changed to InfluxDB; returns how many points."""
        changed = self.outbox.changed_events()
        if not changed:
            return 0
        counts = self.outbox.event_counts(changed)
        for item in counts:
            self._add_line(counts_line(item, self._site_id))
        return len(counts)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set; in-flight requests finish first, the counts are written last."""
        tasks = [asyncio.create_task(self._periodic(stop))]
        if self.sender is not None:
            tasks.append(asyncio.create_task(self.sender.run(stop)))
        if self.http is not None:
            tasks.append(asyncio.create_task(self.http.run(stop)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            self.write_counts()

    async def _periodic(self, stop: asyncio.Event) -> None:
        interval_s = self._sms.counts_interval_s
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass
            await asyncio.to_thread(self.write_counts)
            if self.staff is not None:
                self.staff.tick()

    def close(self) -> None:
        """Close the databases."""
        self.outbox.close()
        self.subscribers.close()
        if self.cap is not None:
            self.cap.close()
        close = getattr(self.provider, "close", None)
        if close is not None:
            close()


class Router:
    """ASGI: requests go to the app whose path prefix matches; 404 otherwise."""

    def __init__(self, routes: Mapping[str, Callable[..., Awaitable[None]]]):
        self._routes = dict(routes)

    async def __call__(self, scope: Mapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        for prefix, app in self._routes.items():
            if scope["path"].startswith(prefix):
                await app(scope, receive, send)
                return
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"not found\n"})
