"""The camera benchmark runs and reports every figure at every size."""

from __future__ import annotations

from bench.camera import CameraSettings, run


def test_camera_benchmark_reports_each_detector_and_the_gated_pipeline() -> None:
    result = run(CameraSettings(sizes=((160, 90),), frames=3, seconds=0.02))
    assert [row.figure for row in result.rows] == [
        "camera 160x90: water level detector", "camera 160x90: fire/smoke detector",
        "camera 160x90: gated pipeline, motion (both detectors)", "camera 160x90: gated pipeline, still scene",
    ]
    assert all(row.value > 0 and row.limit and row.limit > 0 for row in result.rows)
    assert not result.failures
