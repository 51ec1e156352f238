"""CAP 1.2: a public alarm's events become Alert, Update (with references to the earlier
messages) and Cancel on clear, each valid against the official OASIS CAP 1.2 schema shipped in
hub/notify/schemas; one info block per language; the area as a polygon from the config or a
circle around its centre; status Exercise for drills. The messages are written to a folder and
listed in an Atom feed, both also served by the hub's HTTP server."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
import xmlschema

from hub.notify.cap import CAP_NS, SCHEMA, AreaShape, CapPublisher
from hub.notify.citizens import AreaNames
from hub.notify.config import CapConfig, NotifyConfig
from tests.conftest import wait_until
from tests.notify.helpers import RunningService, event, free_port

NS = {"cap": CAP_NS, "atom": "http://www.w3.org/2005/Atom"}
POLYGON = ((42.63, 25.40), (42.63, 25.42), (42.62, 25.42), (42.62, 25.40), (42.63, 25.40))
SHAPES = {"centre": AreaShape(AreaNames("Център", "Centre"), POLYGON, (42.6194, 25.393)),
          "shipka": AreaShape(AreaNames("Шипка", "Shipka"), None, (42.7167, 25.3333))}


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(SCHEMA)


def publisher(tmp_path: Path, **config: object) -> CapPublisher:
    cap = CapConfig.model_validate({"sender": "ews@kazanlak.bg", "sender_name_bg": "Община Казанлък",
                                    "sender_name_en": "Kazanlak Municipality"} | config)
    return CapPublisher(cap, "kazanlak", "Europe/Sofia", SHAPES, tmp_path / "n.sqlite", tmp_path / "cap")


def test_alert_update_cancel_validate_against_the_schema(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    cap = publisher(tmp_path)
    raised = cap.publish(event(1, level="yellow"))
    escalated = cap.publish(replace(event(2, kind="escalated", level="red"), previous_level="yellow"))
    assert cap.publish(event(3, kind="acknowledged", level="red", state="acknowledged")) is None
    cleared = cap.publish(event(4, kind="cleared", level="red", state="cleared"))
    assert raised and escalated and cleared
    for message in (raised, escalated, cleared):
        schema.validate(message.xml.decode())
        assert (tmp_path / "cap" / f"{message.identifier}.xml").read_bytes() == message.xml
    assert [m.msg_type for m in (raised, escalated, cleared)] == ["Alert", "Update", "Cancel"]

    alert = ElementTree.fromstring(escalated.xml)
    assert alert.findtext("cap:identifier", namespaces=NS) == "ews.kazanlak.1.2"
    assert alert.findtext("cap:sent", namespaces=NS) == "2025-11-25T14:05:02+02:00"
    assert alert.findtext("cap:status", namespaces=NS) == "Actual"
    assert alert.findtext("cap:references", namespaces=NS) == "ews@kazanlak.bg,ews.kazanlak.1.1,2025-11-25T14:05:01+02:00"
    infos = alert.findall("cap:info", NS)
    assert [i.findtext("cap:language", namespaces=NS) for i in infos] == ["bg-BG", "en-GB"]
    assert [i.findtext("cap:severity", namespaces=NS) for i in infos] == ["Extreme", "Extreme"]
    assert infos[0].findtext("cap:event", namespaces=NS) == "Опасност от наводнение"
    assert infos[1].findtext("cap:area/cap:areaDesc", namespaces=NS) == "Centre"
    assert infos[0].findtext("cap:area/cap:polygon", namespaces=NS) == (
        "42.63000,25.40000 42.63000,25.42000 42.62000,25.42000 42.62000,25.40000 42.63000,25.40000")
    assert "повишен от жълт" in infos[0].findtext("cap:description", namespaces=NS)
    cancel = ElementTree.fromstring(cleared.xml)
    assert len(cancel.findtext("cap:references", namespaces=NS).split()) == 2
    assert {i.findtext("cap:responseType", namespaces=NS) for i in cancel.findall("cap:info", NS)} == {"AllClear"}


def test_circle_without_polygon_exercise_status_and_what_makes_no_cap(tmp_path: Path,
                                                                       schema: xmlschema.XMLSchema) -> None:
    cap = publisher(tmp_path, exercise=True, circle_radius_km=3)
    message = cap.publish(event(1, area="shipka", hazard="fire", level="orange"))
    assert message is not None
    schema.validate(message.xml.decode())
    alert = ElementTree.fromstring(message.xml)
    assert alert.findtext("cap:status", namespaces=NS) == "Exercise"
    assert alert.findtext("cap:info/cap:area/cap:circle", namespaces=NS) == "42.71670,25.33330 3"
    assert alert.findtext("cap:info/cap:category", namespaces=NS) == "Fire"
    assert cap.publish(event(2, alarm_id=2, audience="staff")) is None
    assert cap.publish(event(3, alarm_id=3, level="info")) is None
    assert cap.publish(event(4, alarm_id=4, kind="cleared", state="cleared")) is None  # nothing to cancel


def test_the_schema_refuses_what_is_not_cap(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    # The validation above means something only if the schema can fail.
    message = publisher(tmp_path).publish(event(1))
    assert message is not None
    text = message.xml.decode()
    assert not schema.is_valid(text.replace("+02:00</sent>", "Z</sent>"))
    assert not schema.is_valid(text.replace("<scope>Public</scope>", "<scope>Everyone</scope>"))
    assert not schema.is_valid(text.replace("<status>Actual</status>", ""))


def test_feed_is_written_and_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    config = NotifyConfig.model_validate({
        "cap": {"sender": "ews@kazanlak.bg", "public_url": f"http://127.0.0.1:{port}"},
        "webhooks": {"listen_port": port, "public_url": f"http://127.0.0.1:{port}", "auth_token_env": "EWS_UNUSED"},
    })
    monkeypatch.setenv("EWS_UNUSED", "x")
    with RunningService(config, tmp_path) as running:
        cap = running.service.cap
        assert cap is not None and running.service.sender is None
        running.call(lambda: cap(event(1)))
        running.call(lambda: cap(event(2, kind="cleared", state="cleared")))
        wait_until(lambda: running.service.http is not None and running.service.http.port == port, what="HTTP")
        feed = requests.get(f"http://127.0.0.1:{port}/cap/feed.atom", timeout=10)
        assert feed.status_code == 200 and feed.headers["content-type"] == "application/atom+xml"
        entries = ElementTree.fromstring(feed.content).findall("atom:entry", NS)
        links = [e.find("atom:link", NS).get("href") for e in entries]
        assert links == [f"http://127.0.0.1:{port}/cap/ews.test.1.2.xml", f"http://127.0.0.1:{port}/cap/ews.test.1.1.xml"]
        first = requests.get(links[1], timeout=10)
        assert first.status_code == 200 and first.headers["content-type"] == "application/cap+xml"
        assert first.content == (tmp_path / "cap" / "ews.test.1.1.xml").read_bytes()
        assert requests.get(f"http://127.0.0.1:{port}/cap/nothing.xml", timeout=10).status_code == 404
    assert (tmp_path / "cap" / "feed.atom").read_bytes().count(b"<entry>") == 2


def test_area_polygons_in_the_site_config_are_closed_rings() -> None:
    from hub.config import parse_config
    from hub.configbase import ConfigError

    base = "site: {id: s, name: S}\nareas: [{id: a, name: А, type: town, polygon: %s}]\n"
    ring = parse_config(base % "[[42.6, 25.4], [42.6, 25.5], [42.7, 25.5], [42.6, 25.4]]").areas[0].polygon
    assert ring == [(42.6, 25.4), (42.6, 25.5), (42.7, 25.5), (42.6, 25.4)]
    with pytest.raises(ConfigError) as open_ring:
        parse_config(base % "[[42.6, 25.4], [42.6, 25.5], [42.7, 25.5], [42.6, 25.41]]")
    assert "areas[0].polygon: the polygon must be closed" in str(open_ring.value)
