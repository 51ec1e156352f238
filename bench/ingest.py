"""Sustained MQTT → InfluxDB ingest rate of the hub, against the two limits it is up against,
measured in the same run on the same local Mosquitto and InfluxDB:

* a bare paho-mqtt subscriber that only counts the messages of the same publisher at the same QoS
  (the most any Python subscriber on one paho client can receive), and
* a bare line-protocol writer posting the same points to the same InfluxDB in batches of 5,000
  (the most the database takes over one connection).

The publisher (`bench.publisher`) is a separate process that pushes pre-encoded packets as fast as
the broker takes them, so the receive side is the limit. A rate is messages (or points) divided by
the time from the first packet sent until the last message was received (bare subscriber) or until
InfluxDB acknowledged the write of the last point (hub); a count query then confirms that every
reading is stored, and the run fails if one is missing."""

from __future__ import annotations

import cProfile
import io
import os
import platform
import pstats
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import urllib3
from paho.mqtt.enums import CallbackAPIVersion

from bench import BenchResult, Row
from bench.publisher import reading_points, sensor_ids
from hub.app import HubThread
from hub.config import parse_config
from hub.influx import InfluxClient, InfluxConfig
from hub.localservices import LocalInfluxd, LocalMosquitto, find_program, reap_on_exit

#: The hub must sustain at least this share of the bare subscriber's rate at the same QoS.
TARGET_RATIO = 0.70
WRITER_BATCH_POINTS = 5000
#: A run with no progress for this long is declared stalled (lost messages, a hung writer).
STALL_S = 20.0
POLL_S = 0.02
REPOSITORY = Path(__file__).resolve().parent.parent
#: Hub threads whose CPU time is reported (and profiled with --profile).
HUB_THREADS = ("mqtt-link", "influx-writer", "hub")


class BenchError(RuntimeError):
    """The benchmark could not run (a service or the publisher failed)."""


@dataclass(frozen=True)
class IngestSettings:
    """What to measure and how much."""

    messages: int = 200_000
    sensors: int = 100
    #: MQTT protocol of the main comparison: the hub's default (`mqtt.protocol`).
    protocol: str = "3.1.1"
    #: Also run the hub and the bare subscriber with this protocol (None: skip).
    other_protocol: str | None = "5"
    #: Times each QoS 1 pair (bare subscriber, hub) is measured; the figures are medians.
    repeats: int = 3
    writer_repeats: int = 3
    profile: bool = False
    results_folder: Path = REPOSITORY / "bench" / "results"


def _progress(message: str, *args: object) -> None:
    print("  " + (message % args if args else message), file=sys.stderr, flush=True)


# -- CPU accounting ------------------------------------------------------------------------------

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, thread_id: int | None = None) -> float | None:
    """User + system CPU time of a process or one of its threads, from /proc (Linux)."""
    path = f"/proc/{pid}/task/{thread_id}/stat" if thread_id else f"/proc/{pid}/stat"
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


class CpuMeter:
    """CPU seconds used by named processes and threads between `start` and `stop`."""

    def __init__(self, targets: dict[str, tuple[int, int | None]]):
        self._targets = targets
        self._before: dict[str, float | None] = {}
        self.used_s: dict[str, float] = {}

    @classmethod
    def for_run(cls, services: dict[str, Any], thread_names: tuple[str, ...]) -> CpuMeter:
        targets: dict[str, tuple[int, int | None]] = {}
        for name, service in services.items():
            process = getattr(service, "_process", None)  # LocalMosquitto/LocalInfluxd keep it private
            if process is not None:
                targets[name] = (process.pid, None)
        for thread in threading.enumerate():
            if thread.name in thread_names and thread.native_id is not None:
                targets[f"thread {thread.name}"] = (os.getpid(), thread.native_id)
        return cls(targets)

    def start(self) -> None:
        self._before = {name: cpu_seconds(*target) for name, target in self._targets.items()}

    def stop(self) -> None:
        for name, target in self._targets.items():
            before, after = self._before.get(name), cpu_seconds(*target)
            if before is not None and after is not None:
                self.used_s[name] = round(after - before, 2)


