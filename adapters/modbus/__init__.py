"""Modbus source: polls field devices (Modbus TCP, RTU over TCP, serial RTU) on APScheduler with a
complete point map, decodes registers with pure table-driven functions, and writes coils and
holding registers with read-back for the notifiers. See README.md."""
