"""Builds the console from the site config and the hub's running parts: the console app goes on
the hub's one HTTP server next to the Twilio webhooks and the CAP feed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hub.console.api import ConsoleDeps, build_app
from hub.console.live import EventFeed, LatestReadings
from hub.console.users import DATABASE_NAME, UserStore

if TYPE_CHECKING:
    from fastapi import FastAPI

    from hub.app import HubParts
    from hub.config import SiteConfig


class Console:
    """The console's state for one hub: users, newest readings, the live feed, and the app."""

    def __init__(self, config: SiteConfig, data_folder: Path):
        assert config.http is not None
        self._config = config
        self.users = UserStore(data_folder / DATABASE_NAME)
        self.latest = LatestReadings()
        self.feed = EventFeed()
        self.app: FastAPI | None = None

    def attach(self, parts: HubParts) -> FastAPI:
        """Build the app over the hub's parts (after they are built, before they run)."""
        config = self._config
        assert config.http is not None
        stage = parts.alarms
        if stage is not None:
            stage.dispatcher.add_listener(self.feed)

        def health() -> Mapping[str, tuple[bool, str]]:
            spool = parts.writer.spool.batches
            workers = {"influx-writer": parts.writer.running}
            return {
                "broker": (parts.link.connected.is_set(),
                           f"{config.mqtt.host}:{config.mqtt.port} " +
                           ("connected" if parts.link.connected.is_set() else "not connected")),
                "influxdb": (parts.writer.reachable, "writing" if parts.writer.reachable else "writes failing"),
                "spool": (spool == 0 or parts.writer.reachable, f"{spool} batch(es) waiting"),
                "workers": (all(workers.values()),
                            ", ".join(f"{name} {'running' if alive else 'stopped'}" for name, alive in workers.items())),
            }

        def metrics() -> Mapping[str, float]:
            stats = parts.writer.stats
            values: dict[str, float] = {
                "readings_in_total": parts.pipeline.readings_in,
                "readings_rejected_total": sum(parts.pipeline.rejected.values()),
                "influx_points_written_total": stats.points_written,
                "influx_points_spooled_total": stats.points_spooled,
                "influx_write_failures_total": stats.write_failures,
                "spool_batches": parts.writer.spool.batches,
                "mqtt_messages_total": parts.link.messages_received,
                "mqtt_connected": 1.0 if parts.link.connected.is_set() else 0.0,
                "console_live_pages": self.feed.listeners,
            }
            if stage is not None:
                levels = {level: 0 for level in ("info", "yellow", "orange", "red")}
                for alarm in stage.manager.open_alarms():
                    levels[alarm.level] += 1
                for level, count in levels.items():
                    values[f'alarms_open{{level="{level}"}}'] = count
                values["alarm_events_total"] = stage.events_out
            return values

        offline = parts.availability.down if parts.availability is not None else set()
        self.app = build_app(ConsoleDeps(
            http=config.http, site_name=config.site.name, areas=config.areas, sensors=config.sensors,
            users=self.users, latest=self.latest, feed=self.feed, health=health, metrics=metrics,
            offline=lambda: set(offline), stage=stage, store=stage.store if stage is not None else None,
            rule_ids=frozenset(rule.id for rule in config.rules),
            subscribers=parts.notify.subscribers if parts.notify is not None else None,
            outbox=parts.notify.outbox if parts.notify is not None else None,
        ))
        return self.app

    def close(self) -> None:
        """Close the users' database; end the live streams."""
        self.feed.close()
        self.users.close()
