"""Shared pieces of the notification tests: alarm events as the alarm manager makes them, a
subscriber population, a service with the real `twilio` SDK pointed at the local Twilio stand-in."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from hub.alarms import Alarm, AlarmEvent
from hub.notify.citizens import AreaNames
from hub.notify.config import NotifyConfig
from hub.notify.service import NotifyService
from hub.notify.subscribers import Subscriber
from tests.notify.twilio_server import ACCOUNT_SID, SERVICE_SID

TOKEN_ENV = "EWS_TEST_TWILIO_TOKEN"
AREAS = {"centre": AreaNames("Център", "Centre"), "shipka": AreaNames("Шипка", "Shipka")}
T0_MS = 1_764_072_300_000  # 2025-11-25 12:05 UTC


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alarm(alarm_id: int = 1, level: str = "red", area: str = "centre", hazard: str = "flood",
          audience: str = "public", state: str = "active") -> Alarm:
    return Alarm(id=alarm_id, rule="centre-river", rule_version="1", subject=area, area=area, hazard=hazard,
                 audience=audience, level=level, state=state, opened_ms=T0_MS, updated_ms=T0_MS,  # type: ignore[arg-type]
                 evidence={"condition": {"value": 330.0}})


def event(seq: int, kind: str = "raised", **alarm_args: object) -> AlarmEvent:
    return AlarmEvent(seq=seq, kind=kind, ts_ms=T0_MS + seq * 1000, alarm=alarm(**alarm_args))  # type: ignore[arg-type]


def phone(index: int) -> str:
    """Distinct valid Bulgarian mobile numbers in E.164."""
    return f"+35988{index:07d}"


def population(count: int, area: str = "centre", english_every: int = 3) -> list[Subscriber]:
    return [Subscriber(phone(i), (area,), (), "en" if i % english_every == 0 else "bg") for i in range(count)]


def twilio_notify_config(api_url: str, webhook_port: int, **sms: object) -> NotifyConfig:
    return NotifyConfig.model_validate({
        "sms": {"provider": {"kind": "twilio", "account_sid": ACCOUNT_SID, "auth_token_env": TOKEN_ENV,
                             "messaging_service_sid": SERVICE_SID, "validity_period_s": 3600, "api_url": api_url},
                "rate_per_s": None, "concurrency": 8, "retry": {"initial_s": 0.01, "max_s": 0.05},
                "counts_interval_s": 0.1} | sms,
        "webhooks": {"listen_port": webhook_port, "public_url": f"http://127.0.0.1:{webhook_port}",
                     "auth_token_env": TOKEN_ENV},
    })


class RunningService:
    """A NotifyService running on its own event loop in a thread."""

    def __init__(self, config: NotifyConfig, folder: Path, lines: list[str] | None = None):
        self.lines = lines if lines is not None else []
        self.published: list[tuple[str, bytes]] = []
        self.service = NotifyService(config, site_id="test", timezone="Europe/Sofia", topic_root="ews/test",
                                     areas=AREAS, data_folder=folder, add_line=self.lines.append,
                                     publish=lambda topic, payload: self.published.append((topic, payload)))
        self.loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._ready = threading.Event()

    def _main(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            self._ready.set()
            await self.service.run(self._stop)

        self.loop.run_until_complete(main())

    def __enter__(self) -> RunningService:
        self._thread.start()
        self._ready.wait(10)
        return self

    def call(self, make: Callable[[], object], timeout_s: float = 30.0) -> object:
        """Run a coroutine made by `make` on the service's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(make(), self.loop).result(timeout_s)  # type: ignore[arg-type]

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self.service.close()
