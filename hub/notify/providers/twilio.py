"""The `twilio` provider: Programmable Messaging through the official `twilio` SDK. A message is
created with `To`, `Body`, `MessagingServiceSid` or `From`, the status callback URL and the
validity period; Twilio's answer is mapped to a `Receipt` or a `ProviderError` that says whether
to retry (429, 5xx, network) or not (400-class: invalid number 21211, not a mobile 21614,
unsubscribed recipient 21610 …). `api_url` sends the SDK's requests, unchanged but for scheme and
host, to a relay in front of Twilio's API."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from hub.notify.config import TwilioProviderConfig
from hub.notify.providers import ProviderError, Receipt

logger = logging.getLogger(__name__)
# The SDK logs every request and response at INFO (several lines each): a fan-out of thousands
# would bury the hub's log. Its client gets this logger of ours, which passes warnings only.
_sdk_logger = logging.getLogger(__name__ + ".sdk")
_sdk_logger.setLevel(logging.WARNING)

#: Twilio error codes that are about the recipient, not the message: the sender marks the
#: subscriber so that no further message is tried (https://www.twilio.com/docs/api/errors).
RECIPIENT_ERRORS: dict[int, str] = {
    21211: "invalid 'To' number",
    21614: "not a mobile number",
    21610: "recipient unsubscribed (replied STOP)",
    21612: "number cannot be reached from this sender",
}
OPTED_OUT_CODE = 21610


class RelayHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, with the scheme and host of every URL replaced by `base_url`'s:
    path, query, form fields and basic auth stay exactly as the SDK builds them."""

    def __init__(self, base_url: str, timeout: float | None = None):
        super().__init__(timeout=timeout, logger=_sdk_logger)
        parts = urlsplit(base_url)
        self._scheme, self._netloc = parts.scheme, parts.netloc

    def request(self, method: str, url: str, *args: object, **kwargs: object) -> Response:  # type: ignore[override]
        parts = urlsplit(url)
        relayed = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, parts.fragment))
        return super().request(method, relayed, *args, **kwargs)  # type: ignore[arg-type]


class TwilioProvider:
    """Sends with one SDK client per sending thread (requests sessions are not shared)."""

    name = "twilio"

    def __init__(self, config: TwilioProviderConfig, auth_token: str):
        self._config = config
        self._auth_token = auth_token
        self._local = threading.local()

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            http_client = (RelayHttpClient(self._config.api_url, timeout=self._config.timeout_s)
                           if self._config.api_url else TwilioHttpClient(timeout=self._config.timeout_s, logger=_sdk_logger))
            client = Client(self._config.account_sid, self._auth_token, http_client=http_client)
            self._local.client = client
        return client

    def send(self, to: str, body: str) -> Receipt:
        """Create the message at Twilio."""
        config = self._config
        arguments: dict[str, object] = {"to": to, "body": body}
        if config.messaging_service_sid:
            arguments["messaging_service_sid"] = config.messaging_service_sid
        else:
            arguments["from_"] = config.from_number
        if config.status_callback_url:
            arguments["status_callback"] = config.status_callback_url
        if config.validity_period_s is not None:
            arguments["validity_period"] = config.validity_period_s
        try:
            message = self._client().messages.create(**arguments)  # type: ignore[arg-type]
        except TwilioRestException as error:
            raise _classify(error) from None
        except (requests.RequestException, TwilioException) as error:
            raise ProviderError(f"Twilio not reached: {error}", permanent=False) from None
        return Receipt(str(message.sid), str(message.status or "queued"))

    def find_sent(self, to: str, body: str, since_ms: int) -> Receipt | None:
        """Look the message up among the recent ones to `to` (Messages list filtered by To)."""
        try:
            recent = self._client().messages.list(to=to, limit=50, page_size=50)
        except TwilioRestException as error:
            raise _classify(error) from None
        except (requests.RequestException, TwilioException) as error:
            raise ProviderError(f"Twilio not reached: {error}", permanent=False) from None
        since = datetime.fromtimestamp(since_ms / 1000 - 60, tz=UTC)  # Twilio's clock may differ a little
        for message in recent:
            created = message.date_created
            if message.body == body and (created is None or created >= since):
                return Receipt(str(message.sid), str(message.status or "queued"))
        return None


def _classify(error: TwilioRestException) -> ProviderError:
    status = int(error.status)
    code = int(error.code) if error.code is not None else None
    text = f"Twilio {status}" + (f" error {code}" if code else "") + f": {error.msg}"
    # 429 and 5xx pass; so does 401/403 without a code (credentials being rotated, a proxy):
    # failing every message of a warning because of a passing configuration error is worse.
    transient = status == 429 or status >= 500 or (status in (401, 403) and code is None) or code == 20003
    return ProviderError(text, permanent=not transient, code=code, http_status=status)
