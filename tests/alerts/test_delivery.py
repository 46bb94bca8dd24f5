"""Delivery: signed webhooks to a real loopback HTTP server, retained MQTT on real Mosquitto."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiomqtt
import pytest

from app.alerts import outbox, overrides
from app.alerts import store as alert_store
from app.alerts.engine import AlertEngine
from app.alerts.webhooks import WebhookConfig, sign
from app.config import Settings
from app.db.engine import transaction
from app.domain.plant import Plant
from app.mqtt import alerts_topic
from tests.alerts.conftest import T0, Line, alert_rows, make_engine, minutes
from tests.conftest import Backend

SECRET = "webhook-secret-for-tests"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny HTTP receiver: answers with ``codes`` in turn (then 200), records requests."""

    url: str
    codes: list[int]
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="", codes=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with state.lock:
                state.requests.append(Received(dict(self.headers.items()), body))
                code = state.codes.pop(0) if state.codes else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/greenpulse"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def eventually(done: Callable[[], bool], *, within_s: float = 15.0) -> None:
    """Poll ``done`` every 20 ms for at most ``within_s``."""
    for _ in range(int(within_s / 0.02)):
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not done within {within_s} s")


def verify(request: Received, secret: str) -> bool:
    """What a receiver does: recompute the HMAC over the raw body, compare in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers["X-GreenPulse-Signature"])


async def test_webhook_is_signed_and_retried_after_a_500(
    line: Line, plant: Plant, receiver: Receiver
) -> None:
    receiver.codes = [500]
    config = WebhookConfig(urls=(receiver.url,), secret=SECRET)
    engine = make_engine(line.backend, plant, webhooks=config)
    line.power("el-press-2", T0, 100.0)
    engine.evaluate_once(T0)
    for meter in ("el-press-1", "pv-roof"):  # keep the test about one alert
        with transaction(line.backend.factory) as session:
            overrides.put_override(session, "meter", meter, {"enabled": False}, now=T0)
    opened = engine.evaluate_once(T0 + minutes(4))
    assert [t.condition_key for t in opened] == ["offline:meter:el-press-2"]

    first = await engine.deliver_due(T0 + minutes(4))
    assert [o.error for o in first] == ["HTTP 500: "]
    assert await engine.deliver_due(T0 + minutes(4) + timedelta(seconds=4)) == []  # backoff 5 s
    # a restarted engine delivers from the outbox: nothing lived only in memory
    restarted = make_engine(line.backend, plant, webhooks=config)
    second = await restarted.deliver_due(T0 + minutes(4) + timedelta(seconds=5))
    assert [o.error for o in second] == [None]

    assert len(receiver.requests) == 2
    retry, original = receiver.requests[1], receiver.requests[0]
    assert retry.body == original.body  # the same bytes, the same signature
    assert retry.headers["X-GreenPulse-Delivery"] == original.headers["X-GreenPulse-Delivery"]
    assert verify(retry, SECRET) and not verify(retry, "wrong-secret")
    assert retry.headers["X-GreenPulse-Event"] == "opened"
    assert retry.headers["Content-Type"] == "application/json"
    payload = json.loads(retry.body)
    assert payload["event"] == "opened"
    assert payload["delivery_id"] == retry.headers["X-GreenPulse-Delivery"]
    assert payload["alert"]["condition_key"] == "offline:meter:el-press-2"
    assert payload["alert"]["message"].startswith("No readings from Press line 2")

    (row,) = alert_rows(line.backend, "offline:meter:el-press-2")
    with line.backend.factory() as session:
        (delivery,) = outbox.deliveries_for(session, row.id)
    assert delivery.attempts == 2 and delivery.delivered_at is not None
    assert delivery.next_attempt_at is None and delivery.last_error is None
    assert restarted.metrics["webhooks_delivered"] == 1


async def test_webhook_gives_up_after_the_last_attempt(
    line: Line, plant: Plant, receiver: Receiver
) -> None:
    receiver.codes = [503] * 10
    config = WebhookConfig(urls=(receiver.url,), secret=SECRET, max_attempts=3, first_retry_s=1)
    engine = make_engine(line.backend, plant, webhooks=config)
    engine.evaluate_once(T0)
    opened = engine.evaluate_once(T0 + minutes(4))
    assert len(opened) == 3
    now = T0 + minutes(4)
    for _ in range(6):  # more rounds than attempts allowed
        await engine.deliver_due(now)
        now += timedelta(minutes=1)
    assert len(receiver.requests) == 9  # three alerts × three attempts, then no more
    with line.backend.factory() as session:
        for row in alert_rows(line.backend):
            (delivery,) = outbox.deliveries_for(session, row.id)
            assert delivery.attempts == 3 and delivery.next_attempt_at is None
            assert delivery.delivered_at is None and delivery.last_error == "HTTP 503: "


def test_retry_schedule_is_bounded() -> None:
    config = WebhookConfig()
    delays = [config.retry_delay_s(attempt) for attempt in range(1, config.max_attempts)]
    assert delays == [5, 10, 20, 40, 80, 160, 320]
    assert 600 <= sum(delays) <= 660  # about ten minutes, then the delivery is given up
    assert sign(b"{}", "k") == "sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()


async def test_mqtt_state_is_retained_for_a_late_subscriber(
    clean_backend: Backend,
    line: Line,
    plant: Plant,
    mqtt_broker: tuple[str, int],
    topic_prefix: str,
) -> None:
    host, port = mqtt_broker
    settings = Settings(
        database_url=clean_backend.url,
        mqtt_url=f"mqtt://{host}:{port}",
        mqtt_topic_prefix=topic_prefix,
    )
    now = T0 + minutes(4)
    seeding = make_engine(clean_backend, plant)
    seeding.evaluate_once(T0)
    assert len(seeding.evaluate_once(now)) == 3  # three meters never reported
    engine = AlertEngine(clean_backend.factory, plant, settings, clock=lambda: now, interval_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    topic = alerts_topic(topic_prefix, "plant-a")
    try:
        await eventually(lambda: engine.publisher.published >= 1)  # published on start
        (row, *_) = alert_rows(clean_backend, "offline:meter:pv-roof")
        with transaction(clean_backend.factory) as session:
            alert_store.acknowledge_alert(session, row.id, by="Li Wei", now=now)
        await eventually(lambda: engine.publisher.published >= 2)  # and after the change
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)

    # a subscriber that arrives after the engine stopped still gets the current state
    async with aiomqtt.Client(hostname=host, port=port) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(10):
            message = await anext(aiter(client.messages))
        assert message.retain
        assert message.qos == 1
        payload = json.loads(message.payload if isinstance(message.payload, bytes) else b"")
        await client.publish(topic, b"", qos=1, retain=True)  # leave the broker clean
    assert payload["site"] == "plant-a" and payload["count"] == 3
    statuses = {a["meter_id"]: a["status"] for a in payload["alerts"]}
    assert statuses == {"el-press-1": "open", "el-press-2": "open", "pv-roof": "acknowledged"}
    assert payload["generated_at"] == "2026-06-16T02:04:00Z"
