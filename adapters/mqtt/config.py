"""Config of a sensor's device-native MQTT source: the topic filter it publishes on, the payload
format (vendor JSON, SenML per RFC 8428, a bare number) and how each field is extracted and scaled,
in the manner of Telegraf's mqtt_consumer with its json_v2 and value parsers."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from hub.configbase import StrictModel

FIELD_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def compile_json_path(path: str) -> tuple[str | int, ...]:
    """`data.levels[0].value` → `('data', 'levels', 0, 'value')`. Raises ValueError on a path
    that does not tokenise completely (empty parts, unbalanced brackets)."""
    parts: list[str | int] = []
    position = 0
    for match in _PATH_TOKEN.finditer(path):
        if match.start() != position:
            break
        key, index = match.groups()
        parts.append(int(index) if index is not None else key)
        position = match.end()
        if position < len(path) and path[position] == ".":
            position += 1
    if position != len(path) or not parts or path.endswith("."):
        raise ValueError(f"cannot read JSON path {path!r} (use keys joined by '.', list items as [0])")
    return tuple(parts)


def check_topic_filter(topic: str) -> str:
    """An MQTT topic filter per MQTT 3.1.1 §4.7: '+' fills a whole level, '#' only the last."""
    if not topic or len(topic.encode()) > 65535 or "\x00" in topic:
        raise ValueError("topic filter must be 1 to 65535 bytes with no NUL character")
    levels = topic.split("/")
    for number, level in enumerate(levels):
        if "+" in level and level != "+":
            raise ValueError(f"'+' must fill a whole topic level, not {level!r}")
        if "#" in level and (level != "#" or number != len(levels) - 1):
            raise ValueError("'#' is allowed only as the whole last topic level")
    return topic


class FieldMapping(StrictModel):
    """Where one field's value is in the device's payload and how to bring it to the field's unit:
    value = raw × scale + offset."""

    path: str | None = Field(None, description="JSON format: path of the value, e.g. 'data.level_m' or 'ch[0].v'.")
    name: str | None = Field(None, description="SenML format: the record's full name (base name + name).")
    scale: float = Field(1.0, description="Multiplier applied to the raw value (e.g. 100 for metres to cm).")
    offset: float = Field(0.0, description="Added after scaling, in the field's unit (e.g. gauge zero).")

    @field_validator("path")
    @classmethod
    def _path_compiles(cls, path: str | None) -> str | None:
        if path is not None:
            compile_json_path(path)
        return path


class TimeMapping(StrictModel):
    """Where the measurement time is in a vendor JSON payload. Without it the receive time is used."""

    path: str = Field(description="JSON path of the timestamp.")
    format: Literal["iso", "epoch_s", "epoch_ms"] = Field(
        "iso", description="ISO 8601 with a time zone, or seconds / milliseconds since the Unix epoch."
    )

    @field_validator("path")
    @classmethod
    def _path_compiles(cls, path: str) -> str:
        compile_json_path(path)
        return path


class MqttSourceConfig(StrictModel):
    """A sensor that publishes in its own format on its own topic."""

    topic: str = Field(description="MQTT topic filter the device publishes on ('+' and '#' allowed).")
    format: Literal["json", "senml", "plain"] = Field(
        description="Payload format: vendor JSON, SenML JSON (RFC 8428), or a bare number."
    )
    fields: dict[str, FieldMapping] = Field(
        description="Field name (with its unit, e.g. level_cm) → where to find it in the payload.", min_length=1
    )
    time: TimeMapping | None = Field(None, description="JSON format only: where the measurement time is.")

    @field_validator("topic")
    @classmethod
    def _topic_is_a_filter(cls, topic: str) -> str:
        return check_topic_filter(topic)

    @field_validator("fields")
    @classmethod
    def _field_names(cls, fields: dict[str, FieldMapping]) -> dict[str, FieldMapping]:
        for name in fields:
            if not re.match(FIELD_NAME_PATTERN, name):
                raise ValueError(f"field name {name!r} must be lower case letters, digits and '_' (e.g. level_cm)")
        return fields

    @model_validator(mode="after")
    def _mappings_fit_format(self) -> MqttSourceConfig:
        for name, mapping in self.fields.items():
            if self.format == "json" and mapping.path is None:
                raise ValueError(f"fields.{name}: JSON format needs 'path'")
            if self.format == "senml" and mapping.name is None:
                raise ValueError(f"fields.{name}: SenML format needs 'name' (the record's full name)")
            if self.format == "plain" and (mapping.path or mapping.name):
                raise ValueError(f"fields.{name}: a plain payload has no 'path' or 'name'")
        if self.format == "plain" and len(self.fields) != 1:
            raise ValueError("a plain payload carries exactly one field")
        if self.time is not None and self.format != "json":
            raise ValueError("'time' applies to the JSON format only (SenML carries its own time)")
        return self
