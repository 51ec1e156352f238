"""The hub's HTTP endpoints for Twilio, as a small ASGI app: `POST /twilio/status` (delivery
reports: each message's state in the outbox) and `POST /twilio/inbound` (SMS to our number:
STOP/СТОП and the other opt-out words end messages to that number, START/СТАРТ resumes them, and
the sender gets a reply in their language as TwiML). Both verify Twilio's request signature with
the SDK's `RequestValidator` over the public URL Twilio called, and refuse (403) a request
without one or with a wrong one. `HttpServer` serves the app with uvicorn on the hub's loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.messaging_response import MessagingResponse

from hub.notify.outbox import Outbox
from hub.notify.subscribers import SubscriberStore

logger = logging.getLogger(__name__)

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

STATUS_PATH = "/twilio/status"
INBOUND_PATH = "/twilio/inbound"
# Twilio's own opt-out and opt-in keywords, and the Bulgarian ones.
STOP_WORDS = frozenset(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "СТОП", "STOP.", "СТОП."))
START_WORDS = frozenset(("START", "UNSTOP", "YES", "СТАРТ", "START.", "СТАРТ."))
MAX_BODY_BYTES = 64 * 1024

REPLIES = {
    ("stop", "bg"): "Спряхте предупрежденията. За подновяване изпратете СТАРТ.",
    ("stop", "en"): "You will get no more warnings. Send START to resume.",
    ("start", "bg"): "Предупрежденията са подновени. За спиране изпратете СТОП.",
    ("start", "en"): "Warnings resumed. Send STOP to end them.",
    ("unknown", "bg"): "Номерът не е абониран за предупреждения. Обърнете се към общината.",
    ("unknown", "en"): "This number is not subscribed to warnings. Please contact the municipality.",
    ("help", "bg"): "Предупреждения при бедствия. СТОП – спиране, СТАРТ – подновяване. Спешно: 112.",
    ("help", "en"): "Disaster warnings. STOP to end, START to resume. Emergency: 112.",
}


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _has_cyrillic(text: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in text)


class TwilioWebhooks:
    """The ASGI app. `public_url` is the base URL at which Twilio reaches it (as set at Twilio),
    the one the signature covers; behind a reverse proxy the local address differs from it."""

    def __init__(self, outbox: Outbox, subscribers: SubscriberStore, public_url: str, auth_token: str,
                 on_change: Callable[[], None] = lambda: None, clock_ms: Callable[[], int] = _wall_ms):
        self._outbox = outbox
        self._subscribers = subscribers
        self._public_url = public_url.rstrip("/")
        self._validator = RequestValidator(auth_token)
        self._on_change = on_change
        self._clock_ms = clock_ms
        self.refused = 0
        self.status_reports = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path not in (STATUS_PATH, INBOUND_PATH):
            await _respond(send, 404, b"not found\n")
            return
        if scope["method"] != "POST":
            await _respond(send, 405, b"POST only\n")
            return
        body = await _read_body(receive)
        if body is None:
            await _respond(send, 413, b"too large\n")
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        url = self._public_url + path + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")
        signature = headers.get("x-twilio-signature")
        algorithm = get_signature_algorithm(headers.get("x-twilio-webhooks-signature-settings"))
        if not signature or not self._validator.validate(url, params, signature, algorithm):
            self.refused += 1
            logger.warning("refused an unsigned or forged request to %s from %s", path,
                           (scope.get("client") or ("?",))[0])
            await _respond(send, 403, b"invalid signature\n")
            return
        if path == STATUS_PATH:
            await asyncio.to_thread(self._status, params)
            await _respond(send, 200, b"")
        else:
            reply = await asyncio.to_thread(self._inbound, params)
            await _respond(send, 200, reply.encode(), b"text/xml; charset=utf-8")

    def _status(self, params: Mapping[str, str]) -> None:
        sid, status = params.get("MessageSid") or params.get("SmsSid"), params.get("MessageStatus")
        if not sid or not status:
            return
        code_text = params.get("ErrorCode") or ""
        code = int(code_text) if code_text.isdigit() else None
        self.status_reports += 1
        self._outbox.apply_status(sid, status, code, self._clock_ms())
        self._on_change()

    def _inbound(self, params: Mapping[str, str]) -> str:
        sender, text = params.get("From", ""), params.get("Body", "").strip()
        word = text.split()[0].upper() if text.split() else ""
        subscriber = self._subscribers.get(sender) if sender else None
        language = subscriber.language if subscriber else ("bg" if _has_cyrillic(text) else "en")
        now_ms = self._clock_ms()
        if word in STOP_WORDS or word in START_WORDS:
            if subscriber is None:
                reply = REPLIES[("unknown", language)]
            elif word in STOP_WORDS:
                self._subscribers.set_opt_in(subscriber.phone, False, f"sms:{word}", now_ms)
                skipped = self._outbox.skip_pending(subscriber.phone, now_ms, f"opted out by SMS {word}")
                logger.info("%s opted out by SMS; %d queued message(s) dropped", subscriber.phone, skipped)
                reply = REPLIES[("stop", language)]
            else:
                self._subscribers.set_opt_in(subscriber.phone, True, f"sms:{word}", now_ms)
                reply = REPLIES[("start", language)]
        else:
            reply = REPLIES[("help", language)]
        response = MessagingResponse()
        response.message(reply)
        return str(response)


async def _read_body(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes = b"text/plain; charset=utf-8") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the hub owns SIGINT/SIGTERM and stops the server
    with everything else (uvicorn's handlers would replace the hub's and swallow its stop)."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


class HttpServer:
    """Serves an ASGI app with uvicorn inside the hub's event loop."""

    def __init__(self, app: Callable[..., Awaitable[None]], host: str, port: int):
        self._server = _EmbeddedServer(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                                      access_log=False, timeout_graceful_shutdown=5))
        self.port: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set."""
        task = asyncio.create_task(self._server.serve())
        while not self._server.started and not task.done():
            await asyncio.sleep(0.01)
        if task.done():
            task.result()  # raises the bind error
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        logger.info("HTTP server listening on port %d", self.port)
        await stop.wait()
        self._server.should_exit = True
        await task
