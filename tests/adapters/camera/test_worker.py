"""The capture loop without a network: frames decoded only at the analysis rate, corrupt frames
skipped and counted, a dropped stream reopened with backoff, health computed from the counts,
and the messages in DESIGN.md's formats."""

from __future__ import annotations

import random
import threading

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.camera.messages import Detection, Health, detection_message, health_message
from adapters.camera.worker import (
    CameraCounts, CameraRunner, CameraWorker, FrameSampler, StreamError, health_between, is_file_source, redact,
    stream_urls,
)
from firmware_sim.camera_scenes import RiverScene
from hub.retry import Backoff, BackoffConfig
from tests.adapters.camera.support import ScriptedCapture, river_camera, river_camera_yaml, site_with_cameras

NOW_MS = 1_795_611_600_000


@given(st.floats(0.1, 30.0), st.floats(1.0, 60.0), st.floats(0.0, 1000.0))
def test_sampler_keeps_to_the_analysis_rate(fps: float, stream_fps: float, start_s: float) -> None:
    sampler = FrameSampler(fps)
    times = [start_s + i / stream_fps for i in range(int(stream_fps * 20))]
    due = [t for t in times if sampler.due(t)]
    expected = min(len(times), 20 * fps)
    assert due[0] == times[0]
    assert abs(len(due) - expected) <= 1 + 0.02 * expected
    # Never two analysed frames closer than the period, less one frame of the stream.
    gaps = np.diff(due)
    assert (gaps >= 1.0 / fps - 1.0 / stream_fps - 1e-6).all()


def test_sampler_restarts_after_a_gap_instead_of_bursting() -> None:
    sampler = FrameSampler(2.0)
    assert [sampler.due(t) for t in (0.0, 0.25, 0.5, 0.75)] == [True, False, True, False]
    assert [sampler.due(t) for t in (10.0, 10.1, 10.3, 10.5)] == [True, False, False, True]


def _frame(scene: RiverScene, t_s: float) -> np.ndarray:
    return scene.frame(t_s).image


def _runner(camera, url: str, opener, stop: threading.Event, published: list, clock=None) -> CameraRunner:
    return CameraRunner(
        camera, url, published.append, stop, opener=opener, wall_ms=lambda: NOW_MS,
        clock=clock or (lambda: 0.0), backoff=Backoff(BackoffConfig(initial_s=0.001, max_s=0.002), random.Random(1)),
    )


def test_a_recording_is_decoded_at_the_analysis_rate_and_reported() -> None:
    scene = RiverScene(width=320, height=180, swing_cm=0.0, base_cm=150.0)
    camera = river_camera(scene)  # 2 frames/s analysed, a report every 2 s
    image = _frame(scene, 0.0)
    capture = ScriptedCapture([image] * 60, fps=10.0)  # 6 s at 10 frames/s
    published: list[Detection] = []
    runner = _runner(camera, "/recordings/river.avi", lambda url: capture, threading.Event(), published)
    runner.run()
    counts = runner.counts()
    assert capture.retrieved == counts.analysed == 12
    assert counts.skipped == 48 and counts.dropped == 0
    assert capture.released and runner.finished.is_set()
    assert len(published) == 3  # at 2 s and 4 s of stream time, and what was left at the end
    assert all(d.values["level_cm"] == pytest.approx(150.0, abs=5.0) for d in published)


def test_corrupt_frames_are_skipped_and_counted() -> None:
    scene = RiverScene(width=320, height=180)
    camera = river_camera(scene).model_copy(update={"analysis_fps": 10.0})
    good = _frame(scene, 0.0)
    script = [good, None, good, np.zeros((0, 0, 3), np.uint8), np.zeros((180, 320), np.uint8), good]
    capture = ScriptedCapture(script, fps=10.0)
    runner = _runner(camera, "file:///x.avi", lambda url: capture, threading.Event(), [])
    runner.run()
    counts = runner.counts()
    assert (counts.analysed, counts.dropped, counts.skipped) == (3, 3, 0)


def test_a_dropped_live_stream_is_reopened_with_backoff() -> None:
    scene = RiverScene(width=320, height=180)
    camera = river_camera(scene)
    image = _frame(scene, 0.0)
    stop = threading.Event()
    opened: list[str] = []
    clock = iter(np.arange(0.0, 1000.0, 0.1))

    def opener(url: str) -> ScriptedCapture:
        opened.append(url)
        if len(opened) == 2:
            raise StreamError("connection refused")
        if len(opened) == 4:
            stop.set()
        return ScriptedCapture([image] * 5 + ["end"])

    runner = _runner(camera, "rtsp://user:pw@10.0.0.5/stream", opener, stop, [], clock=lambda: float(next(clock)))
    runner.run()
    assert len(opened) == 4
    assert runner.reconnections == 2
    assert runner.counts().analysed >= 3 and not runner.counts().connected


