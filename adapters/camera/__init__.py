"""Camera source: a worker process per set of cameras that captures frames, gates them on motion,
runs the detectors (water level on a staff gauge, fire and smoke) and publishes detections and its
own health over MQTT. See README.md."""
