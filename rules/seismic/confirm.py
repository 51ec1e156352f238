"""Confirmation of station triggers across the network, after the coincidence idea of ObsPy's
`coincidence_trigger`: an earthquake is declared when triggers of at least `min_stations`
different stations have onsets within `window_s` of each other. One slammed door or a passing
truck shakes one sensor; an earthquake shakes them all within the seconds the waves take to cross
the network. Outputs are `hub.types.Condition`s for the alarm manager:

* `<id>-station` (staff): one station's trigger, raised at its onset and cleared at its end,
  whether or not others confirm it;
* `<id>-network` (staff): a confirmed event, raised at the onset that completed the
  coincidence, whatever its intensity;
* `<id>` (public, subject the configured area): "shaking detected" once a confirmed event's
  intensity reaches the lowest level, escalated as stronger shaking is measured, and cleared
  ("shaking ended", with the strongest intensity) when every station of the event has been off
  for `end_quiet_s` of data time.

Time is data time (the stations' sample times), never a wall clock, so replaying a recording
gives what the live hub gave. Stations' data arrive in any interleaving; onsets are matched by
their own times, not by arrival. The public level never falls while shaking lasts: a level
already announced is not withdrawn in the middle of an earthquake."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hub.types import LEVEL_RANK, Condition
from rules.seismic.config import ConfirmationConfig
from rules.seismic.intensity import describe
from rules.seismic.station import SecondSummary, TriggerEvent

_NS_PER_MS = 1_000_000


def _iso_ms(ts_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class _Event:
    first_on_ns: int
    confirmed_ns: int
    stations: set[str]
    public_level: str | None = None
    last_off_ns: int = 0
    strongest: tuple[float, str, float] = (0.0, "", 0.0)  # intensity, station, pga_g
    resumed: bool = False


@dataclass(slots=True)
class _StationState:
    active_since_ns: int | None = None
    peak_intensity: float = 0.0
    peak_pga_g: float = 0.0
    onsets: list[int] = field(default_factory=list)


def confirmation_version(config: ConfirmationConfig) -> str:
    """A short stable hash of the confirmation config (the rule version of its conditions)."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def level_for(intensity: float, config: ConfirmationConfig) -> str | None:
    """The highest public level whose intensity `intensity` reaches; None below the lowest."""
    reached = None
    for name, value in config.levels.items():
        if intensity >= value:
            reached = name
    return reached