def test_health_from_counts() -> None:
    before = CameraCounts(analysed=10, detector_runs=4, dropped=1, skipped=40, inference_ms=20.0, last_frame_s=5.0)
    now = CameraCounts(analysed=30, detector_runs=14, dropped=3, skipped=120, inference_ms=70.0, last_frame_s=14.5,
                       connected=True)
    health = health_between("cam", before, now, 10.0, 15.0, 0.0, NOW_MS)
    assert health == Health("cam", NOW_MS, fps=2.0, dropped_frames=2, skipped_frames=80, last_frame_age_s=0.5,
                            inference_ms=5.0, motion_pct=50.0, connected=True)
    silent = health_between("cam", CameraCounts(), CameraCounts(), 10.0, 42.0, 2.0, NOW_MS)
    assert (silent.fps, silent.inference_ms, silent.last_frame_age_s, silent.connected) == (0.0, 0.0, 40.0, False)


def test_messages_follow_the_wire_formats() -> None:
    topic, payload = detection_message("ews/kz", Detection("fire", "cam-1", NOW_MS, {"fire_score": 0.71234567},
                                                           "slope", [{"type": "flame", "bbox": [0.1, 0.2, 0.05, 0.05]}]))
    assert topic == "ews/kz/detection/fire/cam-1"
    assert orjson.loads(payload) == {"ts": NOW_MS, "values": {"fire_score": 0.7123}, "zone": "slope",
                                     "objects": [{"type": "flame", "bbox": [0.1, 0.2, 0.05, 0.05]}]}
    topic, payload = health_message("ews/kz", Health("cam-1", NOW_MS, 1.5, 2, 10, 0.25, 3.5, 40.0, True))
    assert topic == "ews/kz/reading/camera/cam-1"
    assert orjson.loads(payload) == {"ts": NOW_MS, "values": {
        "fps": 1.5, "dropped_frames": 2, "skipped_frames": 10, "last_frame_age_s": 0.25, "inference_ms": 3.5,
        "motion_pct": 40.0, "connected": 1}}


def test_urls_come_from_overrides_or_the_named_environment_variable() -> None:
    scene = RiverScene(width=320, height=180)
    config = site_with_cameras(river_camera_yaml(scene, "cam-a", "    url_env: CAM_A_URL")
                               + river_camera_yaml(scene, "cam-b"))
    assert stream_urls(config.cameras, {"cam-b": "http://b"}, {"CAM_A_URL": "rtsp://a"}) == {
        "cam-a": "rtsp://a", "cam-b": "http://b"}
    with pytest.raises(KeyError, match="cam-a .set CAM_A_URL.*cam-b .give --url"):
        stream_urls(config.cameras, {}, {})


def test_file_sources_and_redaction() -> None:
    assert is_file_source("/data/river.avi") and is_file_source("file:///data/river.avi")
    assert not is_file_source("rtsp://10.0.0.5/s") and not is_file_source("http://cam/mjpg")
    assert redact("rtsp://admin:secret@10.0.0.5:554/s") == "rtsp://***@10.0.0.5:554/s"
    assert redact("http://cam/video.mjpg") == "http://cam/video.mjpg"


def test_worker_publishes_detections_and_health_of_each_camera() -> None:
    scene = RiverScene(width=320, height=180, swing_cm=0.0, base_cm=120.0)
    config = site_with_cameras(river_camera_yaml(scene, "cam-a") + river_camera_yaml(scene, "cam-b"))
    image = _frame(scene, 0.0)
    published: list[tuple[str, bytes]] = []
    got_health = threading.Event()

    def publish(topic: str, payload: bytes) -> None:
        published.append((topic, payload))
        if {t for t, _ in published if "/reading/camera/" in t} == {"ews/kz/reading/camera/cam-a",
                                                                   "ews/kz/reading/camera/cam-b"}:
            got_health.set()

    ticks = iter(range(10**6))
    worker = CameraWorker(config, config.cameras, {"cam-a": "/a.avi", "cam-b": "/b.avi"}, publish,
                          opener=lambda url: ScriptedCapture([image] * 50, fps=10.0),
                          clock=lambda: float(next(ticks)), wall_ms=lambda: NOW_MS)
    worker.start()
    assert got_health.wait(10.0)
    worker.stop()
    topics = {topic for topic, _ in published}
    assert {"ews/kz/detection/camera_water/cam-a", "ews/kz/detection/camera_water/cam-b"} <= topics
    health = [orjson.loads(p) for t, p in published if t == "ews/kz/reading/camera/cam-a"][0]
    assert set(health["values"]) >= {"fps", "dropped_frames", "last_frame_age_s", "inference_ms"}
