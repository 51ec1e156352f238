"""`ews sim camera SCENE`: a simulated IP camera serving a synthetic scene (`river`, `fire`,
`lights`; see `camera_scenes`) as HTTP MJPEG (`multipart/x-mixed-replace`, as most IP cameras
serve `/video.mjpg`), or writing it to a video file. Faults for tests and commissioning drills:
drop every client's connection (the stream breaks, clients must reconnect) and send corrupt
frames. Like the rest of `firmware_sim`, it knows the hub only through the wire."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2

from firmware_sim.camera_scenes import SCENES, Scene, make_scene

logger = logging.getLogger(__name__)

BOUNDARY = "ews-frame"


class MjpegServer:
    """Serves `scene` at `fps` frames per second on http://host:port/video.mjpg (any path but
    /snapshot.jpg streams); scene time runs `speed` times the clock from `start`."""

    def __init__(self, scene: Scene, fps: float = 5.0, host: str = "127.0.0.1", port: int = 0, speed: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.scene = scene
        self.fps = fps
        self.speed = speed
        self._clock = clock
        self._started_s = clock()
        self._generation = 0  # bumped by drop_clients(): streams of an older generation end
        self._corrupt_pending = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.frames_sent = 0
        self.connections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                if self.path.startswith("/snapshot"):
                    jpeg = server.scene.frame(server.scene_time_s()).jpeg
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(jpeg)))
                    self.end_headers()
                    self.wfile.write(jpeg)
                    return
                server._stream(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's signature
                logger.debug("%s " + format, self.address_string(), *args)

        self._http = ThreadingHTTPServer((host, port), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="mjpeg-server", daemon=True)

    @property
    def port(self) -> int:
        return self._http.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._http.server_address[0]}:{self.port}/video.mjpg"

    def scene_time_s(self) -> float:
        """Seconds of scene time now."""
        return (self._clock() - self._started_s) * self.speed

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._http.shutdown()
        self._http.server_close()

    def drop_clients(self) -> None:
        """End every stream now (as a camera that reboots or a link that breaks)."""
        with self._lock:
            self._generation += 1

    def corrupt_frames(self, count: int) -> None:
        """Send the next `count` frames cut short (a corrupt JPEG), then good ones again."""
        with self._lock:
            self._corrupt_pending += count

    def _stream(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            generation = self._generation
            self.connections += 1
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        handler.send_header("Cache-Control", "no-cache")
        handler.end_headers()
        period_s = 1.0 / self.fps
        next_s = self._clock()
        try:
            while not self._stopping.is_set():
                with self._lock:
                    if generation != self._generation:
                        break
                    corrupt = self._corrupt_pending > 0
                    self._corrupt_pending -= int(corrupt)
                jpeg = self.scene.frame(self.scene_time_s()).jpeg
                if corrupt:
                    jpeg = jpeg[: len(jpeg) // 3]
                handler.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg + b"\r\n"
                )
                handler.wfile.flush()
                self.frames_sent += 1
                next_s += period_s
                # Pace the stream like a camera; after a stall, continue from now rather than burst.
                delay_s = next_s - self._clock()
                if delay_s < -period_s:
                    next_s = self._clock()
                elif delay_s > 0:
                    self._stopping.wait(delay_s)
        except (BrokenPipeError, ConnectionResetError):
            return
        # Dropped: close the connection hard, as a camera that goes away does.
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def write_video(scene: Scene, path: Path, seconds: float, fps: float) -> int:
    """Write `seconds` of the scene at `fps` to `path` (Motion JPEG in AVI); returns the frame count."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (scene.width, scene.height))
    if not writer.isOpened():
        raise OSError(f"cannot write a video to {path}")
    count = int(round(seconds * fps))
    try:
        for index in range(count):
            writer.write(scene.frame(index / fps).image)
    finally:
        writer.release()
    return count


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 640x360)") from None


def cmd_sim_camera(args: argparse.Namespace) -> int:
    """Serve a scene as MJPEG until Ctrl-C, or write it to a file."""
    width, height = args.size
    scene = make_scene(args.scene, width, height, args.seed)
    if args.write:
        count = write_video(scene, Path(args.write), args.seconds, args.fps)
        print(f"wrote {count} frames of {args.scene} ({width}x{height}, {args.fps:g} frames/s) to {args.write}")
        return 0
    try:
        server = MjpegServer(scene, args.fps, args.host, args.port, args.speed)
    except OSError as error:
        print(f"ews sim camera: {error}", file=sys.stderr)
        return 1
    server.start()
    print(f"{args.scene}: MJPEG on {server.url} ({width}x{height}, {args.fps:g} frames/s); serving until Ctrl-C",
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
        print("stopped")
    return 0


def add_sim_command(sim_commands: argparse._SubParsersAction) -> None:
    """Register `ews sim camera` under `ews sim`."""
    camera = sim_commands.add_parser("camera", help="a simulated IP camera serving a synthetic scene as HTTP MJPEG")
    camera.add_argument("scene", choices=sorted(SCENES), help="river (staff gauge, flood wave), fire (slope "
                        "fire with smoke), lights (dusk street with steady red/orange lights, no fire)")
    camera.add_argument("--host", default="127.0.0.1", help="address to listen on")
    camera.add_argument("--port", type=int, default=8081, help="HTTP port (0: a free one)")
    camera.add_argument("--fps", type=float, default=5.0, help="frames per second")
    camera.add_argument("--size", type=_size, default=(640, 360), help="WIDTHxHEIGHT (default 640x360)")
    camera.add_argument("--seed", type=int, default=1, help="seed of the noise and flames")
    camera.add_argument("--speed", type=float, default=1.0, help="scene seconds per second (e.g. 10 for a fast flood)")
    camera.add_argument("--write", metavar="FILE", help="write a video file (MJPEG in AVI) instead of serving")
    camera.add_argument("--seconds", type=float, default=60.0, help="length of the written video")
    camera.set_defaults(handler=cmd_sim_camera)
