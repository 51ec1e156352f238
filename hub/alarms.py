"""The alarm manager: turns the rule engine's `Condition`s into alarms with a lifecycle people can
trust. One alarm per (rule, subject) at a time; `active` → `acknowledged` (by a named person, with
a comment) → `cleared` (condition gone, past the rule's hysteresis) → `closed`; a level change
escalates or de-escalates the same alarm (an escalation needs a new acknowledgement). Flapping
(Kapacitor's idea: too many state changes within a window) and silences (maintenance windows by
sensor, area or rule, always bounded in time) suppress notification, never recording.

Every transition is an `AlarmEvent`, written to SQLite in the same transaction as the alarm
before it is returned, so nothing is notified that is not stored."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from hub.configbase import StrictModel
from hub.types import LEVEL_RANK, Audience, Condition, Level

AlarmState = Literal["active", "acknowledged", "cleared", "closed"]
EventKind = Literal[
    "raised", "reraised", "escalated", "deescalated", "updated", "inhibited", "released",
    "acknowledged", "cleared", "closed", "flapping", "flapping_ended",
]
OPEN_STATES = ("active", "acknowledged", "cleared")


class FlappingConfig(StrictModel):
    """When a (rule, subject) changes state too often, its notifications pause until it settles."""

    window_s: float = Field(3600.0, gt=0, description="Window over which state changes are counted, in seconds.")
    high: int = Field(6, ge=2, description="This many raises and clears within the window start flapping.")
    low: int = Field(2, ge=0, description="Flapping ends when the window holds this many changes or fewer.")


class AlarmSettings(StrictModel):
    """How the alarm manager behaves."""

    flapping: FlappingConfig = Field(default_factory=FlappingConfig, description="Flapping damping.")
    close_cleared_after_s: float | None = Field(
        86400.0, gt=0, description="A cleared alarm nobody acknowledged is closed after this; none = wait for a person."
    )
    max_silence_s: float = Field(7 * 86400.0, gt=0, description="Longest silence a person may set, in seconds.")


class AlarmError(ValueError):
    """A request about an alarm or silence that cannot be carried out (unknown id, wrong state)."""


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm as stored and published."""

    id: int
    rule: str
    rule_version: str
    subject: str
    area: str
    hazard: str
    audience: Audience
    level: Level
    state: AlarmState
    opened_ms: int
    updated_ms: int
    evidence: Mapping[str, Any]
    inhibited: bool = False
    flapping: bool = False
    acknowledged_by: str | None = None
    acknowledged_ms: int | None = None
    acknowledge_comment: str | None = None
    cleared_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The alarm as a JSON-ready dict (the MQTT alarm payload)."""
        return asdict(self) | {"evidence": dict(self.evidence)}


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One transition of one alarm. `suppressed_by` lists the silences and flapping in effect;
    an event with any of them is recorded and published to staff tools, not notified to people."""

    seq: int
    kind: EventKind
    ts_ms: int
    alarm: Alarm
    previous_level: Level | None = None
    actor: str | None = None
    comment: str | None = None
    suppressed_by: tuple[str, ...] = ()

    @property
    def notify(self) -> bool:
        """True when notifiers may tell people about this event."""
        return not self.suppressed_by

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON-ready dict (replay output, audit)."""
        return {
            "seq": self.seq, "kind": self.kind, "ts_ms": self.ts_ms, "previous_level": self.previous_level,
            "actor": self.actor, "comment": self.comment, "suppressed_by": list(self.suppressed_by),
            "alarm": self.alarm.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Silence:
    """Notifications for matching alarms pause from `starts_ms` to `ends_ms`. Matches on exactly
    one of sensor (the alarm's subject or a sensor in its evidence), area, or rule."""

    id: int
    matcher: Literal["sensor", "area", "rule"]
    value: str
    starts_ms: int
    ends_ms: int
    created_by: str
    comment: str

    def matches(self, alarm: Alarm, now_ms: int) -> bool:
        """True while in force for `alarm`."""
        if not self.starts_ms <= now_ms < self.ends_ms:
            return False
        if self.matcher == "rule":
            return alarm.rule == self.value
        if self.matcher == "area":
            return alarm.area == self.value
        sensors = alarm.evidence.get("sensors", ())
        return alarm.subject == self.value or (isinstance(sensors, list | tuple) and self.value in sensors)


class AlarmStore:
    """SQLite (WAL) tables for alarms, their events, silences, an audit trail of what people did,
    and snapshots of the rule engine's state. Safe to use from several threads."""

    def __init__(self, path: Path | str):
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: an alarm that was notified must still be there after a power cut.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS alarm (
                id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL, subject TEXT NOT NULL,
                state TEXT NOT NULL, body TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS alarm_open ON alarm (rule, subject, state);
            CREATE TABLE IF NOT EXISTS alarm_event (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, alarm_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL,
                kind TEXT NOT NULL, body TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS silence (
                id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, removed_ms INTEGER);
            CREATE TABLE IF NOT EXISTS audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL, actor TEXT NOT NULL,
                action TEXT NOT NULL, detail TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS rule_state (
                name TEXT PRIMARY KEY, saved_ms INTEGER NOT NULL, body TEXT NOT NULL);
            """
        )

    def transaction(self) -> _Transaction:
        """`with store.transaction() as db:` — one atomic write."""
        return _Transaction(self)

    def open_alarms(self) -> list[Alarm]:
        """Alarms not yet closed."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM alarm WHERE state != 'closed' ORDER BY id").fetchall()
        return [_alarm_from_json(row[0]) for row in rows]

    def alarm(self, alarm_id: int) -> Alarm | None:
        """One alarm by id."""
        with self._lock:
            row = self._db.execute("SELECT body FROM alarm WHERE id = ?", (alarm_id,)).fetchone()
        return _alarm_from_json(row[0]) if row else None

    def recent_alarms(self, limit: int = 500) -> list[Alarm]:
        """Alarms in any state, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM alarm ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [_alarm_from_json(row[0]) for row in rows]

    def alarm_events(self, alarm_id: int) -> list[dict[str, Any]]:
        """The stored events of one alarm, oldest first, as dicts."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM alarm_event WHERE alarm_id = ? ORDER BY seq",
                                    (alarm_id,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def events(self, after_seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Stored events after `after_seq`, oldest first, as dicts."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM alarm_event WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def iter_events(self, after_seq: int = 0) -> Iterator[dict[str, Any]]:
        """Every stored event after `after_seq`, oldest first, read a page at a time."""
        while page := self.events(after_seq=after_seq):
            yield from page
            after_seq = page[-1]["seq"]

    def silences(self) -> list[Silence]:
        """Silences not removed (expired ones included; they simply no longer match)."""
        with self._lock:
            rows = self._db.execute("SELECT id, body FROM silence WHERE removed_ms IS NULL ORDER BY id").fetchall()
        return [Silence(id=row[0], **json.loads(row[1])) for row in rows]

    def audit_trail(self, limit: int = 100) -> list[dict[str, Any]]:
        """What people did, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT ts_ms, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [{"ts_ms": r[0], "actor": r[1], "action": r[2], "detail": json.loads(r[3])} for r in rows]

    def save_rule_state(self, name: str, saved_ms: int, body: Mapping[str, Any]) -> None:
        """Keep the rule engine's snapshot."""
        with self._lock:
            self._db.execute(
                "INSERT INTO rule_state (name, saved_ms, body) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET saved_ms = excluded.saved_ms, body = excluded.body",
                (name, saved_ms, json.dumps(body)),
            )

    def load_rule_state(self, name: str) -> dict[str, Any] | None:
        """The last snapshot saved under `name`."""
        with self._lock:
            row = self._db.execute("SELECT body FROM rule_state WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


class _Transaction:
    def __init__(self, store: AlarmStore):
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        self._store._lock.acquire()
        self._store._db.execute("BEGIN IMMEDIATE")
        return self._store._db

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        try:
            self._store._db.execute("COMMIT" if error is None else "ROLLBACK")
        finally:
            self._store._lock.release()


def _alarm_from_json(text: str) -> Alarm:
    return Alarm(**json.loads(text))


class AlarmManager:
    """Applies conditions and people's actions to alarms; returns the events they caused, stored.

    Not thread-safe by itself: the hub calls it from its event loop only."""

    def __init__(self, store: AlarmStore, settings: AlarmSettings | None = None):
        self._store = store
        self._settings = settings or AlarmSettings()
        self._open: dict[tuple[str, str], Alarm] = {(a.rule, a.subject): a for a in store.open_alarms()}
        self._changes: dict[tuple[str, str], deque[int]] = {}
        self._silences = store.silences()

    # -- reading state ----------------------------------------------------------------------------

    def open_alarms(self) -> list[Alarm]:
        """Alarms not yet closed, most severe first."""
        return sorted(self._open.values(), key=lambda a: (-LEVEL_RANK[a.level], a.opened_ms, a.id))

    def silences(self, now_ms: int | None = None) -> list[Silence]:
        """Silences not removed; only those in force at `now_ms` when given."""
        if now_ms is None:
            return list(self._silences)
        return [s for s in self._silences if s.starts_ms <= now_ms < s.ends_ms]

    # -- conditions from the rule engine ------------------------------------------------------------

    def apply(self, condition: Condition, received_ms: int | None = None) -> list[AlarmEvent]:
        """The events one condition causes (none when nothing changes). Events carry the
        condition's time, so a replay of recorded readings gives the same events as the live hub;
        `received_ms` (processing time) only measures the data's age for the evidence."""
        now_ms = condition.ts_ms
        evidence = self._evidence(condition, condition.ts_ms if received_ms is None else received_ms)
        key = (condition.rule, condition.subject)
        current = self._open.get(key)
        if condition.level is None:
            if current is None or current.state == "cleared":
                return []
            if current.inhibited and condition.inhibited:
                return []
            return self._clear(current, condition, evidence, now_ms)
        if current is None:
            alarm = Alarm(
                id=0, rule=condition.rule, rule_version=condition.rule_version, subject=condition.subject,
                area=condition.area, hazard=condition.hazard, audience=condition.audience, level=condition.level,
                state="active", opened_ms=condition.ts_ms, updated_ms=now_ms, evidence=evidence,
                inhibited=condition.inhibited,
            )
            self._count_change(key, now_ms)
            return self._commit(alarm, "raised", now_ms, previous_level=None)
        changes: dict[str, Any] = {"evidence": evidence, "updated_ms": now_ms, "rule_version": condition.rule_version,
                                   "inhibited": condition.inhibited}
        if current.state == "cleared":
            self._count_change(key, now_ms)
            alarm = replace(current, level=condition.level, state="active", cleared_ms=None, acknowledged_by=None,
                            acknowledged_ms=None, acknowledge_comment=None, **changes)
            return self._commit(alarm, "reraised", now_ms, previous_level=current.level)
        rank_now, rank_before = LEVEL_RANK[condition.level], LEVEL_RANK[current.level]
        if rank_now > rank_before:
            # A worse level needs a new acknowledgement.
            alarm = replace(current, level=condition.level, state="active", acknowledged_by=None,
                            acknowledged_ms=None, acknowledge_comment=None, **changes)
            return self._commit(alarm, "escalated", now_ms, previous_level=current.level)
        if rank_now < rank_before:
            alarm = replace(current, level=condition.level, **changes)
            return self._commit(alarm, "deescalated", now_ms, previous_level=current.level)
        if condition.inhibited != current.inhibited:
            kind: EventKind = "inhibited" if condition.inhibited else "released"
            return self._commit(replace(current, **changes), kind, now_ms, previous_level=current.level)
        if dict(evidence.get("condition", {})) != dict(current.evidence.get("condition", {})):
            return self._commit(replace(current, **changes), "updated", now_ms, previous_level=current.level)
        return []

    def _clear(self, current: Alarm, condition: Condition, evidence: dict[str, Any], now_ms: int) -> list[AlarmEvent]:
        key = (current.rule, current.subject)
        self._count_change(key, now_ms)
        cleared = replace(current, state="cleared", cleared_ms=now_ms, updated_ms=now_ms, evidence=evidence,
                          inhibited=False)
        events = self._commit(cleared, "cleared", now_ms, previous_level=current.level)
        if current.state == "acknowledged":
            events += self._commit(replace(cleared, state="closed"), "closed", now_ms, previous_level=current.level)
        return events

    # -- people ----------------------------------------------------------------------------------

    def acknowledge(self, alarm_id: int, by: str, comment: str, now_ms: int) -> list[AlarmEvent]:
        """A person takes responsibility for an alarm. A cleared alarm is closed by it."""
        if not by.strip() or not comment.strip():
            raise AlarmError("an acknowledgement needs the person's name and a comment")
        alarm = self._find(alarm_id)
        if alarm.state == "acknowledged":
            raise AlarmError(f"alarm {alarm_id} was already acknowledged by {alarm.acknowledged_by}")
        self._audit(now_ms, by, "acknowledge", {"alarm": alarm_id, "comment": comment})
        acknowledged = replace(alarm, state="acknowledged" if alarm.state == "active" else alarm.state,
                               acknowledged_by=by, acknowledged_ms=now_ms, acknowledge_comment=comment,
                               updated_ms=now_ms)
        events = self._commit(acknowledged, "acknowledged", now_ms, actor=by, comment=comment)
        if alarm.state == "cleared":
            events += self._commit(replace(acknowledged, state="closed"), "closed", now_ms, actor=by)
        return events

    def add_silence(self, matcher: Literal["sensor", "area", "rule"], value: str, starts_ms: int, ends_ms: int,
                    by: str, comment: str) -> Silence:
        """Pause notifications for matching alarms, for a bounded time."""
        if not by.strip() or not comment.strip():
            raise AlarmError("a silence needs the person's name and a comment (why, e.g. 'gauge maintenance')")
        if ends_ms <= starts_ms:
            raise AlarmError("a silence must end after it starts")
        if (ends_ms - starts_ms) / 1000 > self._settings.max_silence_s:
            raise AlarmError(f"a silence may last at most {self._settings.max_silence_s / 3600:g} h")
        body = {"matcher": matcher, "value": value, "starts_ms": starts_ms, "ends_ms": ends_ms,
                "created_by": by, "comment": comment}
        with self._store.transaction() as db:
            silence_id = db.execute("INSERT INTO silence (body) VALUES (?)", (json.dumps(body),)).lastrowid
            db.execute("INSERT INTO audit (ts_ms, actor, action, detail) VALUES (?, ?, ?, ?)",
                       (starts_ms, by, "silence", json.dumps(body | {"id": silence_id})))
        silence = Silence(id=int(silence_id), **body)  # type: ignore[arg-type]
        self._silences.append(silence)
        return silence

    def remove_silence(self, silence_id: int, by: str, now_ms: int) -> None:
        """End a silence early."""
        if not any(s.id == silence_id for s in self._silences):
            raise AlarmError(f"no silence {silence_id}")
        with self._store.transaction() as db:
            db.execute("UPDATE silence SET removed_ms = ? WHERE id = ?", (now_ms, silence_id))
            db.execute("INSERT INTO audit (ts_ms, actor, action, detail) VALUES (?, ?, ?, ?)",
                       (now_ms, by, "unsilence", json.dumps({"id": silence_id})))
        self._silences = [s for s in self._silences if s.id != silence_id]

    # -- time ------------------------------------------------------------------------------------

    def tick(self, now_ms: int) -> list[AlarmEvent]:
        """Time-driven transitions: flapping that has settled, cleared alarms left too long.
        Silences are read again from the store, so that one set by `ews silence` while the hub
        runs takes effect within a tick."""
        self._silences = self._store.silences()
        events: list[AlarmEvent] = []
        for key, alarm in list(self._open.items()):
            if alarm.flapping and self._flap_count(key, now_ms) <= self._settings.flapping.low:
                events += self._commit(replace(alarm, flapping=False, updated_ms=now_ms), "flapping_ended", now_ms)
                alarm = self._open[key]
            limit = self._settings.close_cleared_after_s
            if alarm.state == "cleared" and limit is not None and alarm.cleared_ms is not None \
                    and now_ms - alarm.cleared_ms >= limit * 1000:
                events += self._commit(replace(alarm, state="closed", updated_ms=now_ms), "closed", now_ms,
                                       actor="system", comment="cleared and not acknowledged")
        return events

    # -- internals -------------------------------------------------------------------------------

    def _find(self, alarm_id: int) -> Alarm:
        for alarm in self._open.values():
            if alarm.id == alarm_id:
                return alarm
        stored = self._store.alarm(alarm_id)
        if stored is None:
            raise AlarmError(f"no alarm {alarm_id}")
        raise AlarmError(f"alarm {alarm_id} is {stored.state}")

    def _evidence(self, condition: Condition, now_ms: int) -> dict[str, Any]:
        return {
            "rule": condition.rule,
            "rule_version": condition.rule_version,
            "condition": dict(condition.evidence),
            "data_age_s": round(max(0, now_ms - condition.ts_ms) / 1000, 3),
            "sensors": list(condition.evidence.get("sensors", [condition.subject])),
        }

    def _count_change(self, key: tuple[str, str], now_ms: int) -> None:
        history = self._changes.setdefault(key, deque())
        history.append(now_ms)
        self._flap_count(key, now_ms)

    def _flap_count(self, key: tuple[str, str], now_ms: int) -> int:
        history = self._changes.get(key)
        if not history:
            return 0
        horizon = now_ms - self._settings.flapping.window_s * 1000
        while history and history[0] < horizon:
            history.popleft()
        return len(history)

    def _suppressions(self, alarm: Alarm, now_ms: int) -> tuple[str, ...]:
        reasons = [f"silence:{s.id}" for s in self._silences if s.matches(alarm, now_ms)]
        if alarm.flapping:
            reasons.append("flapping")
        return tuple(reasons)

    def _commit(self, alarm: Alarm, kind: EventKind, now_ms: int, previous_level: Level | None = None,
                actor: str | None = None, comment: str | None = None) -> list[AlarmEvent]:
        key = (alarm.rule, alarm.subject)
        extra: list[tuple[Alarm, EventKind]] = []
        if kind in ("raised", "reraised", "cleared") and not alarm.flapping \
                and self._flap_count(key, now_ms) >= self._settings.flapping.high:
            alarm = replace(alarm, flapping=True)
            extra.append((alarm, "flapping"))
        events = []
        with self._store.transaction() as db:
            if alarm.id == 0:
                alarm_id = db.execute(
                    "INSERT INTO alarm (rule, subject, state, body) VALUES (?, ?, ?, '{}')",
                    (alarm.rule, alarm.subject, alarm.state),
                ).lastrowid
                alarm = replace(alarm, id=int(alarm_id))
            # The alarm carries the suppressions in effect at its last transition.
            suppressed = self._suppressions(alarm, now_ms)
            alarm = replace(alarm, evidence={**alarm.evidence, "suppressions": list(suppressed)})
            db.execute("UPDATE alarm SET state = ?, body = ? WHERE id = ?",
                       (alarm.state, json.dumps(alarm.to_json()), alarm.id))
            for item_alarm, item_kind in [(alarm, kind)] + [(alarm, k) for _, k in extra]:
                seq = db.execute(
                    "INSERT INTO alarm_event (alarm_id, ts_ms, kind, body) VALUES (?, ?, ?, '{}')",
                    (item_alarm.id, now_ms, item_kind),
                ).lastrowid
                event = AlarmEvent(int(seq), item_kind, now_ms, item_alarm, previous_level if item_kind == kind else
                                   item_alarm.level, actor, comment, suppressed)
                db.execute("UPDATE alarm_event SET body = ? WHERE seq = ?", (json.dumps(event.to_json()), seq))
                events.append(event)
        if alarm.state == "closed":
            self._open.pop(key, None)
        else:
            self._open[key] = alarm
        return events

    def _audit(self, now_ms: int, actor: str, action: str, detail: Mapping[str, Any]) -> None:
        with self._store.transaction() as db:
            db.execute("INSERT INTO audit (ts_ms, actor, action, detail) VALUES (?, ?, ?, ?)",
                       (now_ms, actor, action, json.dumps(dict(detail))))
