"""No loss with real processes: a SIGKILLed ingester, a restarted broker, a database
outage, and two ingesters sharing a subscription. Each publishes 20,000 readings of the
demo plant at QoS 1 and then finds every one stored exactly once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from app.plant.file import load_plant
from bench.ingest.publish import plant_points
from ingest.broker import Mosquitto
from tests.ingest.conftest import (
    Database,
    IngesterProcess,
    PgCluster,
    start_publisher,
    wait_until,
)

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

READINGS = 20_000


def _end() -> str:
    return datetime.now(UTC).replace(second=0, microsecond=0).isoformat()


def assert_exactly_once(db: Database, end: str, readings: int = READINGS) -> None:
    """Every published (meter, time) stored once; nothing else stored."""
    expected = {
        (p.meter_id, p.time)
        for p in plant_points(load_plant(), readings, end=datetime.fromisoformat(end))
    }
    stored = Counter(db.reading_keys())
    missing = expected - stored.keys()
    extra = stored.keys() - expected
    twice = [key for key, n in stored.items() if n > 1]
    assert not missing, f"{len(missing)} readings lost, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} unexpected readings, e.g. {sorted(extra)[:3]}"
    assert not twice, f"{len(twice)} readings stored twice"
    assert db.scalar_rejected() == 0


def _connected(ingester: IngesterProcess) -> None:
    wait_until(lambda: "subscribed to" in ingester.log(), 30, "the ingester to subscribe")


def _stored_at_least(db: Database, n: int, timeout_s: float) -> None:
    wait_until(lambda: db.count() >= n, timeout_s, f"{n} readings stored", 0.1)


def _finish(
    db: Database, publisher: object, ingesters: list[IngesterProcess], readings: int = READINGS
) -> None:
    import subprocess

    assert isinstance(publisher, subprocess.Popen)
    out, _ = publisher.communicate(timeout=90)
    assert publisher.returncode == 0, f"publisher failed: {out}"
    try:
        wait_until(lambda: db.count() >= readings, 60, f"all {readings} readings stored", 0.25)
    except AssertionError:
        for ingester in ingesters:
            print(ingester.log()[-4000:])
        raise


@pytest.mark.timescaledb
@pytest.mark.parametrize("kind", ["sqlite", "timescaledb"])
def test_sigkill_mid_stream_loses_nothing(
    kind: str,
    mosquitto: Mosquitto,
    make_database: Callable[[str], Database],
    ingester_factory: Callable[..., IngesterProcess],
) -> None:
    db = make_database(kind)
    ingester = ingester_factory(db, mosquitto)
    _connected(ingester)
    end = _end()
    publisher = start_publisher(mosquitto, READINGS, end=end, rate=6000)
    _stored_at_least(db, READINGS // 4, 30)
    ingester.kill()
    assert db.count() < READINGS, "killed too late to be mid-stream"
    ingester.start()
    _finish(db, publisher, [ingester])
    assert_exactly_once(db, end)
    assert "(session resumed)" in ingester.log()


@pytest.mark.timescaledb
def test_broker_restart_mid_stream_loses_nothing(
    mosquitto: Mosquitto,
    make_database: Callable[[str], Database],
    ingester_factory: Callable[..., IngesterProcess],
) -> None:
    db = make_database("timescaledb")
    ingester = ingester_factory(db, mosquitto)
    _connected(ingester)
    end = _end()
    publisher = start_publisher(mosquitto, READINGS, end=end, rate=5000)
    _stored_at_least(db, READINGS // 4, 30)
    mosquitto.stop()  # clean shutdown: Mosquitto saves sessions and queues
    assert db.count() < READINGS, "restarted too late to be mid-stream"
    time.sleep(1.0)
    mosquitto.start()
    _finish(db, publisher, [ingester])
    assert_exactly_once(db, end)
    assert ingester.log().count("(session resumed)") >= 1


@pytest.mark.timescaledb
def test_database_outage_mid_stream_loses_nothing_and_bounds_memory(
    mosquitto: Mosquitto,
    pg_cluster: PgCluster,
    ingester_factory: Callable[..., IngesterProcess],
) -> None:
    db = pg_cluster.database()
    ingester = ingester_factory(
        db,
        mosquitto,
        ingest_batch_readings="500",
        ingest_max_pending_readings="2000",
        ingest_receive_maximum="1000",
        ingest_metrics_port=str(_free_port()),
    )
    _connected(ingester)
    end = _end()
    publisher = start_publisher(mosquitto, READINGS, end=end, rate=4000)
    _stored_at_least(db, READINGS // 5, 30)
    pg_cluster.stop()
    peak = 0.0
    outage_end = time.monotonic() + 3.0
    while time.monotonic() < outage_end:
        peak = max(peak, ingester.metric("greenpulse_ingest_pending_readings"))
        time.sleep(0.1)
    pg_cluster.start()
    _finish(db, publisher, [ingester])
    assert_exactly_once(db, end)
    log = ingester.log()
    assert log.count("database write failed") == 1, "one error line per outage"
    assert "database writes succeed again" in log
    assert ingester.metric("greenpulse_ingest_db_retries_total") > 0
    # backpressure: uncommitted readings stay under the bound (plus one message)
    assert 0 < peak <= 2001, peak


@pytest.mark.timescaledb
def test_two_ingesters_share_the_load_and_lose_nothing(
    mosquitto: Mosquitto,
    make_database: Callable[[str], Database],
    ingester_factory: Callable[..., IngesterProcess],
) -> None:
    db = make_database("timescaledb")
    ingesters = [
        ingester_factory(
            db,
            mosquitto,
            client_id=f"gp-test-ingest-{n}",
            mqtt_share_group="greenpulse-test",
            ingest_metrics_port=str(_free_port()),
        )
        for n in (1, 2)
    ]
    for ingester in ingesters:
        _connected(ingester)
    end = _end()
    # round-robin sharing sends a meter's consecutive readings to both ingesters, so about
    # half take the writer's late path (one pass per meter and batch; docs/performance.md)
    readings = READINGS
    publisher = start_publisher(mosquitto, readings, end=end)
    _finish(db, publisher, ingesters, readings)
    received = [i.metric("greenpulse_ingest_messages_received_total") for i in ingesters]
    assert sum(received) >= readings
    for share in received:
        assert share >= readings * 0.3, f"uneven split {received}"
    assert_exactly_once(db, end, readings)


def _free_port() -> int:
    from ingest.broker import free_port

    return free_port()
