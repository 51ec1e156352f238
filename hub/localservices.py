"""Local Mosquitto and InfluxDB servers in a folder of their own, on free loopback ports, with
their own config files (never the system services). Used by `ews demo`, the test fixtures and the
benchmarks, so the three start the services the same way."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

#: Mosquitto's default of 1,000 queued messages per client silently drops messages when a
#: subscriber falls behind after an outage; these limits hold hours of a site's readings.
MOSQUITTO_QUEUE_LIMITS = """\
max_queued_messages 1000000
max_queued_bytes 1073741824
max_inflight_messages 1000
"""


class ServiceError(RuntimeError):
    """A local service could not be found or started; the message says what to install or read."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def find_program(name: str, package: str) -> str:
    """Path of a server program, also in the sbin folders a non-root PATH lacks."""
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/local/sbin") / name) if p.exists()), None
    )
    if found is None:
        raise ServiceError(f"{name} not found: install Debian's '{package}' package (apt-get install {package})")
    return found


class _Service:
    name = "service"

    def __init__(self, folder: Path, port: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log_path = self.folder / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the server and wait until it answers."""
        command = self._command()
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServiceError(f"{self.name} exited with {self._process.returncode}; see {self.log_path}:\n"
                                   + self.log_path.read_text(errors="replace")[-2000:])
            if self._ready():
                return
            time.sleep(0.05)
        self.stop()
        raise ServiceError(f"{self.name} did not answer on port {self.port} within {timeout_s} s; see {self.log_path}")

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for it to exit."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout_s)
        self._process = None


class LocalMosquitto(_Service):
    """Mosquitto on 127.0.0.1 with persistence in its folder and queue limits that lose nothing."""

    name = "mosquitto"

    def _command(self) -> list[str]:
        program = find_program("mosquitto", "mosquitto")
        config = self.folder / "mosquitto.conf"
        (self.folder / "data").mkdir(exist_ok=True)
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {self.folder / 'data'}/\n"
            "autosave_interval 60\n"
            "set_tcp_nodelay true\n"
            + MOSQUITTO_QUEUE_LIMITS
            + "log_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n"
        )
        return [program, "-c", str(config)]

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False


class LocalInfluxd(_Service):
    """InfluxDB 1.x (`influxd`) on 127.0.0.1 with its data in its folder; restartable on the same
    port and data, for tests of outages."""

    name = "influxd"

    def __init__(self, folder: Path, port: int | None = None):
        super().__init__(folder, port)
        self.rpc_port = free_port()

    @property
    def url(self) -> str:
        """Base URL of its HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        program = find_program("influxd", "influxdb")
        config = self.folder / "influxdb.conf"
        config.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.folder / 'meta'}"
[data]
  dir = "{self.folder / 'data'}"
  wal-dir = "{self.folder / 'wal'}"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[continuous_queries]
  log-enabled = false
[logging]
  level = "warn"
"""
        )
        return [program, "-config", str(config)]

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=0.5) as response:
                return response.status in (200, 204)
        except (urllib.error.URLError, OSError):
            return False


def reap_on_exit(services: list[_Service]) -> None:
    """Stop services, newest first; used in `finally` blocks."""
    for service in reversed(services):
        service.stop()


__all__ = ["LocalInfluxd", "LocalMosquitto", "ServiceError", "free_port", "reap_on_exit"]
