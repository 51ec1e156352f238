"""Config of a waveform station's source (`sensors[i].source.seismic`): MQTT packets on
`<root>/wave/seismic/<sensor>` (DESIGN.md's format) or a SeedLink stream, with the buffer's
tolerance for late and missing packets. The detector's parameters live in the site's `seismic:`
section (`rules.seismic.config`), since detection is the rules' business."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hub.configbase import StrictModel


class SeedLinkStream(StrictModel):
    """One station's channels on a SeedLink server (FDSN network/station/location/channel codes)."""

    server: str = Field(description="host:port of the SeedLink server, e.g. geofon.gfz-potsdam.de:18000.")
    network: str = Field(pattern=r"^[A-Z0-9]{1,2}$", description="FDSN network code, e.g. BS.")
    station: str = Field(pattern=r"^[A-Z0-9]{1,5}$", description="Station code.")
    location: str = Field("", pattern=r"^[A-Z0-9-]{0,2}$", description="Location code (often empty or 00).")
    channels: str = Field("HN?", pattern=r"^[A-Z0-9?]{3}$",
                          description="Channel pattern; the last letter Z/N/E (or 1/2 as N/E) names the component.")
    counts_per_m_s2: float = Field(
        1.0, gt=0, description="Digitiser counts per m/s² (the sensitivity from the station's response)."
    )


class SeismicSourceConfig(StrictModel):
    """A waveform station: where its samples come from and how its buffer copes with the network."""

    transport: Literal["mqtt", "seedlink"] = Field("mqtt", description="MQTT packets or a SeedLink stream.")
    seedlink: SeedLinkStream | None = Field(None, description="The SeedLink stream (transport seedlink).")
    station_code: str | None = Field(
        None, pattern=r"^[A-Z0-9]{1,5}$", description="Station code in miniSEED/SAC records (for replay), e.g. KZL01."
    )
    buffer_s: float = Field(30.0, ge=2, le=600, description="Seconds of samples each station's ring buffer holds.")
    max_wait_s: float = Field(
        2.0, ge=0, description="How long (in data time) a gap waits for a late packet before it is skipped, s."
    )
    max_fill_s: float = Field(
        0.05, ge=0, description="Gaps up to this long are bridged by interpolation; longer ones restart the detector, s."
    )
    max_future_s: float = Field(2.0, ge=0, description="Packets stamped further ahead of the hub's clock are refused, s.")

    @model_validator(mode="after")
    def _transport_settings(self) -> SeismicSourceConfig:
        if (self.transport == "seedlink") != (self.seedlink is not None):
            raise ValueError("give 'seedlink' exactly when transport is seedlink")
        if self.max_wait_s >= self.buffer_s:
            raise ValueError("max_wait_s must be shorter than buffer_s")
        return self
