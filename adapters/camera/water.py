"""Water level from a staff gauge (or a strip of bank) seen by a camera: the waterline is the row
where the image inside the gauge zone changes from gauge (bright, unsaturated, striped by the
marks) to water (darker, tinted, smoother), found as the best two-segment split of standardised
per-row features; the calibration turns that row into cm.

Standardising each feature over the zone makes the split indifferent to the brightness and
contrast of the moment (dusk, a cloud, auto exposure); smoothing the rows over about a mark's
height keeps the marks' own stripes from looking like the waterline; ripples only add noise to
the water segment, and a median over a few frames (`WaterLevelEstimator`) absorbs passing waves.
The split is the least-squares change point of a piecewise-constant model (e.g. Truong, Oudre &
Vayatis (2020), "Selective review of offline change point detection methods", §4)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from adapters.camera.geometry import LevelCalibration

#: Share of the zone's rows a segment must have: a waterline at the very edge is not a finding.
MIN_SEGMENT_SHARE = 0.04
#: Explained variance of a split below this means no step at all; at `_R2_FULL` and above, full confidence.
_R2_NONE, _R2_FULL = 0.35, 0.8


@dataclass(frozen=True, slots=True)
class Waterline:
    """A waterline found in one frame: its row (pixels from the top, fractional) and confidence 0..1."""

    row: float
    confidence: float


@dataclass(frozen=True, slots=True)
class WaterLevel:
    """A level estimate: cm on the gauge, the confidence 0..1, and the waterline row (fraction of height)."""

    level_cm: float
    confidence: float
    y: float


def row_features(frame_bgr: np.ndarray, zone: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row features inside `zone` (boolean mask of the frame): brightness, saturation and
    vertical texture, each the mean over the zone's pixels of that row. Returns (rows, features)
    with rows the frame row numbers that hold at least two zone pixels and features (n, 3) float."""
    rows_any = np.flatnonzero(zone.any(axis=1))
    if rows_any.size == 0:
        return rows_any, np.zeros((0, 3))
    top, bottom = rows_any[0], rows_any[-1] + 1
    columns = np.flatnonzero(zone[top:bottom].any(axis=0))
    left, right = columns[0], columns[-1] + 1
    crop = frame_bgr[top:bottom, left:right]
    inside = zone[top:bottom, left:right].astype(np.float32)
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV).astype(np.float32)
    value, saturation = hsv[:, :, 2], hsv[:, :, 1]
    texture = np.zeros_like(value)
    texture[1:] = np.abs(np.diff(value, axis=0))
    counts = inside.sum(axis=1)
    keep = counts >= 2
    counts = np.where(keep, counts, 1.0)
    features = np.stack(
        [(value * inside).sum(axis=1) / counts, (saturation * inside).sum(axis=1) / counts,
         (texture * inside).sum(axis=1) / counts],
        axis=1,
    )
    return np.arange(top, bottom)[keep], features[keep]


