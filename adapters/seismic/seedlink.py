"""SeedLink input (the protocol of SeisComP and the FDSN networks' real-time servers) through
ObsPy's `EasySeedLinkClient`: one client thread per station stream, reconnecting with the hub's
capped backoff. SeedLink sends each channel's miniSEED records on their own, so
`ComponentAssembler` (pure) lines the components up in time and hands the ingest packets with
`z` (and `n`, `e`) over their common span, in m/s² (counts divided by `counts_per_m_s2`).

Tested against a local fake SeedLink server (the protocol's handshake and 512-byte miniSEED
records), not against a real network (none is reachable from the test machines)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from adapters.seismic.config import SeedLinkStream
from adapters.seismic.packets import WavePacket
from hub.retry import Backoff, BackoffConfig

logger = logging.getLogger(__name__)

_COMPONENTS = {"Z": "z", "N": "n", "1": "n", "E": "e", "2": "e"}


class ComponentAssembler:
    """Lines up per-channel records of one station into packets over the span all its
    `expected` components cover. When a horizontal stays away for `max_hold_s` of vertical data,
    the vertical goes on alone (a dead horizontal must not silence the station). Records must
    come in time order per channel (SeedLink guarantees it)."""

    def __init__(self, counts_per_m_s2: float = 1.0, expected: tuple[str, ...] = ("z", "n", "e"),
                 max_hold_s: float = 10.0):
        self._gain = counts_per_m_s2
        self._expected = set(expected)
        self._max_hold_s = max_hold_s
        self._pending: dict[str, tuple[int, float, np.ndarray]] = {}

    def add(self, channel_code: str, start_ns: int, sampling_rate_hz: float, samples: np.ndarray) -> list[WavePacket]:
        """Take one record; return the packets now complete."""
        component = _COMPONENTS.get(channel_code[-1:].upper())
        if component is None:
            return []
        values = np.asarray(samples, dtype=np.float64) / self._gain
        held = self._pending.get(component)
        if held is not None and held[1] == sampling_rate_hz:
            expected = held[0] + round(len(held[2]) * 1e9 / sampling_rate_hz)
            if abs(start_ns - expected) < 0.5e9 / sampling_rate_hz:
                values = np.concatenate([held[2], values])
                start_ns = held[0]
        self._pending[component] = (start_ns, sampling_rate_hz, values)
        return self._emit()

    def _emit(self) -> list[WavePacket]:
        if "z" not in self._pending:
            return []
        z_start, z_rate, z_values = self._pending["z"]
        if not self._expected <= set(self._pending) or any(len(v[2]) == 0 for v in self._pending.values()):
            if len(z_values) / z_rate < self._max_hold_s:
                return []
            self._pending = {"z": self._pending["z"]}
        rates = {rate for _, rate, _ in self._pending.values()}
        if len(rates) != 1:
            # Components at different rates: use the vertical alone.
            self._pending = {"z": self._pending["z"]}
        rate = self._pending["z"][1]
        period = 1e9 / rate
        start = max(first for first, _, _ in self._pending.values())
        end = min(first + round(len(values) * period) for first, _, values in self._pending.values())
        count = int(round((end - start) / period))
        if count <= 0:
            return []
        channels = {}
        for name, (first, _, values) in list(self._pending.items()):
            offset = int(round((start - first) / period))
            channels[name] = values[offset:offset + count]
            rest = values[offset + count:]
            self._pending[name] = (start + round(count * period), rate, rest)
        return [WavePacket(start, rate, channels)]


class SeedLinkSource:
    """A SeedLink client for one station, on its own thread, handing packets to `submit`."""

    def __init__(self, sensor: str, stream: SeedLinkStream, submit: Callable[[str, WavePacket], bool],
                 backoff: BackoffConfig | None = None):
        self._sensor = sensor
        self._stream = stream
        self._submit = submit
        expected = ("z",) if stream.channels.endswith("Z") else ("z", "n", "e")
        self._assembler = ComponentAssembler(stream.counts_per_m_s2, expected)
        self._stop = threading.Event()
        self._backoff = Backoff(backoff or BackoffConfig(initial_s=1.0, max_s=60.0))
        self._client = None
        self._thread = threading.Thread(target=self._run, name=f"seedlink-{sensor}", daemon=True)
        self.records = 0

    def start(self) -> None:
        """Connect (in the background) and keep the stream up until `stop`."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the connection and end the thread."""
        self._stop.set()
        # ObsPy's collect() clears the terminate flag when it starts, so a request that falls
        # between two calls is lost: ask again until the thread has left its loop.
        waited = 0.0
        while self._thread.is_alive() and waited < timeout_s:
            connection = self._client
            if connection is not None:
                connection.terminate()
            self._thread.join(0.2)
            waited += 0.2

    def on_trace(self, trace) -> None:
        """One record from the server (an ObsPy Trace)."""
        self.records += 1
        for packet in self._assembler.add(trace.stats.channel, trace.stats.starttime.ns,
                                          float(trace.stats.sampling_rate), trace.data):
            self._submit(self._sensor, packet)

    def _run(self) -> None:
        # ObsPy's SeedLinkConnection (what its SLClient uses) rather than EasySeedLinkClient: the
        # latter asks INFO CAPABILITIES first and cannot be interrupted from another thread.
        from obspy.clients.seedlink.client.seedlinkconnection import SeedLinkConnection
        from obspy.clients.seedlink.slpacket import SLPacket

        stream = self._stream
        outage_logged = False
        while not self._stop.is_set():
            # The timeout bounds each collect() call too (ObsPy then reconnects): longer than a
            # 512-byte record of a 100 Hz stream takes to fill (a few seconds).
            connection = SeedLinkConnection(timeout=30.0)
            self._client = connection
            try:
                connection.set_sl_address(stream.server)
                connection.set_net_delay(2)
                connection.add_stream(stream.network, stream.station, f"{stream.location}{stream.channels}",
                                      seqnum=-1, timestamp=None)
                while not self._stop.is_set():
                    packet = connection.collect()
                    if packet == SLPacket.SLTERMINATE:
                        break
                    if packet == SLPacket.SLERROR or packet is None:
                        continue
                    if packet.get_type() in (SLPacket.TYPE_SLINF, SLPacket.TYPE_SLINFT):
                        continue
                    if outage_logged:
                        logger.info("SeedLink %s reachable again", stream.server)
                        outage_logged = False
                    self._backoff.reset()
                    self.on_trace(packet.get_trace())
            except Exception as error:  # noqa: BLE001 - ObsPy raises many types; the stream is retried
                if not outage_logged and not self._stop.is_set():
                    logger.error("SeedLink %s unavailable for %s: %s; retrying with backoff",
                                 stream.server, self._sensor, error)
                    outage_logged = True
            finally:
                connection.close()
            self._stop.wait(self._backoff.next_delay_s())
