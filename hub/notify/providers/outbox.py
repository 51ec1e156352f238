"""The `outbox` provider, the default: sends nothing and records every message it is handed in
SQLite, so that the demo and the tests show exactly what would have gone out, with the same
sender, retries and bookkeeping as a real provider."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from hub.notify.providers import Receipt


class RecordingProvider:
    """Accepts every message (status `sent`) and keeps it."""

    name = "outbox"

    def __init__(self, path: Path | str):
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS recorded (sid INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "to_number TEXT NOT NULL, body TEXT NOT NULL, ts_ms INTEGER NOT NULL)")

    def send(self, to: str, body: str) -> Receipt:
        """Record the message."""
        with self._lock:
            sid = self._db.execute("INSERT INTO recorded (to_number, body, ts_ms) VALUES (?, ?, ?)",
                                   (to, body, time.time_ns() // 1_000_000)).lastrowid
        return Receipt(f"OUTBOX{sid:032d}", "sent")

    def find_sent(self, to: str, body: str, since_ms: int) -> Receipt | None:
        """The recorded message, if the hub died after recording it."""
        with self._lock:
            row = self._db.execute("SELECT sid FROM recorded WHERE to_number = ? AND body = ? AND ts_ms >= ? "
                                   "ORDER BY sid DESC LIMIT 1", (to, body, since_ms)).fetchone()
        return None if row is None else Receipt(f"OUTBOX{row[0]:032d}", "sent")

    def recorded(self) -> list[tuple[str, str]]:
        """Every (to, body) recorded, in order."""
        with self._lock:
            return [(r[0], r[1]) for r in self._db.execute("SELECT to_number, body FROM recorded ORDER BY sid")]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
