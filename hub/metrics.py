"""Self-metrics of the hub, written to the `hub` measurement every interval: readings in and their
rate, rejections by reason (one series per reason, a bounded set), points written, spooled and
refused, spool depth, write latency. Counters are totals since start, so Grafana derives rates
with non_negative_derivative and a restart shows as a reset, not as a gap."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from hub.influx import InfluxWriter
from hub.lineprotocol import encode_line, series_prefix
from hub.pipeline import Pipeline


@dataclass
class _Previous:
    readings_in: int = 0
    at_ms: int = 0


class SelfMetrics:
    """Builds the `hub` points from the live counters of the pipeline, writer and broker link."""

    def __init__(
        self,
        site: str,
        pipeline: Pipeline,
        writer: InfluxWriter,
        link_counters: Callable[[], dict[str, int]] = dict,
    ):
        self._site = site
        self._pipeline = pipeline
        self._writer = writer
        self._link_counters = link_counters
        self._prefix = series_prefix("hub", {"site": site})
        self._previous = _Previous()

    def lines(self, now_ms: int) -> list[str]:
        """The points for this instant."""
        stats = self._writer.stats
        latencies = stats.take_latencies()
        readings_in = self._pipeline.readings_in
        values: dict[str, float] = {
            "readings_in": float(readings_in),
            "rejected_total": float(sum(self._pipeline.rejected.values())),
            "points_written": float(stats.points_written),
            "points_spooled": float(stats.points_spooled),
            "points_refused": float(stats.points_refused),
            "write_failures": float(stats.write_failures),
            "spool_batches": float(self._writer.spool.batches),
            "spool_points": float(self._writer.spool.points),
            "buffer_points": float(self._writer.pending()),
        }
        if self._previous.at_ms:
            elapsed_s = (now_ms - self._previous.at_ms) / 1000
            if elapsed_s > 0:
                values["readings_per_s"] = (readings_in - self._previous.readings_in) / elapsed_s
        self._previous = _Previous(readings_in, now_ms)
        if latencies:
            values["write_latency_ms_p50"] = float(statistics.median(latencies))
            values["write_latency_ms_max"] = float(max(latencies))
        for name, count in self._link_counters().items():
            values[name] = float(count)
        lines = [encode_line(self._prefix, values, now_ms)]
        for reason, count in sorted(self._pipeline.rejected.items()):
            prefix = series_prefix("hub", {"site": self._site, "reason": reason})
            lines.append(encode_line(prefix, {"rejected": float(count)}, now_ms))
        return lines
