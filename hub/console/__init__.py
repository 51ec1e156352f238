"""The operator console and its HTTP API, served by the hub's one HTTP server."""
