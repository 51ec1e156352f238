"""The dead-letter store: inputs the hub set aside (malformed payloads, values out of range, points
InfluxDB refused), kept with their reason and raw bytes in SQLite so a technician can see exactly
what a device sent. Bounded: only the newest `max_records` are kept."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from hub.types import Rejection

#: Raw payloads are kept up to this size; enough to recognise any real device's message.
MAX_PAYLOAD_BYTES = 4096


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A stored rejection."""

    id: int
    received_ms: int
    reason: str
    sensor: str | None
    topic: str
    detail: str
    payload: bytes


class DeadLetterStore:
    """Bounded SQLite table of rejections; safe to use from several threads."""

    def __init__(self, path: Path, max_records: int = 10000):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._max_records = max_records
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS dead_letter ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, received_ms INTEGER NOT NULL, reason TEXT NOT NULL,"
            " sensor TEXT, topic TEXT NOT NULL, detail TEXT NOT NULL, payload BLOB NOT NULL)"
        )
        self._since_trim = 0

    def add(self, rejection: Rejection) -> None:
        """Store one rejection (payload truncated to MAX_PAYLOAD_BYTES)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO dead_letter (received_ms, reason, sensor, topic, detail, payload) VALUES (?,?,?,?,?,?)",
                (
                    rejection.received_ms,
                    str(rejection.reason),
                    rejection.sensor,
                    rejection.topic,
                    rejection.detail[:1000],
                    bytes(rejection.payload[:MAX_PAYLOAD_BYTES]),
                ),
            )
            self._since_trim += 1
            # Trimming on every insert would double the cost of a burst of garbage.
            if self._since_trim >= max(1, self._max_records // 10):
                self._trim()

    def _trim(self) -> None:
        self._since_trim = 0
        self._db.execute(
            "DELETE FROM dead_letter WHERE id <= (SELECT MAX(id) FROM dead_letter) - ?", (self._max_records,)
        )

    def recent(self, limit: int = 50, reason: str | None = None) -> list[DeadLetter]:
        """The newest records first."""
        query = "SELECT id, received_ms, reason, sensor, topic, detail, payload FROM dead_letter"
        params: tuple = ()
        if reason is not None:
            query += " WHERE reason = ?"
            params = (reason,)
        query += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, params + (limit,)).fetchall()
        return [DeadLetter(*row) for row in rows]

    def count(self) -> int:
        """Records kept (after trimming, at most about max_records × 1.1)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
