"""The SMS outbox in SQLite (WAL): every message the hub means to send, one row per (alarm
event, recipient) under a unique idempotency key, so that a fan-out that is repeated after a
restart inserts nothing twice; its state from `queued` through `sending` (claimed, request in
flight) and `sent` (accepted by the provider) to `delivered`, `undelivered` or `failed` as the
provider's status callbacks report; `rejected` for a permanent refusal at submission and
`skipped` for a recipient who opted out before the message went. The per-event counts that
Grafana shows are queries over these rows."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

MessageState = Literal["queued", "sending", "sent", "delivered", "undelivered", "failed", "rejected", "skipped"]
# Delivery reports can arrive out of order; a state never moves back to a lower rank.
STATE_RANK: dict[str, int] = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3,
                              "rejected": 3, "skipped": 3}
# Twilio's MessageStatus values mapped onto ours (queued/accepted/sending at Twilio = accepted from us).
PROVIDER_STATUS: dict[str, MessageState] = {
    "accepted": "sent", "queued": "sent", "scheduled": "sent", "sending": "sent", "sent": "sent",
    "delivered": "delivered", "read": "delivered", "undelivered": "undelivered", "failed": "failed",
    "canceled": "failed",
}
CITIZEN_KINDS = ("warning", "all_clear")


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to enqueue. `key` is the idempotency key: `<event seq>:<phone>`."""

    key: str
    event_seq: int
    alarm_id: int
    rule: str
    area: str
    kind: str
    phone: str
    language: str
    body: str
    segments: int


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as stored, with its delivery state."""

    id: int
    key: str
    event_seq: int
    alarm_id: int
    rule: str
    area: str
    kind: str
    phone: str
    language: str
    body: str
    segments: int
    state: MessageState
    attempts: int
    next_attempt_ms: int
    claimed_ms: int | None
    provider_sid: str | None
    error_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class EventCounts:
    """Citizen messages of one alarm event in one area: the `sms` measurement's fields.
    `sent` counts what the provider accepted (delivered or not); `failed` what did not arrive."""

    event_seq: int
    ts_ms: int
    area: str
    rule: str
    queued: int
    sent: int
    delivered: int
    failed: int


_COLUMNS = ("id, key, event_seq, alarm_id, rule, area, kind, phone, language, body, segments, state, attempts, "
            "next_attempt_ms, claimed_ms, provider_sid, error_code, error")


class Outbox:
    """The outbox tables. Safe to use from several threads (one connection behind a lock)."""

    def __init__(self, path: Path | str):
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        # Events whose counts changed since `changed_events` was last asked (kept in memory: after
        # a restart, every event still in progress is marked again as its messages move).
        self._changed: set[int] = set()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives the process being killed (the case that matters
        # for "nothing twice"); only a power cut may lose the last few state changes.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS message (
                id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, event_seq INTEGER NOT NULL,
                alarm_id INTEGER NOT NULL, rule TEXT NOT NULL, area TEXT NOT NULL, kind TEXT NOT NULL,
                phone TEXT NOT NULL, language TEXT NOT NULL, body TEXT NOT NULL, segments INTEGER NOT NULL,
                state TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 1, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL DEFAULT 0,
                claimed_ms INTEGER, provider_sid TEXT, error_code INTEGER, error TEXT,
                created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS message_due ON message (state, priority, id);
            CREATE INDEX IF NOT EXISTS message_sid ON message (provider_sid);
            CREATE INDEX IF NOT EXISTS message_alarm ON message (alarm_id, kind, state);
            CREATE INDEX IF NOT EXISTS message_event ON message (event_seq, area);
            CREATE TABLE IF NOT EXISTS notified_event (
                seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, alarm_id INTEGER NOT NULL, rule TEXT NOT NULL,
                kind TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS early_status (
                provider_sid TEXT PRIMARY KEY, status TEXT NOT NULL, error_code INTEGER, received_ms INTEGER NOT NULL);
            """
        )

    # -- fan-out ---------------------------------------------------------------------------------

    def cursor(self) -> int | None:
        """Sequence number of the last alarm event fanned out; None for a new outbox."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name = 'event_cursor'").fetchone()
        return None if row is None else int(row[0])

    def set_cursor(self, seq: int) -> None:
        """Start the cursor (a new outbox starts after the events already stored)."""
        with self._lock:
            self._db.execute("INSERT INTO meta VALUES ('event_cursor', ?) ON CONFLICT(name) DO UPDATE "
                             "SET value = max(value, excluded.value)", (seq,))

    def enqueue(self, event_seq: int, ts_ms: int, alarm_id: int, rule: str, event_kind: str,
                messages: Iterable[OutgoingMessage], now_ms: int, *, citizen_fan_out: bool = True) -> int:
        """Store one event's fan-out and (for the citizens' fan-out) record the event and
        advance the cursor, in one transaction; keys already present are left alone. Returns
        how many messages were new."""
        # Staff alerts go before a citizen fan-out that may be thousands long.
        rows = [(m.key, m.event_seq, m.alarm_id, m.rule, m.area, m.kind, m.phone, m.language, m.body, m.segments,
                 0 if m.kind == "staff" else 1, now_ms, now_ms) for m in messages]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany(
                    "INSERT OR IGNORE INTO message (key, event_seq, alarm_id, rule, area, kind, phone, language, "
                    "body, segments, state, priority, created_ms, updated_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                    rows,
                )
                added = self._db.total_changes - before
                if citizen_fan_out:
                    self._db.execute("INSERT OR IGNORE INTO notified_event (seq, ts_ms, alarm_id, rule, kind) "
                                     "VALUES (?, ?, ?, ?, ?)", (event_seq, ts_ms, alarm_id, rule, event_kind))
                    self._db.execute("INSERT INTO meta VALUES ('event_cursor', ?) ON CONFLICT(name) DO UPDATE "
                                     "SET value = max(value, excluded.value)", (event_seq,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if rows and citizen_fan_out:
                self._changed.add(event_seq)
        return added

    def warned_phones(self, alarm_id: int) -> list[tuple[str, str]]:
        """(phone, language) of citizens a warning of this alarm went to (or is going to)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT phone, language FROM message WHERE alarm_id = ? AND kind = 'warning' "
                "AND state IN ('queued', 'sending', 'sent', 'delivered') GROUP BY phone ORDER BY phone", (alarm_id,)
            ).fetchall()
        return [(row[0], row[1]) for row in rows]

    # -- sending ---------------------------------------------------------------------------------

    def claim(self, limit: int, now_ms: int) -> list[StoredMessage]:
        """Take up to `limit` due messages, oldest first, and mark them `sending`."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM message WHERE state = 'queued' AND next_attempt_ms <= ? "
                    "ORDER BY priority, id LIMIT ?", (now_ms, limit)
                ).fetchall()
                self._db.executemany(
                    "UPDATE message SET state = 'sending', claimed_ms = ?, attempts = attempts + 1, updated_ms = ? "
                    "WHERE id = ?", [(now_ms, now_ms, row[0]) for row in rows]
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return [_message(row, state="sending", attempts=row[12] + 1, claimed_ms=now_ms) for row in rows]

    def next_due_ms(self) -> int | None:
        """When the next queued message falls due; None when nothing is queued."""
        with self._lock:
            row = self._db.execute("SELECT min(next_attempt_ms) FROM message WHERE state = 'queued'").fetchone()
        return None if row[0] is None else int(row[0])

    def in_flight(self) -> list[StoredMessage]:
        """Messages claimed but without an outcome: after a crash, their fate must be looked up."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM message WHERE state = 'sending' ORDER BY id").fetchall()
        return [_message(row) for row in rows]

    def mark_sent(self, message: StoredMessage, provider_sid: str, provider_status: str, now_ms: int) -> None:
        """The provider accepted the message. A delivery report that overtook the answer to
        the request (the webhook is faster than the response) is kept."""
        state = PROVIDER_STATUS.get(provider_status, "sent")
        with self._lock:
            self._db.execute("UPDATE message SET state = CASE WHEN state = 'sending' THEN ? ELSE state END, "
                             "provider_sid = ?, updated_ms = ? WHERE id = ?", (state, provider_sid, now_ms, message.id))
            self._changed.add(message.event_seq)
            early = self._db.execute("SELECT status, error_code FROM early_status WHERE provider_sid = ?",
                                     (provider_sid,)).fetchone()
            if early is not None:
                self._db.execute("DELETE FROM early_status WHERE provider_sid = ?", (provider_sid,))
                self.apply_status(provider_sid, early[0], early[1], now_ms)

    def requeue(self, message: StoredMessage, due_ms: int, error: str, now_ms: int) -> None:
        """A transient failure: try again from `due_ms`."""
        with self._lock:
            self._db.execute("UPDATE message SET state = 'queued', next_attempt_ms = ?, error = ?, updated_ms = ? "
                             "WHERE id = ?", (due_ms, error, now_ms, message.id))

    def mark_rejected(self, message: StoredMessage, code: int | None, error: str, now_ms: int) -> None:
        """A permanent failure (or retries exhausted): never sent again."""
        with self._lock:
            self._db.execute("UPDATE message SET state = 'rejected', error_code = ?, error = ?, updated_ms = ? "
                             "WHERE id = ?", (code, error, now_ms, message.id))
            self._changed.add(message.event_seq)

    def skip_pending(self, phone: str, now_ms: int, reason: str) -> int:
        """Messages to `phone` not yet sent are not sent (an opt-out); returns how many."""
        with self._lock:
            return self._db.execute(
                "UPDATE message SET state = 'skipped', error = ?, updated_ms = ? WHERE phone = ? AND state = 'queued' "
                "AND kind IN ('warning', 'all_clear')", (reason, now_ms, phone)
            ).rowcount

    def apply_status(self, provider_sid: str, provider_status: str, error_code: int | None, now_ms: int) -> bool:
        """A delivery report. A report older than the state already known (they can arrive out
        of order) changes nothing. A report for a sid not known yet (it overtook the answer to
        our own request) is kept and applied when the answer comes; returns False then."""
        state = PROVIDER_STATUS.get(provider_status)
        with self._lock:
            row = self._db.execute("SELECT id, state, event_seq FROM message WHERE provider_sid = ?",
                                   (provider_sid,)).fetchone()
            if row is None:
                if state is not None:
                    self._db.execute(
                        "INSERT INTO early_status VALUES (?, ?, ?, ?) ON CONFLICT(provider_sid) DO UPDATE SET "
                        "status = CASE WHEN ? THEN excluded.status ELSE status END, "
                        "error_code = coalesce(excluded.error_code, error_code)",
                        (provider_sid, provider_status, error_code, now_ms, STATE_RANK[state] >= 3),
                    )
                return False
            if state is not None and STATE_RANK[state] > STATE_RANK[row[1]]:
                self._db.execute("UPDATE message SET state = ?, error_code = coalesce(?, error_code), updated_ms = ? "
                                 "WHERE id = ?", (state, error_code, now_ms, row[0]))
                self._changed.add(row[2])
        return True

    # -- looking -------------------------------------------------------------------------------

    def messages(self, event_seq: int | None = None) -> list[StoredMessage]:
        """Stored messages, oldest first; of one event when given."""
        query = f"SELECT {_COLUMNS} FROM message"
        args: tuple = ()
        if event_seq is not None:
            query, args = query + " WHERE event_seq = ?", (event_seq,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [_message(row) for row in rows]

    def state_counts(self) -> dict[str, int]:
        """Messages per state."""
        with self._lock:
            rows = self._db.execute("SELECT state, count(*) FROM message GROUP BY state").fetchall()
        return {row[0]: row[1] for row in rows}

    def event_counts(self, event_seqs: Sequence[int] | None = None) -> list[EventCounts]:
        """Citizen-message counts per (event, area), of the given events or of all."""
        where = "WHERE m.kind IN ('warning', 'all_clear')"
        args: tuple = ()
        if event_seqs is not None:
            where += f" AND m.event_seq IN ({','.join('?' * len(event_seqs))})"
            args = tuple(event_seqs)
        with self._lock:
            rows = self._db.execute(
                "SELECT m.event_seq, e.ts_ms, m.area, m.rule, count(*), "
                "sum(m.state IN ('sent', 'delivered', 'undelivered')), sum(m.state = 'delivered'), "
                "sum(m.state IN ('failed', 'undelivered', 'rejected')) "
                f"FROM message m JOIN notified_event e ON e.seq = m.event_seq {where} "
                "GROUP BY m.event_seq, m.area ORDER BY m.event_seq, m.area", args
            ).fetchall()
        return [EventCounts(*row) for row in rows]

    def changed_events(self) -> list[int]:
        """Events whose counts changed since the last call."""
        with self._lock:
            changed, self._changed = sorted(self._changed), set()
        return changed

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _message(row: Sequence, **changes: object) -> StoredMessage:
    message = StoredMessage(*row)
    return replace(message, **changes) if changes else message  # type: ignore[arg-type]
