"""Device simulators and the scenario runner. This package plays the outside world: it knows the
hub only through its wire formats (MQTT topics and payloads, Modbus registers) and the site YAML
read as plain data, never through the hub's own code."""
