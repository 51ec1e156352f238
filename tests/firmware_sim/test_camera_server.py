"""The simulated IP camera: MJPEG over real HTTP in the multipart format cameras use, a dropped
stream, corrupt frames, and video files OpenCV reads back."""

from __future__ import annotations

import http.client
from pathlib import Path

import cv2
import numpy as np

from firmware_sim.camera_scenes import RiverScene
from firmware_sim.camera_server import BOUNDARY, MjpegServer, write_video
from hub.cli import main


def _parts(response: http.client.HTTPResponse, count: int) -> list[bytes]:
    parts = []
    for _ in range(count):
        assert response.readline() == f"--{BOUNDARY}\r\n".encode()
        headers = {}
        while (line := response.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        parts.append(response.read(int(headers["content-length"])))
        assert response.readline() == b"\r\n"
    return parts


def test_mjpeg_stream_drop_and_corrupt_frames() -> None:
    server = MjpegServer(RiverScene(width=160, height=90), fps=50.0)
    server.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("GET", "/video.mjpg")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        frames = _parts(response, 3)
        assert all(cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR).shape == (90, 160, 3) for f in frames)
        server.corrupt_frames(1)
        later = _parts(response, 4)
        assert any(not part.endswith(b"\xff\xd9") for part in later)  # a JPEG cut short: no end marker
        server.drop_clients()
        # The server ends the stream: reading to its end returns (a live stream would time out here).
        response.read()
        assert server.connections == 1
        snapshot = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        snapshot.request("GET", "/snapshot.jpg")
        assert snapshot.getresponse().read().startswith(b"\xff\xd8")
    finally:
        server.stop()


def test_written_video_is_read_back_by_opencv(tmp_path: Path) -> None:
    path = tmp_path / "river.avi"
    assert write_video(RiverScene(width=160, height=90), path, seconds=2.0, fps=5.0) == 10
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.grab():
        frames += 1
    assert frames == 10


def test_cli_writes_a_scene(tmp_path: Path, capsys) -> None:
    path = tmp_path / "fire.avi"
    assert main(["sim", "camera", "fire", "--write", str(path), "--seconds", "1", "--fps", "4", "--size", "96x54"]) == 0
    assert "wrote 4 frames of fire (96x54" in capsys.readouterr().out
    assert cv2.VideoCapture(str(path)).read()[1].shape == (54, 96, 3)
