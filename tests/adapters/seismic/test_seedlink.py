"""SeedLink records arrive per channel; the assembler lines the components up into the packets
the ingest takes, in m/s², without losing or repeating a sample. (The network client is ObsPy's;
no SeedLink server is reachable from the test machines.)"""

from __future__ import annotations

import numpy as np
from obspy import Trace, UTCDateTime

from adapters.seismic.config import SeedLinkStream
from adapters.seismic.packets import WavePacket
from adapters.seismic.seedlink import ComponentAssembler, SeedLinkSource

T0 = 1_780_000_000_000_000_000


def test_components_arriving_in_unequal_records_are_lined_up_without_loss() -> None:
    assembler = ComponentAssembler(counts_per_m_s2=1000.0)
    values = np.arange(1000, dtype=float) * 1000.0
    packets: list[WavePacket] = []
    # Z in records of 300 samples, N of 170, E of 410: interleaved as a server would send them.
    cuts = {"HNZ": 300, "HNN": 170, "HNE": 410}
    positions = dict.fromkeys(cuts, 0)
    while any(p < 1000 for p in positions.values()):
        for channel, size in cuts.items():
            first = positions[channel]
            if first < 1000:
                packets += assembler.add(channel, T0 + first * 10_000_000, 100.0, values[first:first + size])
                positions[channel] = first + size
    z = np.concatenate([p.channels["z"] for p in packets if "n" in p.channels] or [np.zeros(0)])
    starts = [p.t0_ns for p in packets if "n" in p.channels]
    assert starts[0] == T0
    np.testing.assert_array_equal(z, np.arange(len(z), dtype=float))
    assert len(z) == 1000
    for packet in packets:
        assert set(packet.channels) in ({"z"}, {"z", "n", "e"})


def test_the_source_hands_packets_of_obspy_traces_to_the_ingest() -> None:
    got: list[tuple[str, WavePacket]] = []
    source = SeedLinkSource("seis-1", SeedLinkStream(server="127.0.0.1:18000", network="XX", station="KZL01", channels="HNZ"),
                            lambda sensor, packet: got.append((sensor, packet)) is None)
    trace = Trace(np.ones(100), header={"channel": "HNZ", "sampling_rate": 100.0, "starttime": UTCDateTime(ns=T0)})
    source.on_trace(trace)
    assert [(sensor, packet.t0_ns, packet.samples) for sensor, packet in got] == [("seis-1", T0, 100)]


class FakeSeedLinkServer:
    """A local SeedLink server speaking the protocol's handshake (HELLO, STATION, SELECT, DATA,
    END) and then streaming `records` (512-byte miniSEED) as `SL<seq>` packets."""

    def __init__(self, records: list[bytes]):
        import socket
        import threading

        self.records = records
        self.commands: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        connection, _ = self._server.accept()
        with connection:
            buffered = b""
            while True:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                buffered += chunk
                while b"\r" in buffered:
                    line, buffered = buffered.split(b"\r", 1)
                    command = line.strip().decode()
                    if not command:
                        continue
                    self.commands.append(" ".join(command.split()))
                    if command == "HELLO":
                        connection.sendall(b"SeedLink v3.1 (2024.001 fake) :: SLPROTO:3.1\r\nfake\r\n")
                    elif command.split()[0] in ("STATION", "SELECT", "DATA"):
                        connection.sendall(b"OK\r\n")
                    elif command == "END":
                        for seq, record in enumerate(self.records):
                            connection.sendall(b"SL" + f"{seq:06X}".encode() + record)

    def close(self) -> None:
        self._server.close()


def test_the_source_streams_from_a_seedlink_server(tmp_path) -> None:
    import io
    import threading

    from obspy import Stream

    rate = 100.0
    values = {name: np.sin(np.arange(600) / 10.0) * scale for name, scale in (("Z", 1.0), ("N", 2.0), ("E", 3.0))}
    stream = Stream([Trace(values[c].astype(np.float32), header={
        "network": "XX", "station": "KZL01", "channel": f"HN{c}", "sampling_rate": rate,
        "starttime": UTCDateTime(ns=T0)}) for c in "ZNE"])
    buffer = io.BytesIO()
    stream.write(buffer, format="MSEED", reclen=512, encoding="FLOAT32")
    raw = buffer.getvalue()
    server = FakeSeedLinkServer([raw[i:i + 512] for i in range(0, len(raw), 512)])
    got: list[WavePacket] = []
    enough = threading.Event()

    def submit(sensor: str, packet: WavePacket) -> bool:
        got.append(packet)
        if sum(p.samples for p in got if "n" in p.channels) >= 600:
            enough.set()
        return True

    source = SeedLinkSource("seis-1", SeedLinkStream(server=f"127.0.0.1:{server.port}", network="XX",
                                                     station="KZL01", counts_per_m_s2=2.0), submit)
    source.start()
    try:
        assert enough.wait(20.0), f"got {sum(p.samples for p in got)} samples"
    finally:
        source.stop()
        server.close()
    assert server.commands[:4] == ["HELLO", "STATION KZL01 XX", "SELECT HN?", "DATA"]
    z = np.concatenate([p.channels["z"] for p in got])
    e = np.concatenate([p.channels["e"] for p in got])
    np.testing.assert_allclose(z, values["Z"] / 2.0, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(e, values["E"] / 2.0, rtol=1e-6, atol=1e-7)
    assert got[0].t0_ns == T0