def _busy_and_total_s() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICKS_PER_S, sum(fields[:8]) / _TICKS_PER_S


def _own_cpu_s() -> float:
    """CPU seconds of this process and its waited-for children (servers, publishers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class OtherLoad:
    """CPU the rest of the machine used while the benchmark ran: noise to report, not to hide."""

    def __init__(self) -> None:
        self._busy, self._total = _busy_and_total_s()
        self._own = _own_cpu_s()
        self.other_cpu_s = 0.0
        self.share_of_machine = 0.0

    def stop(self) -> None:
        busy, total = _busy_and_total_s()
        self.other_cpu_s = max(0.0, (busy - self._busy) - (_own_cpu_s() - self._own))
        self.share_of_machine = self.other_cpu_s / max(total - self._total, 1e-9)

    def summary(self) -> dict[str, float]:
        return {"cpu_s": round(self.other_cpu_s, 1), "share_of_machine": round(self.share_of_machine, 3)}


def _cpu_summary(used_s: dict[str, float], elapsed_s: float) -> str:
    """Share of one core each process or thread used; the idle ones (below 1%) left out."""
    shares = {name: seconds / elapsed_s for name, seconds in used_s.items()}
    return ", ".join(f"{name} {share:.0%}" for name, share in shares.items() if share >= 0.01) or "-"


# -- the publisher process -----------------------------------------------------------------------


class Publisher:
    """`bench.publisher` in a child process: encodes at creation, publishes on `go`."""

    def __init__(self, port: int, topic_root: str, settings: IngestSettings, qos: int, newest_ms: int):
        command = [
            sys.executable, "-m", "bench.publisher", "--port", str(port), "--topic-root", topic_root,
            "--sensors", str(settings.sensors), "--messages", str(settings.messages), "--qos", str(qos),
            "--newest-ms", str(newest_ms),
        ]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPOSITORY
        )
        assert self._process.stdout is not None and self._process.stdin is not None
        line = self._process.stdout.readline().strip()
        if line != "ready":
            self.close()
            raise BenchError(f"publisher did not start (said {line!r}; exit code {self._process.returncode})")

    def go(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write("go\n")
        self._process.stdin.flush()

    def result(self) -> dict[str, Any]:
        """The publisher's report (blocks until it is done; it gives up on its own after 120 s)."""
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        self._process.wait(30)
        if not line:
            raise BenchError(f"publisher ended without a report (exit code {self._process.returncode})")
        report = orjson.loads(line)
        if report["error"]:
            raise BenchError(f"publisher: {report['error']}")
        return report

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)


@contextmanager
def publisher_for(port: int, topic_root: str, settings: IngestSettings, qos: int, newest_ms: int) -> Iterator[Publisher]:
    publisher = Publisher(port, topic_root, settings, qos, newest_ms)
    try:
        yield publisher
    finally:
        publisher.close()


def _publisher_figures(report: dict[str, Any]) -> dict[str, Any]:
    elapsed = report["broker_done_at"] - report["first_sent_at"]
    return {
        "broker_accepted_msgs_per_s": round(report["messages"] / elapsed),
        "send_s": round(report["last_sent_at"] - report["first_sent_at"], 3),
        "broker_done_s": round(elapsed, 3),
        "bytes": report["bytes"],
        "cpu_s": round(report["cpu_s"], 2),
    }


# -- measurements --------------------------------------------------------------------------------


def _paho_protocol(protocol: str) -> int:
    return mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311


