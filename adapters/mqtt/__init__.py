"""MQTT source: subscriptions for normalised readings and device-native topics (vendor JSON with
field paths, SenML, bare numbers), decoded and validated into `Reading`s. See README.md."""
