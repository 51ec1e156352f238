"""A console served by uvicorn on a free port, on its own event loop in a thread (as in the hub),
over a real alarm store and manager; conditions are applied on that loop as the rule engine's
would be. Clients are plain httpx clients against the real socket."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx

from hub.alarm_outputs import AlarmDispatcher
from hub.alarm_stage import AlarmStage
from hub.alarms import AlarmEvent, AlarmManager, AlarmStore
from hub.config import SiteConfig, parse_config, sensor_specs
from hub.console.api import CSRF_HEADER, ConsoleDeps, build_app
from hub.console.live import EventFeed, LatestReadings
from hub.console.users import UserStore
from hub.notify.outbox import Outbox
from hub.notify.subscribers import SubscriberStore
from hub.notify.webhooks import HttpServer
from hub.types import Condition, Reading
from rules.engine import RuleEngine
from tests.conftest import wait_until

T = TypeVar("T")
PASSWORD = "correct horse battery"

SITE = """
site: {id: kz, name: Казанлък}
areas:
  - {id: centre, name: Център, name_en: Centre, type: neighbourhood, centre: {lat: 42.619, lon: 25.393},
     polygon: [[42.63, 25.38], [42.63, 25.41], [42.61, 25.41], [42.61, 25.38], [42.63, 25.38]]}
  - {id: shipka, name: Шипка, name_en: Shipka, type: village, centre: {lat: 42.716, lon: 25.33}}
sensors:
  - {id: tundzha-1, kind: river, area: centre, location: {lat: 42.615, lon: 25.39}}
  - {id: rain-shipka, kind: rain, area: shipka, location: {lat: 42.716, lon: 25.33}}
rules:
  - id: tundzha-level
    kind: threshold
    hazard: flood
    audience: public
    select: {sensors: [tundzha-1]}
    field: level_cm
    levels: {yellow: 200, orange: 260, red: 320}
    clear: 180
http: {listen_port: 0, login_attempts: 3, login_window_s: 60}
"""


class ConsoleServer:
    """The console app with its alarm stage, served on 127.0.0.1 on a free port."""

    def __init__(self, folder: Path, config: SiteConfig | None = None):
        self.config = config or parse_config(SITE)
        self.store = AlarmStore(folder / "alarms.sqlite")
        self.lines: list[str] = []
        dispatcher = AlarmDispatcher(self.config.site.id, self.config.topic_root, frozenset(s.id for s in self.config.sensors),
                                     self.lines.append, lambda topic, payload, qos, retain: None)
        engine = RuleEngine(self.config.rules, sensor_specs(self.config), timezone=self.config.site.timezone)
        self.stage = AlarmStage(engine, AlarmManager(self.store, self.config.alarms), dispatcher, self.store)
        self.users = UserStore(folder / "console.sqlite")
        for role in ("viewer", "operator", "admin"):
            self.users.add(role, role, PASSWORD)
        self.subscribers = SubscriberStore(folder / "notify.sqlite")
        self.outbox = Outbox(folder / "notify.sqlite")
        self.latest = LatestReadings()
        self.feed = EventFeed()
        dispatcher.add_listener(self.feed)
        self.healthy = {"broker": (True, "connected"), "influxdb": (True, "writing")}
        assert self.config.http is not None
        self.app = build_app(ConsoleDeps(
            http=self.config.http, site_name=self.config.site.name, areas=self.config.areas,
            sensors=self.config.sensors, users=self.users, latest=self.latest, feed=self.feed,
            health=lambda: self.healthy, metrics=lambda: {"readings_in_total": 7, 'alarms_open{level="red"}': 1},
            stage=self.stage, store=self.store, rule_ids=frozenset(r.id for r in self.config.rules),
            subscribers=self.subscribers, outbox=self.outbox))
        self._server = HttpServer(self.app, "127.0.0.1", 0)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            await self._server.run(self._stop)

        self._loop.run_until_complete(main())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> ConsoleServer:
        self._thread.start()
        wait_until(lambda: self._server.port is not None, what="console listening")
        return self

    def stop(self) -> None:
        def close() -> None:
            self.feed.close()
            assert self._stop is not None
            self._stop.set()

        self._loop.call_soon_threadsafe(close)
        self._thread.join(30)
        self.users.close()
        self.store.close()
        self.outbox.close()
        self.subscribers.close()

    def on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on the console's loop (where the alarm manager lives) and wait."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def reading(self, sensor: str, level_cm: float, ts_ms: int) -> list[AlarmEvent]:
        """A river reading through the rules, as the hub's stage evaluates it."""
        spec = next(s for s in self.config.sensors if s.id == sensor)
        reading = Reading(sensor, spec.kind, spec.area, ts_ms, {"level_cm": level_cm})
        self.latest(reading)

        async def apply() -> list[AlarmEvent]:
            events: list[AlarmEvent] = []
            for condition in self.stage.engine.on_reading(reading):
                events += self.stage.manager.apply(condition, ts_ms)
            await self.stage.dispatcher.dispatch(events)
            return events

        return self.on_loop(apply())

    def condition(self, condition: Condition) -> list[AlarmEvent]:
        async def apply() -> list[AlarmEvent]:
            events = self.stage.manager.apply(condition, condition.ts_ms)
            await self.stage.dispatcher.dispatch(events)
            return events

        return self.on_loop(apply())

    def client(self, role: str | None = None) -> httpx.Client:
        """A client; logged in as `role` (with the CSRF header set) unless None."""
        if role is None:
            return httpx.Client(base_url=self.url, timeout=10)
        with httpx.Client(base_url=self.url, timeout=10) as login:
            response = login.post("/api/login", json={"name": role, "password": PASSWORD})
            assert response.status_code == 200, response.text
            cookies = login.cookies
        return httpx.Client(base_url=self.url, timeout=10, cookies=cookies,
                            headers={CSRF_HEADER: response.json()["csrf_token"]})
