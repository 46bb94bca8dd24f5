"""TimescaleDB: readings hypertable; on the community licence also compression and
retention. Does nothing on SQLite, plain PostgreSQL, or when disabled.

No continuous aggregates: the history is served from GreenPulse's rollups, which spread
each interval over the buckets it covers and keep site-local days; an aggregate bucketing
readings by timestamp disagrees with them by design. Databases migrated by an earlier
version of this revision have theirs dropped by 0004.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 20:10:00
"""

from collections.abc import Sequence

from alembic import context, op
from sqlalchemy import text

from app.db.timescale import StorageMode, detect_storage, try_create_extension

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql" or not context.config.attributes.get("timescaledb", True):
        return
    if try_create_extension(conn) is not None:
        return
    conn.execute(
        text(
            "SELECT create_hypertable('readings', by_range('time', INTERVAL '1 day'), "
            "migrate_data => true, create_default_indexes => false, if_not_exists => true)"
        )
    )
    if detect_storage(conn).mode is not StorageMode.TIMESCALE_COMMUNITY:
        return
    conn.execute(
        text(
            "ALTER TABLE readings SET (timescaledb.compress, "
            "timescaledb.compress_segmentby = 'meter_id', timescaledb.compress_orderby = 'time')"
        )
    )
    conn.execute(
        text("SELECT add_compression_policy('readings', INTERVAL '30 days', if_not_exists => true)")
    )
    # raw readings are kept five years; rollups (and so figures and history) outlive them
    conn.execute(
        text("SELECT add_retention_policy('readings', INTERVAL '5 years', if_not_exists => true)")
    )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    has_timescale = conn.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    if not has_timescale:
        return
    # policies first: a retention job on a dropped aggregate, or a compression job on
    # readings, would otherwise be left behind and fail (or double) after an upgrade
    community = detect_storage(conn).mode is StorageMode.TIMESCALE_COMMUNITY
    if community:
        conn.execute(text("SELECT remove_retention_policy('readings', if_exists => true)"))
        conn.execute(text("SELECT remove_compression_policy('readings', if_exists => true)"))
    if community:
        conn.execute(
            text(
                "SELECT decompress_chunk(c, if_compressed => true) "
                "FROM show_chunks('readings') AS c"
            )
        )
        conn.execute(text("ALTER TABLE readings SET (timescaledb.compress = false)"))
    # readings stays a hypertable (turning it back would rewrite every row); upgrade
    # accepts that with if_not_exists, and the table goes with 0001's downgrade
