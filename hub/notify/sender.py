"""The sender: takes due messages from the outbox and hands them to the provider at the
configured rate (messages per second, paced evenly), with a bounded number of requests in
flight. A 429, a 5xx or a network error puts the message back and pauses the whole sender for a
`Backoff` delay (the provider is saying "slower", not "not this one"); a permanent refusal marks
the message rejected and, when it is about the number (invalid, unsubscribed), the subscriber
too. At start, messages that were in flight when the hub died are looked up at the provider:
found ones count as sent, the rest go out again, so that a restart sends nothing twice."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from hub.notify.config import SmsConfig
from hub.notify.outbox import Outbox, StoredMessage
from hub.notify.providers import Provider, ProviderError
from hub.notify.providers.twilio import OPTED_OUT_CODE, RECIPIENT_ERRORS
from hub.notify.subscribers import SubscriberStore
from hub.retry import Backoff

logger = logging.getLogger(__name__)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Sender:
    """Drains the outbox through one provider."""

    def __init__(self, outbox: Outbox, provider: Provider, config: SmsConfig, subscribers: SubscriberStore,
                 clock_ms: Callable[[], int] = _wall_ms):
        self._outbox = outbox
        self._provider = provider
        self._config = config
        self._subscribers = subscribers
        self._clock_ms = clock_ms
        self._backoff = Backoff(config.retry)
        self._pause_until = 0.0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="sms-send")
        self._provider_down = False
        self._next_send = 0.0
        self.sent = 0
        self.rejected = 0
        self.retried = 0

    def wake(self) -> None:
        """New messages are queued (callable from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set; requests in flight then finish before it returns."""
        self._loop = asyncio.get_running_loop()
        await self._loop.run_in_executor(self._pool, self.reconcile)
        tasks: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            self._wake.set()  # a slot is free

        try:
            while not stop.is_set():
                free = self._config.concurrency - len(tasks)
                paused_s = self._pause_until - time.monotonic()
                if paused_s <= 0 and free > 0:
                    batch = self._outbox.claim(free, self._clock_ms())
                    for message in batch:
                        await self._pace()
                        task = asyncio.create_task(self._send(message))
                        tasks.add(task)
                        task.add_done_callback(finished)
                    if batch:
                        continue
                if paused_s > 0:
                    wait_s = paused_s
                elif free == 0:
                    wait_s = 3600.0  # woken when a request finishes
                else:
                    due = self._outbox.next_due_ms()
                    wait_s = 3600.0 if due is None else max(0.001, (due - self._clock_ms()) / 1000)
                await self._sleep(stop, wait_s)
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self._pool.shutdown(wait=True)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        self._wake.clear()
        waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def _pace(self) -> None:
        rate = self._config.rate_per_s
        if rate is None:
            return
        now = time.monotonic()
        self._next_send = max(self._next_send + 1.0 / rate, now)
        if self._next_send > now:
            await asyncio.sleep(self._next_send - now)

    async def _send(self, message: StoredMessage) -> None:
        assert self._loop is not None
        try:
            receipt = await self._loop.run_in_executor(self._pool, self._provider.send, message.phone, message.body)
        except ProviderError as error:
            self._failed(message, error)
        except Exception as error:  # noqa: BLE001 - a bug in a provider must not leave the message in flight
            logger.exception("SMS provider %s failed unexpectedly", self._provider.name)
            self._failed(message, ProviderError(f"unexpected: {error!r}", permanent=False))
        else:
            self._outbox.mark_sent(message, receipt.sid, receipt.status, self._clock_ms())
            self.sent += 1
            self._backoff.reset()
            if self._provider_down:
                self._provider_down = False
                logger.info("SMS provider %s accepts messages again", self._provider.name)

    def _failed(self, message: StoredMessage, error: ProviderError) -> None:
        now_ms = self._clock_ms()
        if error.permanent or message.attempts >= self._config.max_attempts:
            self._outbox.mark_rejected(message, error.code, str(error), now_ms)
            self.rejected += 1
            if error.permanent and error.code in RECIPIENT_ERRORS and message.kind != "staff":
                self._mark_recipient(message.phone, error.code, now_ms)
            return
        delay_s = self._backoff.next_delay_s()
        self._pause_until = max(self._pause_until, time.monotonic() + delay_s)
        self._outbox.requeue(message, now_ms + int(delay_s * 1000), str(error), now_ms)
        self.retried += 1
        if not self._provider_down:
            self._provider_down = True
            logger.error("SMS provider %s refuses or is unreachable (%s); retrying with backoff",
                         self._provider.name, error)

    def _mark_recipient(self, phone: str, code: int, now_ms: int) -> None:
        if code == OPTED_OUT_CODE:
            if self._subscribers.get(phone) is not None:
                self._subscribers.set_opt_in(phone, False, f"provider:{code}", now_ms)
        else:
            self._subscribers.mark_undeliverable(phone, f"provider:{code} {RECIPIENT_ERRORS[code]}")
        self._outbox.skip_pending(phone, now_ms, f"provider:{code}")

    def reconcile(self) -> None:
        """Settle messages left in flight by a crash: sent if the provider has them, else queued."""
        for message in self._outbox.in_flight():
            since_ms = message.claimed_ms or 0
            try:
                found = self._provider.find_sent(message.phone, message.body, since_ms)
            except ProviderError as error:
                # Unknown fate; sending again risks a duplicate, not sending risks a miss. A warning
                # missed is worse than one read twice.
                logger.warning("cannot look up message %d at %s (%s); sending it again", message.id,
                               self._provider.name, error)
                found = None
            now_ms = self._clock_ms()
            if found is not None:
                self._outbox.mark_sent(message, found.sid, found.status, now_ms)
            else:
                self._outbox.requeue(message, now_ms, "in flight at restart; not found at the provider", now_ms)
