"""Schema changes are one explicit step: ``greenpulse migrate`` under a lock; others check.

``serve``, ``ingest`` and ``alerts`` call :func:`require_current` at start: against an
older or a newer schema they refuse with one line that says what to run. Only
:func:`migrate_to` changes the schema, and it holds a database-wide lock while it
does: ``pg_advisory_xact_lock`` on PostgreSQL (released with the migration's
transaction), an exclusive file lock beside the database file on SQLite. Two
``migrate`` at once therefore run one after the other, and the second finds
nothing to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text

from app.db.migrate import alembic_config
from app.db.timescale import StorageInfo, detect_storage

# any constant works, as long as every GreenPulse process uses the same one
ADVISORY_LOCK_KEY = 0x6770_6D69  # "gpmi"


class SchemaMismatchError(RuntimeError):
    """The database's schema is not the one this code was written for (one-line message)."""


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def _script(engine: Engine) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(engine))


def schema_state(engine: Engine) -> SchemaState:
    with _quiet_alembic():
        script = _script(engine)
    head = script.get_current_head()
    assert head is not None, "the migrations have a single head"
    with engine.connect() as conn, _quiet_alembic():
        current = MigrationContext.configure(conn).get_current_revision()
    return SchemaState(current, head)


@contextlib.contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Reading the revision is not news: keep the refusal to its one line."""
    logger = logging.getLogger("alembic")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def require_current(engine: Engine) -> StorageInfo:
    """Refuse (``SchemaMismatchError``) unless the schema is exactly this code's head."""
    with _quiet_alembic():
        return _require_current(engine)


def _require_current(engine: Engine) -> StorageInfo:
    state = schema_state(engine)
    where = engine.url.render_as_string(hide_password=True)
    if state.current is None:
        raise SchemaMismatchError(f"{where} has no GreenPulse schema: run `greenpulse migrate`")
    if not state.up_to_date:
        known = {r.revision for r in _script(engine).walk_revisions()}
        if state.current in known:
            raise SchemaMismatchError(
                f"{where} is at schema revision {state.current}, this version needs "
                f"{state.head}: run `greenpulse migrate`"
            )
        raise SchemaMismatchError(
            f"{where} is at schema revision {state.current}, newer than this version "
            f"knows ({state.head}): upgrade GreenPulse or run an older one"
        )
    with engine.connect() as conn:
        return detect_storage(conn)


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_transaction(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


def _is_older(engine: Engine, target: str, current: str | None) -> bool:
    """Whether ``target`` lies below ``current`` (so reaching it is a downgrade)."""
    if current is None:
        return False
    if target == "base":
        return True
    script = _script(engine)
    try:
        wanted = script.get_revision(target)
    except CommandError:
        wanted = None
    if wanted is None:
        raise SchemaMismatchError(f"unknown schema revision {target!r}")
    below = {r.revision for r in script.iterate_revisions(current, "base")} - {current}
    return wanted.revision in below


def migrate_to(engine: Engine, target: str = "head", *, timescaledb: bool = True) -> StorageInfo:
    """Upgrade or downgrade to ``target`` under the migration lock; report the storage mode.

    ``target`` is a revision id, ``head``, ``base`` or a relative step such as ``-1``.
    """
    cfg = alembic_config(engine, timescaledb=timescaledb)
    sqlite = engine.dialect.name == "sqlite"
    with _sqlite_file_lock(engine) if sqlite else contextlib.nullcontext(), engine.begin() as conn:
        _lock_transaction(conn)
        cfg.attributes["connection"] = conn
        current = MigrationContext.configure(conn).get_current_revision()
        try:
            if target.startswith("-") or _is_older(engine, target, current):
                command.downgrade(cfg, target)
            else:
                command.upgrade(cfg, target)
        except CommandError as exc:  # unknown revision, or a step below base
            raise SchemaMismatchError(f"cannot migrate to {target!r}: {exc}") from exc
    with engine.connect() as conn:
        return detect_storage(conn)
