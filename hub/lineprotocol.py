"""InfluxDB line protocol, written by hand because it is the hot path: escaping of measurement,
tag and field keys and values per the line protocol reference, a per-sensor prefix computed once,
and the encoding of one `Reading` into one line with millisecond precision.

Numbers are always written as floats (no `i` suffix): a field that a device sends once as `3` and
once as `3.5` would otherwise be refused by InfluxDB as a field type conflict."""

from __future__ import annotations

from collections.abc import Mapping

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": r"\\", "\n": r"\n"})


def escape_measurement(name: str) -> str:
    """Escape commas and spaces in a measurement name."""
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key (commas, equals signs, spaces)."""
    return text.translate(_KEY_ESCAPES)


def format_string_field(text: str) -> str:
    """A string field value in double quotes, with quotes and backslashes escaped."""
    return '"' + text.translate(_STRING_ESCAPES) + '"'


def series_prefix(measurement: str, tags: Mapping[str, str]) -> str:
    """`measurement,tag=value,...` with tags sorted by key (InfluxDB's preferred order); tags
    with an empty value are left out, as line protocol does not allow them."""
    parts = [escape_measurement(measurement)]
    for key in sorted(tags):
        value = tags[key]
        if value != "":
            parts.append(f"{escape_key(key)}={escape_key(value)}")
    return ",".join(parts)


_ESCAPED_NAMES: dict[str, str] = {}


def _escaped_name(name: str) -> str:
    # Field names come from the config, a small fixed set: escape each once (hot path).
    escaped = _ESCAPED_NAMES.get(name)
    if escaped is None:
        escaped = escape_key(name)
        if len(_ESCAPED_NAMES) < 10000:
            _ESCAPED_NAMES[name] = escaped
    return escaped


def encode_fields(values: Mapping[str, float], quality: str | None = None) -> str:
    """`a=1.5,b=2.0`: finite floats in Python's shortest round-trip form; a reading's quality is
    added as a string field only when it is not 'good', so that good data costs nothing extra."""
    text = ",".join([f"{_escaped_name(name)}={value!r}" for name, value in values.items()])
    if quality is not None and quality != "good":
        text += f",quality={format_string_field(quality)}"
    return text


def encode_line(prefix: str, values: Mapping[str, float], ts_ms: int, quality: str | None = None) -> str:
    """One line: prefix, fields, timestamp in milliseconds (write with precision=ms)."""
    return f"{prefix} {encode_fields(values, quality)} {ts_ms}"
