"""The camera worker process (`ews camera -c site.yaml [--camera ID ...]`): one thread per camera
captures its stream through OpenCV (RTSP, HTTP MJPEG or a file), decodes only the frames the
analysis rate needs (every frame is grabbed so that a live stream's buffer stays fresh, only the
due ones are retrieved), reopens a dropped stream with the shared backoff, skips corrupt frames,
and hands frames to the camera's `CameraAnalyser`; a health thread publishes each camera's
health. Everything leaves over MQTT: the worker never runs in the hub's process."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import cv2
import numpy as np

from adapters.camera.analysis import CameraAnalyser
from adapters.camera.messages import Detection, Health, detection_message, health_message
from hub.config import Camera, SiteConfig
from hub.retry import Backoff

logger = logging.getLogger(__name__)

#: How long opening a stream, and then each read, may take before it counts as failed.
STREAM_TIMEOUT_S = 10.0


class StreamError(OSError):
    """A stream that cannot be opened (transient: retried with backoff)."""


class Capture(Protocol):
    """The part of `cv2.VideoCapture` the worker uses."""

    def grab(self) -> bool: ...
    def retrieve(self) -> tuple[bool, np.ndarray | None]: ...
    def get(self, prop_id: int) -> float: ...
    def release(self) -> None: ...


def is_file_source(url: str) -> bool:
    """A recording (a path or file:// URL) rather than a live stream: read as fast as it decodes,
    timed by its own timestamps, and finished at its end instead of reopened."""
    return "://" not in url or url.startswith("file://")


def open_stream(url: str, timeout_s: float = STREAM_TIMEOUT_S) -> Capture:
    """Open `url` with OpenCV's FFmpeg backend (RTSP, HTTP MJPEG, files); raises StreamError."""
    path = url[len("file://"):] if url.startswith("file://") else url
    timeout_ms = int(timeout_s * 1000)
    capture = cv2.VideoCapture(
        path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
    )
    if not capture.isOpened():
        capture.release()
        raise StreamError(f"cannot open the stream {redact(url)}")
    return capture


def redact(url: str) -> str:
    """The URL without its credentials, for logs."""
    scheme, separator, rest = url.partition("://")
    if separator and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


class FrameSampler:
    """Which frames to decode for `fps` analysed frames per second: a frame is due once its time
    reaches the next slot. After a gap (a stall, a reconnection) the slots restart from the frame
    instead of catching up with a burst."""

    def __init__(self, fps: float):
        self._period_s = 1.0 / fps
        self._next_s: float | None = None

    def due(self, t_s: float) -> bool:
        """True if the frame at stream time `t_s` (seconds) should be analysed."""
        # Half a millisecond of tolerance: stream timestamps come rounded to the millisecond.
        if self._next_s is not None and t_s < self._next_s - 0.0005:
            return False
        if self._next_s is None or t_s - self._next_s >= self._period_s:
            self._next_s = t_s + self._period_s
        else:
            self._next_s += self._period_s
        return True

    def restart(self) -> None:
        """Forget the slots (a reopened stream starts its own timeline)."""
        self._next_s = None


@dataclass(frozen=True, slots=True)
class CameraCounts:
    """A camera's running totals, read by the health thread."""

    analysed: int = 0
    detector_runs: int = 0
    dropped: int = 0
    skipped: int = 0
    inference_ms: float = 0.0
    last_frame_s: float | None = None
    connected: bool = False


def health_between(
    camera: str, before: CameraCounts, now: CameraCounts, elapsed_s: float, now_s: float, started_s: float, ts_ms: int
) -> Health:
    """The health of one camera over an interval of `elapsed_s` seconds, from its totals at the
    start (`before`) and end (`now`); `now_s` and `started_s` on the same monotonic clock."""
    analysed = now.analysed - before.analysed
    runs = now.detector_runs - before.detector_runs
    last = now.last_frame_s if now.last_frame_s is not None else started_s
    return Health(
        camera=camera,
        ts_ms=ts_ms,
        fps=analysed / elapsed_s if elapsed_s > 0 else 0.0,
        dropped_frames=now.dropped - before.dropped,
        skipped_frames=now.skipped - before.skipped,
        last_frame_age_s=max(0.0, now_s - last),
        inference_ms=(now.inference_ms - before.inference_ms) / runs if runs else 0.0,
        motion_pct=100.0 * runs / analysed if analysed else 0.0,
        connected=now.connected,
    )


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class CameraRunner:
    """Captures and analyses one camera's stream in its own thread until `stop` is set."""

    def __init__(
        self,
        camera: Camera,
        url: str,
        publish: Callable[[Detection], None],
        stop: threading.Event,
        *,
        opener: Callable[[str], Capture] = open_stream,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = _wall_ms,
        backoff: Backoff | None = None,
        analyser: CameraAnalyser | None = None,
    ):
        self.camera = camera
        self._url = url
        self._publish = publish
        self._stop = stop
        self._opener = opener
        self._clock = clock
        self._wall_ms = wall_ms
        self._backoff = backoff or Backoff(camera.reconnect)
        self.analyser = analyser or CameraAnalyser(camera)
        self._sampler = FrameSampler(camera.analysis_fps)
        self._file = is_file_source(url)
        self._lock = threading.Lock()
        self._counts = CameraCounts()
        self._outage_logged = False
        self.finished = threading.Event()
        self.reconnections = 0
        self._thread = threading.Thread(target=self.run, name=f"camera-{camera.id}", daemon=True)

    def counts(self) -> CameraCounts:
        """The running totals now."""
        with self._lock:
            return self._counts

    def _count(self, **changes: object) -> None:
        with self._lock:
            self._counts = replace(self._counts, **changes)  # type: ignore[arg-type]

    def start(self) -> None:
        """Run in a background thread."""
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        """Wait for the thread to end."""
        self._thread.join(timeout_s)

    def run(self) -> None:
        """Open, read, and reopen after failures, until stopped (or a recording ends)."""
        try:
            while not self._stop.is_set():
                try:
                    capture = self._opener(self._url)
                except StreamError as error:
                    self._down(str(error))
                    continue
                try:
                    self._read(capture)
                finally:
                    capture.release()
                    self._count(connected=False)
                if self._stop.is_set():
                    break
                if self._file:
                    logger.info("camera %s: recording %s ended", self.camera.id, redact(self._url))
                    break
                self.reconnections += 1
                self._down(f"stream {redact(self._url)} dropped")
        except Exception:
            # A defect, not an outage: said loudly; the camera's health then shows it silent.
            logger.exception("camera %s: capture thread failed", self.camera.id)
            raise
        finally:
            self._flush_report()
            self.finished.set()

    def _down(self, why: str) -> None:
        if not self._outage_logged:
            logger.error("camera %s unavailable: %s; retrying with backoff", self.camera.id, why)
            self._outage_logged = True
        self._stop.wait(self._backoff.next_delay_s())

    def _read(self, capture: Capture) -> None:
        self._sampler.restart()
        first = True
        next_report_s: float | None = None
        frames = 0
        while not self._stop.is_set():
            if not capture.grab():
                return
            frames += 1
            t_s = self._frame_time_s(capture, frames)
            if not self._sampler.due(t_s):
                with self._lock:
                    self._counts = replace(self._counts, skipped=self._counts.skipped + 1)
                continue
            frame = self._retrieve(capture)
            if frame is None:
                with self._lock:
                    self._counts = replace(self._counts, dropped=self._counts.dropped + 1)
                continue
            if first:
                first = False
                self._backoff.reset()
                if self._outage_logged:
                    logger.info("camera %s: stream back", self.camera.id)
                    self._outage_logged = False
            result = self.analyser.analyse(frame, t_s)
            with self._lock:
                counts = self._counts
                self._counts = replace(
                    counts,
                    analysed=counts.analysed + 1,
                    detector_runs=counts.detector_runs + int(result.gate.run),
                    inference_ms=counts.inference_ms + result.inference_ms,
                    last_frame_s=self._clock(),
                    connected=True,
                )
            if next_report_s is None:
                next_report_s = t_s + self.camera.report.detection_interval_s
            elif t_s >= next_report_s:
                next_report_s += self.camera.report.detection_interval_s
                if t_s >= next_report_s:
                    next_report_s = t_s + self.camera.report.detection_interval_s
                self._flush_report()

    def _flush_report(self) -> None:
        for detection in self.analyser.report(self._wall_ms()):
            self._publish(detection)

    def _frame_time_s(self, capture: Capture, frames: int) -> float:
        if not self._file:
            return self._clock()
        # A recording's own timestamps (the first frame is at 0); frame counting when it has none.
        position_ms = capture.get(cv2.CAP_PROP_POS_MSEC)
        if position_ms > 0 or (frames == 1 and position_ms == 0):
            return position_ms / 1000.0
        fps = capture.get(cv2.CAP_PROP_FPS)
        return (frames - 1) / fps if fps > 0 else (frames - 1) / 25.0

    @staticmethod
    def _retrieve(capture: Capture) -> np.ndarray | None:
        """The decoded frame, or None if it is corrupt or undecodable."""
        try:
            ok, frame = capture.retrieve()
        except cv2.error:
            return None
        if not ok or frame is None or frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
            return None
        return frame


def stream_urls(cameras: Sequence[Camera], overrides: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Each camera's stream URL: an override given on the command line, else the environment
    variable its `url_env` names. Raises KeyError naming what is missing."""
    urls = {}
    missing = []
    for camera in cameras:
        if camera.id in overrides:
            urls[camera.id] = overrides[camera.id]
        elif camera.url_env is not None and camera.url_env in environ:
            urls[camera.id] = environ[camera.url_env]
        else:
            missing.append(f"{camera.id} ({'set ' + camera.url_env if camera.url_env else 'give --url'})")
    if missing:
        raise KeyError("no stream URL for: " + ", ".join(missing))
    return urls


class CameraWorker:
    """Serves one or more cameras: a runner thread per camera, a health thread, one MQTT link."""

    def __init__(
        self,
        config: SiteConfig,
        cameras: Sequence[Camera],
        urls: Mapping[str, str],
        publish: Callable[[str, bytes], None],
        *,
        opener: Callable[[str], Capture] = open_stream,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = _wall_ms,
    ):
        self._topic_root = config.topic_root
        self._publish_raw = publish
        self._clock = clock
        self._wall_ms = wall_ms
        self.stop_event = threading.Event()
        self.runners = [
            CameraRunner(camera, urls[camera.id], self._publish_detection, self.stop_event,
                         opener=opener, clock=clock, wall_ms=wall_ms)
            for camera in cameras
        ]
        for runner in self.runners:
            if runner.analyser.unavailable_detectors:
                logger.warning("camera %s: detectors not available in this worker: %s",
                               runner.camera.id, ", ".join(runner.analyser.unavailable_detectors))
        self._health_thread = threading.Thread(target=self._health_loop, name="camera-health", daemon=True)

    def _publish_detection(self, detection: Detection) -> None:
        self._publish_raw(*detection_message(self._topic_root, detection))

    def start(self) -> None:
        """Start every camera's thread and the health thread."""
        for runner in self.runners:
            runner.start()
        self._health_thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop capturing (each camera publishes what its interval gathered) and the health thread."""
        self.stop_event.set()
        for runner in self.runners:
            runner.join(timeout_s)
        self._health_thread.join(timeout_s)

    def _health_loop(self) -> None:
        started_s = self._clock()
        previous = {runner.camera.id: (started_s, runner.counts()) for runner in self.runners}
        tick_s = min(runner.camera.report.health_interval_s for runner in self.runners)
        while not self.stop_event.wait(tick_s):
            now_s = self._clock()
            for runner in self.runners:
                since_s, before = previous[runner.camera.id]
                if now_s - since_s < runner.camera.report.health_interval_s - 1e-3:
                    continue
                counts = runner.counts()
                health = health_between(runner.camera.id, before, counts, now_s - since_s, now_s, started_s,
                                        self._wall_ms())
                self._publish_raw(*health_message(self._topic_root, health))
                previous[runner.camera.id] = (now_s, counts)


def worker_client_id(site_id: str, camera_ids: Sequence[str]) -> str:
    """A stable MQTT client id for a worker serving these cameras."""
    return f"ews-camera-{site_id}-{zlib.crc32(','.join(sorted(camera_ids)).encode()):08x}"


def run_worker(config: SiteConfig, cameras: Sequence[Camera], urls: Mapping[str, str], stop: threading.Event) -> None:
    """Run a worker with its own MQTT link until `stop` is set (or every recording has ended)."""
    from hub.broker import BrokerLink

    client_id = worker_client_id(config.site.id, [camera.id for camera in cameras])
    status_topic = f"{config.topic_root}/status/camera-worker/{client_id}"
    link = BrokerLink(config.mqtt, client_id, status_topic, [], lambda topic, payload: None)
    worker = CameraWorker(config, cameras, urls, lambda topic, payload: link.publish(topic, payload, qos=1))
    link.start()
    worker.start()
    logger.info("camera worker serving %s; broker %s:%d", ", ".join(c.id for c in cameras),
                config.mqtt.host, config.mqtt.port)
    try:
        while not stop.wait(0.5):
            if all(runner.finished.is_set() for runner in worker.runners):
                break
    finally:
        worker.stop()
        link.stop()
