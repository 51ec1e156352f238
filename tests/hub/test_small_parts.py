"""Pure helpers: line protocol escaping, backoff bounds, log limiting, the bounded dead-letter
store and the spool's order and persistence."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.deadletter import MAX_PAYLOAD_BYTES, DeadLetterStore
from hub.lineprotocol import encode_line, escape_key, format_string_field, series_prefix
from hub.logutil import LogOncePer
from hub.retry import Backoff, BackoffConfig
from hub.spool import Spool
from hub.types import RejectReason, Rejection


def test_series_prefix_sorts_tags_and_escapes() -> None:
    prefix = series_prefix("river", {"sensor": "a b", "area": "x,y", "site": "kz", "river": "t=1", "empty": ""})
    assert prefix == r"river,area=x\,y,river=t\=1,sensor=a\ b,site=kz"


def test_line_with_floats_quality_and_ms_time() -> None:
    line = encode_line("river,sensor=g1", {"level_cm": 231.5, "flow_m3_s": 3.0}, 1_795_611_600_000, "suspect")
    assert line == 'river,sensor=g1 level_cm=231.5,flow_m3_s=3.0,quality="suspect" 1795611600000'
    assert encode_line("rain,sensor=r", {"mm": 0.2}, 5, "good") == "rain,sensor=r mm=0.2 5"


def test_string_field_escapes_quotes_and_backslashes() -> None:
    assert format_string_field('say "hi" \\ now') == r'"say \"hi\" \\ now"'
    assert escape_key("a=b c,d") == r"a\=b\ c\,d"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_field_round_trips(value: float) -> None:
    line = encode_line("m", {"v": value}, 1)
    field = line.split(" ")[1]
    assert float(field.split("=", 1)[1]) == value


@given(st.integers(min_value=0, max_value=200))
def test_backoff_stays_within_half_cap_and_cap(attempts: int) -> None:
    config = BackoffConfig(initial_s=0.5, max_s=30.0, multiplier=2.0)
    backoff = Backoff(config, random.Random(attempts))
    for attempt in range(attempts + 1):
        delay = backoff.next_delay_s()
        cap = min(30.0, 0.5 * 2.0 ** min(attempt, 64))
        assert cap / 2 <= delay <= cap
    backoff.reset()
    assert 0.25 <= backoff.next_delay_s() <= 0.5


def test_log_once_per_interval_counts_what_it_held_back() -> None:
    now = [0.0]
    limiter = LogOncePer(60.0, lambda: now[0])
    assert limiter.allow("g1") == 0
    assert limiter.allow("g1") is None
    assert limiter.allow("g2") == 0
    now[0] = 30.0
    assert limiter.allow("g1") is None
    now[0] = 60.0
    assert limiter.allow("g1") == 2


def test_dead_letters_are_bounded_and_newest_kept(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "dl.sqlite", max_records=100)
    for number in range(1000):
        store.add(Rejection(RejectReason.MALFORMED, f"n{number}", "t", b"x" * 10000, number, "g1"))
    assert 100 <= store.count() <= 110
    newest = store.recent(1)[0]
    assert newest.detail == "n999" and len(newest.payload) == MAX_PAYLOAD_BYTES
    assert store.recent(5, reason="out_of_range") == []


def test_spool_is_fifo_and_survives_reopening(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite")
    for number in range(5):
        spool.append(f"line {number}".encode(), number + 1)
    assert (spool.batches, spool.points) == (5, 15)
    first = spool.oldest()
    assert first is not None and first.body == b"line 0"
    spool.remove(first)
    spool.close()
    reopened = Spool(tmp_path / "spool.sqlite")
    assert (reopened.batches, reopened.points) == (4, 14)
    bodies = []
    while (batch := reopened.oldest()) is not None:
        bodies.append(batch.body)
        reopened.remove(batch)
    assert bodies == [b"line 1", b"line 2", b"line 3", b"line 4"]


@pytest.mark.parametrize("bad", [{"initial_s": 0}, {"max_s": -1}, {"multiplier": 0.5}])
def test_backoff_config_refuses_nonsense(bad: dict) -> None:
    with pytest.raises(ValueError):
        BackoffConfig(**bad)


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(min_value=0, max_value=2**42),
       st.sampled_from(["good", "suspect", "bad"]), st.booleans())
def test_influx_output_shortcut_equals_the_general_encoding(value: float, ts_ms: int, quality: str, two: bool) -> None:
    from hub.pipeline import InfluxOutput
    from hub.sensors import SensorSpec
    from hub.types import Reading

    spec = SensorSpec("g1", "river", "centre", "kz", {"level_cm": (-1e308, 1e308)}, {"river": "tundzha"}, 60.0)
    lines: list[str] = []
    output = InfluxOutput({"g1": spec}, lines.append)
    values = {"level_cm": value, "flow_m3_s": 1.5} if two else {"level_cm": value}
    output(Reading("g1", "river", "centre", ts_ms, values, quality))  # type: ignore[arg-type]
    prefix = series_prefix("river", {"river": "tundzha", "sensor": "g1", "area": "centre", "site": "kz"})
    assert lines == [encode_line(prefix, values, ts_ms, quality)]