class NetworkConfirmation:
    """Turns the trigger events and per-second summaries of a network's stations into
    conditions (see the module docstring). Pure: no I/O, no clock; not thread-safe."""

    def __init__(self, config: ConfirmationConfig, station_areas: Mapping[str, str]):
        self.config = config
        self._areas = dict(station_areas)
        self._version = confirmation_version(config)
        self._stations = {sensor: _StationState() for sensor in station_areas}
        self._event: _Event | None = None
        self._clock_ns = 0
        self._window_ns = round(config.window_s * 1e9)
        self._quiet_ns = round(config.end_quiet_s * 1e9)
        self._resumed_stations: set[str] = set()
        self.events_confirmed = 0

    def resume(self, open_alarms: Iterable[tuple[str, str, str]]) -> None:
        """Take up the alarms of this confirmation that were open when the hub stopped, as
        (rule, subject, level): the trigger and event state did not survive the restart, so a
        station's alarm clears at its first data without a trigger, and an event's alarms clear
        once `end_quiet_s` of data has passed without triggers (the shaking ended unobserved)."""
        public_level = None
        network_open = False
        for rule, subject, level in open_alarms:
            if rule == f"{self.config.id}-station" and subject in self._stations:
                self._resumed_stations.add(subject)
            elif rule == self.config.id and subject == self.config.area:
                public_level = level
            elif rule == f"{self.config.id}-network" and subject == self.config.area:
                network_open = True
        if public_level is not None or network_open:
            self._event = _Event(0, 0, set(), public_level=public_level, resumed=True)

    @property
    def event_in_progress(self) -> bool:
        """True while a confirmed event has not ended."""
        return self._event is not None

    def on_trigger(self, trigger: TriggerEvent) -> list[Condition]:
        """The conditions one station's trigger on or off causes."""
        state = self._stations.get(trigger.sensor)
        if state is None:
            return []
        out: list[Condition] = []
        self._clock_ns = max(self._clock_ns, trigger.ts_ns)
        self._resumed_stations.discard(trigger.sensor)
        if trigger.kind == "on":
            state.active_since_ns = trigger.on_ns
            state.peak_intensity = 0.0
            state.peak_pga_g = 0.0
            state.onsets.append(trigger.on_ns)
            out.append(self._station_condition(trigger.sensor, trigger.on_ns, True, trigger))
            event = self._event
            if event is not None:
                event.stations.add(trigger.sensor)
            else:
                self._try_confirm(out)
        else:
            state.active_since_ns = None
            out.append(self._station_condition(trigger.sensor, trigger.ts_ns, False, trigger))
            if self._event is not None and trigger.sensor in self._event.stations:
                self._event.last_off_ns = max(self._event.last_off_ns, trigger.ts_ns)
        self._prune()
        out += self._check_end()
        return out

    def on_summary(self, summary: SecondSummary) -> list[Condition]:
        """The conditions one station's second of peaks causes: a public level reached or
        raised by stronger shaking, or the end of the shaking as data time moves on."""
        state = self._stations.get(summary.sensor)
        if state is None:
            return []
        end_ns = (summary.ts_ms + 1000) * _NS_PER_MS
        self._clock_ns = max(self._clock_ns, end_ns)
        out: list[Condition] = []
        if summary.sensor in self._resumed_stations and state.active_since_ns is None:
            self._resumed_stations.discard(summary.sensor)
            out.append(self._condition(
                f"{self.config.id}-station", summary.sensor, None, "staff", summary.ts_ms,
                {"message": f"Station {summary.sensor} is not triggered (state taken up after a restart)",
                 "sensors": [summary.sensor]}, area=self._areas[summary.sensor]))
        intensity = float(summary.values.get("intensity", 0.0))
        pga = float(summary.values.get("pga_g", 0.0))
        counts = state.active_since_ns is not None and end_ns > state.active_since_ns
        event = self._event
        if event is not None and summary.sensor in event.stations and end_ns > event.first_on_ns:
            counts = True
        if counts:
            state.peak_intensity = max(state.peak_intensity, intensity)
            state.peak_pga_g = max(state.peak_pga_g, pga)
            if event is not None and summary.sensor in event.stations and intensity > event.strongest[0]:
                event.strongest = (intensity, summary.sensor, pga)
                out += self._raise_public(summary.ts_ms + 1000)
        out += self._check_end()
        return out

    # -- inside -------------------------------------------------------------------------------------

    def _try_confirm(self, out: list[Condition]) -> None:
        onsets = sorted((on_ns, sensor) for sensor, state in self._stations.items() for on_ns in state.onsets)
        k = self.config.min_stations
        for first, (start_ns, _) in enumerate(onsets):
            members: dict[str, int] = {}
            for on_ns, sensor in onsets[first:]:
                if on_ns - start_ns > self._window_ns:
                    break
                members.setdefault(sensor, on_ns)
                if len(members) >= k:
                    self._confirm(start_ns, on_ns, set(members), out)
                    return

    def _confirm(self, first_on_ns: int, confirmed_ns: int, stations: set[str], out: list[Condition]) -> None:
        # Stations still triggered from the same shaking join too (they confirm it as well).
        for sensor, state in self._stations.items():
            if state.active_since_ns is not None and state.active_since_ns >= first_on_ns - self._window_ns:
                stations.add(sensor)
        event = _Event(first_on_ns, confirmed_ns, stations, last_off_ns=confirmed_ns)
        for sensor in stations:
            state = self._stations[sensor]
            if state.peak_intensity > event.strongest[0]:
                event.strongest = (state.peak_intensity, sensor, state.peak_pga_g)
        self._event = event
        self.events_confirmed += 1
        ts_ms = confirmed_ns // _NS_PER_MS
        names = sorted(stations)
        out.append(self._condition(
            f"{self.config.id}-network", self.config.area, "yellow", "staff", ts_ms,
            {"message": f"Earthquake: {len(names)} stations triggered within {self.config.window_s:g} s "
                        f"(first at {_iso_ms(first_on_ns // _NS_PER_MS)})",
             "stations": names, "sensors": names, "first_onset": _iso_ms(first_on_ns // _NS_PER_MS)},
        ))
        out += self._raise_public(ts_ms)

    def _raise_public(self, ts_ms: int) -> list[Condition]:
        event = self._event
        if event is None:
            return []
        intensity, station, pga = event.strongest
        level = level_for(intensity, self.config)
        if level is None:
            return []
        if event.public_level is not None and LEVEL_RANK[level] <= LEVEL_RANK[event.public_level]:
            return []
        event.public_level = level
        names = sorted(event.stations)
        return [self._condition(
            self.config.id, self.config.area, level, "public", max(ts_ms, event.confirmed_ns // _NS_PER_MS),
            {"message": f"Shaking detected: intensity {describe(intensity)}, confirmed by {len(names)} stations",
             "value": round(intensity, 2), "intensity": round(intensity, 2), "pga_g": round(pga, 5),
             "strongest_at": station, "stations": names, "sensors": names,
             "first_onset": _iso_ms(event.first_on_ns // _NS_PER_MS)},
        )]

    def _check_end(self) -> list[Condition]:
        event = self._event
        if event is None:
            return []
        if event.resumed and event.last_off_ns == 0:
            # The first data after a restart starts the quiet period.
            event.last_off_ns = self._clock_ns
            return []
        if any(self._stations[s].active_since_ns is not None for s in event.stations):
            return []
        end_ns = event.last_off_ns + self._quiet_ns
        if self._clock_ns < end_ns:
            return []
        self._event = None
        for state in self._stations.values():
            state.onsets = [on for on in state.onsets if on > end_ns]
        ts_ms = end_ns // _NS_PER_MS
        intensity, station, pga = event.strongest
        names = sorted(event.stations)
        summary = {"stations": names, "sensors": names, "intensity": round(intensity, 2), "pga_g": round(pga, 5),
                   "strongest_at": station, "first_onset": _iso_ms(event.first_on_ns // _NS_PER_MS)}
        out = [self._condition(f"{self.config.id}-network", self.config.area, None, "staff", ts_ms,
                               {**summary, "message": "Earthquake event ended"})]
        if event.public_level is not None:
            out.append(self._condition(
                self.config.id, self.config.area, None, "public", ts_ms,
                {**summary, "value": round(intensity, 2),
                 "message": f"Shaking has ended; strongest intensity measured {describe(intensity)}"},
            ))
        return out

    def _prune(self) -> None:
        # Onsets older than the window before the newest data cannot join a coincidence any more.
        horizon = self._clock_ns - 2 * self._window_ns
        for state in self._stations.values():
            if state.onsets and state.onsets[0] < horizon:
                state.onsets = [on for on in state.onsets if on >= horizon]

    def _station_condition(self, sensor: str, ts_ns: int, on: bool, trigger: TriggerEvent) -> Condition:
        area = self._areas[sensor]
        if on:
            evidence = {"message": f"Trigger at station {sensor}; a public alarm needs "
                                   f"{self.config.min_stations} stations within {self.config.window_s:g} s",
                        "onset": _iso_ms(trigger.on_ns // _NS_PER_MS), "sensors": [sensor]}
            level: str | None = self.config.station_level
        else:
            state = self._stations[sensor]
            evidence = {"message": f"Trigger at station {sensor} ended after {trigger.duration_s:.1f} s",
                        "onset": _iso_ms(trigger.on_ns // _NS_PER_MS), "duration_s": round(trigger.duration_s, 3),
                        "value": round(trigger.peak_stalta, 2), "peak_stalta": round(trigger.peak_stalta, 2),
                        "intensity": round(state.peak_intensity, 2), "pga_g": round(state.peak_pga_g, 5),
                        "sensors": [sensor]}
            level = None
        return Condition(
            rule=f"{self.config.id}-station", rule_version=self._version, subject=sensor, area=area,
            level=level, audience="staff", hazard="earthquake", ts_ms=ts_ns // _NS_PER_MS, evidence=evidence,
        )

    def _condition(self, rule: str, subject: str, level: str | None, audience: str, ts_ms: int,
                   evidence: dict, area: str | None = None) -> Condition:
        return Condition(rule=rule, rule_version=self._version, subject=subject, area=area or self.config.area,
                         level=level, audience=audience, hazard="earthquake", ts_ms=ts_ms,  # type: ignore[arg-type]
                         evidence=evidence)
