"""Synthetic camera scenes with ground truth, for the camera worker's tests, benchmarks and the
MJPEG simulator: a river bank with a staff gauge and a water surface that rises and falls
(`river`), a forest slope where a fire starts and smoke rises (`fire`), and a dusk street with
steady red and orange lights and a sunset but no fire (`lights`). Every frame goes through JPEG
compression as a camera's would, and carries sensor noise and slow lighting drift. A frame is a
pure function of (scene, time), so any frame can be reproduced alone."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np


def _jpeg_round_trip(frame: np.ndarray, quality: int) -> tuple[bytes, np.ndarray]:
    ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    data = buffer.tobytes()
    return data, cv2.imdecode(buffer, cv2.IMREAD_COLOR)


@dataclass(frozen=True, slots=True)
class Frame:
    """One rendered frame: the JPEG a camera would send, it decoded, and the ground truth."""

    jpeg: bytes
    image: np.ndarray
    truth: dict[str, float]


@dataclass
class Scene:
    """Base of the scenes: size, seed, noise, JPEG quality."""

    width: int = 640
    height: int = 360
    seed: int = 1
    noise: float = 4.0
    jpeg_quality: int = 70
    name: str = field(default="scene", init=False)

    def render(self, t_s: float) -> tuple[np.ndarray, dict[str, float]]:
        raise NotImplementedError

    def frame(self, t_s: float) -> Frame:
        """The frame at time `t_s` (seconds from the scene's start)."""
        image, truth = self.render(t_s)
        rng = np.random.default_rng((self.seed, int(round(t_s * 1000))))
        noisy = image.astype(np.float32) + rng.normal(0.0, self.noise, image.shape).astype(np.float32)
        jpeg, decoded = _jpeg_round_trip(np.clip(noisy, 0, 255).astype(np.uint8), self.jpeg_quality)
        return Frame(jpeg, decoded, truth)

    def _grid(self) -> tuple[np.ndarray, np.ndarray]:
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        return xs / (self.width - 1), ys / (self.height - 1)


@dataclass
class RiverScene(Scene):
    """A river bank with a staff gauge reading 0 to `gauge_max_cm`. The level follows a slow flood
    wave: `base_cm` plus `swing_cm` over `period_s`; small waves run across the surface and the
    daylight drifts by ±`lighting_drift`. Truth: `level_cm` (the mean surface at the gauge)."""

    gauge_left: float = 0.47
    gauge_right: float = 0.55
    gauge_top: float = 0.08  # y of the gauge's top, which reads gauge_max_cm
    gauge_bottom: float = 0.94  # y of the gauge's zero
    gauge_max_cm: float = 300.0
    perspective: float = 1.12  # >1: the camera looks down, so upper centimetres look shorter
    base_cm: float = 140.0
    swing_cm: float = 90.0
    period_s: float = 240.0
    ripple_cm: float = 1.5
    lighting_drift: float = 0.3

    def __post_init__(self) -> None:
        self.name = "river"

    def level_cm(self, t_s: float) -> float:
        """The true level at time `t_s`."""
        return self.base_cm + self.swing_cm * math.sin(2 * math.pi * t_s / self.period_s)

    def y_of_level(self, level_cm: float) -> float:
        """Where (fraction of frame height) the gauge shows `level_cm`."""
        depth = 1.0 - level_cm / self.gauge_max_cm  # 0 at the top of the gauge, 1 at its zero
        return self.gauge_top + (self.gauge_bottom - self.gauge_top) * depth**self.perspective

    def gauge_marks(self, every_cm: float = 50.0) -> list[tuple[float, float, float]]:
        """Surveyed marks (x, y, level_cm) as a technician would enter them at commissioning."""
        x = (self.gauge_left + self.gauge_right) / 2
        count = int(self.gauge_max_cm // every_cm)
        return [(x, self.y_of_level(k * every_cm), k * every_cm) for k in range(count + 1)]

    def render(self, t_s: float) -> tuple[np.ndarray, dict[str, float]]:
        u, v = self._grid()
        level = self.level_cm(t_s)
        image = np.empty((self.height, self.width, 3), np.float32)
        # Sky, then the far bank and the near banks (earth and grass, with some texture).
        texture = (np.sin(u * 91.0 + v * 13.0) * np.sin(v * 57.0 - u * 7.0)) * 10.0
        image[:] = np.stack([200 - 60 * v, 170 - 40 * v, 140 - 30 * v], axis=2)
        bank = v > 0.18
        image[bank] = (np.stack([60 + 0 * u, 95 + 10 * u, 85 + 0 * u], axis=2)[bank]
                       + texture[bank][:, None])
        # The gauge: white board, black E-marks every 10 cm alternating sides, a bar every metre.
        gauge = (u >= self.gauge_left) & (u <= self.gauge_right) & (v >= self.gauge_top) & (v <= self.gauge_bottom)
        depth = np.clip((v - self.gauge_top) / (self.gauge_bottom - self.gauge_top), 0, 1)
        reading = self.gauge_max_cm * (1.0 - depth ** (1.0 / self.perspective))
        within = reading % 10.0
        decimetre = np.floor(reading / 10.0)
        left_half = u < (self.gauge_left + self.gauge_right) / 2
        mark = (within >= 5.0) & (left_half == (decimetre % 2 == 0))
        metre = (reading % 100.0) >= 98.5
        image[gauge] = (235.0, 235.0, 232.0)
        image[gauge & (mark | metre)] = (25.0, 25.0, 30.0)
        # The water: murky green-brown, with waves travelling across and faint streaks.
        waves = self.ripple_cm * np.sin(u * 60.0 - t_s * 2.1) + 0.5 * self.ripple_cm * np.sin(u * 23.0 + t_s * 1.3)
        surface_level = level + waves  # in cm, per column
        surface_y = self.y_of_level_array(surface_level)
        water = v >= surface_y
        streaks = 6.0 * np.sin(v * 400.0 + np.sin(u * 30.0 + t_s) * 3.0)
        image[water] = np.stack([70 + 0 * u, 100 + 0 * u, 95 + 0 * u], axis=2)[water] + streaks[water][:, None]
        # Daylight drifts slowly (clouds, time of day).
        gain = 1.0 + self.lighting_drift * math.sin(2 * math.pi * t_s / 97.0)
        image = image * gain + 10.0 * math.sin(2 * math.pi * t_s / 61.0)
        return np.clip(image, 0, 255).astype(np.uint8), {"level_cm": level}

    def y_of_level_array(self, level_cm: np.ndarray) -> np.ndarray:
        depth = np.clip(1.0 - level_cm / self.gauge_max_cm, 0.0, None)
        return self.gauge_top + (self.gauge_bottom - self.gauge_top) * depth**self.perspective


@dataclass
class FireScene(Scene):
    """A forested slope under the sky; at `ignition_s` a fire starts at (`fire_x`, `fire_y`),
    flickers (new flame shapes every frame), grows, and sends up a plume of grey smoke that rises
    and spreads. Truth: `fire` (1 after ignition) and `fire_radius` (fraction of frame height)."""

    ignition_s: float = 5.0
    fire_x: float = 0.62
    fire_y: float = 0.62
    growth_per_s: float = 0.0015
    max_radius: float = 0.06
    smoke_rise_per_s: float = 0.02
    lighting_drift: float = 0.15

    def __post_init__(self) -> None:
        self.name = "fire"

    def _radius(self, t_s: float) -> float:
        return min(self.max_radius, 0.012 + self.growth_per_s * (t_s - self.ignition_s))

    def render(self, t_s: float) -> tuple[np.ndarray, dict[str, float]]:
        u, v = self._grid()
        ridge = 0.3 + 0.08 * np.sin(u * 5.0 + 0.7)
        image = np.empty((self.height, self.width, 3), np.float32)
        image[:] = np.stack([215 - 50 * v, 180 - 40 * v, 140 - 30 * v], axis=2)  # blue sky
        slope = v > ridge
        trees = (np.sin(u * 150.0) * np.sin(v * 90.0 + np.sin(u * 40.0)) > 0.3)
        forest = np.stack([40 + 15 * v, 85 + 20 * v, 55 + 10 * v], axis=2)
        forest = np.where(trees[:, :, None], forest * 0.6, forest)
        image[slope] = forest[slope]
        burning = t_s >= self.ignition_s
        scale = self.height / self.width
        if burning:
            radius = self._radius(t_s)
            # Smoke: blobs born at the fire every second, rising, growing and fading.
            smoke = np.zeros((self.height, self.width), np.float32)
            for age in np.arange(0.0, min(t_s - self.ignition_s, 20.0) + 1e-9, 1.0):
                born = t_s - age
                phase = (born * 7.31) % 1.0
                cx = self.fire_x + 0.01 * age + 0.01 * math.sin(phase * 6.28)
                cy = self.fire_y - radius - self.smoke_rise_per_s * age
                size = radius * 0.8 + 0.006 * age
                blob = np.exp(-(((u - cx) / scale) ** 2 + (v - cy) ** 2) / (2 * size**2))
                smoke = np.maximum(smoke, blob * max(0.0, 0.8 - 0.03 * age))
            image = image * (1 - smoke[:, :, None]) + np.array([175.0, 175.0, 178.0]) * smoke[:, :, None]
            # Flames: a cluster of tongues with a new random shape every frame.
            rng = np.random.default_rng((self.seed, 99, int(round(t_s * 1000))))
            for _ in range(14):
                fx = self.fire_x + rng.normal(0, radius * 0.6) * scale
                fy = self.fire_y + rng.normal(0, radius * 0.3)
                rx, ry = radius * rng.uniform(0.15, 0.45) * scale, radius * rng.uniform(0.4, 1.1)
                tongue = (((u - fx) / rx) ** 2 + ((v - fy + ry * 0.5) / ry) ** 2) <= 1.0
                colour = (rng.uniform(0, 60), rng.uniform(90, 220), rng.uniform(225, 255))
                image[tongue] = colour
        gain = 1.0 + self.lighting_drift * math.sin(2 * math.pi * t_s / 83.0)
        image = image * gain
        truth = {"fire": 1.0 if burning else 0.0, "fire_radius": self._radius(t_s) if burning else 0.0}
        return np.clip(image, 0, 255).astype(np.uint8), truth


@dataclass
class LightsScene(Scene):
    """Dusk over a street: an orange-red sunset sky, sodium street lamps, an orange neon sign and
    the steady red tail lights of parked cars. All steady; lighting drifts, noise and JPEG as
    everywhere. No fire, ever: truth `fire` is always 0."""

    lighting_drift: float = 0.15

    def __post_init__(self) -> None:
        self.name = "lights"

    def render(self, t_s: float) -> tuple[np.ndarray, dict[str, float]]:
        u, v = self._grid()
        image = np.empty((self.height, self.width, 3), np.float32)
        # Sunset: deep orange at the horizon to dark blue above.
        sky = np.stack([60 + 80 * (0.45 - v), 90 + 70 * v, 140 + 230 * v], axis=2)
        image[:] = sky
        ground = v > 0.45
        image[ground] = (35.0, 35.0, 40.0)
        sun = ((u - 0.2) / 0.05) ** 2 + ((v - 0.42) / 0.09) ** 2 <= 1.0
        image[sun] = (70.0, 170.0, 255.0)
        aspect = self.width / self.height

        def disc(cx: float, cy: float, r: float) -> np.ndarray:
            return ((u - cx) * aspect) ** 2 + (v - cy) ** 2 <= r**2

        for cx in (0.35, 0.6, 0.85):  # sodium lamps
            image[disc(cx, 0.5, 0.02)] = (40.0, 150.0, 250.0)
        image[(u > 0.45) & (u < 0.7) & (v > 0.55) & (v < 0.62)] = (50.0, 120.0, 245.0)  # neon sign
        for cx in (0.15, 0.23, 0.5, 0.58, 0.78, 0.86):  # tail lights of parked cars
            image[disc(cx, 0.8, 0.018)] = (30.0, 30.0, 230.0)
        gain = 1.0 + self.lighting_drift * math.sin(2 * math.pi * t_s / 71.0)
        return np.clip(image * gain, 0, 255).astype(np.uint8), {"fire": 0.0}


SCENES = {"river": RiverScene, "fire": FireScene, "lights": LightsScene}


def make_scene(name: str, width: int = 640, height: int = 360, seed: int = 1) -> Scene:
    """A scene by name (`river`, `fire`, `lights`)."""
    try:
        return SCENES[name](width=width, height=height, seed=seed)
    except KeyError:
        raise ValueError(f"unknown scene {name!r} (known: {', '.join(SCENES)})") from None
