"""Rule engine and one module per rule kind (threshold, rate, accumulation, time to threshold,
stale/deadman, composite, detection), plus backtesting and replay. Rules read `hub` types only,
never adapters; the engine turns `Reading`s into alarm decisions for the hub's alarm manager."""
