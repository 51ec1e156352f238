"""Config of what a camera worker does with one camera's frames: named zones and masks (polygons in
frame-relative coordinates, so they hold at any analysis resolution), the staff-gauge calibration
of the water-level detector, the motion gate and the fire/smoke detector's thresholds. The
`Camera` model in `hub.config` composes these; `check_camera_analysis` cross-checks them."""

from __future__ import annotations

from pydantic import Field, field_validator

from hub.configbase import StrictModel

ZONE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"

#: A polygon as [[x, y], ...] with x, y in 0..1 of the frame's width and height (0, 0 top left).
Polygon = list[tuple[float, float]]


def _check_polygon(points: Polygon) -> Polygon:
    if len(points) < 3:
        raise ValueError("a polygon needs at least 3 points")
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point ({x}, {y}) is outside the frame: coordinates are fractions 0..1 of width and height")
    return points


class Zone(StrictModel):
    """A named part of the image that detections are reported for (a slope, a gauge, a bank)."""

    name: str = Field(pattern=ZONE_NAME_PATTERN, description="Zone name; the `zone` of detections and a sensor's `zone` tag.")
    polygon: Polygon = Field(
        description="Corners as [[x, y], ...], fractions 0..1 of frame width and height from the top left."
    )

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, points: Polygon) -> Polygon:
        return _check_polygon(points)


class Mask(StrictModel):
    """A part of the image every detector ignores (a road with car lights, a lamp, a neighbour's window)."""

    name: str | None = Field(None, description="What is masked, for people.")
    polygon: Polygon = Field(description="Corners as [[x, y], ...], fractions 0..1 of frame width and height.")

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, points: Polygon) -> Polygon:
        return _check_polygon(points)


class GaugeMark(StrictModel):
    """A point of the staff gauge whose reading is known: where it appears in the image and its level."""

    x: float = Field(ge=0, le=1, description="Horizontal position, fraction of the frame width.")
    y: float = Field(ge=0, le=1, description="Vertical position, fraction of the frame height (0 = top).")
    level_cm: float = Field(description="The gauge's reading at this mark, in cm from the gauge zero.")


class WaterLevelConfig(StrictModel):
    """The water-level detector: which zone holds the staff gauge (or bank strip) and its calibration."""

    zone: str = Field(description="Name of the zone covering the gauge from above the highest to below the lowest level.")
    marks: list[GaugeMark] = Field(
        min_length=2, description="Two or more surveyed marks (image position → level); levels between are interpolated."
    )
    min_confidence: float = Field(
        0.5, ge=0, le=1, description="Estimates below this confidence are not reported as a level (the confidence is)."
    )
    smoothing_frames: int = Field(
        5, ge=1, le=100, description="Median over this many analysed frames, against ripples and passing waves."
    )

    @field_validator("marks")
    @classmethod
    def _distinct_heights(cls, marks: list[GaugeMark]) -> list[GaugeMark]:
        ordered = sorted(marks, key=lambda mark: mark.y)
        for upper, lower in zip(ordered, ordered[1:], strict=False):
            if upper.y == lower.y:
                raise ValueError("two marks at the same height y")
            if upper.level_cm <= lower.level_cm:
                raise ValueError(
                    f"a mark higher in the image (y={upper.y}) must read more cm than one below (y={lower.y})"
                )
        return marks


class MotionConfig(StrictModel):
    """The motion gate: the expensive detectors run on a frame only when enough of the image
    changed since the last analysed frame, or when they have not run for `idle_interval_s`."""

    enabled: bool = Field(True, description="Gate the detectors on motion; off runs them on every analysed frame.")
    pixel_threshold: int = Field(
        12, ge=1, le=255, description="Grey-level change (0-255) of a pixel that counts as changed."
    )
    min_changed_fraction: float = Field(
        0.0005, ge=0, le=1, description="Fraction of unmasked pixels that must change to count as motion."
    )
    idle_interval_s: float = Field(
        30.0, gt=0, description="Run the detectors at least this often even without motion, in seconds."
    )


class FireSmokeConfig(StrictModel):
    """Thresholds of the fire and smoke detector (colour, flicker, growth; grey, diffuse, rising)."""

    window_frames: int = Field(8, ge=3, le=64, description="Analysed frames over which flicker and growth are judged.")
    flicker_luma: float = Field(
        16.0, gt=0, description="Temporal standard deviation of brightness (0-255), after removing the zone's "
        "common change, that makes a flame-coloured pixel flicker."
    )
    flame_pixels_scale: float = Field(
        0.0003, gt=0, le=1, description="Flickering flame pixels, as a fraction of the zone, that give a score of 0.63."
    )
    smoke_pixels_scale: float = Field(
        0.004, gt=0, le=1, description="Smoke pixels, as a fraction of the zone, that give a smoke score of 0.63."
    )


class ReportConfig(StrictModel):
    """How often the worker publishes detections and its own health."""

    detection_interval_s: float = Field(
        10.0, gt=0, description="Detections are summarised (median level, highest scores) and published this often."
    )
    health_interval_s: float = Field(10.0, gt=0, description="Camera health is published this often, in seconds.")


def check_camera_analysis(
    detectors: list[str], zones: list[Zone], water_level: WaterLevelConfig | None
) -> list[str]:
    """Problems between a camera's detectors, zones and calibration, as messages."""
    problems = []
    names = [zone.name for zone in zones]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"zone {name!r} is defined twice")
    if "water_level" in detectors and water_level is None:
        problems.append("the water_level detector needs 'water_level' (its gauge zone and calibration marks)")
    if water_level is not None and water_level.zone not in names:
        problems.append(f"water_level.zone {water_level.zone!r} is not one of the camera's zones ({', '.join(names) or 'none'})")
    return problems
