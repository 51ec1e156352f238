"""The hub process: config models, the `Reading` type, the pipeline, the InfluxDB writer and its
disk spool, SQLite state, the broker link, the wiring point (`hub.app`) and the `ews` command."""
