"""SMS fan-out figures. (1) Time to queue the fan-out of one alarm event to 10,000 subscribers
(select recipients, compose per language, insert into the outbox under idempotency keys), against
the same number of rows inserted by a bare `executemany` into a table of the same shape. (2)
Messages per second through the sender with the rate limit off (outbox claim → real `twilio` SDK
→ the local Twilio stand-in, which checks each request → state update), against the bare SDK: the
same number of threads calling `client.messages.create` in a loop against the same server, with
no outbox. Status callbacks are off in (2) so that both sides do the same HTTP work."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from twilio.rest import Client

from bench import BenchResult, Row
from hub.notify.citizens import AreaNames, CitizenNotifier
from hub.notify.config import SmsConfig
from hub.notify.messages import MessageStyle
from hub.notify.outbox import Outbox
from hub.notify.providers.twilio import RelayHttpClient, TwilioProvider
from hub.notify.sender import Sender
from hub.notify.subscribers import SubscriberStore
from tests.notify.helpers import event, population
from tests.notify.twilio_server import ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID, Behaviour, FakeTwilio


@dataclass(frozen=True)
class NotifySettings:
    recipients: int = 10_000
    send_messages: int = 3_000
    concurrency: int = 8
    repeats: int = 3


def _queue_once(folder: Path, recipients: int) -> float:
    subscribers = SubscriberStore(folder / "notify.sqlite")
    subscribers.add_many(population(recipients))
    outbox = Outbox(folder / "notify.sqlite")
    notifier = CitizenNotifier(outbox, subscribers, {"centre": AreaNames("Център", "Centre")}, MessageStyle(),
                               lambda: None)
    started = time.perf_counter()
    added = notifier.fan_out(event(1))
    elapsed = time.perf_counter() - started
    assert added == recipients, added
    outbox.close()
    subscribers.close()
    return elapsed


def _bare_insert_once(folder: Path, recipients: int) -> float:
    db = sqlite3.connect(folder / "bare.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, key TEXT UNIQUE, phone TEXT, body TEXT, state TEXT)")
    rows = [(f"1:+35988{i:07d}", f"+35988{i:07d}", "ЧЕРВЕН КОД …", "queued") for i in range(recipients)]
    started = time.perf_counter()
    db.execute("BEGIN")
    db.executemany("INSERT INTO m (key, phone, body, state) VALUES (?, ?, ?, ?)", rows)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


def _send_once(folder: Path, fake: FakeTwilio, messages: int, concurrency: int) -> float:
    config = SmsConfig.model_validate({
        "provider": {"kind": "twilio", "account_sid": ACCOUNT_SID, "auth_token_env": "UNUSED",
                     "messaging_service_sid": SERVICE_SID, "api_url": fake.base_url},
        "rate_per_s": None, "concurrency": concurrency})
    subscribers = SubscriberStore(folder / "notify.sqlite")
    subscribers.add_many(population(messages))
    outbox = Outbox(folder / "notify.sqlite")
    notifier = CitizenNotifier(outbox, subscribers, {"centre": AreaNames("Център", "Centre")}, MessageStyle(),
                               lambda: None)
    notifier.fan_out(event(1))
    sender = Sender(outbox, TwilioProvider(config.provider, AUTH_TOKEN), config, subscribers)  # type: ignore[arg-type]

    async def main() -> float:
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(sender.run(stop))
        while sender.sent < messages:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        stop.set()
        await task
        return elapsed

    elapsed = asyncio.run(main())
    outbox.close()
    subscribers.close()
    return messages / elapsed


def _bare_sdk_once(fake: FakeTwilio, messages: int, concurrency: int) -> float:
    remaining = iter(range(messages))
    lock = threading.Lock()

    def work() -> None:
        client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=RelayHttpClient(fake.base_url))
        while True:
            with lock:
                index = next(remaining, None)
            if index is None:
                return
            client.messages.create(to=f"+35988{index:07d}", body="ЧЕРВЕН КОД …", messaging_service_sid=SERVICE_SID)

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return messages / (time.perf_counter() - started)


def run(settings: NotifySettings, workdir: Path) -> BenchResult:
    queue_s, bare_s, send_rates, bare_rates = [], [], [], []
    failures: list[str] = []
    fake = FakeTwilio(Behaviour(expect_service_sid=SERVICE_SID, callbacks=False)).start()
    try:
        for repeat in range(settings.repeats):
            folder = Path(tempfile.mkdtemp(prefix=f"notify{repeat}-", dir=workdir))
            queue_s.append(_queue_once(folder / "q", settings.recipients))
            bare_s.append(_bare_insert_once(folder, settings.recipients))
            before = len(fake.accepted)
            send_rates.append(_send_once(folder / "s", fake, settings.send_messages, settings.concurrency))
            if len(fake.accepted) - before != settings.send_messages:
                failures.append(f"sender: {len(fake.accepted) - before} accepted of {settings.send_messages}")
            bare_rates.append(_bare_sdk_once(fake, settings.send_messages, settings.concurrency))
        if fake.problems:
            failures.append(f"requests Twilio would not take: {fake.problems[:3]}")
    finally:
        fake.stop()
    queue, bare = statistics.median(queue_s), statistics.median(bare_s)
    send, bare_send = statistics.median(send_rates), statistics.median(bare_rates)
    rows = [
        Row(f"queue a fan-out of {settings.recipients:,}", "ms", queue * 1000, None),
        Row(f"  bare INSERT of {settings.recipients:,} rows (floor)", "ms", bare * 1000, None),
        Row("queue: recipients per second", "1/s", settings.recipients / queue, settings.recipients / bare),
        Row(f"send, rate limit off, {settings.concurrency} in flight", "msg/s", send, bare_send),
    ]
    details = {"recipients": settings.recipients, "send_messages": settings.send_messages,
               "concurrency": settings.concurrency, "queue_s": queue_s, "bare_insert_s": bare_s,
               "send_per_s": send_rates, "bare_sdk_per_s": bare_rates, "cpus": os.cpu_count()}
    return BenchResult("notify", rows, details, failures)
