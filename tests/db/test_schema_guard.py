"""Schema changes are one explicit step: checked at start, migrated under a lock, reversible."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from app.db.schema_guard import SchemaMismatchError, migrate_to, require_current, schema_state
from app.schema import Base
from tests.conftest import Backend, require

ALL = ["sqlite", "postgresql", "timescaledb"]


def _revisions(backend: Backend) -> list[str]:
    """Every revision, oldest first."""
    from alembic.script import ScriptDirectory

    from app.db.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config(backend.engine))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _jobs(backend: Backend) -> list[tuple[str, str]]:
    """TimescaleDB background jobs (policies) by kind and table; none elsewhere."""
    if backend.name != "timescaledb":
        return []
    with backend.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT proc_name, coalesce(hypertable_name, '') FROM timescaledb_information.jobs "
                "WHERE proc_schema = '_timescaledb_functions' AND proc_name LIKE 'policy_%' "
                "ORDER BY 1, 2"
            )
        )
        return [(str(a), str(b)) for a, b in rows]


@pytest.mark.parametrize("fresh_backend", ALL, indirect=True)
def test_down_one_step_then_up_again_at_every_revision(fresh_backend: Backend) -> None:
    timescale = fresh_backend.name == "timescaledb"
    info = migrate_to(fresh_backend.engine, timescaledb=timescale)
    if timescale and not info.hypertables:
        require("TimescaleDB", info.reason)
    jobs_at_head = _jobs(fresh_backend)
    revisions = _revisions(fresh_backend)
    head = revisions[-1]
    for below in reversed(revisions[:-1]):
        migrate_to(fresh_backend.engine, below, timescaledb=timescale)
        assert schema_state(fresh_backend.engine).current == below
        migrate_to(fresh_backend.engine, timescaledb=timescale)
        state = schema_state(fresh_backend.engine)
        assert state.current == head and state.up_to_date
        assert set(inspect(fresh_backend.engine).get_table_names()) >= set(Base.metadata.tables)
        assert _jobs(fresh_backend) == jobs_at_head, f"policies after {below} -> {head}"
    # a relative step, as `greenpulse migrate --to -1` does
    migrate_to(fresh_backend.engine, "-1", timescaledb=timescale)
    assert schema_state(fresh_backend.engine).current == revisions[-2]
    if timescale:
        with fresh_backend.engine.connect() as conn:
            hypertables = conn.execute(
                text(
                    "SELECT count(*) FROM timescaledb_information.hypertables "
                    "WHERE hypertable_name = 'readings'"
                )
            ).scalar_one()
        assert hypertables == 1


@pytest.mark.parametrize("fresh_backend", ALL, indirect=True)
def test_serve_refuses_an_older_or_newer_schema_in_one_line(fresh_backend: Backend) -> None:
    engine = fresh_backend.engine
    with pytest.raises(SchemaMismatchError, match="run `greenpulse migrate`"):
        require_current(engine)
    migrate_to(engine, timescaledb=fresh_backend.name == "timescaledb")
    assert require_current(engine).mode is not None
    migrate_to(engine, "-1")
    with pytest.raises(SchemaMismatchError) as older:
        require_current(engine)
    assert "greenpulse migrate" in str(older.value) and "\n" not in str(older.value)
    migrate_to(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaMismatchError, match="newer than this version knows"):
        require_current(engine)


@pytest.mark.parametrize("fresh_backend", ["sqlite", "postgresql"], indirect=True)
def test_two_migrations_at_once_run_one_after_the_other(fresh_backend: Backend) -> None:
    from app.db.engine import make_engine

    errors: list[BaseException] = []

    def run() -> None:
        engine = make_engine(fresh_backend.url)
        try:
            migrate_to(engine, timescaledb=False)
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert schema_state(fresh_backend.engine).up_to_date


@pytest.mark.parametrize("fresh_backend", ["sqlite"], indirect=True)
def test_an_unknown_target_is_refused(fresh_backend: Backend) -> None:
    migrate_to(fresh_backend.engine, "0002")
    assert schema_state(fresh_backend.engine).current == "0002"
    with pytest.raises(SchemaMismatchError, match="abcdef"):
        migrate_to(fresh_backend.engine, "abcdef")
    assert schema_state(fresh_backend.engine).current == "0002"


def test_the_commands_refuse_in_one_line_until_migrate(tmp_path: Path) -> None:
    from tests.serve_process import command_env, greenpulse

    env = command_env(f"sqlite:///{tmp_path / 'cli.db'}")
    for command in ("serve", "ingest", "alerts"):
        refused = greenpulse(env, command, cwd=tmp_path)
        assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "run `greenpulse migrate`" in lines[0], refused.stderr
    down = greenpulse(env, "migrate", "--to", "0003", cwd=tmp_path)
    assert down.returncode == 0 and "schema revision: 0003" in down.stdout, down.stderr
    older = greenpulse(env, "serve", cwd=tmp_path)
    assert older.returncode == 2 and "at schema revision 0003" in older.stderr
    assert greenpulse(env, "migrate", cwd=tmp_path).returncode == 0
    unknown = greenpulse(env, "migrate", "--to", "nope", cwd=tmp_path)
    assert unknown.returncode == 1 and "nope" in unknown.stderr
