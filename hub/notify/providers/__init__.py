"""SMS providers: what the sender needs of one (`Provider`), the typed outcome of a request and
the error that says whether to retry, and the construction of the configured provider."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hub.configbase import read_secret
from hub.notify.config import OutboxProviderConfig, TwilioProviderConfig


@dataclass(frozen=True, slots=True)
class Receipt:
    """The provider accepted a message: its id there and its first status."""

    sid: str
    status: str


class ProviderError(Exception):
    """A request the provider refused or that did not reach it. `permanent`: retrying cannot
    help (invalid number, opted-out number); otherwise it carries the retry hint of a 429, a
    5xx or a network error. `code` is the provider's error code (Twilio's 21211, 21610, …)."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None, http_status: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.http_status = http_status


class Provider(Protocol):
    """What the sender needs of an SMS provider. Calls block; the sender runs them in threads."""

    name: str

    def send(self, to: str, body: str) -> Receipt:
        """Hand one message to the provider; raises ProviderError."""
        ...

    def find_sent(self, to: str, body: str, since_ms: int) -> Receipt | None:
        """The message with this recipient and text accepted at or after `since_ms`, if the
        provider has it: how a request in flight when the hub died is found out."""
        ...


def build_provider(config: TwilioProviderConfig | OutboxProviderConfig, data_folder: Path) -> Provider:
    """The configured provider; a Twilio provider reads its auth token from the environment."""
    if isinstance(config, TwilioProviderConfig):
        from hub.notify.providers.twilio import TwilioProvider

        token = read_secret(config.auth_token_env, "notify.sms.provider.auth_token_env")
        assert token is not None
        return TwilioProvider(config, token)
    from hub.notify.providers.outbox import RecordingProvider

    return RecordingProvider(data_folder / "sms-recorded.sqlite")