def measure_bare_subscriber(
    broker: LocalMosquitto, settings: IngestSettings, qos: int, protocol: str, site: str, newest_ms: int,
    quiet: bool = False,
) -> dict[str, Any]:
    """A paho 2.x client whose on_message only counts, on the hub's topic filter."""
    topic_root = f"ews/{site}"
    expected = settings.messages
    received = 0
    all_received_at = 0.0
    finished = threading.Event()
    subscribed = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        nonlocal received, all_received_at
        received += 1
        if received == expected:
            all_received_at = time.monotonic()
            finished.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bare-{site}", protocol=_paho_protocol(protocol))
    client.on_message = on_message
    client.on_connect = lambda client, userdata, flags, code, properties: client.subscribe(
        f"{topic_root}/reading/+/+", qos
    )
    client.on_subscribe = lambda *args: subscribed.set()
    with publisher_for(broker.port, topic_root, settings, qos, newest_ms) as publisher:
        client.connect("127.0.0.1", broker.port)
        thread = threading.Thread(target=client.loop_forever, name="bare-subscriber", daemon=True)
        thread.start()
        try:
            if not subscribed.wait(10):
                raise BenchError("bare subscriber did not subscribe")
            cpu = CpuMeter.for_run({"mosquitto": broker}, ("bare-subscriber", "MainThread"))
            cpu.start()
            publisher.go()
            last_count, last_progress_at = 0, time.monotonic()
            while not finished.wait(POLL_S):
                if received != last_count:
                    last_count, last_progress_at = received, time.monotonic()
                elif time.monotonic() - last_progress_at > (2.0 if qos == 0 else STALL_S):
                    break  # at QoS 0 the broker may drop messages; the count says how many
            cpu.stop()
            report = publisher.result()
        finally:
            client.disconnect()
            thread.join(10)
    end = all_received_at if finished.is_set() else last_progress_at
    elapsed = end - report["first_sent_at"]
    rate = received / elapsed
    if not quiet:
        _progress("bare subscriber, QoS %d, MQTT %s: %s msg/s (%d of %d received in %.2f s; CPU %s)", qos, protocol,
                  f"{rate:,.0f}", received, expected, elapsed, _cpu_summary(cpu.used_s, elapsed))
    return {
        "qos": qos,
        "protocol": protocol,
        "messages_published": expected,
        "messages_received": received,
        "elapsed_s": round(elapsed, 3),
        "msgs_per_s": round(rate),
        "cpu_s": cpu.used_s,
        "publisher": _publisher_figures(report),
    }


def prepare_database(url: str, database: str, newest_ms: int) -> InfluxClient:
    """Create the database and write one point of another measurement at the benchmark's time, so
    that creating the database and its shard is not timed (alike for the hub and the bare writer)."""
    client = InfluxClient(InfluxConfig(url=url, database=database))
    client.create_database()
    outcome, reason = client.write(b"bench_warmup value=1 %d" % newest_ms)
    if outcome != "ok":
        raise BenchError(f"warm-up write to {database} failed: {outcome} {reason}")
    return client


