"""Site config validation: a table of broken configs, each refused with the right path and
reason; the reference site loads; `ews check` prints a summary or every error and exits 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hub.cli import main
from hub.config import load_config, parse_config
from hub.configbase import ConfigError, SecretMissingError, read_secret

GOOD = """
site: {id: kazanlak, name: Kazanlak}
areas:
  - {id: centre, name: Център, type: neighbourhood}
sensors:
  - {id: g1, kind: river, area: centre, location: {lat: 42.62, lon: 25.39}}
  - id: g2
    kind: river
    area: centre
    location: {lat: 42.62, lon: 25.39}
    source:
      mqtt:
        topic: vendor/hydro/g2
        format: json
        fields: {level_cm: {path: data.level_m, scale: 100}}
        time: {path: data.time, format: iso}
"""


def broken(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


BROKEN_CASES = [
    ("unknown kind", broken("kind: river, area", "kind: rivr, area"), "sensors[0].kind", "unknown value 'rivr'"),
    ("unknown area", broken("area: centre, location", "area: center, location"), "sensors[0].area", "unknown area 'center'"),
    ("latitude range", broken("lat: 42.62, lon: 25.39}}\n  - id: g2", "lat: 142.62, lon: 25.39}}\n  - id: g2"),
     "sensors[0].location.lat", "less than or equal to 90"),
    ("missing location", broken(", location: {lat: 42.62, lon: 25.39}}\n  - id: g2", "}\n  - id: g2"),
     "sensors[0].location", "required key is missing"),
    ("typo in key", broken("format: json", "fromat: json"), "sensors[1].source.mqtt.fromat", "unknown key"),
    ("bad json path", broken("path: data.level_m", "path: data..level_m"), "sensors[1].source.mqtt.fields.level_cm.path",
     "cannot read JSON path"),
    ("bad format", broken("format: json", "format: xml"), "sensors[1].source.mqtt.format", "unknown value 'xml'"),
    ("bad topic filter", broken("topic: vendor/hydro/g2", "topic: vendor/hy#/g2"), "sensors[1].source.mqtt.topic",
     "'#' is allowed only"),
    ("field unknown to kind", broken("fields: {level_cm:", "fields: {level_m:"), "sensors[1].source.mqtt.fields.level_m",
     "a river sensor has no field 'level_m'"),
    ("duplicate id", broken("id: g2", "id: g1"), "sensors[1].id", "duplicate id 'g1'"),
    ("inline secret", broken("site: {id: kazanlak, name: Kazanlak}",
                             "site: {id: kazanlak, name: Kazanlak}\nmqtt: {username: hub, password: hunter2}"),
     "mqtt", "'password' must not be written in the config file"),
    ("bad env name", broken("site: {id: kazanlak, name: Kazanlak}",
                            "site: {id: kazanlak, name: Kazanlak}\ninflux: {token_env: my-token}"),
     "influx.token_env", "should match pattern"),
    ("bad time zone", broken("name: Kazanlak}", "name: Kazanlak, timezone: Europe/Kazanlak}"), "site.timezone",
     "unknown time zone"),
    ("reserved tag", broken("area: centre, location: {lat: 42.62, lon: 25.39}}\n  - id: g2",
                            "area: centre, tags: {site: x}, location: {lat: 42.62, lon: 25.39}}\n  - id: g2"),
     "sensors[0].tags", "set by the hub itself"),
    ("json field without path", broken("{level_cm: {path: data.level_m, scale: 100}}", "{level_cm: {scale: 100}}"),
     "sensors[1].source.mqtt", "JSON format needs 'path'"),
    ("bad influx url", broken("site: {id: kazanlak, name: Kazanlak}",
                              "site: {id: kazanlak, name: Kazanlak}\ninflux: {url: 'influx:8086'}"),
     "influx.url", "is not an http(s) URL"),
    ("no areas", broken("areas:\n  - {id: centre, name: Център, type: neighbourhood}", "areas: []"), "areas",
     "at least 1 item"),
    ("duplicate key", broken("  - {id: g1, kind: river,", "  - {id: g1, id: g3, kind: river,"), "",
     "key 'id' appears twice"),
    ("not yaml", "site: [unclosed", "", "not valid YAML"),
    ("not a mapping", "- just\n- a list\n", "", "must hold a YAML mapping"),
]


@pytest.mark.parametrize(("case", "text", "path", "message"), BROKEN_CASES, ids=[c[0] for c in BROKEN_CASES])
def test_broken_config_is_refused_with_path_and_reason(case: str, text: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    issues = caught.value.issues
    assert any(issue.path == path and message in issue.message for issue in issues), [str(i) for i in issues]


def test_every_error_is_reported_not_just_the_first() -> None:
    text = broken("kind: river, area", "kind: rivr, area").replace("format: json", "format: xml")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    paths = {issue.path for issue in caught.value.issues}
    assert {"sensors[0].kind", "sensors[1].source.mqtt.format"} <= paths


def test_good_config_loads_with_defaults() -> None:
    config = parse_config(GOOD)
    assert config.topic_root == "ews/kazanlak"
    assert config.client_id == "ews-hub-kazanlak"
    assert config.mqtt.qos == 1 and config.mqtt.protocol == "3.1.1"
    assert config.influx.database == "ews"
    assert config.sensors[1].source.mqtt.fields["level_cm"].scale == 100


def test_reference_site_is_valid_and_realistic() -> None:
    config = load_config(Path(__file__).parents[2] / "examples" / "kazanlak" / "site.yaml")
    kinds = {sensor.kind for sensor in config.sensors}
    assert {"river", "dam", "rain", "seismic", "fire", "traffic"} <= kinds
    formats = {s.source.mqtt.format for s in config.sensors if s.source and s.source.mqtt}
    assert formats == {"json", "senml", "plain"}
    # Every sensor lies within about 30 km of Kazanlak's centre (42.62 N, 25.39 E).
    for sensor in config.sensors:
        assert abs(sensor.location.lat - 42.62) < 0.3 and abs(sensor.location.lon - 25.39) < 0.4, sensor.id
    rivers = {sensor.tags.get("river") for sensor in config.sensors if sensor.kind == "river"}
    assert {"tundzha", "eninska"} <= rivers


def test_secret_comes_from_the_named_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EWS_TEST_SECRET", "s3cret")
    assert read_secret("EWS_TEST_SECRET", "mqtt.password_env") == "s3cret"
    assert read_secret(None, "mqtt.password_env") is None
    monkeypatch.delenv("EWS_TEST_SECRET")
    with pytest.raises(SecretMissingError, match="EWS_TEST_SECRET is not set"):
        read_secret("EWS_TEST_SECRET", "mqtt.password_env")


def test_ews_check_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(GOOD)
    assert main(["check", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "OK — site kazanlak" in out and "sensors: 2 (river 2)" in out and "json 1, normalised 1" in out


def test_ews_check_lists_every_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(broken("kind: river, area", "kind: rivr, area").replace("area: centre, location", "area: nowhere, location"))
    with pytest.raises(SystemExit) as exited:
        main(["check", "-c", str(path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "sensors[0].kind: unknown value 'rivr'" in err
    assert "Traceback" not in err


def test_ews_check_on_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "-c", str(tmp_path / "nope.yaml")])
    assert exited.value.code == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_cross_check_runs_only_on_valid_models() -> None:
    # A kind error and an unknown area in different sensors: the model errors come first, alone,
    # because cross-checks need a valid model; both are fixed in one round trip per kind of check.
    text = textwrap.dedent(GOOD).replace("kind: river, area", "kind: rivr, area")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert all(issue.path.startswith("sensors[0]") for issue in caught.value.issues)
