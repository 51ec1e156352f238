"""Seismic detection: streaming band-pass and recursive STA/LTA with trigger hysteresis
(`rules.seismic.dsp`), peak ground motion to instrumental intensity (`rules.seismic.intensity`),
per-station processing into per-second summaries and triggers (`rules.seismic.station`), and the
multi-station confirmation that turns triggers into alarm conditions (`rules.seismic.confirm`)."""
