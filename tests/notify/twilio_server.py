"""A local stand-in for Twilio's REST API and its status callbacks, for tests and benchmarks:
the one test double the project allows, since Twilio's servers cannot run here. It checks each
request exactly as Twilio would receive it from the real `twilio` SDK (path
`/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP basic auth with the account SID and auth
token, form fields To, Body, From or MessagingServiceSid, StatusCallback, ValidityPeriod),
answers like Twilio (201 with the message's JSON; 400 with error 21211 or 21610; 401 20003; 429;
500), serves the Messages list filtered by To, and posts signed status callbacks (`sent`, then
`delivered` or `undelivered`) to the StatusCallback URL as Twilio does."""

from __future__ import annotations

import base64
import json
import queue
import re
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from email.utils import format_datetime
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f" * 32
SERVICE_SID = "MG" + "fedcba9876543210" * 2
_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})/Messages\.json$")


@dataclass
class Behaviour:
    """How the fake answers: numbers that are invalid (21211) or unsubscribed (21610), numbers
    that get a 429 or a 500 the first n times, numbers whose delivery fails, what each message
    must carry, and whether to post status callbacks."""

    invalid: set[str] = field(default_factory=set)
    unsubscribed: set[str] = field(default_factory=set)
    throttle_first: dict[str, int] = field(default_factory=dict)
    error_first: dict[str, int] = field(default_factory=dict)
    undelivered: set[str] = field(default_factory=set)
    expect_service_sid: str | None = SERVICE_SID
    expect_from: str | None = None
    expect_status_callback: str | None = None
    expect_validity_period: str | None = None
    callbacks: bool = True


@dataclass(frozen=True)
class Received:
    """One accepted message, as the server saw it."""

    sid: str
    form: dict[str, str]


