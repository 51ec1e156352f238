"""The InfluxDB writer against a real influxd: batching, refused points isolated without losing
the batch, an outage spooled to disk and replayed in order, a restart with a non-empty spool."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hub.influx import InfluxClient, InfluxConfig, InfluxWriter
from hub.localservices import LocalInfluxd
from hub.spool import Spool
from tests.conftest import count_series_points, query_points, wait_until

pytestmark = pytest.mark.integration

BASE_MS = 1_795_600_000_000


def writer_for(url: str, database: str, folder: Path, refused: list | None = None, **settings: object):
    config = InfluxConfig(url=url, database=database, batch_size=100, flush_interval_s=0.1,
                          retry={"initial_s": 0.05, "max_s": 0.3}, **settings)
    client = InfluxClient(config)
    client.create_database()
    sink = refused if refused is not None else []
    writer = InfluxWriter(config, client, Spool(folder / "spool.sqlite"), lambda line, why: sink.append((line, why)))
    return writer, InfluxClient(config)


def lines(count: int, sensor: str = "g1", start: int = 0) -> list[str]:
    return [f"river,sensor={sensor} level_cm={100 + i % 50}.5 {BASE_MS + (start + i) * 1000}" for i in range(count)]


def test_points_arrive_in_batches_and_by_time(influxd: LocalInfluxd, tmp_path: Path, unique_name: str) -> None:
    writer, reader = writer_for(influxd.url, unique_name, tmp_path)
    writer.start()
    writer.add_many(lines(250))  # two full batches and a remainder sent by the flush interval
    wait_until(lambda: count_series_points(reader, "river", "level_cm") == 250, what="250 points")
    writer.stop()
    assert writer.stats.points_written == 250
    assert writer.stats.batches_written == 3
    rows = query_points(reader, "SELECT level_cm FROM river ORDER BY time LIMIT 2")
    assert [(r["time"], r["level_cm"]) for r in rows] == [(BASE_MS, 100.5), (BASE_MS + 1000, 101.5)]


def test_refused_point_is_isolated_and_the_rest_of_the_batch_written(influxd: LocalInfluxd, tmp_path: Path,
                                                                     unique_name: str) -> None:
    refused: list = []
    writer, reader = writer_for(influxd.url, unique_name, tmp_path, refused)
    # The field exists as a float: a string for it in the same shard is a field type conflict (400),
    # which InfluxDB 1.x reports for the whole request.
    reader.write(f"river,sensor=old level_cm=1.5 {BASE_MS - 1000}".encode())
    batch = lines(60)
    conflict = f'river,sensor=g1 level_cm="text" {BASE_MS + 10**7}'
    batch[41] = conflict
    writer.start()
    writer.add_many(batch)
    wait_until(lambda: len(refused) == 1 and writer.stats.points_written == 59, what="isolation")
    writer.stop()
    assert refused[0][0] == conflict and "conflict" in refused[0][1]
    assert writer.stats.points_refused == 1
    assert count_series_points(reader, "river", "level_cm") == 59 + 1  # plus the earlier point


@pytest.fixture
def own_influxd(tmp_path: Path):
    server = LocalInfluxd(tmp_path / "influxd")
    server.start()
    yield server
    server.stop()


def test_outage_spools_to_disk_and_replays_in_order_exactly_once(own_influxd: LocalInfluxd, tmp_path: Path) -> None:
    writer, reader = writer_for(own_influxd.url, "outage", tmp_path / "hub")
    writer.start()
    writer.add_many(lines(300))
    wait_until(lambda: writer.stats.points_written == 300, what="first points")
    own_influxd.stop()
    writer.add_many(lines(700, start=300))
    wait_until(lambda: writer.spool.points == 700 and writer.pending() == 0, what="spooling")
    assert writer.stats.write_failures >= 1
    own_influxd.start()
    wait_until(lambda: writer.spool.batches == 0, timeout_s=60, what="replay")
    writer.add_many(lines(100, start=1000))
    wait_until(lambda: writer.stats.points_written == 1100, what="all points")
    writer.stop()
    rows = query_points(reader, "SELECT level_cm FROM river")
    times = [row["time"] for row in rows]
    assert times == [BASE_MS + i * 1000 for i in range(1100)]


def test_spool_survives_a_restart_of_the_writer(own_influxd: LocalInfluxd, tmp_path: Path) -> None:
    writer, reader = writer_for(own_influxd.url, "restart", tmp_path / "hub")
    own_influxd.stop()
    writer.start()
    writer.add_many(lines(250))
    writer.stop()  # InfluxDB down: everything ends up in the spool file
    assert Spool(tmp_path / "hub" / "spool.sqlite").points == 250
    own_influxd.start()
    writer, reader = writer_for(own_influxd.url, "restart", tmp_path / "hub")
    writer.start()
    wait_until(lambda: writer.spool.batches == 0, what="replay after restart")
    writer.stop()
    assert count_series_points(reader, "river", "level_cm") == 250


def test_full_buffer_makes_producers_wait_instead_of_dropping(own_influxd: LocalInfluxd, tmp_path: Path) -> None:
    writer, reader = writer_for(own_influxd.url, "backpressure", tmp_path / "hub", max_buffer_points=150)
    own_influxd.stop()
    writer.start()
    producer = threading.Thread(target=writer.add_many, args=(lines(2000),))
    producer.start()
    producer.join(60)
    assert not producer.is_alive()
    assert writer.pending() <= 150
    own_influxd.start()
    wait_until(lambda: writer.stats.points_written == 2000, timeout_s=60, what="all 2000 points")
    writer.stop()
    assert count_series_points(reader, "river", "level_cm") == 2000


def test_missing_retention_policy_is_not_mistaken_for_bad_points(influxd: LocalInfluxd, tmp_path: Path,
                                                               unique_name: str) -> None:
    refused: list = []
    writer, reader = writer_for(influxd.url, unique_name, tmp_path, refused, retention_policy="nope")
    writer.start()
    writer.add_many(lines(10))
    wait_until(lambda: writer.stats.write_failures >= 1, what="a failed write")
    writer.stop()
    assert refused == []
    assert writer.spool.points == 10


def test_missing_database_waits_in_the_spool_until_it_exists(influxd: LocalInfluxd, tmp_path: Path,
                                                            unique_name: str) -> None:
    config = InfluxConfig(url=influxd.url, database=unique_name, batch_size=100, flush_interval_s=0.1,
                          retry={"initial_s": 0.05, "max_s": 0.2})
    writer = InfluxWriter(config, InfluxClient(config), Spool(tmp_path / "spool.sqlite"), lambda *_: None)
    writer.start()
    writer.add_many(lines(50))
    wait_until(lambda: writer.spool.points == 50, what="spooled while the database is missing")
    admin = InfluxClient(config)
    admin.create_database()
    wait_until(lambda: writer.spool.batches == 0, what="replayed once the database exists")
    writer.stop()
    assert count_series_points(admin, "river", "level_cm") == 50


def test_ews_influx_init_creates_database_and_default_retention(influxd: LocalInfluxd, tmp_path: Path,
                                                               unique_name: str) -> None:
    from hub.cli import main

    path = tmp_path / "site.yaml"
    path.write_text(f"""
site: {{id: x, name: X}}
areas: [{{id: a, name: A, type: town}}]
influx: {{url: "{influxd.url}", database: {unique_name}, retention: {{name: two_years, duration: 104w}}}}
""")
    assert main(["influx", "init", "-c", str(path)]) == 0
    assert main(["influx", "init", "-c", str(path)]) == 0  # idempotent
    client = InfluxClient(InfluxConfig(url=influxd.url, database=unique_name))
    series = client.query(f'SHOW RETENTION POLICIES ON "{unique_name}"')[0]["series"][0]
    policies = {row[0]: dict(zip(series["columns"], row, strict=True)) for row in series["values"]}
    assert policies["two_years"]["default"] is True
    assert policies["two_years"]["duration"] == "17472h0m0s"
