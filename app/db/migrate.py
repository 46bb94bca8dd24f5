"""Run the Alembic migrations programmatically (``greenpulse migrate``, tests, start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from app.db.timescale import StorageInfo, detect_storage


def alembic_config(engine: Engine, *, timescaledb: bool = True) -> Config:
    cfg = Config()
    import migrations

    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.set_main_option(
        "file_template",
        "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s",
    )
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    cfg.attributes["timescaledb"] = timescaledb
    return cfg


def upgrade(engine: Engine, revision: str = "head", *, timescaledb: bool = True) -> StorageInfo:
    """Bring the schema to ``revision`` and report the storage mode found."""
    cfg = alembic_config(engine, timescaledb=timescaledb)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    with engine.connect() as conn:
        return detect_storage(conn)


def downgrade(engine: Engine, revision: str = "base") -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
