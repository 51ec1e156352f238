"""The InfluxDB side of the hub: its config, a small client for the v1 HTTP API (`/write` with line
protocol, `/query` with InfluxQL; served natively by 1.x and through the compatibility endpoints
of 2.x and 3 Core) and the writer that batches, retries with backoff, spools to disk while the
database is unreachable, and isolates points that the database refuses."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode, urlsplit

import orjson
import urllib3
from pydantic import Field, field_validator

from hub.configbase import EnvName, StrictModel, read_secret
from hub.retry import Backoff, BackoffConfig
from hub.spool import Spool

logger = logging.getLogger(__name__)


class RetentionConfig(StrictModel):
    """The retention policy `ews influx init` creates and makes the database's default."""

    name: str = Field("ews_2y", pattern=r"^[A-Za-z0-9_]+$", description="Name of the retention policy.")
    duration: str = Field(
        "104w", pattern=r"^(INF|\d+[hdw])$", description="How long points are kept: e.g. 104w, 730d, INF."
    )


class InfluxConfig(StrictModel):
    """Where and how readings are stored."""

    url: str = Field("http://127.0.0.1:8086", description="Base URL of the InfluxDB HTTP API.")
    database: str = Field("ews", pattern=r"^[A-Za-z0-9_.-]+$", description="Database (bucket for 2.x/3 via DBRP).")
    retention_policy: str | None = Field(None, description="Retention policy to write into; the default when unset.")
    username: str | None = Field(None, description="User name for 1.x authentication.")
    password_env: EnvName | None = Field(None, description="Environment variable holding the 1.x password.")
    token_env: EnvName | None = Field(None, description="Environment variable holding a 2.x/3.x API token.")
    batch_size: int = Field(5000, ge=1, le=100000, description="Points per write request.")
    flush_interval_s: float = Field(1.0, gt=0, le=60, description="Longest time a point waits before it is sent.")
    max_buffer_points: int = Field(
        50000, ge=1, description="Points held in memory; past this, producers wait while the writer spools."
    )
    timeout_s: float = Field(10.0, gt=0, description="Timeout of one HTTP request, in seconds.")
    gzip: bool = Field(False, description="Compress write bodies (worth it over slow links, not on loopback).")
    create_database: bool = Field(
        True, description="Create the database at start if missing (1.x only; like Telegraf's default)."
    )
    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="Used by `ews influx init`.")
    retry: BackoffConfig = Field(default_factory=BackoffConfig, description="Backoff between failed writes.")

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL with a host")
        return url.rstrip("/")


class InfluxError(Exception):
    """A request to InfluxDB failed. `transient` says whether trying again later can help."""

    def __init__(self, message: str, status: int | None, transient: bool):
        super().__init__(message)
        self.status = status
        self.transient = transient


WriteOutcome = Literal["ok", "refused", "too_large"]


class InfluxClient:
    """Requests to the v1 HTTP API over one keep-alive connection pool."""

    def __init__(self, config: InfluxConfig, pool_size: int = 2):
        self.config = config
        self._pool = urllib3.PoolManager(num_pools=1, maxsize=pool_size, retries=False)
        self._headers: dict[str, str] = {}
        token = read_secret(config.token_env, "influx.token_env")
        password = read_secret(config.password_env, "influx.password_env")
        if token is not None:
            self._headers["Authorization"] = f"Token {token}"
        elif config.username is not None:
            self._headers.update(urllib3.make_headers(basic_auth=f"{config.username}:{password or ''}"))
        write_params = {"db": config.database, "precision": "ms"}
        if config.retention_policy:
            write_params["rp"] = config.retention_policy
        self._write_url = f"{config.url}/write?{urlencode(write_params)}"
        self._timeout = urllib3.Timeout(connect=min(config.timeout_s, 5.0), read=config.timeout_s)

    def ping(self) -> bool:
        """True when the server answers /ping."""
        try:
            response = self._pool.request("GET", f"{self.config.url}/ping", timeout=self._timeout, headers=self._headers)
        except urllib3.exceptions.HTTPError:
            return False
        return response.status in (200, 204)

    def write(self, body: bytes) -> tuple[WriteOutcome, str]:
        """POST line protocol. Returns ('ok', ''), ('refused', reason) for a 400/422 about the points,
        or ('too_large', reason) for 413; raises InfluxError for anything else."""
        headers = dict(self._headers, **{"Content-Type": "text/plain; charset=utf-8"})
        if self.config.gzip:
            import gzip

            body = gzip.compress(body, 1)
            headers["Content-Encoding"] = "gzip"
        try:
            response = self._pool.request("POST", self._write_url, body=body, headers=headers, timeout=self._timeout)
        except urllib3.exceptions.HTTPError as error:
            raise InfluxError(f"cannot reach InfluxDB at {self.config.url}: {error}", None, True) from None
        status = response.status
        if 200 <= status < 300:
            return "ok", ""
        reason = _error_text(response.data)
        if status in (400, 422):
            return "refused", reason
        if status == 413:
            return "too_large", reason
        if status == 404:
            raise InfluxError(f"database {self.config.database!r} not found ({reason}); run `ews influx init`", 404, True)
        if status in (401, 403):
            raise InfluxError(f"InfluxDB refused the credentials ({status}: {reason})", status, True)
        raise InfluxError(f"InfluxDB answered {status}: {reason}", status, True)

    def query(self, statement: str, *, database: str | None = None, method: str = "GET") -> list[dict]:
        """Run InfluxQL; returns the `results` list. Raises InfluxError on any failure or error in
        the results, so a mistyped query is never read as 'no data'."""
        params = {"q": statement, "epoch": "ms"}
        if database is not None:
            params["db"] = database
        try:
            if method == "GET":
                response = self._pool.request(
                    "GET", f"{self.config.url}/query?{urlencode(params)}", headers=self._headers, timeout=self._timeout
                )
            else:
                response = self._pool.request(
                    "POST", f"{self.config.url}/query", fields=params, encode_multipart=False,
                    headers=self._headers, timeout=self._timeout,
                )
        except urllib3.exceptions.HTTPError as error:
            raise InfluxError(f"cannot reach InfluxDB at {self.config.url}: {error}", None, True) from None
        if response.status != 200:
            raise InfluxError(f"query failed ({response.status}): {_error_text(response.data)}", response.status,
                              response.status >= 500)
        results = orjson.loads(response.data).get("results", [])
        for result in results:
            if "error" in result:
                raise InfluxError(f"query error: {result['error']}", 200, False)
        return results

    def create_database(self) -> None:
        """CREATE DATABASE (idempotent in InfluxDB)."""
        self.query(f'CREATE DATABASE "{self.config.database}"', method="POST")

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.clear()


