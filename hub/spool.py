"""The disk spool of the InfluxDB writer: batches that could not be written wait here, in order,
in SQLite (WAL), and survive a restart. Bodies are zlib-compressed line protocol; memory use does
not grow with the outage, only the file does."""

from __future__ import annotations

import sqlite3
import time
import zlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """One waiting batch: its order key, line protocol body and number of points."""

    id: int
    body: bytes
    points: int


class Spool:
    """A FIFO of line-protocol batches in a SQLite file. Owned by one thread (the writer's)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across a crash of the process (not of the OS) and keeps commits cheap.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spool ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " created_ms INTEGER NOT NULL,"
            " points INTEGER NOT NULL,"
            " body BLOB NOT NULL)"
        )
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(points), 0) FROM spool").fetchone()
        self._batches, self._points = int(row[0]), int(row[1])

    @property
    def batches(self) -> int:
        """Batches waiting."""
        return self._batches

    @property
    def points(self) -> int:
        """Points waiting."""
        return self._points

    def append(self, body: bytes, points: int) -> None:
        """Add a batch at the end of the queue."""
        self._db.execute(
            "INSERT INTO spool (created_ms, points, body) VALUES (?, ?, ?)",
            (int(time.time() * 1000), points, zlib.compress(body, 1)),
        )
        self._batches += 1
        self._points += points

    def oldest(self) -> SpooledBatch | None:
        """The batch at the head of the queue, or None when the spool is empty."""
        row = self._db.execute("SELECT id, body, points FROM spool ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        return SpooledBatch(int(row[0]), zlib.decompress(row[1]), int(row[2]))

    def remove(self, batch: SpooledBatch) -> None:
        """Drop a batch once it is written."""
        self._db.execute("DELETE FROM spool WHERE id = ?", (batch.id,))
        self._batches -= 1
        self._points -= batch.points

    def close(self) -> None:
        """Close the file; waiting batches stay for the next start."""
        self._db.close()
