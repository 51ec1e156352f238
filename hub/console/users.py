"""Console users in SQLite (`console.sqlite` in the hub's data folder), with argon2id password
hashes (argon2-cffi, RFC 9106 parameters), and the console's audit trail: who did what, when,
from where. Roles: viewer (reads), operator (acknowledges, silences), admin (manages users)."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
DATABASE_NAME = "console.sqlite"
USER_NAME_PATTERN = r"^[\w.@-]{1,64}$"


def role_allows(role: str, needed: Role) -> bool:
    """Whether `role` includes the rights of `needed` (admin ⊃ operator ⊃ viewer)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)  # type: ignore[arg-type]


class UserError(ValueError):
    """A user could not be added or changed (unknown role, duplicate, short password)."""


@dataclass(frozen=True, slots=True)
class User:
    """A console user (never carries the hash out of the store)."""

    name: str
    role: Role


class UserStore:
    """Users and the console's audit trail. Safe to use from several threads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS user (
                name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL, actor TEXT NOT NULL,
                action TEXT NOT NULL, detail TEXT NOT NULL, remote TEXT NOT NULL);
            """
        )
        self._hasher = PasswordHasher()
        # Verifying an unknown name costs as much as a known one: no timing oracle for names.
        self._dummy_hash = self._hasher.hash("not a password of anyone")

    def add(self, name: str, role: str, password: str) -> User:
        """Add a user; the password is stored as an argon2id hash."""
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        if len(password) < 10:
            raise UserError("a password needs at least 10 characters")
        try:
            with self._lock:
                self._db.execute("INSERT INTO user (name, role, password_hash) VALUES (?, ?, ?)",
                                 (name, role, self._hasher.hash(password)))
        except sqlite3.IntegrityError:
            raise UserError(f"user {name!r} exists") from None
        return User(name, role)  # type: ignore[arg-type]

    def remove(self, name: str) -> bool:
        """Remove a user; False when there was none."""
        with self._lock:
            return self._db.execute("DELETE FROM user WHERE name = ?", (name,)).rowcount > 0

    def list(self) -> list[User]:
        """All users by name."""
        with self._lock:
            rows = self._db.execute("SELECT name, role FROM user ORDER BY name").fetchall()
        return [User(row[0], row[1]) for row in rows]

    def verify(self, name: str, password: str) -> User | None:
        """The user when `password` is theirs, else None."""
        with self._lock:
            row = self._db.execute("SELECT role, password_hash FROM user WHERE name = ?", (name,)).fetchone()
        try:
            self._hasher.verify(row[1] if row else self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return User(name, row[0]) if row else None

    def audit(self, ts_ms: int, actor: str, action: str, detail: dict[str, Any], remote: str) -> None:
        """Record one action."""
        with self._lock:
            self._db.execute("INSERT INTO audit (ts_ms, actor, action, detail, remote) VALUES (?, ?, ?, ?, ?)",
                             (ts_ms, actor, action, json.dumps(detail, ensure_ascii=False), remote))

    def audit_trail(self, limit: int = 100) -> list[dict[str, Any]]:
        """Actions, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT ts_ms, actor, action, detail, remote FROM audit ORDER BY id DESC LIMIT ?",
                                    (limit,)).fetchall()
        return [{"ts_ms": r[0], "actor": r[1], "action": r[2], "detail": json.loads(r[3]), "remote": r[4]}
                for r in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
