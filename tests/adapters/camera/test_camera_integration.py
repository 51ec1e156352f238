"""The camera path end to end with the real services: the simulated camera serves the river and
the fire scenes as HTTP MJPEG, a camera worker reads both over real HTTP and publishes to the real
Mosquitto, and the hub stores the water level, the fire scores and the cameras' health in the
real InfluxDB; a dropped stream is reopened and the data keeps coming."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from adapters.camera.worker import run_worker
from firmware_sim.camera_scenes import FireScene, RiverScene
from firmware_sim.camera_server import MjpegServer
from hub.app import HubThread
from hub.config import parse_config
from hub.localservices import LocalInfluxd, LocalMosquitto
from tests.adapters.camera.support import river_camera_yaml
from tests.conftest import influx_client, query_points, site_yaml, wait_until

pytestmark = pytest.mark.integration

SENSORS = """
  - {id: river-cam-level, kind: camera_water, area: centre, location: {lat: 42.6, lon: 25.4},
     interval_s: 1, tags: {camera: cam-river}}
  - {id: slope-cam-fire, kind: fire, area: shipka, location: {lat: 42.7, lon: 25.3},
     interval_s: 1, tags: {camera: cam-slope}}
"""
FIRE_CAMERA = """
  - id: cam-slope
    area: shipka
    location: {lat: 42.7, lon: 25.3}
    detectors: [fire_smoke]
    analysis_fps: 2
    analysis_width: 320
    report: {detection_interval_s: 1, health_interval_s: 0.5}
    reconnect: {initial_s: 0.05, max_s: 0.2}
"""


def test_worker_reads_mjpeg_over_http_and_the_hub_stores_levels_scores_and_health(
    mosquitto: LocalMosquitto, influxd: LocalInfluxd, unique_name: str, tmp_path: Path
) -> None:
    river = RiverScene(width=320, height=180, seed=9, swing_cm=0.0, base_cm=175.0)
    fire = FireScene(width=320, height=180, seed=9, ignition_s=0.0)
    cameras = "cameras:" + river_camera_yaml(river, "cam-river").replace(
        "detection_interval_s: 2, health_interval_s: 1", "detection_interval_s: 1, health_interval_s: 0.5"
    ) + FIRE_CAMERA
    config = parse_config(site_yaml(unique_name, mosquitto.port, influxd.url, SENSORS, cameras))
    river_server, fire_server = MjpegServer(river, fps=8.0), MjpegServer(fire, fps=8.0)
    river_server.start()
    fire_server.start()
    hub = HubThread(config, tmp_path / "hub")
    hub.start()
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(config, config.cameras, {"cam-river": river_server.url, "cam-slope": fire_server.url}, stop),
        daemon=True,
    )
    worker.start()
    client = influx_client(influxd.url, f"db_{unique_name}")

    def rows(statement: str) -> list[dict]:
        return query_points(client, statement) if hub.parts.writer.stats.points_written else []

    try:
        wait_until(lambda: len(rows("SELECT level_cm FROM camera_water")) >= 2, what="water levels stored")
        wait_until(lambda: any(r["fire_score"] >= 0.6 for r in rows("SELECT fire_score FROM fire")),
                   what="the fire found")
        wait_until(lambda: {r["camera"] for r in rows("SELECT fps FROM camera GROUP BY camera")}
                   == {"cam-river", "cam-slope"}, what="health of both cameras")
        levels_before = len(rows("SELECT level_cm FROM camera_water"))
        river_server.drop_clients()
        wait_until(lambda: river_server.connections >= 2, what="the worker reconnecting")
        wait_until(lambda: len(rows("SELECT level_cm FROM camera_water")) >= levels_before + 2,
                   what="levels after the reconnection")
    finally:
        stop.set()
        worker.join(30)
        hub.stop()
        river_server.stop()
        fire_server.stop()
    levels = rows("SELECT level_cm, confidence, sensor, area, site FROM camera_water")
    assert all(abs(row["level_cm"] - 175.0) <= 6.0 and row["confidence"] >= 0.5 for row in levels)
    assert {(row["sensor"], row["area"], row["site"]) for row in levels} == {("river-cam-level", "centre", unique_name)}
    health = rows("SELECT fps, dropped_frames, skipped_frames, last_frame_age_s, inference_ms, connected FROM camera "
                  f"WHERE camera = 'cam-river' AND site = '{unique_name}' AND area = 'centre'")
    assert health and max(row["fps"] for row in health) > 0.5
    # 8 frames/s served, 2 analysed: the others are grabbed but never decoded.
    assert sum(row["skipped_frames"] for row in health) > sum(row["fps"] for row in health)
    assert all(row["inference_ms"] >= 0 and row["last_frame_age_s"] >= 0 for row in health)
    assert not hub.parts.pipeline.rejected