def _error_text(data: bytes) -> str:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data[:300].decode("utf-8", "replace").strip()
    if isinstance(document, dict):
        return str(document.get("error") or document.get("message") or document)[:300]
    return str(document)[:300]


@dataclass
class WriterStats:
    """Counters of the writer since start, read by the self-metrics task."""

    points_written: int = 0
    batches_written: int = 0
    points_spooled: int = 0
    points_refused: int = 0
    write_failures: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def take_latencies(self) -> list[float]:
        """The write latencies since the last call (for p50/max per metrics interval)."""
        taken, self.latencies_ms = self.latencies_ms, []
        return taken


_BATCH_LEVEL_ERRORS = ("retention policy not found", "database not found", "authorization", "unauthorized")


def _is_batch_level(reason: str) -> bool:
    lowered = reason.lower()
    return any(text in lowered for text in _BATCH_LEVEL_ERRORS)


RefusedSink = Callable[[str, str], None]
"""Receives a line that InfluxDB refused and the server's reason (the dead-letter store)."""


class InfluxWriter:
    """Sends lines to InfluxDB from its own thread.

    Producers call `add`, which only appends to a bounded buffer (and waits when the buffer is
    full, which is back-pressure, never loss). The thread sends a batch when `batch_size` lines are
    waiting or the oldest has waited `flush_interval_s`. When a send fails transiently the batch
    goes to the spool; while anything is spooled, newer batches are spooled behind it and the
    spool is replayed oldest first, so points reach InfluxDB in the order they arrived. A batch
    the server refuses (400) is split in halves until the refused lines are found; those go to
    `on_refused` and the rest is written."""

    def __init__(
        self,
        config: InfluxConfig,
        client: InfluxClient,
        spool: Spool,
        on_refused: RefusedSink,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self.stats = WriterStats()
        self._client = client
        self._spool = spool
        self._on_refused = on_refused
        self._monotonic = monotonic
        self._buffer: list[str] = []
        self._buffer_since = 0.0
        self._condition = threading.Condition(threading.Lock())
        self._stopping = False
        self._backoff = Backoff(config.retry)
        self._next_attempt = 0.0
        self._down_since: float | None = None
        self._thread = threading.Thread(target=self._run, name="influx-writer", daemon=True)

    @property
    def spool(self) -> Spool:
        """The writer's spool (read its depth from the metrics task)."""
        return self._spool

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def add(self, line: str) -> None:
        """Queue one line of line protocol. Thread-safe; waits only while the buffer is full."""
        with self._condition:
            while len(self._buffer) >= self.config.max_buffer_points and not self._stopping:
                self._condition.notify_all()
                self._condition.wait(0.5)
            self._buffer.append(line)
            size = len(self._buffer)
            if size == 1:
                # The writer sleeps without a deadline while the buffer is empty: start the clock.
                self._buffer_since = self._monotonic()
                self._condition.notify_all()
            elif size == self.config.batch_size:
                self._condition.notify_all()

    def add_many(self, lines: Sequence[str]) -> None:
        """Queue several lines."""
        for line in lines:
            self.add(line)

    @property
    def reachable(self) -> bool:
        """False while InfluxDB is failing (since the last failed write, until one succeeds)."""
        return self._down_since is None

    @property
    def running(self) -> bool:
        """The writer's thread is alive."""
        return self._thread.is_alive()

    def pending(self) -> int:
        """Lines in memory not yet sent or spooled."""
        with self._condition:
            return len(self._buffer)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Send or spool everything buffered, then end the thread. Spooled batches stay on disk
        for the next start if InfluxDB is unreachable now."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._client.close()

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch, stopping = self._next_batch()
            if batch:
                self._deliver(batch)
            if self._spool.batches and self._monotonic() >= self._next_attempt:
                self._replay_one()
            if stopping and not batch and not self.pending():
                if self._spool.batches and self._down_since is None:
                    # InfluxDB is up: finish the replay before leaving, within the stop timeout.
                    continue
                return

    def _next_batch(self) -> tuple[list[str], bool]:
        with self._condition:
            while True:
                size = len(self._buffer)
                if self._stopping:
                    break
                if size >= self.config.batch_size:
                    break
                now = self._monotonic()
                if size and now - self._buffer_since >= self.config.flush_interval_s:
                    break
                if self._spool.batches and now >= self._next_attempt:
                    break
                deadlines = []
                if size:
                    deadlines.append(self._buffer_since + self.config.flush_interval_s - now)
                if self._spool.batches:
                    deadlines.append(self._next_attempt - now)
                self._condition.wait(max(0.001, min(deadlines)) if deadlines else None)
            batch = self._buffer[: self.config.batch_size]
            del self._buffer[: self.config.batch_size]
            if self._buffer:
                self._buffer_since = self._monotonic()
            self._condition.notify_all()
            return batch, self._stopping

    def _deliver(self, batch: list[str]) -> None:
        body = "\n".join(batch).encode()
        if self._spool.batches:
            self._to_spool(body, len(batch))
            return
        try:
            self._send(body, len(batch))
        except InfluxError as error:
            self._went_down(error)
            self._to_spool(body, len(batch))

    def _replay_one(self) -> None:
        spooled = self._spool.oldest()
        if spooled is None:
            return
        try:
            self._send(spooled.body, spooled.points)
        except InfluxError as error:
            self._went_down(error)
            return
        self._spool.remove(spooled)
        if not self._spool.batches:
            logger.info("InfluxDB spool replayed; writing directly again")

    def _to_spool(self, body: bytes, points: int) -> None:
        self._spool.append(body, points)
        self.stats.points_spooled += points

    def _send(self, body: bytes, points: int) -> None:
        """Write a body, isolating refused lines; raises InfluxError when InfluxDB is unavailable."""
        started = self._monotonic()
        outcome, reason = self._client.write(body)
        if outcome == "ok":
            self.stats.latencies_ms.append((self._monotonic() - started) * 1000)
            self.stats.points_written += points
            self.stats.batches_written += 1
        elif _is_batch_level(reason):
            # Not a bad point: every line would be refused alike. Keep them and retry later.
            raise InfluxError(f"InfluxDB refused the write: {reason}", 400, True)
        else:
            self._isolate(body.split(b"\n"), outcome, reason)
        self._came_back()

    def _isolate(self, lines: list[bytes], outcome: WriteOutcome, reason: str) -> None:
        """Bisect a refused body: halves that are accepted are written, single refused lines are
        handed to `on_refused`. Re-sending lines InfluxDB 1.x already wrote in a partial write is
        harmless, since a point with the same series and time overwrites itself."""
        if len(lines) == 1:
            self.stats.points_refused += 1
            self._on_refused(lines[0].decode("utf-8", "replace"), f"{outcome}: {reason}")
            return
        middle = len(lines) // 2
        for half in (lines[:middle], lines[middle:]):
            half_outcome, half_reason = self._client.write(b"\n".join(half))
            if half_outcome == "ok":
                self.stats.points_written += len(half)
            else:
                self._isolate(half, half_outcome, half_reason)

    def _went_down(self, error: InfluxError) -> None:
        self.stats.write_failures += 1
        now = self._monotonic()
        if self._down_since is None:
            self._down_since = now
            logger.error("InfluxDB write failed, spooling to %s until it returns: %s", self._spool.path, error)
        self._next_attempt = now + self._backoff.next_delay_s()

    def _came_back(self) -> None:
        if self._down_since is not None:
            logger.info(
                "InfluxDB is writable again after %.0f s; %d batches to replay",
                self._monotonic() - self._down_since,
                self._spool.batches,
            )
            self._down_since = None
        self._backoff.reset()
        self._next_attempt = 0.0