def smooth_and_standardise(features: np.ndarray, window: int) -> np.ndarray:
    """Box-smooth each feature over `window` rows (edges replicated), then scale each to zero mean
    and unit variance (a constant feature becomes zeros)."""
    if window > 1 and len(features) > 1:
        padded = np.pad(features, ((window // 2, window - 1 - window // 2), (0, 0)), mode="edge")
        kernel = np.ones(window) / window
        features = np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(features.shape[1])], axis=1)
    std = features.std(axis=0)
    return (features - features.mean(axis=0)) / np.where(std > 1e-9, std, 1.0)


def best_split_reference(profile: np.ndarray, min_segment: int) -> tuple[int, float, float]:
    """Plain reference of `best_split`: tries every split, computing each segment's squared error
    from scratch. Returns (k, cost, total): rows [0, k) above, [k, n) below."""
    n = len(profile)
    total = float(((profile - profile.mean(axis=0)) ** 2).sum())
    best_k, best_cost = -1, np.inf
    for k in range(min_segment, n - min_segment + 1):
        above, below = profile[:k], profile[k:]
        cost = float(((above - above.mean(axis=0)) ** 2).sum() + ((below - below.mean(axis=0)) ** 2).sum())
        if cost < best_cost - 1e-9:
            best_k, best_cost = k, cost
    return best_k, best_cost, total


def best_split(profile: np.ndarray, min_segment: int) -> tuple[int, float, float]:
    """The split k minimising the summed squared error of two constant segments of `profile`
    (n rows × features), in O(n) with cumulative sums. Returns (k, cost, total); k = -1 when the
    profile is shorter than two segments."""
    n = len(profile)
    total = float(((profile - profile.mean(axis=0)) ** 2).sum())
    if n < 2 * min_segment or min_segment < 1:
        return -1, np.inf, total
    cumulative = np.vstack([np.zeros(profile.shape[1]), np.cumsum(profile, axis=0)])
    cumulative_sq = np.concatenate([[0.0], np.cumsum((profile**2).sum(axis=1))])
    k = np.arange(min_segment, n - min_segment + 1)
    sum_above, sum_below = cumulative[k], cumulative[n] - cumulative[k]
    sq_above, sq_below = cumulative_sq[k], cumulative_sq[n] - cumulative_sq[k]
    cost = (sq_above - (sum_above**2).sum(axis=1) / k) + (sq_below - (sum_below**2).sum(axis=1) / (n - k))
    # Equal costs within rounding: take the first, as the reference does.
    best = int(np.flatnonzero(cost <= cost.min() + 1e-9 * max(1.0, abs(cost.min())))[0])
    return int(k[best]), float(cost[best]), total


def find_waterline(frame_bgr: np.ndarray, zone: np.ndarray, smoothing_rows: int | None = None) -> Waterline | None:
    """The waterline inside the gauge `zone` of one frame, or None when the zone is too small.
    `smoothing_rows` defaults to 1/25 of the zone's height (about a 10 cm mark on a 2.5 m gauge)."""
    rows, features = row_features(frame_bgr, zone)
    n = len(rows)
    min_segment = max(2, int(n * MIN_SEGMENT_SHARE))
    if n < 2 * min_segment + 1:
        return None
    window = smoothing_rows if smoothing_rows is not None else max(3, n // 25)
    window |= 1  # odd: an even box would shift the profile by half a row
    profile = smooth_and_standardise(features, window)
    k, cost, total = best_split(profile, min_segment)
    if k < 0 or total <= 0:
        return Waterline(float(rows[n // 2]), 0.0)
    explained = 1.0 - cost / total
    # Gauge above, water below: the gauge is the brighter and less saturated part. The reverse
    # (a dark mark band above a bright reflection) is not a waterline.
    above, below = features[:k].mean(axis=0), features[k:].mean(axis=0)
    plausible = above[0] > below[0] or above[1] < below[1]
    confidence = float(np.clip((explained - _R2_NONE) / (_R2_FULL - _R2_NONE), 0.0, 1.0)) if plausible else 0.0
    return Waterline((rows[k - 1] + rows[k]) / 2.0, confidence)


class WaterLevelEstimator:
    """Waterline → level in cm through the calibration, with a median over the last frames."""

    def __init__(self, calibration: LevelCalibration, smoothing_frames: int):
        self._calibration = calibration
        self._recent: deque[tuple[float, float]] = deque(maxlen=smoothing_frames)

    def update(self, frame_bgr: np.ndarray, zone: np.ndarray) -> WaterLevel | None:
        """Analyse one frame; the smoothed estimate, or None if the zone is unusable."""
        waterline = find_waterline(frame_bgr, zone)
        if waterline is None:
            return None
        height = frame_bgr.shape[0]
        y = waterline.row / max(1, height - 1)
        self._recent.append((self._calibration.level_at(y), waterline.confidence))
        levels = np.array([level for level, _ in self._recent])
        confidences = np.array([confidence for _, confidence in self._recent])
        level = float(np.median(levels))
        # Confidence drops when the recent frames disagree (spread beyond 10 cm halves it).
        spread_cm = float(np.percentile(levels, 75) - np.percentile(levels, 25)) if len(levels) > 2 else 0.0
        confidence = float(np.mean(confidences)) / (1.0 + spread_cm / 10.0)
        return WaterLevel(level, confidence, y)
