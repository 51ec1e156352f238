"""Synthetic earthquakes and transients through the whole seismic chain as the hub runs it (wire
packets → decoder → ring buffers → detectors → confirmation): triggers within 0.2 s of the true P
arrival at every station; a transient at one station never raises a public alarm; a miniSEED
file of the same data replays through `ews replay` with triggers and the public alarm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.seismic.packets import decode_packet
from adapters.seismic.ringbuffer import StationBuffer
from firmware_sim.seismic import (
    Earthquake, Scenario, Transient, arrivals_s, campbell_pga_g, kazanlak_stations, packets, synthesize, write_mseed,
)
from hub.cli import main
from hub.sensors import KIND_FIELDS, SensorSpec
from rules.seismic.config import ConfirmationConfig, SeismicConfig
from rules.seismic.network import NetworkOutput, SeismicNetwork

ROOT = Path(__file__).parents[2]
STATIONS = kazanlak_stations()
SPECS = {s.id: SensorSpec(s.id, "seismic", "kazanlak", "t", KIND_FIELDS["seismic"], {}, 1.0) for s in STATIONS}


def run_network(scenario: Scenario) -> NetworkOutput:
    network = SeismicNetwork(SeismicConfig(confirmation=ConfirmationConfig(area="kazanlak")), SPECS, SPECS)
    buffers = {s: StationBuffer() for s in SPECS}
    out = NetworkOutput()
    for packet in packets(scenario, synthesize(scenario), "ews/t"):
        for block in buffers[packet.station].add(decode_packet(packet.payload)):
            out.extend(network.on_block(packet.station, block.start_ns, block.sampling_rate_hz, block.channels,
                                        block.continuous))
    out.extend(network.flush())
    return out


@pytest.mark.parametrize("quake", [
    Earthquake(30.0, 42.45, 25.10, 10.0, 5.0),   # south-west, towards the Chirpan–Plovdiv zone
    Earthquake(35.0, 42.70, 25.60, 15.0, 4.5),   # north-east, under the Balkan range
    Earthquake(30.0, 42.62, 25.38, 8.0, 4.0),    # right under the town
])
def test_every_station_triggers_within_0_2_s_of_the_true_p_arrival(quake: Earthquake) -> None:
    scenario = Scenario(STATIONS, 70.0, earthquake=quake, seed=11)
    out = run_network(scenario)
    for station in STATIONS:
        p_s, _ = arrivals_s(quake, station)
        onsets = [(t.on_ns - scenario.start_ns) / 1e9 for t in out.triggers if t.sensor == station.id and t.kind == "on"]
        assert onsets, f"{station.id} did not trigger"
        assert abs(onsets[0] - p_s) <= 0.2, f"{station.id}: trigger at {onsets[0]:.2f} s, P at {p_s:.2f} s"
    public = [c for c in out.conditions if c.audience == "public"]
    assert public and public[-1].level is None  # raised, then cleared when the shaking ended


def test_summaries_carry_the_peak_acceleration_of_the_synthetic_event() -> None:
    quake = Earthquake(30.0, 42.62, 25.38, 8.0, 4.5)
    scenario = Scenario(STATIONS, 60.0, earthquake=quake, seed=3)
    out = run_network(scenario)
    near = STATIONS[0]
    from firmware_sim.seismic import hypocentral_km

    expected = campbell_pga_g(quake.magnitude, hypocentral_km(quake, near))
    measured = max(r.values["pga_g"] for r in out.readings if r.sensor == near.id)
    assert measured == pytest.approx(expected, rel=0.25)  # the high-pass and noise move it a little
    assert {r.ts_ms % 1000 for r in out.readings} == {0}
    assert set(out.readings[0].values) == {"pga_g", "pgv_cm_s", "stalta", "intensity"}


@settings(max_examples=12)
@given(station=st.sampled_from([s.id for s in STATIONS]), kind=st.sampled_from(["truck", "door"]),
       start_s=st.floats(12.0, 30.0), peak_g=st.floats(0.01, 1.0), seed=st.integers(0, 1000))
def test_a_transient_at_one_station_never_raises_a_public_alarm(station, kind, start_s, peak_g, seed) -> None:
    scenario = Scenario(STATIONS, 45.0, transients=[Transient(station, kind, start_s, peak_g)], seed=seed)
    out = run_network(scenario)
    assert not [c for c in out.conditions if c.audience == "public"]
    assert not [c for c in out.conditions if c.rule == "earthquake-network"]
    if peak_g >= 0.05:  # a strong one does trigger its station: a staff-only event
        assert any(c.rule == "earthquake-station" and c.subject == station and c.level for c in out.conditions)


def test_miniseed_replay_prints_triggers_and_the_public_alarm(tmp_path: Path, capsys) -> None:
    quake = Earthquake(30.0, 42.45, 25.10, 10.0, 5.2)
    scenario = Scenario(STATIONS, 70.0, earthquake=quake, seed=5)
    path = tmp_path / "event.mseed"
    write_mseed(str(path), scenario, synthesize(scenario))
    code = main(["replay", "-c", str(ROOT / "examples" / "kazanlak" / "site.yaml"), "--input", str(path)])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    onsets = [line for line in lines if line["event"] == "trigger_on"]
    assert {line["sensor"] for line in onsets} == {s.id for s in STATIONS}
    earthquake = [line for line in lines if line.get("rule") == "earthquake"]
    assert [line["event"] for line in earthquake][:1] == ["raised"] and earthquake[-1]["event"] == "cleared"
    assert "Shaking detected" in earthquake[0]["message"]


def test_sac_replay_of_one_station_prints_its_triggers_and_no_public_alarm(tmp_path: Path, capsys) -> None:
    from obspy import read

    quake = Earthquake(30.0, 42.45, 25.10, 10.0, 5.2)
    scenario = Scenario(STATIONS, 60.0, earthquake=quake, seed=5)
    write_mseed(str(tmp_path / "event.mseed"), scenario, synthesize(scenario))
    trace = read(str(tmp_path / "event.mseed")).select(station="KZL03", channel="HNZ")[0]
    trace.write(str(tmp_path / "koprinka.sac"), format="SAC")
    code = main(["replay", "-c", str(ROOT / "examples" / "kazanlak" / "site.yaml"),
                 "--input", str(tmp_path / "koprinka.sac")])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    onsets = [line for line in lines if line["event"] == "trigger_on"]
    p_s, _ = arrivals_s(quake, STATIONS[2])
    assert onsets and onsets[0]["sensor"] == "seismic-koprinka"
    from datetime import datetime

    onset_s = datetime.fromisoformat(onsets[0]["onset"].replace("Z", "+00:00")).timestamp() - scenario.start_ns / 1e9
    assert abs(onset_s - p_s) <= 0.2
    assert not [line for line in lines if line.get("rule") == "earthquake"]
