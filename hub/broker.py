"""The hub's link to the MQTT broker: one paho-mqtt client driven by its own thread, with the
shared backoff between connection attempts, a persistent session (QoS 1 subscriptions the broker
keeps while the hub restarts), resubscription on every connect, and liveness on
`<root>/status/hub` (`online`, and `offline` as the last will and on a clean stop).

Messages are handed to a callback on the link's thread; the callback must not block for long."""

from __future__ import annotations

import logging
import os
import select
import socket
import ssl
import threading
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.broker_config import BrokerConfig
from hub.configbase import read_secret
from hub.logutil import LogOncePer
from hub.retry import Backoff

logger = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]


class BrokerLink:
    """A connection to the broker that keeps itself up until `stop`."""

    def __init__(
        self,
        config: BrokerConfig,
        client_id: str,
        status_topic: str,
        subscriptions: Sequence[str],
        on_message: MessageHandler,
    ):
        self._config = config
        self._status_topic = status_topic
        self._subscriptions = list(subscriptions)
        self._on_message_handler = on_message
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.handler_errors = 0
        self.messages_received = 0
        self._error_log = LogOncePer(60.0)
        self._backoff = Backoff(config.reconnect)
        self._outage_logged = False
        self._thread = threading.Thread(target=self._run, name="mqtt-link", daemon=True)
        if config.protocol == "5":
            self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        else:
            self._client = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=False
            )
        password = read_secret(config.password_env, "mqtt.password_env")
        if config.username is not None:
            self._client.username_pw_set(config.username, password)
        if config.tls:
            self._client.tls_set(ca_certs=config.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self._client.will_set(status_topic, b"offline", qos=1, retain=True)
        # Outgoing QoS 1 messages in flight at once; paho's default of 20 throttles alarm bursts.
        self._client.max_inflight_messages_set(100)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._wake_reader, self._wake_writer = os.pipe()
        os.set_blocking(self._wake_reader, False)
        os.set_blocking(self._wake_writer, False)
        self._client.on_socket_register_write = self._register_write
        self._subscribe_mid = -1
        self._disconnected = threading.Event()

    def start(self) -> None:
        """Start connecting (in the background)."""
        self._thread.start()

    def wait_connected(self, timeout_s: float) -> bool:
        """True once connected and subscribed, False on timeout."""
        return self.connected.wait(timeout_s)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        """Queue a message; paho sends it from the link's thread (and after a reconnect, for QoS > 0)."""
        self._client.publish(topic, payload, qos=qos, retain=retain)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Publish `offline`, disconnect cleanly (the session stays at the broker) and end the thread."""
        self._stop.set()
        if self._wake_writer < 0:
            return
        try:
            os.write(self._wake_writer, b"\x00")
        except OSError:
            pass
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if not self._thread.is_alive():
            os.close(self._wake_reader)
            os.close(self._wake_writer)
            # Never write to a closed descriptor: its number may belong to another file by now.
            self._wake_reader = self._wake_writer = -1

    # -- the link's thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._connect()
            except (OSError, ValueError) as error:
                self._down(f"cannot connect to {self._config.host}:{self._config.port}: {error}")
                continue
            result = self._serve()
            if self._stop.is_set():
                self._goodbye()
                return
            self.connected.clear()
            self._down(f"connection lost ({mqtt.error_string(result)})")

    def _serve(self) -> mqtt.MQTTErrorCode:
        """Drive paho from our own select() until the connection ends or `stop` is set.

        paho's `loop()` wakes its select through a socket pair on every queued packet (each
        PUBACK costs a send and a recv more); here only publishes from other threads wake it,
        through our own pipe, and every write to the socket happens on this thread."""
        client = self._client
        wake = self._wake_reader
        result = mqtt.MQTT_ERR_SUCCESS
        while not self._stop.is_set() and result == mqtt.MQTT_ERR_SUCCESS:
            sock = client.socket()
            if sock is None:
                return mqtt.MQTT_ERR_CONN_LOST
            # An SSL socket may hold decrypted bytes that select() cannot see.
            pending = sock.pending() if hasattr(sock, "pending") else 0
            try:
                readable, _, _ = select.select([sock, wake], [sock] if client.want_write() else [], [],
                                               0.0 if pending else 0.5)
            except (OSError, ValueError):
                return mqtt.MQTT_ERR_CONN_LOST
            if wake in readable:
                try:
                    os.read(wake, 4096)
                except BlockingIOError:
                    pass
            if sock in readable or pending:
                result = client.loop_read()
                if result != mqtt.MQTT_ERR_SUCCESS:
                    break
            if client.want_write():
                result = client.loop_write()
                if result != mqtt.MQTT_ERR_SUCCESS:
                    break
            result = client.loop_misc()
        return result

    def _register_write(self, client: mqtt.Client, userdata: object, sock: object) -> None:
        # Packets queued on this thread are written by `_serve` anyway; others must wake it.
        if threading.current_thread() is not self._thread and self._wake_writer >= 0:
            try:
                os.write(self._wake_writer, b"\x00")
            except BlockingIOError:
                pass  # the pipe is full: the link is awake already

    def _connect(self) -> None:
        if self._config.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self._config.session_expiry_s
            self._client.connect(
                self._config.host, self._config.port, self._config.keepalive_s, clean_start=False,
                properties=properties,
            )
        else:
            self._client.connect(self._config.host, self._config.port, self._config.keepalive_s)

    def _down(self, why: str) -> None:
        if not self._outage_logged:
            logger.error("MQTT broker unavailable: %s; retrying with backoff", why)
            self._outage_logged = True
        self._stop.wait(self._backoff.next_delay_s())

    def _goodbye(self) -> None:
        if self._client.is_connected():
            info = self._client.publish(self._status_topic, b"offline", qos=1, retain=True)
            for _ in range(40):
                if info.is_published():
                    break
                self._client.loop(timeout=0.05)
            self._disconnected = threading.Event()
            self._client.disconnect()
            # Send the DISCONNECT before the socket closes, or the broker publishes the will too.
            for _ in range(40):
                if self._disconnected.is_set():
                    break
                self._client.loop(timeout=0.05)
        self.connected.clear()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("MQTT broker refused the connection: %s", reason_code)
            client.disconnect()
            return
        if self._subscriptions:
            _, self._subscribe_mid = client.subscribe([(topic, self._config.qos) for topic in self._subscriptions])
        else:
            # A publish-only link (a camera worker) is ready as soon as it is connected.
            self.connected.set()
        client.publish(self._status_topic, b"online", qos=1, retain=True)
        self._backoff.reset()
        if self._outage_logged:
            logger.info("MQTT broker reachable again")
            self._outage_logged = False

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reason_codes, properties) -> None:
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            logger.error("MQTT broker refused subscriptions: %s", failed)
        if mid == self._subscribe_mid:
            self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason_code, properties) -> None:
        self.connected.clear()
        if self._stop.is_set():
            self._close_gracefully(client)
        self._disconnected.set()

    @staticmethod
    def _close_gracefully(client: mqtt.Client) -> None:
        """Called between paho writing DISCONNECT and closing the socket. Closing a socket that
        still holds unread messages makes the kernel send a reset, and the broker may then drop
        the DISCONNECT and publish the last will although the hub stopped cleanly. So: half-close,
        and read what is left (those messages were not acknowledged: the broker keeps them in the
        session and delivers them on the next start)."""
        sock = client.socket()
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(1.0)
            while sock.recv(65536):
                pass
        except OSError:
            pass

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self.messages_received += 1
        try:
            self._on_message_handler(message.topic, message.payload)
        except Exception:  # noqa: BLE001 - one bad message must not stop the stream; counted and logged
            self.handler_errors += 1
            if self._error_log.allow("handler") is not None:
                logger.exception("error while handling a message on %r (counted; stream continues)", message._topic)
