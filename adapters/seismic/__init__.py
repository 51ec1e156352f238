"""Seismic waveform sources: MQTT packets from MEMS stations, SeedLink from seismic networks, and
miniSEED/SAC files, all into per-station ring buffers that release contiguous blocks."""
