"""Config of seismic detection, the `seismic:` section of the site config: the detector of every
waveform station (band-pass, STA/LTA windows, on/off thresholds, peak filters) with per-station
overrides, and the network confirmation (k stations within a window for a public earthquake
alarm, alarm levels by instrumental intensity, the staff-only single-station event)."""

from __future__ import annotations

from pydantic import Field, model_validator

from hub.configbase import StrictModel
from rules.config import RULE_ID_PATTERN, Levels, _check_order


class DetectorConfig(StrictModel):
    """How one station's waveform is turned into a trigger and peaks. Defaults suit MEMS
    strong-motion stations at 50–200 Hz near a town (Trnkoczy 2012 for the STA/LTA choices)."""

    freqmin_hz: float = Field(1.0, gt=0, description="Lower corner of the trigger band-pass, in Hz.")
    freqmax_hz: float = Field(20.0, gt=0, description="Upper corner of the trigger band-pass, in Hz (above Nyquist: high-pass).")
    corners: int = Field(4, ge=1, le=8, description="Poles per corner of the Butterworth band-pass.")
    sta_s: float = Field(0.5, gt=0, description="Short-term average window, in seconds.")
    lta_s: float = Field(10.0, gt=0, description="Long-term average window, in seconds (also the warm-up).")
    trigger_on: float = Field(4.0, gt=1, description="STA/LTA ratio at which a trigger turns on.")
    trigger_off: float = Field(1.5, gt=0, description="STA/LTA ratio below which a trigger turns off (hysteresis).")
    steady_start: bool = Field(
        True, description="Start filters in the steady state of the first sample (no ringing from a sensor offset)."
    )
    peak_highpass_hz: float = Field(0.1, gt=0, description="High-pass before peak acceleration and velocity, in Hz.")
    pgv_min_rate_hz: float = Field(
        20.0, gt=0, description="Peak velocity is integrated only from streams sampled at least this fast, in Hz."
    )

    @model_validator(mode="after")
    def _consistent(self) -> DetectorConfig:
        if self.freqmax_hz <= self.freqmin_hz:
            raise ValueError("freqmax_hz must lie above freqmin_hz")
        if self.lta_s <= self.sta_s:
            raise ValueError("lta_s must be longer than sta_s")
        if self.trigger_off >= self.trigger_on:
            raise ValueError("trigger_off must lie below trigger_on, so that a ratio hovering at the threshold does not flap")
        return self


class DetectorOverride(StrictModel):
    """Per-station changes to the network's detector (a noisy site gets a higher `trigger_on`)."""

    freqmin_hz: float | None = Field(None, gt=0, description="Lower corner of the band-pass, in Hz.")
    freqmax_hz: float | None = Field(None, gt=0, description="Upper corner of the band-pass, in Hz.")
    corners: int | None = Field(None, ge=1, le=8, description="Poles per corner.")
    sta_s: float | None = Field(None, gt=0, description="Short-term window, in seconds.")
    lta_s: float | None = Field(None, gt=0, description="Long-term window, in seconds.")
    trigger_on: float | None = Field(None, gt=1, description="STA/LTA ratio at which a trigger turns on.")
    trigger_off: float | None = Field(None, gt=0, description="STA/LTA ratio below which a trigger turns off.")


class ConfirmationConfig(StrictModel):
    """Confirmation across stations (ObsPy's `coincidence_trigger` idea): a public earthquake
    alarm needs triggers of at least `min_stations` different stations whose onsets lie within
    `window_s`; a trigger that no others confirm is a staff-only event. The public alarm's level
    follows the highest instrumental intensity the confirming event's stations measured."""

    id: str = Field("earthquake", pattern=RULE_ID_PATTERN, max_length=50,
                    description="Rule id of the public alarm; the staff events are <id>-station and <id>-network.")
    area: str = Field(description="Area warned by the public alarm (the town).")
    min_stations: int = Field(3, ge=2, description="Stations that must trigger for a public alarm (k).")
    window_s: float = Field(10.0, gt=0, description="Their trigger onsets must lie within this many seconds.")
    levels: Levels = Field(
        default_factory=lambda: Levels(yellow=4.0, orange=5.0, red=6.0),
        description="Instrumental intensity (Wald et al. 1999) at which each public level is reached.",
    )
    end_quiet_s: float = Field(
        10.0, ge=0, description="Shaking has ended when every station is off for this many seconds of data."
    )
    station_level: str = Field("yellow", pattern="^(info|yellow|orange|red)$",
                               description="Level of the staff-only event of one station's trigger.")

    @model_validator(mode="after")
    def _ordered(self) -> ConfirmationConfig:
        _check_order(self.levels, True, "intensities")
        return self


class SeismicConfig(StrictModel):
    """Seismic detection for the site's waveform stations."""

    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="Detector of every station.")
    stations: dict[str, DetectorOverride] = Field(
        default_factory=dict, description="Per-station detector changes, by sensor id."
    )
    confirmation: ConfirmationConfig | None = Field(
        None, description="Network confirmation and the public earthquake alarm; none = summaries only."
    )

    @model_validator(mode="after")
    def _overrides_valid(self) -> SeismicConfig:
        problems = []
        for sensor in self.stations:
            try:
                self.detector_for(sensor)
            except ValueError as error:  # pydantic's ValidationError is a ValueError
                reasons = "; ".join(e["msg"] for e in getattr(error, "errors", lambda: [])()) or str(error)
                problems.append(f"stations.{sensor}: {reasons}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def detector_for(self, sensor: str) -> DetectorConfig:
        """The detector of one station: the network's with the station's overrides."""
        override = self.stations.get(sensor)
        if override is None:
            return self.detector
        changes = override.model_dump(exclude_none=True)
        return DetectorConfig.model_validate({**self.detector.model_dump(), **changes})
