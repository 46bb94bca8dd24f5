"""Shared fixtures: real databases (SQLite, PostgreSQL, TimescaleDB) and a real broker.

Under CI=true a missing service fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.db import migrate
from app.db.engine import make_engine, make_sessionmaker
from app.db.timescale import StorageInfo, StorageMode
from app.schema import Base
from ingest.broker import BrokerError, Mosquitto, mosquitto_binary, start_mosquitto

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_ADMIN_DSN = os.environ.get("GREENPULSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MQTT_HOST = os.environ.get("GREENPULSE_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("GREENPULSE_TEST_MQTT_PORT", "1883"))


def require(service: str, why: str) -> None:
    """Fail under CI, skip elsewhere: a missing service is never a silent pass in CI."""
    message = f"{service} is needed for this test: {why}"
    if IN_CI:
        pytest.fail(message + " (CI=true: run .ci/services.sh)")
    pytest.skip(message)


@dataclass
class Backend:
    name: str
    url: str
    engine: Engine
    factory: sessionmaker[Session]
    storage: StorageInfo


def _pg_database(timescale: bool) -> str:
    name = f"gp_test_{'ts' if timescale else 'pg'}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        require("PostgreSQL", f"cannot connect to {PG_ADMIN_DSN}: {exc}")
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def _drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql", "timescaledb"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """A migrated database per backend, shared by the session."""
    kind = request.param
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'greenpulse.db'}"
    else:
        url = _pg_database(timescale=kind == "timescaledb")
    engine = make_engine(url)
    storage = migrate.upgrade(engine, timescaledb=kind == "timescaledb")
    if kind == "timescaledb" and not storage.hypertables:
        require("TimescaleDB", storage.reason)
    try:
        yield Backend(kind, url, engine, make_sessionmaker(engine), storage)
    finally:
        engine.dispose()
        if kind != "sqlite":
            _drop_pg_database(url)


@pytest.fixture
def fresh_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """An unmigrated empty database, for migration tests (parametrised by the test)."""
    kind = request.param
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'fresh.db'}"
    else:
        url = _pg_database(timescale=kind == "timescaledb")
    engine = make_engine(url)
    try:
        yield Backend(
            kind, url, engine, make_sessionmaker(engine), StorageInfo(StorageMode.SQLITE, "")
        )
    finally:
        engine.dispose()
        if kind != "sqlite":
            _drop_pg_database(url)


@pytest.fixture
def clean_backend(backend: Backend) -> Iterator[Backend]:
    """The session's database, emptied of plant data and readings after the test."""
    yield backend
    with backend.factory() as session, session.begin():
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "alembic_version":
                session.execute(table.delete())


@pytest.fixture
def session(backend: Backend) -> Iterator[Session]:
    """A session whose work is rolled back after the test."""
    with backend.engine.connect() as conn:
        trans = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as sess:
            yield sess
        trans.rollback()


def broker_available(host: str = MQTT_HOST, port: int = MQTT_PORT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def mqtt_broker() -> tuple[str, int]:
    """The Mosquitto broker the tests use (fails under CI when it is down)."""
    if not broker_available():
        require("Mosquitto", f"no broker at {MQTT_HOST}:{MQTT_PORT}")
    return MQTT_HOST, MQTT_PORT


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A throwaway Mosquitto with the recommended config (deploy/mosquitto/greenpulse.conf)."""
    if mosquitto_binary() is None:
        require("Mosquitto", "the mosquitto binary is not installed")
    try:
        broker = start_mosquitto(data_dir=tmp_path / "mosquitto")
    except BrokerError as exc:
        require("Mosquitto", str(exc))
        raise
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture
def topic_prefix() -> str:
    """A unique topic prefix per test, so tests never see each other's messages."""
    return f"test-{uuid.uuid4().hex[:12]}"