def count_readings(client: InfluxClient) -> int:
    """Points of the `river` measurement in the client's database."""
    results = client.query('SELECT count("level_cm") FROM "river"', database=client.config.database)
    series = results[0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def measure_bare_writer(influxd: LocalInfluxd, settings: IngestSettings, site: str, newest_ms: int, run: int) -> dict[str, Any]:
    """POST the points the hub writes, encoded beforehand, in batches of 5,000 over one connection."""
    database = f"bench_writer_{run}"
    client = prepare_database(influxd.url, database, newest_ms)
    ids = sensor_ids(settings.sensors)
    lines = [
        f"river,area=centre,sensor={ids[sensor]},site={site} level_cm={level_cm!r} {ts_ms}"
        for sensor, ts_ms, level_cm in reading_points(settings.sensors, settings.messages, newest_ms)
    ]
    bodies = [
        "\n".join(lines[start : start + WRITER_BATCH_POINTS]).encode()
        for start in range(0, len(lines), WRITER_BATCH_POINTS)
    ]
    pool = urllib3.HTTPConnectionPool("127.0.0.1", influxd.port, maxsize=1, retries=False)
    path = f"/write?db={database}&precision=ms"
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    cpu = CpuMeter.for_run({"influxd": influxd}, ())
    cpu.start()
    started = time.monotonic()
    for body in bodies:
        response = pool.urlopen("POST", path, body=body, headers=headers)
        if response.status != 204:
            raise BenchError(f"bare writer: InfluxDB answered {response.status}: {response.data[:300]!r}")
    elapsed = time.monotonic() - started
    cpu.stop()
    pool.close()
    stored = count_readings(client)
    client.close()
    rate = len(lines) / elapsed
    _progress("bare writer, run %d: %s points/s (%d points in %.3f s; %d stored; CPU %s)", run, f"{rate:,.0f}",
              len(lines), elapsed, stored, _cpu_summary(cpu.used_s, elapsed))
    return {"points": len(lines), "stored": stored, "elapsed_s": round(elapsed, 4), "points_per_s": round(rate),
            "cpu_s": cpu.used_s}


def hub_config_yaml(site: str, settings: IngestSettings, protocol: str, mqtt_port: int, influx_url: str) -> str:
    """The benchmark site: the hub's defaults except the self-metrics period, made long so that only
    readings go through the writer while it is timed."""
    sensors = "\n".join(
        f"  - {{id: {sensor}, kind: river, area: centre, location: {{lat: 42.6191, lon: 25.3930}}}}"
        for sensor in sensor_ids(settings.sensors)
    )
    return f"""
site: {{id: {site}, name: Benchmark {site}}}
hub: {{metrics_interval_s: 3600}}
mqtt: {{host: 127.0.0.1, port: {mqtt_port}, protocol: "{protocol}"}}
influx: {{url: "{influx_url}", database: bench_{site}}}
areas:
  - {{id: centre, name: Център, type: neighbourhood}}
sensors:
{sensors}
"""


class ThreadProfiler:
    """cProfile of chosen threads started while `active`: each gets its own profiler, enabled from
    the first profile event of the thread (cProfile only ever profiles the thread enabling it).
    Timed by the wall clock (a CPU-clock timer slows the hub sevenfold instead of about 2.5-fold),
    so waiting in `select` and on locks shows as time spent in those calls."""

    def __init__(self, thread_names: tuple[str, ...]):
        self._names = thread_names
        self.profiles: dict[str, cProfile.Profile] = {}

    def _first_event(self, frame: object, event: str, arg: object) -> None:
        name = threading.current_thread().name
        if name in self._names:
            profile = cProfile.Profile()
            self.profiles[name] = profile
            profile.enable()
        else:
            sys.setprofile(None)

    @contextmanager
    def active(self) -> Iterator[None]:
        threading.setprofile(self._first_event)
        try:
            yield
        finally:
            threading.setprofile(None)

    def report(self, folder: Path, stem: str, top: int = 25) -> str:
        """Save each thread's stats as .pstats and return the top functions as text."""
        out = io.StringIO()
        for name, profile in self.profiles.items():
            stats = pstats.Stats(profile, stream=out)
            stats.dump_stats(folder / f"{stem}-{name}.pstats")
            total = sum(entry[2] for entry in stats.stats.values())  # type: ignore[attr-defined]
            out.write(f"\n=== thread {name}: {total:.2f} s wall-clock under cProfile (waits included) ===\n")
            stats.sort_stats("tottime").print_stats(top)
            stats.sort_stats("cumulative").print_stats(top)
        return out.getvalue()


def measure_hub(
    broker: LocalMosquitto, influxd: LocalInfluxd, settings: IngestSettings, protocol: str, site: str,
    newest_ms: int, folder: Path, profiler: ThreadProfiler | None = None,
) -> dict[str, Any]:
    """The whole hub (HubThread) from the publisher's first packet until the last reading is in
    InfluxDB."""
    config = parse_config(hub_config_yaml(site, settings, protocol, broker.port, influxd.url))
    expected = settings.messages
    client = prepare_database(influxd.url, config.influx.database, newest_ms)
    hub = HubThread(config, folder / f"hub-{site}")
    failures: list[str] = []
    with publisher_for(broker.port, config.topic_root, settings, config.mqtt.qos, newest_ms) as publisher:
        if profiler is not None:
            with profiler.active():
                parts = hub.start()
        else:
            parts = hub.start()
        try:
            cpu = CpuMeter.for_run({"mosquitto": broker, "influxd": influxd}, (*HUB_THREADS, "MainThread"))
            cpu.start()
            publisher.go()
            writer, pipeline = parts.writer, parts.pipeline
            last_state, last_progress_at = (-1, -1), time.monotonic()
            while writer.stats.points_written < expected:
                time.sleep(POLL_S)
                state = (pipeline.readings_in, writer.stats.points_written)
                if state != last_state:
                    last_state, last_progress_at = state, time.monotonic()
                elif time.monotonic() - last_progress_at > STALL_S:
                    failures.append(f"hub stalled: {state[0]} readings in, {state[1]} points written of {expected}")
                    break
            written_at = time.monotonic()
            stored = count_readings(client)
            count_query_s = time.monotonic() - written_at
            # InfluxDB 1.x answers a write once the points are queryable; should the count still
            # lag, the run ends when it is complete.
            while stored < expected and not failures and time.monotonic() - written_at < 10.0:
                time.sleep(0.1)
                stored = count_readings(client)
                if stored >= expected:
                    written_at = time.monotonic()
            cpu.stop()
            report = publisher.result()
        finally:
            hub.stop()
    client.close()
    elapsed = written_at - report["first_sent_at"]
    rate = expected / elapsed if not failures else stored / elapsed
    if stored != expected:
        failures.append(f"hub, MQTT {protocol}: {stored} readings in InfluxDB, {expected} published")
    latencies = parts.writer.stats.latencies_ms
    _progress("hub, QoS %d, MQTT %s: %s msg/s (%d stored of %d published in %.2f s; CPU %s)", config.mqtt.qos,
              protocol, f"{rate:,.0f}", stored, expected, elapsed, _cpu_summary(cpu.used_s, elapsed))
    return {
        "qos": config.mqtt.qos,
        "protocol": protocol,
        "messages_published": expected,
        "readings_stored": stored,
        "elapsed_s": round(elapsed, 3),
        "msgs_per_s": round(rate),
        "count_query_s": round(count_query_s, 3),
        "mqtt_messages_received": parts.link.messages_received,
        "handler_errors": parts.link.handler_errors,
        "readings_in": parts.pipeline.readings_in,
        "rejected": dict(parts.pipeline.rejected),
        "points_written": parts.writer.stats.points_written,
        "batches_written": parts.writer.stats.batches_written,
        "points_spooled": parts.writer.stats.points_spooled,
        "write_failures": parts.writer.stats.write_failures,
        "write_latency_ms_median": round(statistics.median(latencies), 1) if latencies else None,
        "cpu_s": cpu.used_s,
        "publisher": _publisher_figures(report),
        "failures": failures,
        "config": {"batch_size": config.influx.batch_size, "flush_interval_s": config.influx.flush_interval_s,
                   "max_buffer_points": config.influx.max_buffer_points},
    }


# -- the entry -----------------------------------------------------------------------------------


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError as error:
        return str(error)
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else ""


def _versions() -> dict[str, str]:
    import paho.mqtt

    return {
        "python": platform.python_version(),
        "paho_mqtt": paho.mqtt.__version__,
        "mosquitto": _first_line([find_program("mosquitto", "mosquitto"), "-h"]),
        "influxd": _first_line([find_program("influxd", "influxdb"), "version"]),
        "cpus": str(os.cpu_count()),
        "machine": platform.machine(),
    }


def _tag(protocol: str) -> str:
    return "5" if protocol == "5" else "3"


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def run(settings: IngestSettings, workdir: Path) -> BenchResult:
    """Start Mosquitto and InfluxDB in `workdir`, run every measurement, and build the rows.

    The QoS 1 pairs (bare subscriber, hub) are measured `repeats` times, interleaved and in
    alternating order so that drift of the machine hits both alike; figures are medians."""
    newest_ms = time.time_ns() // 1_000_000
    broker = LocalMosquitto(workdir / "mosquitto")
    influxd = LocalInfluxd(workdir / "influxd")
    services = [broker, influxd]
    protocols = [settings.protocol] + ([settings.other_protocol] if settings.other_protocol else [])
    bare_q1: dict[str, list[dict[str, Any]]] = {protocol: [] for protocol in protocols}
    hub_runs: dict[str, list[dict[str, Any]]] = {protocol: [] for protocol in protocols}
    bare_q0: dict[str, dict[str, Any]] = {}
    details: dict[str, Any] = {
        "settings": {"messages": settings.messages, "sensors": settings.sensors, "protocol": settings.protocol,
                     "other_protocol": settings.other_protocol, "repeats": settings.repeats,
                     "writer_batch_points": WRITER_BATCH_POINTS, "writer_repeats": settings.writer_repeats,
                     "target_ratio": TARGET_RATIO},
        "versions": _versions(),
    }
    failures: list[str] = []
    notes: list[str] = []
    others = OtherLoad()
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        _progress("the machine is busy (load average %.1f): other work shares the cores, figures will be noisy",
                  load_before)
    try:
        for service in services:
            service.start()
        # Not timed: the broker's first burst also grows its memory; every timed run finds it grown.
        warm_up = IngestSettings(messages=min(settings.messages, 20_000), sensors=settings.sensors)
        measure_bare_subscriber(broker, warm_up, 1, settings.protocol, "warmup", newest_ms, quiet=True)
        for repeat in range(1, settings.repeats + 1):
            for protocol in protocols:
                tag = _tag(protocol)
                pair = [
                    lambda: bare_q1[protocol].append(measure_bare_subscriber(
                        broker, settings, 1, protocol, f"b{tag}q1r{repeat}", newest_ms)),
                    lambda: hub_runs[protocol].append(measure_hub(
                        broker, influxd, settings, protocol, f"h{tag}q1r{repeat}", newest_ms, workdir)),
                ]
                for measure in pair if repeat % 2 else reversed(pair):
                    measure()
        for protocol in protocols:
            bare_q0[protocol] = measure_bare_subscriber(broker, settings, 0, protocol, f"b{_tag(protocol)}q0r1",
                                                        newest_ms)
        writer_runs = [
            measure_bare_writer(influxd, settings, f"h{_tag(settings.protocol)}q1r1", newest_ms, run)
            for run in range(1, settings.writer_repeats + 1)
        ]
        if settings.profile:
            profiler = ThreadProfiler(HUB_THREADS[:2])
            _progress("profiling the hub (MQTT %s; cProfile slows it down, its rate is not a figure)", settings.protocol)
            profiled = measure_hub(broker, influxd, settings, settings.protocol, "profile", newest_ms, workdir, profiler)
            details["hub_profiled"] = profiled
            settings.results_folder.mkdir(parents=True, exist_ok=True)
            text = profiler.report(settings.results_folder, "ingest-profile")
            (settings.results_folder / "ingest-profile.txt").write_text(text)
            notes.append(f"profile of the hub's threads (rate under cProfile: {profiled['msgs_per_s']:,} msg/s; "
                         f"saved in {settings.results_folder}/ingest-profile*):\n{text}")
    finally:
        reap_on_exit(services)
        others.stop()
    if others.share_of_machine > 0.1:
        _progress("other processes used %.0f%% of the machine during the benchmark: figures are noisy",
                  100 * others.share_of_machine)

    for protocol in protocols:
        for hub_run in hub_runs[protocol]:
            failures += hub_run["failures"]
        for bare in bare_q1[protocol]:
            if bare["messages_received"] != bare["messages_published"]:
                failures.append(f"bare subscriber, QoS 1, MQTT {protocol}: received {bare['messages_received']} "
                                f"of {bare['messages_published']}")
    for run_writer in writer_runs:
        if run_writer["stored"] != run_writer["points"]:
            failures.append(f"bare writer: {run_writer['stored']} of {run_writer['points']} points stored")

    summary, rows = _summary_and_rows(settings, protocols, bare_q1, hub_runs, bare_q0, writer_runs)
    details.update({
        "load_average_1min_before": round(load_before, 2),
        "other_processes": others.summary(),
        "summary": summary,
        "rows": [row.as_dict() for row in rows],
        "bare_subscriber_qos1": {f"mqtt{_tag(protocol)}": bare_q1[protocol] for protocol in protocols},
        "hub": {f"mqtt{_tag(protocol)}": hub_runs[protocol] for protocol in protocols},
        "bare_subscriber_qos0": {f"mqtt{_tag(protocol)}": bare_q0[protocol] for protocol in protocols},
        "bare_writer": writer_runs,
    })
    return BenchResult("ingest", rows, details, failures, notes)


def _cpu_us_per_message(runs: list[dict[str, Any]], threads: tuple[str, ...]) -> float:
    return statistics.median(
        1e6 * sum(run["cpu_s"].get(f"thread {name}", 0.0) for name in threads) / run["messages_published"]
        for run in runs
    )


def _summary_and_rows(
    settings: IngestSettings,
    protocols: list[str],
    bare_q1: dict[str, list[dict[str, Any]]],
    hub_runs: dict[str, list[dict[str, Any]]],
    bare_q0: dict[str, dict[str, Any]],
    writer_runs: list[dict[str, Any]],
) -> tuple[dict[str, Any], list[Row]]:
    """Medians over the repeats, as the summary for the JSON and as table rows: the figures with a
    target first, then the database limit, the completeness check, and figures for information."""
    summary: dict[str, Any] = {}
    targets, complete, info = [], [], []
    for protocol in protocols:
        key = f"mqtt{_tag(protocol)}"
        hub_rate, bare_rate = _median(hub_runs[protocol], "msgs_per_s"), _median(bare_q1[protocol], "msgs_per_s")
        pair_ratios = [round(hub["msgs_per_s"] / bare["msgs_per_s"], 3)
                       for hub, bare in zip(hub_runs[protocol], bare_q1[protocol], strict=True)]
        hub_cpu_us = _cpu_us_per_message(hub_runs[protocol], HUB_THREADS)
        bare_cpu_us = _cpu_us_per_message(bare_q1[protocol], ("bare-subscriber",))
        stored = sum(run["readings_stored"] for run in hub_runs[protocol])
        published = sum(run["messages_published"] for run in hub_runs[protocol])
        summary[key] = {
            "hub_msgs_per_s": hub_rate,
            "bare_subscriber_qos1_msgs_per_s": bare_rate,
            "ratio": round(hub_rate / bare_rate, 3),
            "ratio_per_repeat": pair_ratios,
            "hub_cpu_us_per_msg": round(hub_cpu_us, 1),
            "bare_cpu_us_per_msg": round(bare_cpu_us, 1),
            "bare_subscriber_qos0_msgs_per_s": bare_q0[protocol]["msgs_per_s"],
            "readings_stored": stored,
            "messages_published": published,
        }
        _progress("MQTT %s: hub / bare subscriber at QoS 1, per repeat: %s", protocol,
                  ", ".join(f"{ratio:.2f}" for ratio in pair_ratios))
        targets.append(Row(f"hub MQTT→InfluxDB, QoS 1, MQTT {protocol} / bare subscriber", "msg/s",
                           hub_rate, bare_rate, TARGET_RATIO))
        complete.append(Row(f"readings in InfluxDB after the hub runs (MQTT {protocol}) / published", "points",
                            stored, published, 1.0))
        info.append(Row(f"info: CPU per message, hub threads / bare subscriber, MQTT {protocol}", "µs",
                        hub_cpu_us, bare_cpu_us))
    for protocol in protocols:
        info.append(Row(f"info: bare subscriber, QoS 0, MQTT {protocol}", "msg/s", bare_q0[protocol]["msgs_per_s"]))
    info.append(Row("info: publisher, QoS 1, accepted by the broker during the hub runs", "msg/s",
                    statistics.median(run["publisher"]["broker_accepted_msgs_per_s"]
                                      for run in hub_runs[settings.protocol])))
    writer_rate = _median(writer_runs, "points_per_s")
    summary["bare_writer_points_per_s"] = writer_rate
    database = Row(f"hub MQTT→InfluxDB, MQTT {settings.protocol} / bare writer, batches of {WRITER_BATCH_POINTS:,}",
                   "points/s", _median(hub_runs[settings.protocol], "msgs_per_s"), writer_rate)
    return summary, [*targets, database, *complete, *info]
