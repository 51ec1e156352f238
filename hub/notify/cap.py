"""CAP 1.2 (OASIS Common Alerting Protocol, 2010) for public alarms: each notifiable event of a
public alarm becomes one `alert` (msgType Alert when the alarm is raised, Update with
`references` to the earlier messages when it changes, Cancel when it clears; status Exercise for
drills), with one `info` block per language (bg, en) and the area as a polygon from the config or
a circle around its centre. Severity follows the colour code (yellow Moderate, orange Severe, red
Extreme); a Meteoalarm-style `awareness_level` parameter is added. The messages are written to a
folder and listed in an Atom feed (RFC 4287) that the national warning operator or a
cell-broadcast gateway can poll; `CapPublisher.app` serves both over HTTP.

Composition (`cap_alert`, `atom_feed`) is pure; `CapPublisher` keeps the index in SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hub.alarms import AlarmEvent
from hub.notify.citizens import AreaNames
from hub.notify.config import CapConfig
from hub.notify.messages import ADVICE, HAZARD_WORDS, LEVEL_WORDS, MessageInput, MessageStyle, compose

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
SCHEMA = Path(__file__).resolve().parent / "schemas" / "CAP-v1.2.xsd"

SEVERITY = {"yellow": "Moderate", "orange": "Severe", "red": "Extreme", "info": "Minor"}
AWARENESS = {"yellow": "2; yellow; Moderate", "orange": "3; orange; Severe", "red": "4; red; Extreme"}
# Meteoalarm awareness types, where one fits.
AWARENESS_TYPE = {"flood": "12; flooding", "rain": "10; rain", "fire": "8; forest-fire"}
CATEGORY = {"flood": "Met", "rain": "Met", "dam": "Infra", "fire": "Fire", "earthquake": "Geo"}
RESPONSE = {"yellow": "Monitor", "orange": "Prepare", "red": "Evacuate"}
UPDATE_EVENTS = frozenset(("reraised", "escalated", "deescalated", "updated"))
CAP_EVENTS = UPDATE_EVENTS | {"raised", "cleared"}


@dataclass(frozen=True, slots=True)
class AreaShape:
    """An area as CAP describes it: names, and a polygon ([lat, lon] points, closed) or a centre."""

    names: AreaNames
    polygon: tuple[tuple[float, float], ...] | None = None
    centre: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class CapMessage:
    """One CAP message as written: its identifier, sent time (CAP form) and the XML."""

    alarm_id: int
    identifier: str
    sender: str
    sent: str
    msg_type: str
    headline: str
    xml: bytes


def cap_time(ts_ms: int, timezone: str) -> str:
    """CAP's dateTime: local time with a numeric offset and no fraction (`2026-11-25T14:05:00+02:00`)."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(ZoneInfo(timezone)).replace(microsecond=0)
    return moment.isoformat()


def msg_type_for(event: AlarmEvent, earlier: Sequence[CapMessage]) -> str | None:
    """Alert, Update or Cancel for this event; None when it is not a CAP event."""
    if event.alarm.audience != "public" or event.alarm.level == "info" or event.kind not in CAP_EVENTS:
        return None
    if event.kind == "cleared":
        return "Cancel" if earlier else None
    return "Update" if earlier else "Alert"


