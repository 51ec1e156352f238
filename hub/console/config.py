"""Config of the hub's HTTP server (the `http:` section of a site file): where it listens, and
the console's sessions and login limits. The Twilio webhooks, the CAP feed and the console share
this one server."""

from __future__ import annotations

from pydantic import Field

from hub.configbase import EnvName, StrictModel


class HttpConfig(StrictModel):
    """The hub's HTTP server: console, API, Twilio webhooks, CAP feed."""

    listen_host: str = Field("127.0.0.1", description="Address the hub's HTTP server binds to.")
    listen_port: int = Field(8090, ge=0, le=65535, description="Port of the hub's HTTP server; 0 = any free port.")
    session_ttl_s: float = Field(
        8 * 3600.0, gt=0, description="A console login lasts this long (one control-room shift), in seconds."
    )
    login_attempts: int = Field(5, ge=1, description="Failed logins per user name or address before a pause.")
    login_window_s: float = Field(300.0, gt=0, description="Window over which failed logins count, in seconds.")
    metrics_token_env: EnvName | None = Field(
        None, description="Environment variable holding a bearer token that lets Prometheus read /metrics "
        "without a login; none = /metrics needs a logged-in user."
    )
    secure_cookies: bool = Field(
        False, description="Send the session cookie only over HTTPS (set when a TLS proxy is in front)."
    )
