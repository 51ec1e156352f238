"""Grafana's expansion of an InfluxQL panel query, as a pure function, so that the tests and the
PNG renderer run exactly what Grafana would send: `$timeFilter` becomes the absolute time range in
milliseconds, `$__interval` the group-by interval Grafana picks for the range and the panel's width,
and template variables their values, multi-value ones as an escaped regex alternation `(a|b)`
(Grafana's InfluxDB data source, `interpolateQueryExpr`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

#: Grafana's "nice" intervals (its kbn rounding table), in milliseconds.
_NICE_INTERVALS_MS = (
    10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000, 300_000,
    600_000, 900_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
    604_800_000, 2_592_000_000, 31_536_000_000,
)
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
_REGEX_SPECIALS = re.compile(r"([\\^$*+?.()|\[\]{}/])")


def interval_ms(range_ms: int, max_data_points: int = 1000, min_interval_ms: int = 10_000) -> int:
    """The group-by interval Grafana picks: range / data points rounded to a nice interval, and
    never below the data source's minimum (`timeInterval: 10s` in the provisioned data source)."""
    raw = max(range_ms / max(max_data_points, 1), 1)
    nice = next((step for step in _NICE_INTERVALS_MS if step >= raw), _NICE_INTERVALS_MS[-1])
    return max(nice, min_interval_ms)


def format_duration(duration_ms: int) -> str:
    """`10s`, `1m`, `2h`: an InfluxQL duration literal in the largest whole unit."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if duration_ms % size == 0:
            return f"{duration_ms // size}{unit}"
    return f"{duration_ms}ms"


def regex_value(values: Sequence[str]) -> str:
    """A multi-value variable in a query: one value escaped, several as `(a|b)`."""
    escaped = [_REGEX_SPECIALS.sub(r"\\\1", value) for value in values]
    # No values (nothing stored yet): an empty group, which matches no stored tag value.
    return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"


def expand_query(
    query: str,
    variables: Mapping[str, str | Sequence[str]],
    start_ms: int,
    end_ms: int,
    max_data_points: int = 1000,
) -> str:
    """The query as Grafana sends it for the time range [start_ms, end_ms]. A variable given as
    a string is single-valued and inserted as is (a constant); one given as a sequence is
    multi-valued and inserted as a regex alternation. An unknown variable raises KeyError, so a
    typo in a dashboard is a test failure, not a query for nothing."""
    step_ms = interval_ms(end_ms - start_ms, max_data_points)
    builtins = {
        "timeFilter": f"time >= {start_ms}ms and time <= {end_ms}ms",
        "__interval": format_duration(step_ms),
        "__interval_ms": str(step_ms),
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in builtins:
            return builtins[name]
        if name in ("tag", "col") or name.startswith("tag_"):
            return match.group(0)
        value = variables[name]
        return value if isinstance(value, str) else regex_value(value)

    return _VARIABLE.sub(replace, query)