def cap_alert(event: AlarmEvent, msg_type: str, earlier: Sequence[CapMessage], config: CapConfig, site_id: str,
              timezone: str, area: AreaShape) -> CapMessage:
    """The CAP 1.2 alert for one event of a public alarm."""
    alarm = event.alarm
    ET.register_namespace("", CAP_NS)
    identifier = f"{config.sender.split('@')[0]}.{site_id}.{alarm.id}.{event.seq}"
    sent = cap_time(event.ts_ms, timezone)
    root = ET.Element(f"{{{CAP_NS}}}alert")

    def add(parent: ET.Element, name: str, text: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NS}}}{name}")
        element.text = text
        return element

    add(root, "identifier", identifier)
    add(root, "sender", config.sender)
    add(root, "sent", sent)
    exercise = config.exercise or bool(alarm.evidence.get("exercise"))
    add(root, "status", "Exercise" if exercise else "Actual")
    add(root, "msgType", msg_type)
    add(root, "scope", "Public")
    if exercise:
        add(root, "note", "Exercise / Учение")
    if earlier and msg_type != "Alert":
        add(root, "references", " ".join(f"{m.sender},{m.identifier},{m.sent}" for m in earlier))
    add(root, "incidents", f"{site_id}.{alarm.id}")
    hazard = alarm.hazard if alarm.hazard in HAZARD_WORDS["bg"] else ""
    level = alarm.level if alarm.level in SEVERITY else "yellow"
    headline = ""
    for language in ("bg", "en"):
        info = ET.SubElement(root, f"{{{CAP_NS}}}info")
        add(info, "language", "bg-BG" if language == "bg" else "en-GB")
        add(info, "category", CATEGORY.get(alarm.hazard, "Safety"))
        what = HAZARD_WORDS[language][hazard]  # type: ignore[index]
        add(info, "event", what[:1].upper() + what[1:])
        add(info, "responseType", "AllClear" if msg_type == "Cancel" else RESPONSE.get(level, "Monitor"))
        add(info, "urgency", "Past" if msg_type == "Cancel" else "Immediate")
        add(info, "severity", SEVERITY[level])
        add(info, "certainty", "Observed")
        code = ET.SubElement(info, f"{{{CAP_NS}}}eventCode")
        add(code, "valueName", "ews_hazard")
        add(code, "value", alarm.hazard)
        expires = event.ts_ms + int(config.expires_h * 3_600_000)
        add(info, "effective", sent)
        add(info, "expires", cap_time(expires, timezone))
        sender_name = config.sender_name_bg if language == "bg" else config.sender_name_en
        if sender_name:
            add(info, "senderName", sender_name)
        kind = "all_clear" if msg_type == "Cancel" else "warning"
        escalated = event.previous_level if event.kind == "escalated" else None
        text = compose(MessageInput(kind, alarm.hazard, level, area.names.in_language(language), event.ts_ms,  # type: ignore[arg-type]
                                    escalated_from=escalated), language,  # type: ignore[arg-type]
                       MessageStyle(timezone=timezone, max_segments=10))
        line = text.split(". ")[0] if msg_type == "Cancel" else f"{LEVEL_WORDS[language][level]}: {what}"  # type: ignore[index]
        if language == "bg":
            headline = line
        add(info, "headline", line[:160])
        add(info, "description", text)
        if msg_type != "Cancel":
            add(info, "instruction", ADVICE[language][hazard][level][0] if level in RESPONSE else "")  # type: ignore[index]
        for name, value in (("awareness_level", AWARENESS.get(level)), ("awareness_type", AWARENESS_TYPE.get(hazard))):
            if value:
                parameter = ET.SubElement(info, f"{{{CAP_NS}}}parameter")
                add(parameter, "valueName", name)
                add(parameter, "value", value)
        area_element = ET.SubElement(info, f"{{{CAP_NS}}}area")
        add(area_element, "areaDesc", area.names.in_language(language))
        if area.polygon:
            add(area_element, "polygon", " ".join(f"{lat:.5f},{lon:.5f}" for lat, lon in area.polygon))
        elif area.centre:
            add(area_element, "circle", f"{area.centre[0]:.5f},{area.centre[1]:.5f} {config.circle_radius_km:g}")
        geocode = ET.SubElement(area_element, f"{{{CAP_NS}}}geocode")
        add(geocode, "valueName", "ews_area")
        add(geocode, "value", alarm.area)
    xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return CapMessage(alarm.id, identifier, config.sender, sent, msg_type, headline, xml)


