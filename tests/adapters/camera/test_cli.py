"""`ews camera`: refuses unknown cameras and cameras without a stream URL, with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim.camera_scenes import RiverScene
from hub.cli import main
from tests.adapters.camera.support import river_camera_yaml


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(f"""
site: {{id: kz, name: Kazanlak}}
areas: [{{id: centre, name: Център, type: neighbourhood}}]
cameras:
{river_camera_yaml(RiverScene(), "cam-river", "    url_env: EWS_TEST_CAM_URL")}
""", encoding="utf-8")
    return path


@pytest.mark.parametrize(("arguments", "message"), [
    (["--camera", "cam-nowhere"], "unknown camera(s): cam-nowhere"),
    ([], "no stream URL for: cam-river (set EWS_TEST_CAM_URL)"),
    (["--url", "cam-other=http://x"], "give CAMERA_ID=URL for a configured camera"),
])
def test_usage_errors_exit_with_2(site_file: Path, arguments: list[str], message: str, capsys,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EWS_TEST_CAM_URL", raising=False)
    assert main(["camera", "-c", str(site_file), *arguments]) == 2
    assert message in capsys.readouterr().err
