"""The load generator of the ingest benchmark, run as its own process (`python -m bench.publisher`)
so that it never shares a GIL with the subscriber being measured. It encodes every MQTT PUBLISH
packet (MQTT 3.1.1, normalised readings of DESIGN.md) before it is told to go, then writes them to
the broker over one socket in large chunks, as fast as the kernel takes them, without waiting for
acknowledgements: the broker queues what the subscriber has not taken yet, so the receive side is
the limit. It reports when the first packet left and when the broker had acknowledged the last
one (every PUBACK at QoS 1; a PINGRESP after the last packet at QoS 0).

Protocol with the parent, one line each on stdout/stdin: it prints `ready`, waits for `go`, and
prints one JSON object with the times (`time.monotonic()`, the same clock in every process on
Linux) and counts."""

from __future__ import annotations

import argparse
import json
import resource
import socket
import struct
import sys
import threading
import time

CHUNK_BYTES = 1 << 20
PINGREQ = b"\xc0\x00"
PINGRESP_TYPE = 0xD0
PUBACK_TYPE = 0x40


def remaining_length(length: int) -> bytes:
    """MQTT variable-length integer (spec 3.1.1 §2.2.3)."""
    encoded = bytearray()
    while True:
        digit, length = length % 128, length // 128
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def connect_packet(client_id: str, keepalive_s: int = 60) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session, no credentials."""
    client = client_id.encode()
    variable = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", keepalive_s)
    body = variable + struct.pack("!H", len(client)) + client
    return b"\x10" + remaining_length(len(body)) + body


def publish_packet(topic: bytes, payload: bytes, qos: int, packet_id: int) -> bytes:
    """PUBLISH with the given QoS (0 or 1); the packet id is only written for QoS 1."""
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", packet_id) if qos else b"") + payload
    return bytes((0x30 | (qos << 1),)) + remaining_length(len(body)) + body


def reading_topic(topic_root: str, sensor: str) -> str:
    """The normalised reading topic of a river sensor."""
    return f"{topic_root}/reading/river/{sensor}"


def sensor_ids(count: int) -> list[str]:
    """Sensor ids of the benchmark site: r000, r001, ..."""
    return [f"r{index:03d}" for index in range(count)]


def reading_points(sensors: int, messages: int, newest_ms: int) -> list[tuple[int, int, float]]:
    """(sensor index, ts_ms, level_cm) in publishing order: sensors take turns; each sensor's
    timestamps are distinct, one millisecond apart, ending at `newest_ms` (so none is in the future)."""
    per_sensor = -(-messages // sensors)
    return [
        (index % sensors, newest_ms - (per_sensor - 1 - index // sensors), 100.0 + (index % 1000) / 10)
        for index in range(messages)
    ]


def reading_payload(ts_ms: int, level_cm: float) -> bytes:
    """A normalised reading with the timestamp in epoch milliseconds."""
    return b'{"ts": %d, "values": {"level_cm": %r}}' % (ts_ms, level_cm)


def encode_all(topic_root: str, sensors: int, messages: int, qos: int, newest_ms: int) -> list[bytes]:
    """All PUBLISH packets, joined into chunks of about CHUNK_BYTES."""
    topics = [reading_topic(topic_root, sensor).encode() for sensor in sensor_ids(sensors)]
    chunks: list[bytes] = []
    pending: list[bytes] = []
    size = 0
    for number, (sensor, ts_ms, level_cm) in enumerate(reading_points(sensors, messages, newest_ms)):
        packet = publish_packet(topics[sensor], reading_payload(ts_ms, level_cm), qos, number % 65535 + 1)
        pending.append(packet)
        size += len(packet)
        if size >= CHUNK_BYTES:
            chunks.append(b"".join(pending))
            pending, size = [], 0
    if pending:
        chunks.append(b"".join(pending))
    return chunks


class _AckReader(threading.Thread):
    """Reads the broker's packets and notes when `expected_pubacks` PUBACKs and a PINGRESP came."""

    def __init__(self, sock: socket.socket, expected_pubacks: int):
        super().__init__(name="ack-reader", daemon=True)
        self._sock = sock
        self._expected = expected_pubacks
        self.pubacks = 0
        self.all_acked_at: float | None = None
        self.pingresp_at: float | None = None
        self.done = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        buffer = b""
        while not self.done.is_set():
            try:
                data = self._sock.recv(1 << 16)
            except OSError as error:
                self.error = f"socket error: {error}"
                break
            if not data:
                self.error = "broker closed the connection"
                break
            buffer += data
            buffer = self._parse(buffer)
        self.done.set()

    def _parse(self, buffer: bytes) -> bytes:
        position = 0
        while True:
            if len(buffer) - position < 2:
                break
            header = buffer[position]
            length, multiplier, cursor = 0, 1, position + 1
            while cursor < len(buffer):
                digit = buffer[cursor]
                length += (digit & 0x7F) * multiplier
                multiplier *= 128
                cursor += 1
                if not digit & 0x80:
                    break
            else:
                break
            if len(buffer) - cursor < length:
                break
            position = cursor + length
            kind = header & 0xF0
            if kind == PUBACK_TYPE:
                self.pubacks += 1
                if self.pubacks == self._expected:
                    self.all_acked_at = time.monotonic()
            elif kind == PINGRESP_TYPE:
                self.pingresp_at = time.monotonic()
                if self.pubacks >= self._expected:
                    self.done.set()
        return buffer[position:]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def publish(
    port: int, topic_root: str, sensors: int, messages: int, qos: int, newest_ms: int, host: str = "127.0.0.1"
) -> None:
    """Encode, connect, announce `ready`, wait for `go`, publish, and print the result as JSON."""
    chunks = encode_all(topic_root, sensors, messages, qos, newest_ms)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.sendall(connect_packet(f"bench-publisher-{topic_root.replace('/', '-')}"))
    connack = sock.recv(4)
    if len(connack) != 4 or connack[0] != 0x20 or connack[3] != 0:
        raise SystemExit(f"broker refused the publisher: {connack!r}")
    reader = _AckReader(sock, messages if qos else 0)
    reader.start()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("publisher: expected 'go' on stdin")
    cpu_at_go = _cpu_s()
    first_sent_at = time.monotonic()
    for chunk in chunks:
        sock.sendall(chunk)
    last_sent_at = time.monotonic()
    # The broker handles one connection's packets in order: its PINGRESP follows the last PUBLISH.
    sock.sendall(PINGREQ)
    finished = reader.done.wait(120.0)
    result = {
        "messages": messages,
        "qos": qos,
        "bytes": sum(len(chunk) for chunk in chunks),
        "first_sent_at": first_sent_at,
        "last_sent_at": last_sent_at,
        "broker_done_at": reader.all_acked_at if qos else reader.pingresp_at,
        "pubacks": reader.pubacks,
        "cpu_s": _cpu_s() - cpu_at_go,
        "error": reader.error if reader.error else (None if finished else "timed out waiting for the broker"),
    }
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic-root", required=True)
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--newest-ms", type=int, default=None, help="Timestamp of each sensor's last reading; default now.")
    args = parser.parse_args(argv)
    newest_ms = args.newest_ms if args.newest_ms is not None else time.time_ns() // 1_000_000
    publish(args.port, args.topic_root, args.sensors, args.messages, args.qos, newest_ms)


if __name__ == "__main__":
    main()
