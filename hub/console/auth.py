"""Console sessions and the login limiter. A session is a random token in an HttpOnly,
SameSite=Strict cookie with an expiry; each session carries its own CSRF token, which the page
sends back in the `X-CSRF-Token` header of every state-changing request (the synchroniser-token
pattern of OWASP's CSRF cheat sheet). Sessions live in memory: a hub restart logs everyone out,
which is acceptable for a control room and keeps tokens off the disk."""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from hub.console.users import User


@dataclass(frozen=True, slots=True)
class Session:
    """One login."""

    token: str
    user: User
    csrf: str
    expires_s: float


class Sessions:
    """Tokens → sessions, with expiry on a monotonic clock."""

    def __init__(self, ttl_s: float, clock_s: Callable[[], float] = time.monotonic):
        self._ttl_s = ttl_s
        self._clock_s = clock_s
        self._sessions: dict[str, Session] = {}

    def create(self, user: User) -> Session:
        """A new session for `user`."""
        self._expire()
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), self._clock_s() + self._ttl_s)
        self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of `token`, or None (unknown or expired)."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None or session.expires_s <= self._clock_s():
            self._sessions.pop(token, None)
            return None
        return session

    def end(self, token: str) -> None:
        """Log out."""
        self._sessions.pop(token, None)

    def end_user(self, name: str) -> None:
        """End every session of a user (removed or changed)."""
        for token in [t for t, s in self._sessions.items() if s.user.name == name]:
            del self._sessions[token]

    def _expire(self) -> None:
        now = self._clock_s()
        for token in [t for t, s in self._sessions.items() if s.expires_s <= now]:
            del self._sessions[token]


class LoginLimiter:
    """At most `attempts` failed logins per key (a user name, an address) within `window_s`."""

    def __init__(self, attempts: int, window_s: float, clock_s: Callable[[], float] = time.monotonic):
        self._attempts = attempts
        self._window_s = window_s
        self._clock_s = clock_s
        self._failures: dict[str, deque[float]] = {}

    def retry_after_s(self, *keys: str) -> float:
        """Seconds until a login for these keys is allowed again; 0 = now."""
        now = self._clock_s()
        wait = 0.0
        for key in keys:
            failures = self._failures.get(key)
            if failures is None:
                continue
            while failures and failures[0] <= now - self._window_s:
                failures.popleft()
            if len(failures) >= self._attempts:
                wait = max(wait, failures[0] + self._window_s - now)
            if not failures:
                del self._failures[key]
        return wait

    def failed(self, *keys: str) -> None:
        """Count a failed login against each key."""
        now = self._clock_s()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, *keys: str) -> None:
        """A good login clears the failures of its user name."""
        for key in keys:
            self._failures.pop(key, None)
