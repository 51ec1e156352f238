"""Motion gate: the share of the (unmasked) image that changed since the last analysed frame,
measured on a small blurred grey copy so that sensor noise and JPEG blocking do not count, and
the decision whether the expensive detectors run on a frame."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Width of the grey copy the gate compares; enough to see a flame of a few pixels at 640 wide.
GATE_WIDTH = 320


def grey_small(frame_bgr: np.ndarray, width: int = GATE_WIDTH) -> np.ndarray:
    """A blurred grey copy `width` pixels wide (or the frame's width if smaller), uint8."""
    height, frame_width = frame_bgr.shape[:2]
    grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    if frame_width > width:
        grey = cv2.resize(grey, (width, max(1, round(height * width / frame_width))), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(grey, (5, 5), 0)


def changed_fraction(previous: np.ndarray, current: np.ndarray, analysed: np.ndarray, pixel_threshold: int) -> float:
    """Fraction of the `analysed` pixels whose grey level differs by more than `pixel_threshold`.
    The frame's common brightness change (auto exposure, a cloud) is removed first: it is not motion."""
    if not analysed.any():
        return 0.0
    difference = current.astype(np.int16) - previous.astype(np.int16)
    common = int(np.median(difference[analysed]))
    changed = np.abs(difference - common) > pixel_threshold
    return float(np.count_nonzero(changed & analysed)) / float(np.count_nonzero(analysed))


@dataclass(frozen=True, slots=True)
class GateDecision:
    """Whether the detectors run on this frame, and why."""

    run: bool
    changed_fraction: float
    reason: str  # "motion", "idle", "first", "still", "disabled"


class MotionGate:
    """Compares each analysed frame with the previous one; lets the detectors run on motion, on the
    first frame, and at least every `idle_interval_s` (water rises without visible motion)."""

    def __init__(self, pixel_threshold: int, min_changed_fraction: float, idle_interval_s: float, enabled: bool = True):
        self._pixel_threshold = pixel_threshold
        self._min_fraction = min_changed_fraction
        self._idle_interval_s = idle_interval_s
        self._enabled = enabled
        self._previous: np.ndarray | None = None
        self._analysed: np.ndarray | None = None
        self._last_run_s: float | None = None

    def decide(self, frame_bgr: np.ndarray, ignored: np.ndarray, now_s: float) -> GateDecision:
        """Judge a frame at stream time `now_s` (seconds); `ignored` is the frame-sized ignore mask."""
        current = grey_small(frame_bgr)
        if self._analysed is None or self._analysed.shape != current.shape:
            self._analysed = cv2.resize(
                (~ignored).astype(np.uint8), (current.shape[1], current.shape[0]), interpolation=cv2.INTER_NEAREST
            ).astype(bool)
            self._previous = None
        fraction = 0.0 if self._previous is None else changed_fraction(
            self._previous, current, self._analysed, self._pixel_threshold
        )
        self._previous = current
        if not self._enabled:
            decision = GateDecision(True, fraction, "disabled")
        elif self._last_run_s is None:
            decision = GateDecision(True, fraction, "first")
        elif fraction >= self._min_fraction and fraction > 0:
            decision = GateDecision(True, fraction, "motion")
        elif now_s - self._last_run_s >= self._idle_interval_s:
            decision = GateDecision(True, fraction, "idle")
        else:
            decision = GateDecision(False, fraction, "still")
        if decision.run:
            self._last_run_s = now_s
        return decision
