"""Config of the hub's connection to the MQTT broker (the one boundary between processes)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.configbase import EnvName, StrictModel
from hub.retry import BackoffConfig


class BrokerConfig(StrictModel):
    """How the hub reaches the MQTT broker. The hub subscribes with QoS 1 and a persistent session
    so that the broker keeps its messages while it restarts; the broker's queue limits must be
    sized for that (see deploy/mosquitto/mosquitto.conf)."""

    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker TCP port.")
    client_id: str | None = Field(
        None, max_length=64, description="Client id of the hub; fixed so the broker keeps its session. Default ews-hub-<site>."
    )
    topic_root: str | None = Field(None, description="Root of the hub's topics. Default ews/<site>.")
    username: str | None = Field(None, description="User name at the broker.")
    password_env: EnvName | None = Field(None, description="Environment variable holding the broker password.")
    tls: bool = Field(False, description="Connect with TLS.")
    ca_file: str | None = Field(None, description="CA certificate file for TLS; the system's CAs when unset.")
    protocol: Literal["5", "3.1.1"] = Field(
        "3.1.1",
        description=(
            "MQTT protocol version. 3.1.1 is the default: paho decodes an MQTT 5 properties block for "
            "every message, which costs the hub about a third of its ingest rate (bench/). With 3.1.1 "
            "the persistent session lasts as the broker's persistent_client_expiration says; with 5, "
            "as session_expiry_s says."
        ),
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keep-alive interval, in seconds.")
    session_expiry_s: int = Field(
        7 * 86400, ge=0, description="MQTT 5: how long the broker keeps the hub's session (and queued messages) while it is away."
    )
    qos: Literal[0, 1, 2] = Field(1, description="QoS of the hub's subscriptions; 1 loses nothing.")
    reconnect: BackoffConfig = Field(
        default_factory=lambda: BackoffConfig(initial_s=0.5, max_s=30.0),
        description="Backoff between connection attempts.",
    )
