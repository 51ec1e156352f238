"""Composition of what a camera worker publishes (pure): detections on
`<root>/detection/<kind>/<camera>` in DESIGN.md's detection format, with `kind` the kind of the
sensors they feed (`camera_water`, `fire`), and the camera's health as a normalised reading of
the camera itself on `<root>/reading/camera/<camera>` (measurement `camera`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Detection:
    """What one detector concluded over a report interval, for one zone (None: the whole view)."""

    kind: str  # the fed sensors' kind: camera_water | fire
    camera: str
    ts_ms: int
    values: Mapping[str, float]
    zone: str | None = None
    objects: Sequence[Mapping[str, object]] = ()


@dataclass(frozen=True, slots=True)
class Health:
    """A camera's health over one interval."""

    camera: str
    ts_ms: int
    fps: float  # frames analysed per second
    dropped_frames: int  # frames lost: failed grabs or decodes, corrupt frames
    skipped_frames: int  # frames grabbed but not decoded, to keep to the analysis rate
    last_frame_age_s: float  # since the last good frame (since start if none yet)
    inference_ms: float  # mean time of the detectors per analysed frame
    motion_pct: float  # share of analysed frames the motion gate let through, in %
    connected: bool


def detection_message(topic_root: str, detection: Detection) -> tuple[str, bytes]:
    """Topic and JSON payload of a detection."""
    payload = {
        "ts": detection.ts_ms,
        "values": {name: round(float(value), 4) for name, value in detection.values.items()},
        "objects": list(detection.objects),
        "zone": detection.zone,
    }
    return f"{topic_root}/detection/{detection.kind}/{detection.camera}", orjson.dumps(payload)


def health_message(topic_root: str, health: Health) -> tuple[str, bytes]:
    """Topic and JSON payload of a health reading."""
    values = {
        "fps": round(health.fps, 3),
        "dropped_frames": health.dropped_frames,
        "skipped_frames": health.skipped_frames,
        "last_frame_age_s": round(health.last_frame_age_s, 3),
        "inference_ms": round(health.inference_ms, 3),
        "motion_pct": round(health.motion_pct, 2),
        "connected": 1 if health.connected else 0,
    }
    return f"{topic_root}/reading/camera/{health.camera}", orjson.dumps({"ts": health.ts_ms, "values": values})
