"""Sources of readings, one sub-package per source (mqtt, modbus, seismic, camera): each holds its
config model, pure decoding functions, a small I/O class and a README with a sample config."""
