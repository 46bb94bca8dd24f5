"""The same migrations upgrade and downgrade on SQLite, PostgreSQL and TimescaleDB."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from app.db import migrate
from app.db.timescale import StorageMode
from app.schema import Base
from tests.conftest import Backend

ALL_TABLES = set(Base.metadata.tables)


@pytest.mark.parametrize("fresh_backend", ["sqlite", "postgresql", "timescaledb"], indirect=True)
def test_upgrade_then_downgrade_then_upgrade(fresh_backend: Backend) -> None:
    engine = fresh_backend.engine
    timescale = fresh_backend.name == "timescaledb"

    info = migrate.upgrade(engine, timescaledb=timescale)
    assert set(inspect(engine).get_table_names()) >= ALL_TABLES
    assert migrate.current_revision(engine) == "0004_caggs"
    expected_mode = {
        "sqlite": StorageMode.SQLITE,
        "postgresql": StorageMode.POSTGRES,
        "timescaledb": StorageMode.TIMESCALE_APACHE,
    }[fresh_backend.name]
    if timescale and info.mode is StorageMode.TIMESCALE_COMMUNITY:
        expected_mode = StorageMode.TIMESCALE_COMMUNITY
    assert info.mode is expected_mode, info.reason

    migrate.downgrade(engine, "base")
    left = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert left == set()
    assert migrate.current_revision(engine) is None

    migrate.upgrade(engine, timescaledb=timescale)
    assert set(inspect(engine).get_table_names()) >= ALL_TABLES


def test_models_match_migrations(backend: Backend) -> None:
    """Autogenerate finds nothing to do: the models and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with backend.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_readings_is_a_hypertable_only_on_timescaledb(backend: Backend) -> None:
    """TimescaleDB: readings is a hypertable on time. Elsewhere: a plain table, said so."""
    if backend.name == "sqlite":
        assert backend.storage.mode is StorageMode.SQLITE
        return
    with backend.engine.connect() as conn:
        extension = conn.execute(
            text("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
        ).scalar_one()
        if backend.name == "postgresql":
            assert extension == 0
            assert backend.storage.mode is StorageMode.POSTGRES
            assert "rollups kept by GreenPulse" in backend.storage.reason
            return
        hypertable = conn.execute(
            text(
                "SELECT hypertable_name FROM timescaledb_information.hypertables "
                "WHERE hypertable_name = 'readings'"
            )
        ).scalar_one()
        dimension = conn.execute(
            text(
                "SELECT column_name FROM timescaledb_information.dimensions "
                "WHERE hypertable_name = 'readings'"
            )
        ).scalar_one()
    assert extension == 1
    assert (hypertable, dimension) == ("readings", "time")
