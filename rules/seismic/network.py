"""A network of waveform stations as one pure object: each station's `StationProcessor`, the
per-second summaries turned into `Reading`s of the `seismic` measurement, and the
`NetworkConfirmation` fed with triggers and summaries. The live hub (on its seismic worker
thread) and `ews replay` both drive it with contiguous blocks of samples and get the same
readings, triggers and conditions for the same data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from hub.sensors import SensorSpec, check_values, make_reading
from hub.types import Condition, Reading
from rules.seismic.config import SeismicConfig
from rules.seismic.confirm import NetworkConfirmation
from rules.seismic.station import SecondSummary, StationProcessor, TriggerEvent


@dataclass(slots=True)
class NetworkOutput:
    """What one block caused, in the order it happened within each list."""

    readings: list[Reading] = field(default_factory=list)
    triggers: list[TriggerEvent] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)

    def extend(self, other: NetworkOutput) -> None:
        """Append another output's items."""
        self.readings += other.readings
        self.triggers += other.triggers
        self.conditions += other.conditions


class SeismicNetwork:
    """Station processors and the network confirmation for the given waveform stations."""

    def __init__(self, config: SeismicConfig, sensors: Mapping[str, SensorSpec], stations: Iterable[str]):
        self._specs = {sensor: sensors[sensor] for sensor in stations}
        self.processors = {sensor: StationProcessor(sensor, config.detector_for(sensor)) for sensor in self._specs}
        self.confirmation = (
            NetworkConfirmation(config.confirmation, {s: spec.area for s, spec in self._specs.items()})
            if config.confirmation is not None else None
        )
        self.dropped_values = 0

    def on_block(self, sensor: str, start_ns: int, sampling_rate_hz: float, channels: Mapping[str, np.ndarray],
                 continuous: bool = True) -> NetworkOutput:
        """Process one contiguous block of a station (see `StationProcessor.process`)."""
        summaries, triggers = self.processors[sensor].process(start_ns, sampling_rate_hz, channels, continuous)
        return self._outputs(summaries, triggers)

    def flush(self) -> NetworkOutput:
        """End of data: every station's pending second and triggers in progress."""
        out = NetworkOutput()
        for processor in self.processors.values():
            out.extend(self._outputs(*processor.flush()))
        return out

    def _outputs(self, summaries: list[SecondSummary], triggers: list[TriggerEvent]) -> NetworkOutput:
        out = NetworkOutput(triggers=list(triggers))
        # Interleave by time: a trigger inside a second comes before that second's summary.
        items: list[tuple[int, int, object]] = [(t.ts_ns, 0, t) for t in triggers]
        items += [((s.ts_ms + 1000) * 1_000_000, 1, s) for s in summaries]
        for _, _, item in sorted(items, key=lambda entry: (entry[0], entry[1])):
            if isinstance(item, TriggerEvent):
                if self.confirmation is not None:
                    out.conditions += self.confirmation.on_trigger(item)
                continue
            assert isinstance(item, SecondSummary)
            spec = self._specs[item.sensor]
            accepted, problems = check_values(spec, item.values)
            self.dropped_values += len(problems)
            if accepted:
                out.readings.append(make_reading(spec, item.ts_ms, accepted, "good"))
            if self.confirmation is not None:
                out.conditions += self.confirmation.on_summary(item)
        return out
