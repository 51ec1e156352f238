"""Config of Modbus sources as a technician meets it: every mistake reported with its path and a
reason that says what to write instead; sensors sharing an endpoint must agree on the line."""

from __future__ import annotations

import pytest

from adapters.modbus.config import ModbusSourceConfig, ModbusWriteTarget
from hub.config import modbus_sources, parse_config
from hub.configbase import ConfigError

SITE = """
site: {id: t, name: T}
areas: [{id: centre, name: C, type: town}]
sensors:
  - {id: a, kind: river, area: centre, location: {lat: 42.6, lon: 25.4}}
  - {id: b, kind: river, area: centre, location: {lat: 42.6, lon: 25.4}}
  - {id: c, kind: river, area: centre, location: {lat: 42.6, lon: 25.4}}
  - id: d
    kind: river
    area: centre
    location: {lat: 42.6, lon: 25.4}
    source:
      modbus:
        host: 127.0.0.1
        port: 1502
        registers:
          - {field: level_cm, register: holding, address: 0, type: TYPE}
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    return [str(issue) for issue in error.value.issues]


def test_a_misspelt_type_reads_as_in_the_design() -> None:
    (message,) = errors(SITE.replace("TYPE", "flaot32"))
    assert message.startswith("sensors[3].source.modbus.registers[0].type: unknown type 'flaot32'")
    assert "float32" in message


def test_a_good_source_loads_with_its_defaults() -> None:
    config = parse_config(SITE.replace("TYPE", "FLOAT32"))
    source = modbus_sources(config)["d"]
    assert source.registers[0].type == "float32" and source.registers[0].byte_order == "ABCD"
    assert source.unit_id == 1 and source.retries == 1 and source.endpoint == "tcp://127.0.0.1:1502"


def test_a_field_the_kind_lacks_is_refused_with_the_known_ones() -> None:
    (message,) = errors(SITE.replace("field: level_cm", "field: level_m").replace("TYPE", "float32"))
    assert message.startswith("sensors[3].source.modbus.registers[0].field: a river sensor has no field 'level_m'")
    assert "level_cm" in message


def test_a_sensor_takes_one_source() -> None:
    text = SITE.replace("TYPE", "float32").replace(
        "      modbus:", "      mqtt: {topic: x/y, format: plain, fields: {level_cm: {}}}\n      modbus:")
    assert errors(text) == ["sensors[3].source: give exactly one of 'mqtt', 'modbus' and 'seismic'"]


def test_sensors_at_one_endpoint_must_agree_on_the_transport() -> None:
    text = SITE.replace("TYPE", "float32") + """
  - id: e
    kind: river
    area: centre
    location: {lat: 42.6, lon: 25.4}
    source:
      modbus:
        transport: rtu_over_tcp
        host: 127.0.0.1
        port: 1502
        unit_id: 2
        registers: [{field: level_cm, address: 0}]
"""
    (message,) = errors(text)
    assert message.startswith("sensors[4].source.modbus: shares tcp://127.0.0.1:1502 with sensors[3]")


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"field": "level_cm", "address": 0, "type": "string"}, "`length` (in registers) is needed by type string"),
        ({"field": "level_cm", "address": 0, "type": "bit"}, "`bit` (0-15) is needed by type bit"),
        ({"field": "level_cm", "register": "coil", "address": 0, "type": "int16"}, "a coil holds one bit"),
        ({"field": "level_cm", "address": 0, "type": "bool"}, "type bool is for coils and discrete inputs"),
        ({"field": "level_cm", "address": 65535, "type": "float32"}, "runs past the last address 65535"),
        ({"field": "Level", "address": 0}, "must be lower case letters"),
        ({"field": "level_cm", "address": 0, "byte_order": "CDBA"}, "unknown value 'CDBA'"),
        ({"field": "level_cm", "register": "holdings", "address": 0}, "unknown value 'holdings'"),
    ],
)
def test_point_mistakes_are_explained(entry: dict[str, object], reason: str) -> None:
    text = SITE.replace("{field: level_cm, register: holding, address: 0, type: TYPE}", str(entry).replace("'", '"'))
    messages = errors(text)
    assert len(messages) == 1 and messages[0].startswith("sensors[3].source.modbus.registers[0]")
    assert reason in messages[0]


def test_connection_mistakes_are_explained() -> None:
    def problem(settings: dict[str, object]) -> str:
        with pytest.raises(ValueError) as error:
            ModbusSourceConfig.model_validate({**settings, "registers": [{"field": "level_cm", "address": 0}]})
        return str(error.value)

    assert "transport tcp needs `host`" in problem({})
    assert "transport serial needs `serial`" in problem({"transport": "serial"})
    assert "not `host`" in problem({"transport": "serial", "host": "x", "serial": {"device": "/dev/ttyUSB0"}})
    with pytest.raises(ValueError, match="mapped twice"):
        ModbusSourceConfig.model_validate(
            {"host": "x", "registers": [{"field": "level_cm", "address": 0}, {"field": "level_cm", "address": 1}]})
    with pytest.raises(ValueError, match="do not fit in one read of at most 2"):
        ModbusSourceConfig.model_validate({"host": "x", "workarounds": {"max_registers_per_read": 2},
                                           "registers": [{"field": "level_cm", "address": 0, "type": "float64"}]})


def test_serial_endpoint_and_line_settings() -> None:
    source = ModbusSourceConfig.model_validate({
        "transport": "serial", "serial": {"device": "/dev/ttyUSB0", "baud_rate": 19200, "parity": "N"},
        "unit_id": 7, "registers": [{"field": "level_cm", "address": 0}]})
    assert source.endpoint == "serial:///dev/ttyUSB0"
    assert source.serial is not None and source.serial.data_bits == 8 and source.serial.stop_bits == 1


def test_write_targets() -> None:
    siren = ModbusWriteTarget.model_validate({"host": "x", "register": "coil", "address": 3})
    assert siren.type == "bool"
    pattern = ModbusWriteTarget.model_validate({"host": "x", "register": "holding", "address": 0, "type": "Float32"})
    assert pattern.type == "float32" and pattern.as_point().register_count == 2
    with pytest.raises(ValueError, match="coils are written as bool"):
        ModbusWriteTarget.model_validate({"host": "x", "register": "coil", "address": 3, "type": "uint16"})
    with pytest.raises(ValueError, match="unknown type 'string'"):
        ModbusWriteTarget.model_validate({"host": "x", "register": "holding", "address": 3, "type": "string"})
