"""Network confirmation: k stations within the window make a public earthquake alarm whose level
follows the intensity, and which clears when the shaking has ended; anything at fewer stations
(a door, a truck, however strong) stays a staff-only event; arrival order does not matter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rules.seismic.config import ConfirmationConfig
from rules.seismic.confirm import NetworkConfirmation
from rules.seismic.station import SecondSummary, TriggerEvent

T0 = 1_780_000_000_000_000_000
STATIONS = {f"s{i}": "town" for i in range(4)}
S = 1_000_000_000


def config(**changes) -> ConfirmationConfig:
    return ConfirmationConfig(area="town", min_stations=3, window_s=10, end_quiet_s=5, **changes)


def on(station: str, at_s: float) -> TriggerEvent:
    return TriggerEvent(station, "on", T0 + round(at_s * S), T0 + round(at_s * S))


def off(station: str, on_s: float, at_s: float) -> TriggerEvent:
    return TriggerEvent(station, "off", T0 + round(at_s * S), T0 + round(on_s * S), 8.0)


def second(station: str, at_s: int, intensity: float) -> SecondSummary:
    return SecondSummary(station, (T0 + at_s * S) // 1_000_000, {"pga_g": 0.01, "stalta": 5.0, "intensity": intensity})


def feed(confirmation: NetworkConfirmation, items) -> list:
    out = []
    for item in items:
        out += confirmation.on_trigger(item) if isinstance(item, TriggerEvent) else confirmation.on_summary(item)
    return out


def quake(stations=("s0", "s1", "s2"), intensity=5.2) -> list:
    items = []
    for number, station in enumerate(stations):
        items.append(on(station, 10 + number))
    for t in range(10, 16):
        items += [second(station, t, intensity if t >= 12 else 3.0) for station in stations]
    for number, station in enumerate(stations):
        items.append(off(station, 10 + number, 16 + number))
    items += [second(station, t, 2.0) for t in range(16, 30) for station in stations]
    return items


def test_k_stations_raise_a_public_alarm_at_the_intensity_level_and_clear_when_shaking_ends() -> None:
    out = feed(NetworkConfirmation(config(), STATIONS), quake())
    public = [c for c in out if c.audience == "public"]
    assert [c.level for c in public] == ["orange", None]
    assert public[0].rule == "earthquake" and public[0].subject == "town" and public[0].hazard == "earthquake"
    assert "intensity V" in public[0].evidence["message"]
    assert "ended" in public[1].evidence["message"]
    assert public[1].ts_ms == (T0 + (18 + 5) * S) // 1_000_000  # last off + end_quiet_s
    network = [c for c in out if c.rule == "earthquake-network"]
    assert [c.level for c in network] == ["yellow", None]
    assert network[0].ts_ms == (T0 + 12 * S) // 1_000_000  # the third onset confirmed it


def test_the_public_level_rises_with_the_intensity_and_never_falls_while_shaking() -> None:
    items = [on("s0", 10), on("s1", 10.5), on("s2", 11)]
    items += [second(s, 11, 4.1) for s in ("s0", "s1", "s2")]
    items += [second(s, 12, 6.3) for s in ("s0", "s1", "s2")]
    items += [second(s, 13, 4.0) for s in ("s0", "s1", "s2")]
    out = feed(NetworkConfirmation(config(), STATIONS), items)
    assert [c.level for c in out if c.audience == "public"] == ["yellow", "red"]


def test_fewer_than_k_stations_stay_staff_only() -> None:
    out = feed(NetworkConfirmation(config(), STATIONS), quake(stations=("s0", "s1"), intensity=8.0))
    assert out and all(c.audience == "staff" for c in out)
    assert {c.rule for c in out} == {"earthquake-station"}


def test_onsets_further_apart_than_the_window_do_not_confirm() -> None:
    items = [on("s0", 0), off("s0", 0, 1), on("s1", 8), off("s1", 8, 9), on("s2", 16), off("s2", 16, 17)]
    out = feed(NetworkConfirmation(config(), STATIONS), items)
    assert all(c.audience == "staff" for c in out)


@given(st.permutations(range(3)), st.integers(0, 3))
def test_the_order_in_which_stations_data_arrive_does_not_matter(order, lag) -> None:
    # Stations' packets interleave in any order; the confirmation looks at the onsets' own times.
    onsets = [on(f"s{i}", 10 + i * 2) for i in range(3)]
    out = feed(NetworkConfirmation(config(), STATIONS), [onsets[i] for i in order])
    network = [c for c in out if c.rule == "earthquake-network"]
    assert len(network) == 1 and network[0].ts_ms == (T0 + 14 * S) // 1_000_000


@given(station=st.sampled_from(sorted(STATIONS)), intensity=st.floats(1.0, 10.0), repeats=st.integers(1, 6))
def test_one_station_never_raises_a_public_alarm_however_strong_and_often(station, intensity, repeats) -> None:
    confirmation = NetworkConfirmation(config(), STATIONS)
    out = []
    for n in range(repeats):
        start = 20 * n
        out += feed(confirmation, [on(station, start), second(station, start, intensity), off(station, start, start + 1)])
    assert not [c for c in out if c.audience == "public"]
    assert sum(1 for c in out if c.level is not None) == repeats


def test_alarms_open_before_a_restart_clear_once_the_data_show_no_shaking() -> None:
    confirmation = NetworkConfirmation(config(), STATIONS)
    confirmation.resume([("earthquake", "town", "orange"), ("earthquake-network", "town", "yellow"),
                         ("earthquake-station", "s1", "yellow")])
    out = feed(confirmation, [second(s, t, 2.0) for t in range(100, 104) for s in STATIONS])
    assert [(c.rule, c.subject, c.level) for c in out] == [("earthquake-station", "s1", None)]
    out = feed(confirmation, [second(s, t, 2.0) for t in range(104, 108) for s in STATIONS])
    assert sorted((c.rule, c.level) for c in out) == [("earthquake", None), ("earthquake-network", None)]
    assert "ended" in [c for c in out if c.rule == "earthquake"][0].evidence["message"]