def atom_feed(messages: Sequence[CapMessage], config: CapConfig, site_id: str, updated: str) -> bytes:
    """An Atom feed (RFC 4287) listing CAP messages newest first, each linked as application/cap+xml."""
    ET.register_namespace("", ATOM_NS)
    base = (config.public_url or "").rstrip("/")
    feed = ET.Element(f"{{{ATOM_NS}}}feed")

    def add(parent: ET.Element, name: str, text: str | None = None, **attributes: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{name}", attributes)
        element.text = text
        return element

    add(feed, "id", f"urn:ews:{site_id}:cap")
    add(feed, "title", f"CAP alerts: {site_id}")
    add(feed, "updated", updated)
    author = add(feed, "author")
    add(author, "name", config.sender_name_en or config.sender)
    add(feed, "link", rel="self", href=f"{base}/cap/feed.atom", type="application/atom+xml")
    for message in messages:
        entry = add(feed, "entry")
        add(entry, "id", f"urn:ews:{site_id}:cap:{message.identifier}")
        add(entry, "title", f"{message.msg_type}: {message.headline}")
        add(entry, "updated", message.sent)
        add(entry, "link", rel="alternate", href=f"{base}/cap/{message.identifier}.xml", type="application/cap+xml")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


class CapPublisher:
    """The CAP notifier: stores each message in SQLite, writes it and the feed to the folder,
    and serves both (`app`, mounted at /cap on the hub's HTTP server)."""

    def __init__(self, config: CapConfig, site_id: str, timezone: str, areas: Mapping[str, AreaShape],
                 database: Path, folder: Path):
        self._config = config
        self._site_id = site_id
        self._timezone = timezone
        self._areas = areas
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("CREATE TABLE IF NOT EXISTS cap_message (identifier TEXT PRIMARY KEY, alarm_id INTEGER, "
                         "sender TEXT, sent TEXT, msg_type TEXT, headline TEXT, xml BLOB, seq INTEGER)")

    async def __call__(self, event: AlarmEvent) -> None:
        await asyncio.to_thread(self.publish, event)

    def publish(self, event: AlarmEvent) -> CapMessage | None:
        """The CAP message of this event, stored and written (None when the event makes none)."""
        earlier = self.messages(alarm_id=event.alarm.id)
        msg_type = msg_type_for(event, earlier)
        if msg_type is None:
            return None
        area = self._areas.get(event.alarm.area, AreaShape(AreaNames(event.alarm.area, event.alarm.area)))
        message = cap_alert(event, msg_type, earlier, self._config, self._site_id, self._timezone, area)
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO cap_message VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (message.identifier, message.alarm_id, message.sender, message.sent, message.msg_type,
                              message.headline, message.xml, event.seq))
        (self.folder / f"{message.identifier}.xml").write_bytes(message.xml)
        self._write_feed(message.sent)
        return message

    def messages(self, alarm_id: int | None = None, limit: int | None = None) -> list[CapMessage]:
        """Stored messages, oldest first (of one alarm), or the newest `limit` newest first."""
        query = "SELECT alarm_id, identifier, sender, sent, msg_type, headline, xml FROM cap_message"
        args: tuple[Any, ...] = ()
        if alarm_id is not None:
            query, args = query + " WHERE alarm_id = ?", (alarm_id,)
        query += " ORDER BY seq" + (" DESC LIMIT ?" if limit else "")
        args += (limit,) if limit else ()
        with self._lock:
            return [CapMessage(*row) for row in self._db.execute(query, args)]

    def feed(self) -> bytes:
        """The Atom feed of the newest messages."""
        newest = self.messages(limit=self._config.feed_entries)
        updated = newest[0].sent if newest else cap_time(0, self._timezone)
        return atom_feed(newest, self._config, self._site_id, updated)

    def _write_feed(self, updated: str) -> None:
        path = self.folder / "feed.atom"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(self.feed())
        temporary.replace(path)  # readers of the folder never see half a feed

    async def app(self, scope: Mapping[str, Any], receive: Any, send: Any) -> None:
        """ASGI: GET /cap/feed.atom and /cap/<identifier>.xml."""
        path = scope["path"]
        body, content_type, status = b"not found\n", b"text/plain", 404
        if scope["method"] != "GET":
            body, status = b"GET only\n", 405
        elif path == "/cap/feed.atom":
            body, content_type, status = await asyncio.to_thread(self.feed), b"application/atom+xml", 200
        elif path.startswith("/cap/") and path.endswith(".xml"):
            identifier = path[len("/cap/"):-len(".xml")]
            with self._lock:
                row = self._db.execute("SELECT xml FROM cap_message WHERE identifier = ?", (identifier,)).fetchone()
            if row is not None:
                body, content_type, status = row[0], b"application/cap+xml", 200
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def close(self) -> None:
        """Close the index."""
        with self._lock:
            self._db.close()