class FakeTwilio:
    """Run with `start()`; `base_url` is what the provider's `api_url` points at."""

    def __init__(self, behaviour: Behaviour | None = None, account_sid: str = ACCOUNT_SID,
                 auth_token: str = AUTH_TOKEN):
        self.behaviour = behaviour or Behaviour()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.accepted: list[Received] = []
        self.refusals: list[tuple[int, int | None, str]] = []
        self.problems: list[str] = []  # requests the real Twilio would not accept as the test expects
        self.callbacks_sent = 0
        self.callback_failures: list[str] = []
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()
        self._callbacks: queue.Queue[tuple[str, dict[str, str]] | None] = queue.Queue()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeTwilio:
        self._threads = [threading.Thread(target=self._server.serve_forever, daemon=True)]
        self._threads += [threading.Thread(target=self._post_callbacks, daemon=True) for _ in range(4)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for _ in range(4):
            self._callbacks.put(None)

    def to_numbers(self) -> Counter[str]:
        """How many messages each number was sent."""
        with self._lock:
            return Counter(r.form["To"] for r in self.accepted)

    # -- HTTP ---------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                status, payload = fake._create(self.path, self.headers, body)
                self._reply(status, payload)

            def do_GET(self) -> None:
                status, payload = fake._list(self.path, self.headers)
                self._reply(status, payload)

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _authorised(self, headers: object, path: str) -> tuple[int, dict] | None:
        match = _PATH.match(urlsplit(path).path)
        if match is None:
            self.problems.append(f"unexpected path {path}")
            return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if headers.get("Authorization") != expected or match["account"] != self.account_sid:  # type: ignore[attr-defined]
            return 401, {"code": 20003, "message": "Authenticate", "status": 401,
                         "more_info": "https://www.twilio.com/docs/errors/20003"}
        return None

    def _create(self, path: str, headers: object, body: str) -> tuple[int, dict]:
        refused = self._authorised(headers, path)
        if refused is not None:
            return refused
        if not (headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):  # type: ignore[attr-defined]
            self.problems.append(f"content type {headers.get('Content-Type')}")  # type: ignore[attr-defined]
        form = {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}
        b = self.behaviour
        for key, expected in (("MessagingServiceSid", b.expect_service_sid), ("From", b.expect_from),
                              ("StatusCallback", b.expect_status_callback),
                              ("ValidityPeriod", b.expect_validity_period)):
            if form.get(key) != expected:
                self.problems.append(f"{key}={form.get(key)!r}, expected {expected!r}")
        if not form.get("To") or not form.get("Body"):
            return 400, {"code": 21602, "message": "Message body is required.", "status": 400}
        to = form["To"]
        with self._lock:
            self._attempts[to] += 1
            attempt = self._attempts[to]
        if attempt <= b.throttle_first.get(to, 0):
            self.refusals.append((429, 20429, to))
            return 429, {"code": 20429, "message": "Too Many Requests", "status": 429}
        if attempt <= b.error_first.get(to, 0):
            self.refusals.append((500, None, to))
            return 500, {"code": 20500, "message": "Internal Server Error", "status": 500}
        if to in b.invalid:
            self.refusals.append((400, 21211, to))
            return 400, {"code": 21211, "message": f"The 'To' number {to} is not a valid phone number.",
                         "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}
        if to in b.unsubscribed:
            self.refusals.append((400, 21610, to))
            return 400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                         "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}
        sid = "SM" + secrets.token_hex(16)
        message = self._resource(sid, form)
        with self._lock:
            self.accepted.append(Received(sid, form))
        if b.callbacks and form.get("StatusCallback"):
            self._callbacks.put((form["StatusCallback"], self._callback_form(sid, form, "sent")))
            final = "undelivered" if to in b.undelivered else "delivered"
            self._callbacks.put((form["StatusCallback"], self._callback_form(sid, form, final)))
        return 201, message

    def _list(self, path: str, headers: object) -> tuple[int, dict]:
        refused = self._authorised(headers, path)
        if refused is not None:
            return refused
        query = {key: values[0] for key, values in parse_qs(urlsplit(path).query).items()}
        with self._lock:
            found = [r for r in self.accepted if r.form["To"] == query.get("To", r.form["To"])]
        records = [self._resource(r.sid, r.form) for r in reversed(found)][: int(query.get("PageSize", 50))]
        return 200, {"messages": records, "end": len(records) - 1, "first_page_uri": path, "next_page_uri": None,
                     "page": 0, "page_size": int(query.get("PageSize", 50)), "previous_page_uri": None,
                     "start": 0, "uri": path}

    def _resource(self, sid: str, form: dict[str, str]) -> dict:
        now = format_datetime(datetime.now(UTC), usegmt=True)
        return {"sid": sid, "account_sid": self.account_sid, "to": form["To"], "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"), "body": form["Body"], "status": "queued",
                "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
                "date_created": now, "date_updated": now, "date_sent": None, "error_code": None,
                "error_message": None, "price": None, "price_unit": "USD",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"}

    def _callback_form(self, sid: str, form: dict[str, str], status: str) -> dict[str, str]:
        data = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "MessageSid": sid, "SmsSid": sid,
                "MessageStatus": status, "SmsStatus": status, "To": form["To"]}
        if form.get("MessagingServiceSid"):
            data["MessagingServiceSid"] = form["MessagingServiceSid"]
        if status == "undelivered":
            data["ErrorCode"] = "30003"
        return data

    def _post_callbacks(self) -> None:
        session = requests.Session()
        validator = RequestValidator(self.auth_token)
        while (item := self._callbacks.get()) is not None:
            url, data = item
            signature = validator.compute_signature(url, data)
            try:
                response = session.post(url, data=data, headers={"X-Twilio-Signature": signature}, timeout=10)
                if response.status_code != 200:
                    self.callback_failures.append(f"{response.status_code} {url}")
            except requests.RequestException as error:
                self.callback_failures.append(str(error))
            with self._lock:
                self.callbacks_sent += 1
