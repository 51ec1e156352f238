"""Fire and smoke in a camera's view, scored per zone 0..1.

Flame: pixels of flame colour (Chen, Wu & Chiou (2004), "An early fire-detection method based on
image processing": R > R_T, R ≥ G > B, S ≥ (255 − R)·S_T/R_T) that flicker, i.e. whose brightness
varies over the last frames beyond the zone's common change (Töreyin et al. (2006) use the same
temporal cue through wavelets); the score grows with the number of flickering flame pixels, with
the share of recent frames that held flame colour, and with the flame area's growth. A steady red
or orange light (tail lights, neon, sodium lamps, a sunset) has the colour but does not flicker.

Smoke: pixels that turned grey (low saturation, middle brightness) where the slow background was
not grey, that blur rather than add edges (diffuse), in a region that rises or grows over the
window."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

#: Chen et al.'s thresholds, for 8-bit channels.
RED_THRESHOLD = 135
SATURATION_THRESHOLD = 60
#: Smoke is grey: channel spread below this, brightness between these.
SMOKE_MAX_SPREAD = 40
SMOKE_BRIGHTNESS = (90, 235)
#: Background adaptation per analysed frame, away from detected smoke.
BACKGROUND_RATE = 0.02


@dataclass(frozen=True, slots=True)
class ZoneFireScore:
    """The scores of one zone (None: the camera's whole view) after one frame."""

    zone: str | None
    fire_score: float
    smoke_score: float
    flame_pixels: int
    flickering_pixels: int
    smoke_pixels: int
    growing: bool
    rising: bool
    flame_box: tuple[float, float, float, float] | None  # x, y, width, height as fractions of the frame


def flame_colour_mask(frame_bgr: np.ndarray) -> np.ndarray:
    """Pixels of flame colour per Chen et al. (2004); saturation on the HSV 0..255 scale."""
    blue, green, red = (frame_bgr[:, :, i].astype(np.int32) for i in range(3))
    high = np.maximum(np.maximum(red, green), blue)
    low = np.minimum(np.minimum(red, green), blue)
    saturation = np.where(high > 0, (high - low) * 255 // np.maximum(high, 1), 0)
    return (red > RED_THRESHOLD) & (red >= green) & (green > blue) & (
        saturation * RED_THRESHOLD >= (255 - red) * SATURATION_THRESHOLD
    )


def smoke_colour_mask_reference(frame_bgr: np.ndarray) -> np.ndarray:
    """Plain NumPy reference of `smoke_colour_mask` (which is several times faster through OpenCV)."""
    high = frame_bgr.max(axis=2).astype(np.int16)
    low = frame_bgr.min(axis=2).astype(np.int16)
    return (high - low < SMOKE_MAX_SPREAD) & (high >= SMOKE_BRIGHTNESS[0]) & (high <= SMOKE_BRIGHTNESS[1])


def smoke_colour_mask(frame_bgr: np.ndarray) -> np.ndarray:
    """Grey pixels of middle brightness: what smoke looks like against most backgrounds."""
    blue, green, red = cv2.split(frame_bgr)
    high = cv2.max(cv2.max(blue, green), red)
    low = cv2.min(cv2.min(blue, green), red)
    return (cv2.subtract(high, low) < SMOKE_MAX_SPREAD) & (high >= SMOKE_BRIGHTNESS[0]) & (high <= SMOKE_BRIGHTNESS[1])


def flickering(lumas: np.ndarray, candidates: np.ndarray, zone: np.ndarray, threshold: float) -> np.ndarray:
    """Candidate pixels whose brightness over the frames `lumas` (T, H, W) varies by a standard
    deviation above `threshold` once the zone's common change per frame is removed."""
    result = np.zeros(candidates.shape, bool)
    if not candidates.any() or len(lumas) < 3:
        return result
    rows = np.flatnonzero(candidates.any(axis=1))
    columns = np.flatnonzero(candidates.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, columns[0], columns[-1] + 1
    # The zone's common change is a gain (exposure, clouds, dusk): divided out, not subtracted.
    common = np.array([max(1.0, float(luma[zone].mean())) if zone.any() else 1.0 for luma in lumas], np.float32)
    crop = lumas[:, top:bottom, left:right] * (float(common.mean()) / common)[:, None, None]
    result[top:bottom, left:right] = (crop.std(axis=0) > threshold) & candidates[top:bottom, left:right]
    # A flame flickers over an area; a lone pixel is noise or JPEG ringing at a lamp's edge.
    neighbours = cv2.boxFilter(result.astype(np.uint8), -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
    return result & (neighbours >= 2)


def _score(pixels: int, zone_pixels: int, scale: float) -> float:
    return float(1.0 - np.exp(-pixels / max(8.0, scale * zone_pixels)))


class FireSmokeDetector:
    """Keeps the last frames of one camera and scores each new frame per zone."""

    def __init__(self, window_frames: int, flicker_luma: float, flame_pixels_scale: float, smoke_pixels_scale: float):
        self._window = window_frames
        self._flicker_luma = flicker_luma
        self._flame_scale = flame_pixels_scale
        self._smoke_scale = smoke_pixels_scale
        self._lumas: deque[np.ndarray] = deque(maxlen=window_frames)
        self._flames: deque[np.ndarray] = deque(maxlen=window_frames)
        self._flame_area: dict[str | None, deque[int]] = {}
        self._smoke_rows: dict[str | None, deque[tuple[int, float]]] = {}
        self._background: np.ndarray | None = None

    def update(self, frame_bgr: np.ndarray, zones: Mapping[str | None, np.ndarray]) -> list[ZoneFireScore]:
        """Score one frame for each zone (boolean masks of the frame's size; key None = whole view)."""
        height, width = frame_bgr.shape[:2]
        luma = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
        flame = flame_colour_mask(frame_bgr)
        if self._background is None or self._background.shape != frame_bgr.shape:
            self._background = frame_bgr.astype(np.float32)
            self._lumas.clear()
            self._flames.clear()
        self._lumas.append(luma)
        self._flames.append(flame)
        lumas = np.stack(self._lumas)
        flame_count = np.sum(np.stack(self._flames), axis=0)
        candidates = flame_count >= 2
        background = self._background.astype(np.uint8)
        new_grey = smoke_colour_mask(frame_bgr) & ~smoke_colour_mask(background)
        new_grey &= np.abs(luma - cv2.cvtColor(background, cv2.COLOR_BGR2GRAY).astype(np.float32)) > 8
        new_grey = cv2.morphologyEx(new_grey.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
        frame_edges = np.abs(cv2.Laplacian(luma, cv2.CV_32F, ksize=3))
        background_edges = np.abs(cv2.Laplacian(cv2.cvtColor(background, cv2.COLOR_BGR2GRAY).astype(np.float32),
                                                 cv2.CV_32F, ksize=3))
        scores = []
        for name, zone in zones.items():
            zone_pixels = int(np.count_nonzero(zone))
            if zone_pixels == 0:
                continue
            flicker = flickering(lumas, candidates & zone, zone, self._flicker_luma)
            flickering_pixels = int(np.count_nonzero(flicker))
            flame_pixels = int(np.count_nonzero(flame & zone))
            areas = self._flame_area.setdefault(name, deque(maxlen=self._window))
            areas.append(flame_pixels)
            persistence = sum(1 for area in areas if area > 0) / len(areas)
            growing = len(areas) >= 3 and areas[-1] > 1.2 * max(1, areas[0]) and flickering_pixels > 0
            fire_raw = _score(flickering_pixels, zone_pixels, self._flame_scale)
            fire_score = min(1.0, fire_raw * (0.6 + 0.4 * persistence) * (1.15 if growing else 1.0))
            smoke = new_grey & zone
            smoke_pixels = int(np.count_nonzero(smoke))
            history = self._smoke_rows.setdefault(name, deque(maxlen=self._window))
            top_row = float(np.flatnonzero(smoke.any(axis=1))[0]) / height if smoke_pixels else 1.0
            history.append((smoke_pixels, top_row))
            rising = len(history) >= 3 and smoke_pixels > 0 and (
                history[-1][1] < history[0][1] - 0.01 or history[-1][0] > 1.3 * max(1, history[0][0])
            )
            diffuse = smoke_pixels > 0 and float(frame_edges[smoke].mean()) <= 1.2 * float(background_edges[smoke].mean()) + 2.0
            smoke_raw = _score(smoke_pixels, zone_pixels, self._smoke_scale)
            smoke_score = smoke_raw * (0.4 + 0.3 * diffuse + 0.3 * rising)
            box = None
            if flickering_pixels:
                ys, xs = np.nonzero(flicker)
                box = (float(xs.min() / width), float(ys.min() / height), float((xs.max() - xs.min() + 1) / width),
                       float((ys.max() - ys.min() + 1) / height))
            scores.append(ZoneFireScore(name, fire_score, smoke_score, flame_pixels, flickering_pixels, smoke_pixels,
                                        growing, rising, box))
        # The background learns slowly, and not where smoke is: lingering smoke stays visible.
        cv2.accumulateWeighted(frame_bgr, self._background, BACKGROUND_RATE, mask=(~new_grey).astype(np.uint8))
        return scores
